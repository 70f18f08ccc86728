"""EarlyStoppingTrainer (DL4J's names): the best model on validation data, and why it stopped."""

from __future__ import annotations

import numpy as np
import pytest

from seqdata import ListDataSetIterator
from seqnet import Adam, GravesLSTM, RnnOutputLayer, Sgd
from seqnet.errors import ConfigurationError
from seqnet.training.early_stopping import (
    ClassificationScoreCalculator,
    DataSetLossCalculator,
    EarlyStoppingConfiguration,
    EarlyStoppingTrainer,
    InMemoryModelSaver,
    LocalFileModelSaver,
    MaxEpochsTerminationCondition,
    MaxScoreIterationTerminationCondition,
    ScoreImprovementEpochTerminationCondition,
    TerminationReason,
)
from tests.seqnet._nets import make_net, random_dataset


def iterator(seed: int, n: int = 16) -> ListDataSetIterator:
    rng = np.random.default_rng(seed)
    return ListDataSetIterator([random_dataset(rng, 1, 3, 2, 6) for _ in range(n)], batch=4)


def test_max_epochs_and_the_best_model_is_the_best_scored_one(tmp_path):
    net = make_net([GravesLSTM(n_in=3, n_out=5), RnnOutputLayer(n_out=2)], updater=Adam(0.05))
    validation = iterator(1)
    config = EarlyStoppingConfiguration(
        score_calculator=DataSetLossCalculator(validation),
        epoch_termination_conditions=[MaxEpochsTerminationCondition(4)],
        model_saver=LocalFileModelSaver(tmp_path))
    result = EarlyStoppingTrainer(config, net, iterator(0), progress=False).fit()
    assert result.termination_reason == TerminationReason.EPOCH_TERMINATION_CONDITION
    assert result.total_epochs == 4 and sorted(result.score_vs_epoch) == [0, 1, 2, 3]
    best = min(result.score_vs_epoch, key=result.score_vs_epoch.__getitem__)
    assert result.best_model_epoch == best
    assert DataSetLossCalculator(validation).calculate_score(result.best_model) == \
        pytest.approx(result.best_model_score, rel=1e-6)
    assert (tmp_path / "bestModel.zip").exists()


def test_no_improvement_stops_after_patience():
    net = make_net([GravesLSTM(n_in=3, n_out=5), RnnOutputLayer(n_out=2)], updater=Sgd(1e-12))
    config = EarlyStoppingConfiguration(
        score_calculator=ClassificationScoreCalculator("ACCURACY", iterator(1)),
        epoch_termination_conditions=[MaxEpochsTerminationCondition(20),
                                      ScoreImprovementEpochTerminationCondition(2)],
        model_saver=InMemoryModelSaver())
    result = EarlyStoppingTrainer(config, net, iterator(0), progress=False).fit()
    assert result.total_epochs == 3 and result.best_model_epoch == 0
    assert "ScoreImprovement" in result.termination_details
    assert result.get_best_model().num_params() == net.num_params()


def test_an_iteration_condition_stops_mid_epoch():
    net = make_net([GravesLSTM(n_in=3, n_out=5), RnnOutputLayer(n_out=2)])
    config = EarlyStoppingConfiguration(
        score_calculator=DataSetLossCalculator(iterator(1)),
        iteration_termination_conditions=[MaxScoreIterationTerminationCondition(-1.0)])
    result = EarlyStoppingTrainer(config, net, iterator(0), progress=False).fit()
    assert result.termination_reason == TerminationReason.ITERATION_TERMINATION_CONDITION
    assert net.iteration_count == 1 and net.solver.listeners == []


def test_a_configuration_that_never_stops_is_refused():
    with pytest.raises(ConfigurationError, match="termination condition"):
        EarlyStoppingConfiguration(score_calculator=DataSetLossCalculator(iterator(1)))
