"""The ``seqnet`` command line: train, evaluate, predict, sample.

Thin by design: each command parses its options and calls one function of
:mod:`seqnet.workflow`. Exit codes: 0 ok, 1 bad input (a seqnet or seqdata error, printed as
one line), 2 usage; run as a program, the process leaves without the C++ teardown that could
turn them into 134 (NOTE [ Leaving a process with os._exit ] in :mod:`seqnet.process_exit`).
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Callable
from typing import Any

import click

from seqdata.errors import ParseError, SeqDataError
from seqnet.errors import SeqNetError
from seqnet.process_exit import leave_process

# NOTE: nothing here imports torch at module level, so `seqnet --version` and `--help`
# answer at once (NOTE [ Why the package imports lazily ] in seqnet/__init__.py).


_ALIGNMENT = re.compile(r"AlignmentMode\.(EQUAL_LENGTH|ALIGN_START|ALIGN_END)")


def cli_message(error: Exception) -> str:
    """An error as the command line says it: Python spellings that a run file writes
    differently are given in the run file's (``alignment = "ALIGN_END"``).

    >>> from seqdata.errors import AlignmentError
    >>> cli_message(AlignmentError("use AlignmentMode.ALIGN_START or AlignmentMode.ALIGN_END"))
    'use alignment = "ALIGN_START" or alignment = "ALIGN_END" (a key of the [data] table)'
    """
    text = str(error)
    if _ALIGNMENT.search(text):
        text = _ALIGNMENT.sub(r'alignment = "\1"', text) + " (a key of the [data] table)"
    line = getattr(error, "line", None)
    if isinstance(error, ParseError) and isinstance(line, int) and line <= 3 and \
            "expected a number" in text:
        text += (f"; if the first {line} line(s) are a header, skip them: skip_lines = {line} "
                 f"in the run file's [data] table, or --skip-lines {line}")
    return text


def _errors_as_exit_1(command: Callable[..., Any]) -> Callable[..., Any]:
    """Print our own errors as one line and exit 1 (click itself exits 2 on usage errors)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (SeqNetError, SeqDataError) as e:
            click.echo(f"error: {cli_message(e)}", err=True)
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
    # Off a terminal, long loops report progress as log lines instead of redrawn bars
    # (NOTE [ Why no progress bar in a log file ] in seqnet.training.progress).
    for name in ("seqnet.progress", "seqnet.listeners"):
        logging.getLogger(name).setLevel(logging.INFO)


@main.command()
@click.argument("run_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--resume", is_flag=True,
              help="Continue the run in the output folder from its last completed epoch.")
@click.option("--overwrite", is_flag=True, help="Start over in an output folder that holds a run.")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Override run.epochs (e.g. to extend a finished run with --resume).")
@click.option("--output", type=click.Path(file_okay=False), default=None,
              help="Override run.output (relative to the current directory).")
@click.option("--no-progress", is_flag=True,
              help="No progress bars or progress lines (one line per epoch only).")
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
              help="MIN MAX, inclusive, for a '%d' INPUT pattern (or a store's sequences).")
@click.option("--run-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The model's run file: read INPUT with its [data] reader options "
                   "(skip_lines, delimiter, label_index, batch_size).")
@click.option("--skip-lines", type=click.IntRange(min=0), default=None,
              help="Header lines to skip in every file  [default: 0, or the run file's]")
@click.option("--delimiter", default=None,
              help="Field delimiter  [default: ',', or the run file's]")
@click.option("--per-step", is_flag=True,
              help="Every real step instead of each sequence's last step.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Sequences per minibatch  [default: 32, or the run file's]")
@_errors_as_exit_1
def predict(model: str, input_path: str, out: str, value_range: tuple[int, int] | None,
            run_file: str | None, skip_lines: int | None, delimiter: str | None,
            per_step: bool, batch_size: int | None) -> None:
    """Write a saved model's outputs for sequence files.

    INPUT is a CSV file, a directory of CSV files, a '%d' pattern with --range, or a packed
    store (seqdata convert). With --run-file the files are read as in training. The model's
    normaliser is applied first. Without --per-step each sequence gives the output at its
    last real step.
    """
    from seqnet.workflow.model_io import load_model
    from seqnet.workflow.predict import input_reader, write_predictions
    from seqnet.workflow.predict import predict as run_predict
    from seqnet.workflow.run_config import load_data_config

    data = load_data_config(run_file) if run_file is not None else None
    if skip_lines is None:
        skip_lines = data.skip_lines if data is not None else 0
    if delimiter is None:
        delimiter = data.delimiter if data is not None else ","
    if batch_size is None:
        batch_size = data.batch_size if data is not None else 32
    net, extras = load_model(model)
    reader = input_reader(input_path, value_range, skip_lines, delimiter)
    predictions = run_predict(net, reader, extras.get("normalizer"), batch_size, data)
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
@click.option("--dl4j", "dl4j_path", type=click.Path(dir_okay=False), default=None,
              help="Write the network as a DL4J 1.0.0-beta ModelSerializer zip to this file.")
@click.option("--with-mask", is_flag=True,
              help="ONNX: add the input features_mask [N, T] (1 = real step), for padded "
                   "batches.")
@click.option("--stateful", is_flag=True,
              help="ONNX: add state_{i}_prevAct/prevMem inputs and *_out outputs per recurrent "
                   "layer i, for streaming as rnn_time_step does.")
@_errors_as_exit_1
def export(model: str, onnx_path: str | None, dl4j_path: str | None, with_mask: bool,
           stateful: bool) -> None:
    """Export a saved model for other runtimes.

    MODEL is a zip written by seqnet train or MultiLayerNetwork.save (or a DL4J zip). With
    --onnx OUT.onnx the network (not its normaliser: apply that to the features first) is
    written as ONNX, with input "features" [N, C, T] and output "output". With --dl4j OUT.zip
    it is written as DL4J's ModelSerializer zip (configuration, parameters, normaliser, and the
    updater state where it is DL4J's).
    """
    from seqnet.workflow.model_io import load_network

    if onnx_path is None and dl4j_path is None:
        raise click.UsageError("give an output format: --onnx OUT.onnx or --dl4j OUT.zip")
    net = load_network(model)
    if dl4j_path is not None:
        from seqnet.conf.enums import UpdateRule
        from seqnet.dl4j import write_multi_layer_network

        # A network trained by the standard rule has torch's updater state, not DL4J's.
        trained_standard = (net.iteration_count > 0
                            and net.conf.update_rule != UpdateRule.DL4J_LEGACY)
        write_multi_layer_network(net, dl4j_path, save_updater=not trained_standard)
        click.echo(f"wrote {dl4j_path}"
                   + (" (without updater state: the network trains by the standard rule)"
                      if trained_standard else ""))
    if onnx_path is not None:
        from seqnet.onnx import export_onnx

        export_onnx(net, onnx_path, with_mask=with_mask, stateful=stateful)
        click.echo(f"wrote {onnx_path}")
        if getattr(net, "normalizer", None) is not None:
            click.echo("note: the model's normaliser is not part of the ONNX graph; normalise "
                       "the features before feeding them")


@main.command("import-dl4j")
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True,
              help="Where to write the seqnet model zip.")
@click.option("--no-updater", is_flag=True,
              help="Leave DL4J's updater state out (training then starts the updaters anew).")
@_errors_as_exit_1
def import_dl4j(model: str, out: str, no_updater: bool) -> None:
    """Convert a DL4J ModelSerializer zip (DL4J 0.5.0 to 1.0.0-beta) into a seqnet model.

    The network keeps DL4J's configuration, parameters, counters, normaliser and (unless
    --no-updater) updater state, and trains on by DL4J's own update rule
    (UpdateRule.DL4J_LEGACY), so training continues with DL4J's numbers.
    """
    from seqnet.dl4j import restore_multi_layer_network

    net = restore_multi_layer_network(model, load_updater=not no_updater)
    net.save(out)
    click.echo(f"wrote {out}: {len(net.conf.layers)} layers, {net.num_params()} parameters, "
               f"iteration {net.iteration_count}, update rule {net.conf.update_rule.value}")
