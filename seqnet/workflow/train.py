"""The train loop of ``seqnet train``: epochs, evaluation, checkpoints, early stopping, resume.

What a run writes into its output folder::

    config.toml                 the resolved run file (defaults filled in, absolute paths)
    checkpoints/epoch_NNNN.zip  model + updater after each epoch (the newest keep_checkpoints)
    model.zip                   the model after the latest epoch
    best.zip                    the model with the best validation metric so far (only
                                with a validation split: NOTE [ Why the test split never
                                chooses a model ] in seqnet.workflow.selection)
    state.json                  what --resume needs: epoch, checkpoint, RNG states, history
    metrics.jsonl               one JSON line per epoch: train score, eval metrics, seconds
                                (train_score: the mean over the epoch's minibatches of the
                                score fit reports; with TBPTT, of each one's last segment)
    loss.png                    train score and eval metric per epoch
    confusion.png               the final confusion matrix (classification)
    tensorboard/                TensorBoard event files of metrics.jsonl (run.tensorboard)

Under ``torch.distributed`` (``seqnet train --nproc-per-node N`` or ``torchrun``) every
process trains on its shard of each epoch's minibatches and evaluates its shard of the
evaluation split (merged over processes), and only rank 0 writes the files above
(:func:`seqnet.distributed.is_writer`); the output folder must be one every process sees.

Each epoch also prints one line:

>>> _epoch_line({"epoch": 3, "train_score": 0.25, "eval_split": "test", "accuracy": 0.9,
...              "seconds": 1.5}, 30, "accuracy")
'epoch   3/30  train score 0.25000  test accuracy 0.9000  (1.5 s)'
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from seqnet import distributed
from seqnet.errors import ConfigurationError, StateError
from seqnet.training.early_stopping import is_improvement
from seqnet.workflow import plots
from seqnet.workflow.build import build_configuration
from seqnet.workflow.data import RunData, load_run_data
from seqnet.workflow.memory_check import (
    check_label_memory,
    check_run_memory,
    first_sequence_steps,
)
from seqnet.workflow.model_io import load_model, save_model
from seqnet.workflow.run_config import LOWER_IS_BETTER, RunConfig, dump_toml, read_toml
from seqnet.workflow.run_state import (
    STATE_VERSION,
    atomic_copy,
    read_state,
    remove_temp_files,
    rng_state,
    set_rng_state,
    writing_into,
)
from seqnet.workflow.run_state import atomic_write_text as _atomic_write_text
from seqnet.workflow.selection import NO_SELECTION
from seqnet.workflow.tensorboard import TensorBoardWriter

log = logging.getLogger(__name__)

OUTPUT_FILES = ("config.toml", "checkpoints", "model.zip", "best.zip", "state.json",
                "metrics.jsonl", "loss.png", "confusion.png", "tensorboard")
PLOT_INTERVAL_S = 30.0

# NOTE [ Why a resumed run ends where an uninterrupted one would ]
# Everything that decides the next epoch is restored: parameters and updater state (the
# checkpoint zip), the epoch counter, and the global torch / numpy / Python RNG states at the
# end of the epoch (state.json). The training order is not a stateful RNG at all: epoch e
# (from 0) iterates a fresh iterator shuffled with seed + e, which is exactly what one
# long-lived iterator does in epoch e. state.json is replaced atomically after the checkpoint
# is complete, so it is the commit point: a run killed at any moment resumes from the last
# epoch whose state.json was written.


@dataclass
class TrainResult:
    """What a finished (or early-stopped) run produced."""

    output: Path
    epochs_completed: int
    history: list[dict[str, Any]]
    best_epoch: int | None
    stopped_early: bool
    test: Any = None             # Evaluation / RegressionEvaluation on the test split
    test_model: str | None = None  # "best" or "final": which model the test numbers are for
    network: Any = field(default=None, repr=False)


# --------------------------------------------------------------------------- small helpers

def _finite(value: Any) -> Any:
    """JSON has no NaN: non-finite numbers are written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def resolve_device(name: str) -> torch.device:
    """``"auto"`` is CUDA when available, else the CPU; other names go to torch."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ConfigurationError(f"run.device: expected 'cpu', 'cuda', 'cuda:N' or 'auto', "
                                 f"found {name!r} ({e})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigurationError(f"run.device: {name!r} asked for, but torch sees no CUDA "
                                 "device; use 'cpu' or 'auto'")
    return device


def metric_values(evaluation: Any, task: str) -> dict[str, float]:
    """The per-epoch metrics logged for an evaluation."""
    if task == "classification":
        return {"accuracy": evaluation.accuracy(), "f1": evaluation.f1(),
                "precision": evaluation.precision(), "recall": evaluation.recall()}
    return {"mse": evaluation.average_mean_squared_error(),
            "mae": evaluation.average_mean_absolute_error(),
            "rmse": evaluation.average_root_mean_squared_error(),
            "r2": evaluation.average_r_squared()}


def evaluate(net: Any, iterator: Any, task: str) -> Any:
    """``net.evaluate`` or ``net.evaluate_regression`` as the task needs."""
    return net.evaluate(iterator) if task == "classification" else \
        net.evaluate_regression(iterator)


def _config_differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    keys = sorted(set(old) | set(new))
    out = []
    for k in keys:
        path = f"{prefix}.{k}" if prefix else k
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(_config_differences(a, b, path))
        elif a != b:
            out.append(path)
    return out


# NOTE [ What may change on --resume ]
# A resumed run must be the same run, so the resolved configuration has to match the one
# stored in config.toml, except for how long it runs and how it reports.
# A moved run folder resumes with --output, so run.output may change too.
_RESUMABLE_CHANGES = {"run.epochs", "run.progress", "run.early_stopping_patience",
                      "run.tensorboard", "run.output"}


# --------------------------------------------------------------------------- the trainer

class Trainer:
    """Runs one training run described by a :class:`RunConfig` (see :func:`train`)."""

    def __init__(self, config: RunConfig, echo: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.out = Path(config.run.output)
        say = echo or (lambda message: log.info(message))
        # Every rank would print the same lines; rank 0 speaks for all of them.
        self.echo = say if distributed.is_writer() else (lambda message: None)
        self.task = config.data.task
        self.metric = config.run.metric
        self.device = distributed.local_device(resolve_device(config.run.device))
        self._last_plot = time.monotonic()

    # ------------------------------------------------------------------ setup

    def _prepare_output(self, resume: bool, overwrite: bool) -> dict[str, Any] | None:
        state_path = self.out / "state.json"
        resolved = self.config.to_dict()
        if self.out.exists() and not self.out.is_dir():
            raise ConfigurationError(f"{self.config.source}: run.output: expected a folder, "
                                     f"found the file {self.out}")
        if distributed.is_writer():
            remove_temp_files(self.out)     # left by a run that was killed while writing
        if resume:
            if not state_path.exists():
                raise StateError(f"{self.out}: expected a run to resume (state.json), found "
                                 "none; start it without --resume")
            stored = read_toml(self.out / "config.toml")
            changed = [k for k in _config_differences(stored, resolved)
                       if k not in _RESUMABLE_CHANGES]
            if changed:
                raise ConfigurationError(
                    f"{self.out}: --resume needs the run file the run started with; these keys "
                    f"differ from {self.out / 'config.toml'}: {', '.join(changed)}")
            state = read_state(self.out)
            if distributed.is_writer():
                _atomic_write_text(self.out / "config.toml", dump_toml(resolved))
            return state
        if state_path.exists() and not overwrite:
            raise StateError(f"{self.out}: already holds a run (state.json); continue it with "
                             "--resume, start over with --overwrite, or choose another output")
        if not distributed.is_writer():
            return None
        if overwrite:
            for name in OUTPUT_FILES:
                target = self.out / name
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
        (self.out / "checkpoints").mkdir(parents=True, exist_ok=True)
        _atomic_write_text(self.out / "config.toml", dump_toml(resolved))
        return None

    def _network(self, data: RunData, state: dict[str, Any] | None) -> Any:
        if state is not None:
            net, _ = load_model(self.out / state["checkpoint"])
            return net.to(self.device)
        from seqnet.network import MultiLayerNetwork

        probe = data.iterator("train")
        conf = build_configuration(self.config.network, n_in=probe.input_columns(),
                                   n_out=probe.total_outcomes() or None)
        check_run_memory(conf, self.config.data.batch_size,
                         first_sequence_steps(data.readers["train"][0]), self.config.source)
        torch.manual_seed(self.config.network.seed)
        net = MultiLayerNetwork(conf)
        net.init()
        return net.to(self.device)

    # ------------------------------------------------------------------ one epoch

    def _fit_epoch(self, net: Any, train: Any, epoch: int) -> float:
        """One epoch of ``net.fit`` (the one fit loop: sharding, lock-step and its guards);
        returns the example-weighted mean train score over every rank."""
        train.set_epoch(epoch)   # epoch e's shuffle, whether the run was resumed or not
        net.fit(train, progress=self.config.run.progress)
        return float(net.solver.last_epoch_score)

    def _checkpoint(self, net: Any, data: RunData, epoch: int) -> str:
        name = f"checkpoints/epoch_{epoch:04d}.zip"
        save_model(net, self.out / name, normalizer=data.normalizer)
        return name

    def _prune_checkpoints(self, keep: str) -> None:
        files = sorted((self.out / "checkpoints").glob("epoch_*.zip"))
        for old in files[:-self.config.run.keep_checkpoints]:
            if old.name != Path(keep).name:
                old.unlink()

    def _write_metrics(self, history: list[dict[str, Any]], final: bool = False) -> None:
        _atomic_write_text(self.out / "metrics.jsonl",
                           "".join(json.dumps(h) + "\n" for h in history))
        # Drawing costs a few tenths of a second, more than an epoch of a small model, so
        # loss.png is redrawn at most every PLOT_INTERVAL_S while training, and at the end.
        due = time.monotonic() - self._last_plot >= PLOT_INTERVAL_S
        if history and (final or due) and plots.have_matplotlib():
            plots.plot_history(history, self.metric, self.out / "loss.png")
            self._last_plot = time.monotonic()

    # ------------------------------------------------------------------ the run

    def run(self, resume: bool = False, overwrite: bool = False) -> TrainResult:
        if self.config.data.train is None:
            raise ConfigurationError(f"{self.config.source}: data.train: seqnet train needs a "
                                     "[data.train] table")
        state = self._prepare_output(resume, overwrite)
        distributed.barrier()           # the writer has prepared the output folder
        if not plots.have_matplotlib():
            log.warning("matplotlib is not installed: loss.png and confusion.png are skipped "
                        "(pip install 'seqdl[plot]')")
        check_label_memory(self.config)
        data = load_run_data(self.config.data, seed=self.config.network.seed)
        net = self._network(data, state)
        history: list[dict[str, Any]] = list(state["history"]) if state else []
        start_epoch = state["epoch"] if state else 0
        best_epoch = state["best_epoch"] if state else None
        best_value = state["best_value"] if state else None
        bad_epochs = state["bad_epochs"] if state else 0
        stopped = state["stopped_early"] if state else False
        if state:
            set_rng_state(state["rng"])
            self.echo(f"resuming {self.out} after epoch {start_epoch}")
        else:
            # The first epoch's RNG stream (dropout) depends only on the seed.
            torch.manual_seed(self.config.network.seed)
        eval_split = data.eval_split
        selection = data.selection_split
        if selection is None:
            self.echo(NO_SELECTION)
        minimize = self.metric in LOWER_IS_BETTER
        patience = self.config.run.early_stopping_patience
        board = TensorBoardWriter.open(self.out / "tensorboard") \
            if self.config.run.tensorboard and distributed.is_writer() else None
        train = data.iterator("train", shuffle=self.config.data.shuffle,
                              seed=self.config.network.seed)
        epoch = start_epoch
        for epoch in range(start_epoch, self.config.run.epochs):
            if stopped:
                break
            started = time.perf_counter()
            train_score = self._fit_epoch(net, train, epoch)
            record: dict[str, Any] = {"epoch": epoch + 1, "train_score": train_score}
            value = None
            if eval_split is not None:
                evaluation = evaluate(net, data.iterator(eval_split), self.task)
                metrics = metric_values(evaluation, self.task)
                record["eval_split"] = eval_split
                record.update({k: _finite(float(v)) for k, v in metrics.items()})
                value = record[self.metric]
            record["seconds"] = round(time.perf_counter() - started, 3)
            record["iterations"] = int(net.iteration_count)
            history.append(record)
            improved = selection is not None and is_improvement(value, best_value, minimize)
            if improved:
                best_epoch, best_value, bad_epochs = epoch + 1, value, 0
            elif selection is not None:
                bad_epochs += 1
            stopped = patience > 0 and bad_epochs >= patience
            if distributed.is_writer():
                checkpoint = self._checkpoint(net, data, epoch + 1)
                if improved:
                    atomic_copy(self.out / checkpoint, self.out / "best.zip")
                self._write_metrics(history)
                if board is not None:
                    board.write(record)
                _atomic_write_text(self.out / "state.json", json.dumps({
                    "version": STATE_VERSION, "epoch": epoch + 1, "checkpoint": checkpoint,
                    "best_epoch": best_epoch, "best_value": best_value,
                    "bad_epochs": bad_epochs, "stopped_early": stopped, "rng": rng_state(),
                    "history": history}))
                atomic_copy(self.out / checkpoint, self.out / "model.zip")
                self._prune_checkpoints(checkpoint)
            self.echo(_epoch_line(record, self.config.run.epochs, self.metric))
            if stopped:
                self.echo(f"early stopping: no better {eval_split} {self.metric} for "
                          f"{patience} epochs (best: epoch {best_epoch})")
        if distributed.is_writer():
            self._write_metrics(history, final=True)
        if board is not None:
            board.close()
        distributed.barrier()           # best.zip is complete before any rank reads it
        return self._finish(net, data, history, best_epoch, stopped)

    def _finish(self, net: Any, data: RunData, history: list[dict[str, Any]],
                best_epoch: int | None, stopped: bool) -> TrainResult:
        result = TrainResult(output=self.out, epochs_completed=len(history), history=history,
                             best_epoch=best_epoch, stopped_early=stopped, network=net)
        if "test" not in data.readers:
            return result
        # NOTE [ Which model the test numbers are for ]
        # With a validation split the best model was chosen on it, so the test split gives an
        # unbiased number for that model. Without one there is no best.zip: the final model
        # is tested.
        model = net
        result.test_model = "final"
        if data.selection_split is not None and (self.out / "best.zip").exists():
            model = load_model(self.out / "best.zip")[0].to(self.device)
            result.test_model = "best"
        result.test = evaluate(model, data.iterator("test"), self.task)
        if self.task == "classification" and plots.have_matplotlib() and \
                distributed.is_writer():
            plots.plot_confusion(result.test.confusion_matrix(), self.out / "confusion.png",
                                 result.test.labels_list)
        return result


def _epoch_line(record: dict[str, Any], epochs: int, metric: str) -> str:
    line = f"epoch {record['epoch']:>3}/{epochs}  train score {record['train_score']:.5f}"
    if "eval_split" in record:
        value = record[metric]
        shown = "nan" if value is None else f"{value:.4f}"
        line += f"  {record['eval_split']} {metric} {shown}"
    return line + f"  ({record['seconds']:.1f} s)"


def train(config: RunConfig, *, resume: bool = False, overwrite: bool = False,
          epochs: int | None = None, echo: Callable[[str], None] | None = None) -> TrainResult:
    """Train as ``config`` says; ``epochs`` overrides ``run.epochs`` (e.g. to extend a run).

    With ``resume`` the run continues from its last completed epoch and ends with the same
    parameters an uninterrupted run would have.
    """
    if epochs is not None:
        config = dataclasses.replace(config, run=dataclasses.replace(config.run, epochs=epochs))
    with writing_into(Path(config.run.output)):
        return Trainer(config, echo).run(resume=resume, overwrite=overwrite)
