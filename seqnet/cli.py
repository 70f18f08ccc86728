"""The ``seqnet`` command line: train, evaluate, predict, sample.

Thin by design: each command parses its options and calls one function of
:mod:`seqnet.workflow`. Exit codes: 0 ok, 1 bad input (a seqnet or seqdata error, printed as
one line), 2 usage; run as a program, the process leaves without the C++ teardown that could
turn them into 134 (NOTE [ Leaving a process with os._exit ] in :mod:`seqnet.process_exit`).
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any

import click

from seqdata.errors import SeqDataError
from seqnet.errors import SeqNetError
from seqnet.process_exit import leave_process


def _errors_as_exit_1(command: Callable[..., Any]) -> Callable[..., Any]:
    """Print our own errors as one line and exit 1 (click itself exits 2 on usage errors)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (SeqNetError, SeqDataError) as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(1)

    return wrapper


class _Commands(click.Group):
    """The command group; run as a program it leaves through :func:`leave_process`."""

    def main(self, args: Any = None, *rest: Any, **kwargs: Any) -> Any:
        # args is None when the program's own command line is parsed (the console script,
        # python -c "...main()"); a test runner passes its arguments and keeps SystemExit.
        if args is not None or not kwargs.get("standalone_mode", True):
            return super().main(args, *rest, **kwargs)
        try:
            super().main(args, *rest, **kwargs)
            code: Any = 0
        except SystemExit as e:
            code = e.code
        if not isinstance(code, int):
            if code is not None:
                click.echo(str(code), err=True)
            code = 0 if code is None else 1
        leave_process(code)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="seqdl", message="seqnet %(version)s")
def main() -> None:
    """Train and run recurrent networks on sequence files (DL4J names, PyTorch underneath)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")


@main.command()
@click.argument("run_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--resume", is_flag=True,
              help="Continue the run in the output folder from its last completed epoch.")
@click.option("--overwrite", is_flag=True, help="Start over in an output folder that holds a run.")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Override run.epochs (e.g. to extend a finished run with --resume).")
@click.option("--output", type=click.Path(file_okay=False), default=None,
              help="Override run.output (relative to the current directory).")
@click.option("--no-progress", is_flag=True, help="No progress bars (one line per epoch only).")
@click.option("--nproc-per-node", type=click.IntRange(min=1), default=1, show_default=True,
              help="Train data-parallel on N local processes (torch.distributed: gloo on the "
                   "CPU, one GPU each with CUDA). Under torchrun leave it at 1.")
@_errors_as_exit_1
def train(run_file: str, resume: bool, overwrite: bool, epochs: int | None, output: str | None,
          no_progress: bool, nproc_per_node: int) -> None:
    """Train the network a TOML run file describes.

    RUN_FILE has the tables [data], [network] and [run] (see examples/japanese_vowels.toml).
    Writes checkpoints, best.zip, model.zip, metrics.jsonl, loss.png, confusion.png and the
    resolved config.toml into the run's output folder, then prints the test evaluation.

    Data-parallel: --nproc-per-node N starts N local processes; on a cluster, run the same
    command on every node under torchrun, for example:

    \b
        torchrun --nnodes 2 --nproc-per-node 4 --node-rank R --master-addr HOST
                 --master-port 29500 --no-python seqnet train RUN_FILE

    Rank 0 alone writes the output folder.
    """
    import dataclasses
    import os

    from seqnet.workflow.run_config import load_run_config

    if resume and overwrite:
        raise click.UsageError("--resume and --overwrite exclude each other")
    config = load_run_config(run_file)
    changes: dict[str, Any] = {}
    if output is not None:
        changes["output"] = os.path.abspath(output)
    if no_progress:
        changes["progress"] = False
    if changes:
        config = dataclasses.replace(config, run=dataclasses.replace(config.run, **changes))
    if nproc_per_node == 1:
        _train_process(config, resume, overwrite, epochs)
        return
    from seqnet.distributed import launch

    if os.environ.get("WORLD_SIZE", "1") not in ("", "1"):
        raise click.UsageError("--nproc-per-node starts its own processes; under torchrun "
                               "leave it at 1")
    launch(_train_process, nproc_per_node, (config, resume, overwrite, epochs))


def _train_process(config: Any, resume: bool, overwrite: bool, epochs: int | None) -> None:
    """One training process: joins the process group torchrun or launch() describes in the
    environment (if any), trains, and on rank 0 prints the test evaluation."""
    from seqnet import distributed
    from seqnet.workflow.train import resolve_device
    from seqnet.workflow.train import train as run_training

    joined = distributed.init_from_env(resolve_device(config.run.device))
    try:
        result = run_training(config, resume=resume, overwrite=overwrite, epochs=epochs,
                              echo=click.echo)
        writer = distributed.is_writer()
    except BaseException:
        if joined:
            distributed.shutdown()
        raise
    if joined:
        distributed.shutdown(synchronize=True)
    if writer:
        _print_result(config, result)
    if joined:
        distributed.exit_process()


def _print_result(config: Any, result: Any) -> None:
    if result.test is not None:
        click.echo(result.test.stats())
        if config.data.task == "classification":
            click.echo(f"test accuracy: {result.test.accuracy():.4f} "
                       f"({result.test_model} model, {result.epochs_completed} epochs)")
    click.echo(f"output: {result.output}")


@main.command()
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.argument("data_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--split", type=click.Choice(["test", "validation", "train"]), default=None,
              help="Which [data.<split>] to evaluate (default: test, else validation, else "
                   "train).")
@_errors_as_exit_1
def evaluate(model: str, data_file: str, split: str | None) -> None:
    """Evaluate a saved model on the data of a TOML file.

    MODEL is a zip written by seqnet train; DATA_FILE is a TOML file with a [data] table (a run
    file works). Prints Evaluation.stats(), or the regression stats for a regression task.
    """
    from seqnet.workflow.evaluate import evaluate_model

    evaluation = evaluate_model(model, data_file, split)
    click.echo(evaluation.stats())


@main.command()
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.argument("input_path", metavar="INPUT")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="Output file: .csv (with a header) or .npy.")
@click.option("--range", "value_range", type=(int, int), default=None,
              help="MIN MAX, inclusive, for a '%d' INPUT pattern.")
@click.option("--skip-lines", type=click.IntRange(min=0), default=0)
@click.option("--delimiter", default=",", show_default=True)
@click.option("--per-step", is_flag=True,
              help="Every real step instead of each sequence's last step.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@_errors_as_exit_1
def predict(model: str, input_path: str, out: str, value_range: tuple[int, int] | None,
            skip_lines: int, delimiter: str, per_step: bool, batch_size: int) -> None:
    """Write a saved model's outputs for sequence files.

    INPUT is a CSV file, a directory of CSV files, or a '%d' pattern with --range. The
    model's normaliser is applied first. Without --per-step each sequence gives the output
    at its last real step.
    """
    from seqnet.workflow.model_io import load_model
    from seqnet.workflow.predict import input_reader, write_predictions
    from seqnet.workflow.predict import predict as run_predict

    net, extras = load_model(model)
    reader = input_reader(input_path, value_range, skip_lines, delimiter)
    predictions = run_predict(net, reader, extras.get("normalizer"), batch_size)
    rows = write_predictions(predictions, out, per_step)
    click.echo(f"wrote {rows} {'rows' if out.endswith('.csv') else 'sequences'} "
               f"for {len(predictions.sources)} sequences to {out}")


@main.command()
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.option("--prime", required=True, help="Text to start from (characters of the corpus).")
@click.option("--length", type=click.IntRange(min=0), required=True,
              help="Characters to generate after the prime.")
@click.option("--num-samples", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--temperature", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True)
@click.option("--seed", type=int, default=None, help="Seed of the sampling RNG.")
@_errors_as_exit_1
def sample(model: str, prime: str, length: int, num_samples: int, temperature: float,
           seed: int | None) -> None:
    """Generate text from a character model.

    The prime text goes through rnn_time_step once; then every sampled character is fed
    back one step at a time. Prints one line per sample: the prime and its continuation.
    """
    from seqnet.errors import ModelFileError
    from seqnet.workflow.model_io import load_model
    from seqnet.workflow.sample import sample_characters

    net, extras = load_model(model)
    vocabulary = extras.get("vocabulary")
    if vocabulary is None:
        raise ModelFileError(f"{model}: expected a character model (one saved with its "
                             "character vocabulary), found none")
    for text in sample_characters(net, vocabulary, prime, length, num_samples, temperature,
                                  seed):
        click.echo(prime + text)


@main.command("export")
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.option("--onnx", "onnx_path", type=click.Path(dir_okay=False), default=None,
              help="Write the network as an ONNX model (opset 17) to this file.")
@click.option("--with-mask", is_flag=True,
              help="Add the input features_mask [N, T] (1 = real step), for padded batches.")
@click.option("--stateful", is_flag=True,
              help="Add state_{i}_prevAct/prevMem inputs and *_out outputs per recurrent "
                   "layer i, for streaming as rnn_time_step does.")
@_errors_as_exit_1
def export(model: str, onnx_path: str | None, with_mask: bool, stateful: bool) -> None:
    """Export a saved model for other runtimes.

    MODEL is a zip written by seqnet train or MultiLayerNetwork.save. With --onnx OUT.onnx
    the network (not its normaliser: apply that to the features first) is written as ONNX,
    with input "features" [N, C, T] and output "output".
    """
    from seqnet.network import MultiLayerNetwork
    from seqnet.onnx import export_onnx

    if onnx_path is None:
        raise click.UsageError("give an output format: --onnx OUT.onnx")
    net = MultiLayerNetwork.load(model)
    export_onnx(net, onnx_path, with_mask=with_mask, stateful=stateful)
    click.echo(f"wrote {onnx_path}")
    if getattr(net, "normalizer", None) is not None:
        click.echo("note: the model's normaliser is not part of the ONNX graph; normalise the "
                   "features before feeding them")
