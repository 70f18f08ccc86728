"""GlobalPoolingLayer and the Bidirectional wrapper: each example of a padded, masked batch gets
the output it has alone at its own length; gradients; DL4J's keys; whole-sequence rules."""

from __future__ import annotations

import numpy as np
import pytest

from seqdata.dataset import DataSet
from seqnet.conf.enums import BackpropType, BidirectionalMode, PoolingType
from seqnet.conf.layers import (
    LSTM,
    Bidirectional,
    GlobalPoolingLayer,
    GravesLSTM,
    OutputLayer,
)
from seqnet.conf.multilayer import MultiLayerConfiguration
from seqnet.errors import ConfigurationError, StateError
from seqnet.network import MultiLayerNetwork
from tests.seqnet._nets import make_net
from tests.seqnet.test_gradients import _check

LENGTHS = [12, 7, 3, 1]


def _padded(rng, c, align_end):
    t = max(LENGTHS)
    x = np.zeros((len(LENGTHS), c, t))
    mask = np.zeros((len(LENGTHS), t))
    alone = []
    for i, n in enumerate(LENGTHS):
        seq = rng.normal(size=(c, n))
        cut = slice(t - n, t) if align_end else slice(0, n)
        x[i, :, cut] = seq
        mask[i, cut] = 1
        alone.append(seq)
    return x, mask, alone


def _net(first, pooling=PoolingType.AVG):
    return make_net([first, GlobalPoolingLayer(pooling_type=pooling), OutputLayer(n_out=3)],
                    data_type="float64")


NETS = {
    "lstm-avg": lambda: _net(LSTM(n_in=2, n_out=4)),
    "graves-max": lambda: _net(GravesLSTM(n_in=2, n_out=4, activation="softsign"),
                               PoolingType.MAX),
    "lstm-sum": lambda: _net(LSTM(n_in=2, n_out=4), PoolingType.SUM),
    "graves-pnorm": lambda: _net(GravesLSTM(n_in=2, n_out=4), PoolingType.PNORM),
    **{f"bi-{mode.value.lower()}-{kind.__name__}": (
        lambda mode=mode, kind=kind: _net(Bidirectional(kind(n_in=2, n_out=4), mode=mode)))
       for mode in BidirectionalMode for kind in (LSTM, GravesLSTM)},
}


@pytest.mark.parametrize("align_end", [False, True], ids=["ALIGN_START", "ALIGN_END"])
@pytest.mark.parametrize("name", sorted(NETS))
def test_each_example_of_a_masked_batch_gets_its_output_alone(name, align_end):
    rng = np.random.default_rng(len(name))
    net = NETS[name]()
    x, mask, alone = _padded(rng, 2, align_end)
    batch = net.output(x, mask)
    for i, seq in enumerate(alone):
        np.testing.assert_allclose(batch[i], net.output(seq[None])[0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", [PoolingType.AVG, PoolingType.MAX, PoolingType.SUM,
                                  PoolingType.PNORM])
def test_masked_pooling_is_dl4js_reduction(kind):
    import torch

    from seqnet.nn.pooling import GlobalPoolingModule

    x = np.array([[[1.0, -4.0, 2.0, 7.0]]])
    m = np.array([[1.0, 1.0, 1.0, 0.0]])
    module = GlobalPoolingModule(GlobalPoolingLayer(n_in=1, pooling_type=kind, pnorm=3),
                                 torch.float64, torch.Generator())
    got = float(module(torch.from_numpy(x), torch.from_numpy(m))[0, 0])
    expected = {PoolingType.AVG: -1 / 3, PoolingType.MAX: 2.0, PoolingType.SUM: -1.0,
                PoolingType.PNORM: (1 + 64 + 8) ** (1 / 3)}[kind]
    assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name", ["lstm-avg", "graves-max", "graves-pnorm", "bi-concat-LSTM",
                                  "bi-mul-GravesLSTM", "bi-average-LSTM"])
def test_gradients_with_a_mask_and_regularisation(name):
    rng = np.random.default_rng(5)
    first = NETS[name]().conf.layers[0]
    net = make_net([first, GlobalPoolingLayer(pooling_type=NETS[name]().conf.layers[1]
                                              .pooling_type), OutputLayer(n_out=3)],
                   data_type="float64", l1=0.01, l2=0.02)
    x, mask, _ = _padded(rng, 2, align_end=True)
    labels = np.eye(3)[rng.integers(0, 3, size=len(LENGTHS))]
    _check(net, DataSet(x, labels, mask))


def test_bidirectional_keys_sizes_and_json_round_trip(tmp_path):
    net = make_net([Bidirectional(GravesLSTM(n_in=2, n_out=4)), GlobalPoolingLayer(),
                    OutputLayer(n_out=3)])
    assert list(net.param_table())[:6] == ["0_fW", "0_fRW", "0_fb", "0_bW", "0_bRW", "0_bb"]
    assert net.param_table()["0_fRW"].shape == (4, 4 * 4 + 3)
    assert net.param_table()["2_W"].shape == (8, 3)        # CONCAT: 2 H channels in
    assert MultiLayerConfiguration.from_json(net.conf.to_json()) == net.conf
    net.save(tmp_path / "bi.zip")
    x = np.random.default_rng(0).normal(size=(2, 2, 5)).astype(np.float32)
    np.testing.assert_array_equal(MultiLayerNetwork.load(tmp_path / "bi.zip").output(x),
                                  net.output(x))
    added = make_net([Bidirectional(LSTM(n_in=2, n_out=4), mode="ADD"), GlobalPoolingLayer(),
                      OutputLayer(n_out=3)])
    assert added.param_table()["2_W"].shape == (4, 3)


def test_whole_sequence_layers_refuse_time_stepping_and_tbptt():
    net = _net(Bidirectional(LSTM(n_in=2, n_out=4)))
    with pytest.raises(StateError, match="layer 0 is a Bidirectional"):
        net.rnn_time_step(np.zeros((1, 2), np.float32))
    with pytest.raises(StateError, match="layer 1 is a GlobalPoolingLayer"):
        _net(LSTM(n_in=2, n_out=4)).rnn_time_step(np.zeros((1, 2), np.float32))
    with pytest.raises(ConfigurationError, match="GlobalPoolingLayer needs the whole sequence"):
        MultiLayerConfiguration(layers=[LSTM(n_in=2, n_out=3), GlobalPoolingLayer(),
                                        OutputLayer(n_out=2)],
                                backprop_type=BackpropType.TRUNCATED_BPTT)
    with pytest.raises(ConfigurationError, match="Bidirectional.layer"):
        Bidirectional(OutputLayer(n_out=2))
