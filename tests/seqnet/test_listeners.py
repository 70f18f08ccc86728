"""Training listeners (DL4J's names) as a user sets them on a network."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from seqdata import ListDataSetIterator
from seqnet import GravesLSTM, MultiLayerNetwork, RnnOutputLayer
from seqnet.errors import SeqNetError
from seqnet.training import (
    CheckpointListener,
    CollectScoresListener,
    EvaluativeListener,
    InvocationType,
    ScoreIterationListener,
    TrainingListener,
)
from tests.seqnet._nets import make_net, random_dataset


def data(n_batches: int = 4) -> ListDataSetIterator:
    rng = np.random.default_rng(0)
    return ListDataSetIterator([random_dataset(rng, 1, 3, 2, 6) for _ in range(4 * n_batches)],
                               batch=4)


def net() -> MultiLayerNetwork:
    return make_net([GravesLSTM(n_in=3, n_out=5), RnnOutputLayer(n_out=2)])


def set_listeners(network: MultiLayerNetwork, *listeners: TrainingListener) -> None:
    # MultiLayerNetwork.set_listeners delegates to its solver (DL4J's setListeners).
    network.set_listeners(*listeners)


class Recorder(TrainingListener):
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def on_epoch_start(self, net):
        self.calls.append(("start", net.epoch_count))

    def on_epoch_end(self, net):
        self.calls.append(("end", net.epoch_count))

    def iteration_done(self, net, iteration, epoch):
        self.calls.append(("iteration", iteration, epoch))


def test_hooks_run_in_order_once_per_update_and_epoch():
    network, recorder = net(), Recorder()
    set_listeners(network, recorder)
    network.fit(data(2), epochs=2, progress=False)
    assert recorder.calls == [("start", 0), ("iteration", 1, 0), ("iteration", 2, 0),
                              ("end", 1), ("start", 1), ("iteration", 3, 1),
                              ("iteration", 4, 1), ("end", 2)]
    assert network.solver.listeners == [recorder]
    set_listeners(network)
    assert network.solver.listeners == []


def test_score_iteration_listener_logs_every_n_updates(caplog):
    network = net()
    set_listeners(network, ScoreIterationListener(2))
    with caplog.at_level(logging.INFO, logger="seqnet.listeners"):
        network.fit(data(4), epochs=1, progress=False)
    lines = [r.getMessage() for r in caplog.records if r.name == "seqnet.listeners"]
    assert [line.split(" is ")[0] for line in lines] == ["Score at iteration 2",
                                                         "Score at iteration 4"]


def test_collect_scores_listener_keeps_what_score_reports():
    network, scores = net(), CollectScoresListener(1)
    set_listeners(network, scores)
    it = data(3)
    it.reset()
    seen = []
    while it.has_next():
        network.fit(it.next())
        seen.append(network.score())
    assert scores.iterations == [1, 2, 3] and scores.scores == seen


def test_evaluative_listener_evaluates_at_the_chosen_times():
    network = net()
    per_epoch = EvaluativeListener(data(1), 1)
    per_two_iterations = EvaluativeListener(data(1), 2, InvocationType.ITERATION_END)
    set_listeners(network, per_epoch, per_two_iterations)
    network.fit(data(2), epochs=3, progress=False)
    assert len(per_epoch.evaluations) == 3 and len(per_two_iterations.evaluations) == 3
    assert per_epoch.last_evaluation.accuracy() == network.evaluate(data(1)).accuracy()


def test_checkpoint_listener_keeps_the_last_n_and_they_load(tmp_path):
    network = net()
    listener = CheckpointListener(tmp_path / "ck", save_every_n_epochs=1, keep_last=2)
    set_listeners(network, listener)
    network.fit(data(1), epochs=3, progress=False)
    names = [p.name for p in listener.available_checkpoints()]
    assert names == ["checkpoint_1_MultiLayerNetwork.zip", "checkpoint_2_MultiLayerNetwork.zip"]
    loaded = MultiLayerNetwork.load(listener.last_checkpoint())
    for key, value in network.param_table().items():
        np.testing.assert_array_equal(loaded.param_table()[key], value)


def test_listeners_are_checked():
    with pytest.raises(SeqNetError, match="TrainingListener"):
        set_listeners(net(), "not a listener")
    with pytest.raises(SeqNetError, match=">= 1"):
        ScoreIterationListener(0)
