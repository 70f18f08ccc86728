"""Early stopping with DL4J's names: a configuration, a trainer, and their parts.

Train epoch by epoch, score the network on a validation iterator, keep the best model, stop
when a termination condition says so (DL4J's ``org.deeplearning4j.earlystopping``)::

    es = EarlyStoppingConfiguration(
        epoch_termination_conditions=[MaxEpochsTerminationCondition(30),
                                      ScoreImprovementEpochTerminationCondition(5)],
        score_calculator=DataSetLossCalculator(validation_it),
        model_saver=LocalFileModelSaver("runs/es"))
    result = EarlyStoppingTrainer(es, net, train_it).fit()
    best = result.best_model            # a MultiLayerNetwork

Only the validation iterator is scored; keep the test iterator out of it (NOTE [ Why the
test split never chooses a model ] in :mod:`seqnet.workflow.selection`).

>>> is_improvement(0.5, 0.6, minimize=True), is_improvement(0.5, 0.6, minimize=False)
(True, False)
>>> c = ScoreImprovementEpochTerminationCondition(2)
>>> [c.terminate(epoch, score, True) for epoch, score in enumerate([3.0, 2.0, 2.5, 2.1])]
[False, False, False, True]
"""

from __future__ import annotations

import enum
import math
import os
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from seqnet.errors import ConfigurationError
from seqnet.training.listeners import TrainingListener

__all__ = ["BestScoreEpochTerminationCondition", "ClassificationScoreCalculator",
           "DataSetLossCalculator", "EarlyStoppingConfiguration", "EarlyStoppingResult",
           "EarlyStoppingTrainer", "InMemoryModelSaver", "LocalFileModelSaver",
           "MaxEpochsTerminationCondition", "MaxScoreIterationTerminationCondition",
           "MaxTimeIterationTerminationCondition", "RegressionScoreCalculator",
           "ScoreImprovementEpochTerminationCondition", "TerminationReason", "is_improvement"]


def is_improvement(value: float | None, best: float | None, minimize: bool,
                   min_improvement: float = 0.0) -> bool:
    """Whether ``value`` beats ``best`` by more than ``min_improvement`` (a non-finite value
    never does; any finite value beats no best)."""
    if value is None or not math.isfinite(value):
        return False
    if best is None:
        return True
    return value < best - min_improvement if minimize else value > best + min_improvement


# --------------------------------------------------------------------------- score calculators

class ScoreCalculator(Protocol):
    """Scores a network (on its own validation data); ``minimize_score`` says which way."""

    def calculate_score(self, net: Any) -> float: ...

    def minimize_score(self) -> bool: ...


class DataSetLossCalculator:
    """The network's score (loss + regularisation) on ``iterator``: the example-weighted mean
    over its minibatches when ``average``, else the sum. Lower is better."""

    def __init__(self, iterator: Iterable[Any], average: bool = True) -> None:
        self.iterator = iterator
        self.average = average

    def calculate_score(self, net: Any) -> float:
        total, examples = 0.0, 0
        reset = getattr(self.iterator, "reset", None)
        if reset is not None:
            reset()
        for ds in self.iterator:
            n = int(ds.features.shape[0])
            total += net.score(ds) * n
            examples += n
        return total / examples if self.average and examples else total

    def minimize_score(self) -> bool:
        return True


_CLASSIFICATION = {"ACCURACY": "accuracy", "F1": "f1", "PRECISION": "precision",
                   "RECALL": "recall"}
_REGRESSION = {"MSE": "average_mean_squared_error", "MAE": "average_mean_absolute_error",
               "RMSE": "average_root_mean_squared_error", "R2": "average_r_squared"}


def _metric(metric: Any, table: dict[str, str], who: str) -> str:
    name = str(getattr(metric, "value", metric)).upper()
    if name not in table:
        raise ConfigurationError(f"{who}: expected a metric among {', '.join(table)}, found "
                                 f"{metric!r}")
    return name


class ClassificationScoreCalculator:
    """An ``Evaluation`` metric on ``iterator`` (DL4J's ``Evaluation.Metric``: ``"ACCURACY"``,
    ``"F1"``, ``"PRECISION"``, ``"RECALL"``; any case). Higher is better."""

    def __init__(self, metric: Any, iterator: Iterable[Any]) -> None:
        self.metric = _metric(metric, _CLASSIFICATION, "ClassificationScoreCalculator")
        self.iterator = iterator

    def calculate_score(self, net: Any) -> float:
        return float(getattr(net.evaluate(self.iterator), _CLASSIFICATION[self.metric])())

    def minimize_score(self) -> bool:
        return False


class RegressionScoreCalculator:
    """A ``RegressionEvaluation`` metric averaged over columns on ``iterator`` (``"MSE"``,
    ``"MAE"``, ``"RMSE"``, ``"R2"``). Lower is better, except R2."""

    def __init__(self, metric: Any, iterator: Iterable[Any]) -> None:
        self.metric = _metric(metric, _REGRESSION, "RegressionScoreCalculator")
        self.iterator = iterator

    def calculate_score(self, net: Any) -> float:
        return float(getattr(net.evaluate_regression(self.iterator), _REGRESSION[self.metric])())

    def minimize_score(self) -> bool:
        return self.metric != "R2"


# --------------------------------------------------------------------------- conditions

class MaxEpochsTerminationCondition:
    """Stop after ``max_epochs`` epochs."""

    def __init__(self, max_epochs: int) -> None:
        if max_epochs < 1:
            raise ConfigurationError(f"MaxEpochsTerminationCondition: expected max_epochs >= 1, "
                                     f"found {max_epochs}")
        self.max_epochs = max_epochs

    def initialize(self) -> None:
        pass

    def terminate(self, epoch: int, score: float, minimize: bool) -> bool:
        """``epoch`` counts from 0: the one just finished."""
        return epoch + 1 >= self.max_epochs

    def __str__(self) -> str:
        return f"MaxEpochsTerminationCondition({self.max_epochs})"


class ScoreImprovementEpochTerminationCondition:
    """Stop when ``max_epochs_with_no_improvement`` scored epochs in a row did not beat the
    best score by more than ``min_improvement``. ``best_score`` and ``bad_epochs`` are its
    state (a resumed run restores them)."""

    def __init__(self, max_epochs_with_no_improvement: int, min_improvement: float = 0.0) -> None:
        if max_epochs_with_no_improvement < 1:
            raise ConfigurationError("ScoreImprovementEpochTerminationCondition: expected "
                                     "max_epochs_with_no_improvement >= 1, found "
                                     f"{max_epochs_with_no_improvement}")
        self.max_epochs_with_no_improvement = max_epochs_with_no_improvement
        self.min_improvement = min_improvement
        self.initialize()

    def initialize(self) -> None:
        self.best_score: float | None = None
        self.bad_epochs = 0

    def terminate(self, epoch: int, score: float, minimize: bool) -> bool:
        if is_improvement(score, self.best_score, minimize, self.min_improvement):
            self.best_score, self.bad_epochs = score, 0
            return False
        self.bad_epochs += 1
        return self.bad_epochs >= self.max_epochs_with_no_improvement

    def __str__(self) -> str:
        return (f"ScoreImprovementEpochTerminationCondition("
                f"{self.max_epochs_with_no_improvement}, {self.min_improvement})")


class BestScoreEpochTerminationCondition:
    """Stop once the score is at least as good as ``best_expected_score``."""

    def __init__(self, best_expected_score: float) -> None:
        self.best_expected_score = best_expected_score

    def initialize(self) -> None:
        pass

    def terminate(self, epoch: int, score: float, minimize: bool) -> bool:
        return score <= self.best_expected_score if minimize else \
            score >= self.best_expected_score

    def __str__(self) -> str:
        return f"BestScoreEpochTerminationCondition({self.best_expected_score})"


class MaxTimeIterationTerminationCondition:
    """Stop (mid-epoch) once training has run ``max_seconds``."""

    def __init__(self, max_seconds: float) -> None:
        self.max_seconds = max_seconds
        self.initialize()

    def initialize(self) -> None:
        self._start = time.monotonic()

    def terminate(self, last_minibatch_score: float) -> bool:
        return time.monotonic() - self._start >= self.max_seconds

    def __str__(self) -> str:
        return f"MaxTimeIterationTerminationCondition({self.max_seconds} s)"


class MaxScoreIterationTerminationCondition:
    """Stop (mid-epoch) when a minibatch's score exceeds ``max_score`` or is not finite
    (training diverged)."""

    def __init__(self, max_score: float) -> None:
        self.max_score = max_score

    def initialize(self) -> None:
        pass

    def terminate(self, last_minibatch_score: float) -> bool:
        return not math.isfinite(last_minibatch_score) or last_minibatch_score > self.max_score

    def __str__(self) -> str:
        return f"MaxScoreIterationTerminationCondition({self.max_score})"


# --------------------------------------------------------------------------- model savers

class InMemoryModelSaver:
    """Keeps the best and the latest model as model-zip bytes in memory."""

    def __init__(self) -> None:
        self._best: tuple[type, bytes] | None = None
        self._latest: tuple[type, bytes] | None = None

    @staticmethod
    def _snapshot(net: Any) -> tuple[type, bytes]:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.zip"
            net.save(path, save_updater=True)
            return type(net), path.read_bytes()

    @staticmethod
    def _restore(snapshot: tuple[type, bytes] | None) -> Any:
        if snapshot is None:
            return None
        cls, data = snapshot
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.zip"
            path.write_bytes(data)
            return cls.load(path)  # type: ignore[attr-defined]

    def save_best_model(self, net: Any, score: float) -> None:
        self._best = self._snapshot(net)

    def save_latest_model(self, net: Any, score: float) -> None:
        self._latest = self._snapshot(net)

    def get_best_model(self) -> Any:
        return self._restore(self._best)

    def get_latest_model(self) -> Any:
        return self._restore(self._latest)


class LocalFileModelSaver:
    """Writes ``bestModel.zip`` and ``latestModel.zip`` into ``directory`` (DL4J writes
    ``.bin``; these are seqnet model zips)."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._cls: type | None = None

    def _write(self, net: Any, name: str) -> None:
        self._cls = type(net)
        tmp = self.directory / (name + ".tmp")
        net.save(tmp, save_updater=True)
        os.replace(tmp, self.directory / name)

    def save_best_model(self, net: Any, score: float) -> None:
        self._write(net, "bestModel.zip")

    def save_latest_model(self, net: Any, score: float) -> None:
        self._write(net, "latestModel.zip")

    def _read(self, name: str) -> Any:
        path = self.directory / name
        if self._cls is None or not path.exists():
            return None
        return self._cls.load(path)  # type: ignore[attr-defined]

    def get_best_model(self) -> Any:
        return self._read("bestModel.zip")

    def get_latest_model(self) -> Any:
        return self._read("latestModel.zip")


# --------------------------------------------------------------------------- configuration

@dataclass
class EarlyStoppingConfiguration:
    """What :class:`EarlyStoppingTrainer` needs: at least one epoch termination condition (or
    an iteration one), a score calculator on validation data, and where the best model goes.

    ``evaluate_every_n_epochs`` scores every N-th epoch; ``save_last_model`` also keeps the
    latest model.
    """

    score_calculator: ScoreCalculator
    epoch_termination_conditions: Sequence[Any] = ()
    iteration_termination_conditions: Sequence[Any] = ()
    model_saver: Any = field(default_factory=InMemoryModelSaver)
    evaluate_every_n_epochs: int = 1
    save_last_model: bool = False

    def __post_init__(self) -> None:
        if not self.epoch_termination_conditions and not self.iteration_termination_conditions:
            raise ConfigurationError(
                "EarlyStoppingConfiguration: expected at least one termination condition (e.g. "
                "MaxEpochsTerminationCondition(30)), found none: training would never stop")
        if self.evaluate_every_n_epochs < 1:
            raise ConfigurationError("EarlyStoppingConfiguration.evaluate_every_n_epochs: "
                                     f"expected >= 1, found {self.evaluate_every_n_epochs}")


class TerminationReason(enum.Enum):
    """Why :meth:`EarlyStoppingTrainer.fit` stopped (DL4J's names)."""

    EPOCH_TERMINATION_CONDITION = "EpochTerminationCondition"
    ITERATION_TERMINATION_CONDITION = "IterationTerminationCondition"


@dataclass
class EarlyStoppingResult:
    """What :meth:`EarlyStoppingTrainer.fit` returns; ``best_model`` loads the best network."""

    termination_reason: TerminationReason
    termination_details: str
    score_vs_epoch: dict[int, float]
    best_model_epoch: int
    best_model_score: float
    total_epochs: int
    model_saver: Any = field(repr=False)

    @property
    def best_model(self) -> Any:
        return self.model_saver.get_best_model()

    def get_best_model(self) -> Any:
        """DL4J's spelling of :attr:`best_model`."""
        return self.best_model


class _Stop(Exception):
    def __init__(self, condition: Any) -> None:
        self.condition = condition


class _IterationWatch(TrainingListener):
    def __init__(self, conditions: Sequence[Any]) -> None:
        self.conditions = conditions

    def iteration_done(self, net: Any, iteration: int, epoch: int) -> None:
        for condition in self.conditions:
            if condition.terminate(float(net.score())):
                raise _Stop(condition)


class EarlyStoppingTrainer:
    """Train ``net`` on ``train`` epoch by epoch (``net.fit``: the one fit loop, with any
    listeners the network has) until a termination condition of ``config`` holds."""

    def __init__(self, config: EarlyStoppingConfiguration, net: Any, train: Iterable[Any],
                 progress: bool = True) -> None:
        self.config, self.net, self.train, self.progress = config, net, train, progress

    def fit(self) -> EarlyStoppingResult:
        config, net = self.config, self.net
        for condition in (*config.epoch_termination_conditions,
                          *config.iteration_termination_conditions):
            condition.initialize()
        minimize = config.score_calculator.minimize_score()
        watch = _IterationWatch(config.iteration_termination_conditions)
        saved = net.solver.listeners
        net.solver.set_listeners(saved, [watch])
        scores: dict[int, float] = {}
        best_epoch, best_score = -1, None
        epoch = 0
        try:
            while True:
                try:
                    net.fit(self.train, progress=self.progress)
                except _Stop as stop:
                    return self._result(TerminationReason.ITERATION_TERMINATION_CONDITION,
                                        str(stop.condition), scores, best_epoch, best_score,
                                        epoch)
                if (epoch + 1) % config.evaluate_every_n_epochs:
                    # An epoch without a score still counts towards a maximum.
                    for condition in config.epoch_termination_conditions:
                        if isinstance(condition, MaxEpochsTerminationCondition) and \
                                condition.terminate(epoch, float("nan"), minimize):
                            return self._result(TerminationReason.EPOCH_TERMINATION_CONDITION,
                                                str(condition), scores, best_epoch, best_score,
                                                epoch + 1)
                else:
                    score = config.score_calculator.calculate_score(net)
                    scores[epoch] = score
                    if is_improvement(score, best_score, minimize):
                        best_epoch, best_score = epoch, score
                        config.model_saver.save_best_model(net, score)
                    if config.save_last_model:
                        config.model_saver.save_latest_model(net, score)
                    for condition in config.epoch_termination_conditions:
                        if condition.terminate(epoch, score, minimize):
                            return self._result(TerminationReason.EPOCH_TERMINATION_CONDITION,
                                                str(condition), scores, best_epoch, best_score,
                                                epoch + 1)
                epoch += 1
        finally:
            net.solver.set_listeners(saved)

    def _result(self, reason: TerminationReason, details: str, scores: dict[int, float],
                best_epoch: int, best_score: float | None, epochs: int) -> EarlyStoppingResult:
        return EarlyStoppingResult(
            termination_reason=reason, termination_details=details, score_vs_epoch=scores,
            best_model_epoch=best_epoch,
            best_model_score=float("nan") if best_score is None else best_score,
            total_epochs=epochs, model_saver=self.config.model_saver)
