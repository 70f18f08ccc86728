"""DL4J's flattened parameter order and updater-state layout, on DL4J's regression files
(parameters and updater state set to linspace(1..n) by RegressionTest050..080)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from seqnet.conf.input_type import InputType
from seqnet.conf.layers import (
    LSTM,
    ConvolutionLayer,
    DenseLayer,
    GravesBidirectionalLSTM,
    GravesLSTM,
    LastTimeStep,
    OutputLayer,
    RnnOutputLayer,
    SubsamplingLayer,
)
from seqnet.conf.multilayer import MultiLayerConfiguration
from seqnet.conf.updaters import Adam, Nesterovs, RmsProp, Sgd
from seqnet.dl4j import (
    flatten,
    param_layout,
    read_updater_state,
    restore_multi_layer_network,
    unflatten,
    updater_state_table,
)
from seqnet.dl4j.params import updater_state_size
from seqnet.errors import ModelFileError
from seqnet.network import MultiLayerNetwork
from tests.seqnet.dl4j._files import LINSPACE, LSTM_071, MLP_080


def _restore(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return restore_multi_layer_network(path)


def test_the_071_lstm_parameters_sit_where_dl4j_put_them():
    table = _restore(LSTM_071).param_table()
    # By hand: each matrix is its slice of 1..477 in column-major order.
    i, j = np.indices((3, 16))
    np.testing.assert_array_equal(table["0_W"], 1 + i + 3 * j)
    i, j = np.indices((4, 19))
    np.testing.assert_array_equal(table["0_RW"], 49 + i + 4 * j)       # peepholes: j >= 16
    np.testing.assert_array_equal(table["0_b"], [np.arange(125, 141)])
    i, j = np.indices((4, 16))
    np.testing.assert_array_equal(table["1_WF"], 141 + i + 4 * j)
    i, j = np.indices((4, 19))
    np.testing.assert_array_equal(table["1_RWB"], 361 + i + 4 * j)
    np.testing.assert_array_equal(table["1_bB"], [np.arange(437, 453)])
    i, j = np.indices((4, 5))
    np.testing.assert_array_equal(table["2_W"], 453 + i + 4 * j)
    np.testing.assert_array_equal(table["2_b"], [np.arange(473, 478)])


def test_the_080_mlp_parameters_and_nesterovs_state():
    path = MLP_080
    table = _restore(path).param_table()
    i, j = np.indices((3, 4))
    np.testing.assert_array_equal(table["0_W"], 1 + i + 3 * j)
    np.testing.assert_array_equal(table["0_b"], [[13, 14, 15, 16]])
    i, j = np.indices((4, 5))
    np.testing.assert_array_equal(table["1_W"], 17 + i + 4 * j)
    np.testing.assert_array_equal(table["1_b"], [[37, 38, 39, 40, 41]])
    state = read_updater_state(path)
    assert {k: sorted(v) for k, v in state.items()} == {k: ["V"] for k in table}
    for key in table:
        np.testing.assert_array_equal(state[key]["V"], table[key])


@pytest.mark.parametrize("path", sorted(LINSPACE), ids=lambda p: p.name)
def test_every_regression_file_holds_linspace_in_dl4j_order(path):
    net = _restore(path)
    n = LINSPACE[path]
    assert net.num_params() == n
    table = net.param_table()
    layout = param_layout(net.conf)
    assert [p.key for p in layout] == list(table)
    flat = np.concatenate([table[p.key].reshape(-1, order="F") for p in layout])
    np.testing.assert_array_equal(flat, np.arange(1, n + 1))
    # One state array per parameter (RmsProp G, Nesterovs V), also linspace(1..m), m = n.
    state = read_updater_state(path)
    for key, value in table.items():
        (only,) = state[key].values()
        np.testing.assert_array_equal(only, value)


def test_flatten_inverts_unflatten_for_every_layer_kind():
    conf = MultiLayerConfiguration(
        layers=[ConvolutionLayer(n_in=2, n_out=3, kernel_size=(2, 2)),
                SubsamplingLayer(kernel_size=(2, 2), stride=(1, 1)),
                DenseLayer(n_out=4), OutputLayer(n_out=2)],
        input_type=InputType.convolutional(5, 5, 2))
    rnn = MultiLayerConfiguration(layers=[
        GravesLSTM(n_in=2, n_out=3), LSTM(n_out=2), GravesBidirectionalLSTM(n_out=2),
        LastTimeStep(LSTM(n_out=3)), OutputLayer(n_out=2)])
    for c in (conf, rnn):
        net = MultiLayerNetwork(c)
        net.init()
        table = net.param_table()
        flat = flatten(c, table)
        assert flat.shape == (1, net.num_params())
        back = unflatten(c, flat)
        assert sorted(back) == sorted(table)
        for key in table:
            np.testing.assert_array_equal(back[key], table[key])


def test_a_convolution_flattens_bias_first_and_its_kernel_in_c_order():
    conf = MultiLayerConfiguration(layers=[ConvolutionLayer(n_in=2, n_out=3, kernel_size=(2, 2)),
                                           SubsamplingLayer(), OutputLayer(n_in=3, n_out=1)],
                                   input_type=InputType.convolutional(3, 3, 2))
    layout = param_layout(conf)
    assert [(p.key, p.shape) for p in layout][:2] == [("0_b", (1, 3)), ("0_W", (3, 2, 2, 2))]
    table = unflatten(conf, np.arange(1.0, 32.0))
    np.testing.assert_array_equal(table["0_b"], [[1, 2, 3]])
    np.testing.assert_array_equal(table["0_W"].reshape(-1), np.arange(4, 28))


def test_updater_blocks_split_adam_state_into_m_then_v():
    conf = MultiLayerConfiguration(
        layers=[DenseLayer(n_in=2, n_out=2, updater=Sgd(0.1)), DenseLayer(n_out=1),
                OutputLayer(n_out=1)], updater=Adam(0.01))
    # Block 1: layer 0 (Sgd, no state). Block 2: layers 1-2 (Adam): [M(1_W,1_b,2_W,2_b) | V].
    assert updater_state_size(conf) == 2 * (3 + 2)
    table = updater_state_table(conf, np.arange(10.0))
    assert "0_W" not in table
    np.testing.assert_array_equal(table["1_W"]["M"], [[0], [1]])
    np.testing.assert_array_equal(table["2_b"]["M"], [[4]])
    np.testing.assert_array_equal(table["1_W"]["V"], [[5], [6]])
    np.testing.assert_array_equal(table["2_b"]["V"], [[9]])


def test_updater_blocks_follow_equal_updaters_not_layers():
    conf = MultiLayerConfiguration(
        layers=[DenseLayer(n_in=1, n_out=1, updater=RmsProp(0.1)),
                DenseLayer(n_out=1, updater=Nesterovs(0.1)),
                RnnOutputLayer(n_out=1, updater=RmsProp(0.1))])
    assert updater_state_size(conf) == 6
    table = updater_state_table(conf, np.arange(6.0))
    assert [next(iter(v)) for v in table.values()] == ["G", "G", "V", "V", "G", "G"]


def test_wrong_lengths_are_refused():
    conf = MultiLayerConfiguration(layers=[OutputLayer(n_in=1, n_out=1)], updater=Adam())
    with pytest.raises(ModelFileError, match="expected 2 values"):
        unflatten(conf, np.zeros(3))
    with pytest.raises(ModelFileError, match="expected 4 values"):
        updater_state_table(conf, np.zeros(5))
