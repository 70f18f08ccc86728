"""Training listeners with DL4J's names: hooks the :class:`~seqnet.training.Solver` calls.

A listener sees every parameter update (``iteration_done``) and the start and end of every
epoch of ``fit(iterator)``. Give them to a network with ``net.set_listeners(...)``; they stay until
replaced, ``init()`` included.

>>> from seqnet import GravesLSTM, MultiLayerConfiguration, MultiLayerNetwork, RnnOutputLayer
>>> from seqdata import DataSet
>>> import numpy as np
>>> net = MultiLayerNetwork(MultiLayerConfiguration(
...     layers=[GravesLSTM(n_in=2, n_out=4), RnnOutputLayer(n_out=2)], seed=1)); net.init()
>>> scores = CollectScoresListener(1)
>>> net.set_listeners(ScoreIterationListener(10), scores)
>>> x = np.zeros((3, 2, 5), np.float32); y = np.zeros((3, 2, 5), np.float32); y[:, 0] = 1
>>> net.fit(DataSet(x, y)); net.fit(DataSet(x, y))
>>> scores.iterations, len(scores.scores)
([1, 2], 2)
"""

from __future__ import annotations

import enum
import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from seqnet import distributed
from seqnet.errors import ConfigurationError

__all__ = ["CheckpointListener", "CollectScoresListener", "EvaluativeListener", "InvocationType",
           "ScoreIterationListener", "TrainingListener"]

logger = logging.getLogger("seqnet.listeners")


class TrainingListener:
    """Base of the listeners (DL4J's ``BaseTrainingListener``): every hook does nothing.

    ``net`` is the network being trained; ``iteration`` counts parameter updates (one per
    TBPTT segment) and ``epoch`` the epochs completed before this one.
    """

    def on_epoch_start(self, net: Any) -> None:
        """Called before each epoch of ``fit(iterator)``."""

    def on_epoch_end(self, net: Any) -> None:
        """Called after each epoch of ``fit(iterator)`` (``net.epoch_count`` counts it)."""

    def iteration_done(self, net: Any, iteration: int, epoch: int) -> None:
        """Called after every parameter update (``net.score()`` is its score)."""


def _positive(value: int, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{where}: expected an integer >= 1, found {value!r}")
    return value


class ScoreIterationListener(TrainingListener):
    """Log the score every ``print_iterations`` updates (logger ``seqnet.listeners``, INFO;
    ``logging.basicConfig(level=logging.INFO)`` shows it)."""

    def __init__(self, print_iterations: int = 10) -> None:
        self.print_iterations = _positive(print_iterations, "ScoreIterationListener")

    def iteration_done(self, net: Any, iteration: int, epoch: int) -> None:
        if iteration % self.print_iterations == 0 and distributed.is_writer():
            logger.info("Score at iteration %d is %.6g", iteration, net.score())


class CollectScoresListener(TrainingListener):
    """Keep the score every ``frequency`` updates: ``iterations`` and ``scores``, in step."""

    def __init__(self, frequency: int = 1) -> None:
        self.frequency = _positive(frequency, "CollectScoresListener")
        self.iterations: list[int] = []
        self.scores: list[float] = []

    def iteration_done(self, net: Any, iteration: int, epoch: int) -> None:
        if iteration % self.frequency == 0:
            self.iterations.append(iteration)
            self.scores.append(float(net.score()))


class InvocationType(enum.Enum):
    """When an :class:`EvaluativeListener` evaluates (DL4J's names)."""

    EPOCH_START = "EPOCH_START"
    EPOCH_END = "EPOCH_END"
    ITERATION_END = "ITERATION_END"


class EvaluativeListener(TrainingListener):
    """Evaluate on ``iterator`` every ``frequency`` epochs (or updates, with
    ``InvocationType.ITERATION_END``); keeps ``evaluations`` and logs each ``stats()``.

    ``regression=True`` uses ``net.evaluate_regression``.
    """

    def __init__(self, iterator: Iterable[Any], frequency: int = 1,
                 invocation_type: InvocationType = InvocationType.EPOCH_END,
                 regression: bool = False) -> None:
        self.iterator = iterator
        self.frequency = _positive(frequency, "EvaluativeListener")
        self.invocation_type = InvocationType(invocation_type)
        self.regression = regression
        self.evaluations: list[Any] = []
        self._count = 0

    @property
    def last_evaluation(self) -> Any:
        """The latest evaluation, or ``None`` before the first."""
        return self.evaluations[-1] if self.evaluations else None

    def _invoke(self, net: Any) -> None:
        self._count += 1
        if self._count % self.frequency:
            return
        evaluation = (net.evaluate_regression(self.iterator) if self.regression
                      else net.evaluate(self.iterator))
        self.evaluations.append(evaluation)
        if distributed.is_writer():
            logger.info("evaluation after epoch %d, iteration %d:\n%s", net.epoch_count,
                        net.iteration_count, evaluation.stats())

    def on_epoch_start(self, net: Any) -> None:
        if self.invocation_type == InvocationType.EPOCH_START:
            self._invoke(net)

    def on_epoch_end(self, net: Any) -> None:
        if self.invocation_type == InvocationType.EPOCH_END:
            self._invoke(net)

    def iteration_done(self, net: Any, iteration: int, epoch: int) -> None:
        if self.invocation_type == InvocationType.ITERATION_END:
            self._invoke(net)


class CheckpointListener(TrainingListener):
    """Save the network into ``root_dir`` every N epochs and/or N updates, keeping the newest
    ``keep_last`` (all when ``None``), as DL4J's ``CheckpointListener.Builder`` configures it.

    Files are ``checkpoint_{n}_MultiLayerNetwork.zip`` (n counts from 0, as DL4J's);
    :meth:`last_checkpoint` gives the newest, ``MultiLayerNetwork.load`` reads it. Only the
    writer process saves under ``torch.distributed``.
    """

    _NAME = re.compile(r"checkpoint_(\d+)_MultiLayerNetwork\.zip")

    def __init__(self, root_dir: str | os.PathLike, *, save_every_n_epochs: int | None = None,
                 save_every_n_iterations: int | None = None, keep_last: int | None = None,
                 save_updater: bool = True) -> None:
        if save_every_n_epochs is None and save_every_n_iterations is None:
            save_every_n_epochs = 1
        self.root_dir = Path(root_dir)
        self.save_every_n_epochs = (None if save_every_n_epochs is None else
                                    _positive(save_every_n_epochs, "CheckpointListener"))
        self.save_every_n_iterations = (None if save_every_n_iterations is None else
                                        _positive(save_every_n_iterations, "CheckpointListener"))
        self.keep_last = None if keep_last is None else _positive(keep_last, "CheckpointListener")
        self.save_updater = save_updater
        self.root_dir.mkdir(parents=True, exist_ok=True)

    def available_checkpoints(self) -> list[Path]:
        """The checkpoint files in ``root_dir``, oldest first."""
        found = [(int(m.group(1)), p) for p in self.root_dir.iterdir()
                 if (m := self._NAME.fullmatch(p.name))]
        return [p for _, p in sorted(found)]

    def last_checkpoint(self) -> Path | None:
        """The newest checkpoint, or ``None``."""
        files = self.available_checkpoints()
        return files[-1] if files else None

    def _save(self, net: Any) -> None:
        if not distributed.is_writer():
            return
        last = self.last_checkpoint()
        number = 0 if last is None else int(last.name.split("_")[1]) + 1
        net.save(self.root_dir / f"checkpoint_{number}_MultiLayerNetwork.zip",
                 save_updater=self.save_updater)
        if self.keep_last is not None:
            for old in self.available_checkpoints()[:-self.keep_last]:
                old.unlink()

    def on_epoch_end(self, net: Any) -> None:
        if self.save_every_n_epochs and net.epoch_count % self.save_every_n_epochs == 0:
            self._save(net)

    def iteration_done(self, net: Any, iteration: int, epoch: int) -> None:
        if self.save_every_n_iterations and iteration % self.save_every_n_iterations == 0:
            self._save(net)
