"""MultiLayerNetwork: output, masks, stateful time-stepping, param_table, devices of inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqdata.dataset import DataSet
from seqnet.conf.layers import (
    LSTM,
    DenseLayer,
    GravesBidirectionalLSTM,
    GravesLSTM,
    LastTimeStep,
    OutputLayer,
    RnnOutputLayer,
)
from seqnet.errors import ConfigurationError, StateError
from tests.seqnet._nets import make_net, one_hot_steps


def _stack(recurrent=GravesLSTM, **conf):
    return make_net([recurrent(n_in=3, n_out=6), recurrent(n_out=5),
                     DenseLayer(n_out=4, activation="tanh"), RnnOutputLayer(n_out=2)], **conf)


@pytest.mark.parametrize("recurrent", [GravesLSTM, LSTM])
@pytest.mark.parametrize("chunk", [1, 2, 3, 4, 6, 12])
def test_rnn_time_step_chunks_equal_output(recurrent, chunk):
    net = _stack(recurrent)
    x = np.random.default_rng(0).normal(size=(3, 3, 12)).astype(np.float32)
    full = net.output(x)
    pieces = [net.rnn_time_step(x[:, :, s:s + chunk]) for s in range(0, 12, chunk)]
    np.testing.assert_allclose(np.concatenate(pieces, axis=2), full, atol=1e-5)


def test_rnn_time_step_two_d_in_two_d_out_and_torch_in_torch_out():
    net = _stack()
    x = np.random.default_rng(1).normal(size=(2, 3, 4)).astype(np.float32)
    steps = [net.rnn_time_step(x[:, :, t]) for t in range(4)]
    assert steps[0].shape == (2, 2) and isinstance(steps[0], np.ndarray)
    np.testing.assert_allclose(np.stack(steps, axis=2), net.output(x), atol=1e-5)
    out = net.rnn_time_step(torch.from_numpy(x[:, :, 0]))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 2)


def test_rnn_state_keys_get_set_round_trip_and_clear():
    net = _stack()
    assert net.rnn_get_previous_state(0) == {}
    x = np.random.default_rng(2).normal(size=(2, 3, 5)).astype(np.float32)
    net.rnn_time_step(x[:, :, :3])
    saved = {i: net.rnn_get_previous_state(i) for i in (0, 1)}
    assert set(saved[0]) == {"prevAct", "prevMem"} and saved[0]["prevAct"].shape == (2, 6)
    expected = net.rnn_time_step(x[:, :, 3:])
    net.rnn_clear_previous_state()
    assert net.rnn_get_previous_state(1) == {}
    for i, state in saved.items():
        net.rnn_set_previous_state(i, {k: v.numpy() for k, v in state.items()})
    np.testing.assert_allclose(net.rnn_time_step(x[:, :, 3:]), expected, atol=1e-6)


def test_state_errors():
    net = _stack()
    with pytest.raises(StateError, match="recurrent"):
        net.rnn_get_previous_state(2)
    net.rnn_time_step(np.zeros((2, 3), np.float32))
    with pytest.raises(StateError, match="minibatch size 2.*found 3.*rnn_clear_previous_state"):
        net.rnn_time_step(np.zeros((3, 3), np.float32))
    net.rnn_clear_previous_state()
    assert net.rnn_time_step(np.zeros((3, 3), np.float32)).shape == (3, 2)
    with pytest.raises(StateError, match="prevAct"):
        net.rnn_set_previous_state(0, {"h": np.zeros((3, 6))})
    bi = make_net([GravesBidirectionalLSTM(n_in=3, n_out=4), RnnOutputLayer(n_out=2)])
    with pytest.raises(StateError, match="Bidirectional"):
        bi.rnn_time_step(np.zeros((1, 3), np.float32))


def test_output_is_always_from_zero_state():
    net = _stack()
    x = np.random.default_rng(3).normal(size=(2, 3, 4)).astype(np.float32)
    before = net.output(x)
    net.rnn_time_step(x)
    np.testing.assert_array_equal(net.output(x), before)


@pytest.mark.parametrize("recurrent", [GravesLSTM, LSTM])
def test_padded_masked_score_is_mean_of_unpadded_scores(recurrent):
    rng = np.random.default_rng(4)
    net = make_net([recurrent(n_in=3, n_out=5), RnnOutputLayer(n_out=3)], l2=0.01)
    lengths = [6, 3, 4]
    seqs = [rng.normal(size=(1, 3, t)).astype(np.float32) for t in lengths]
    labels = [one_hot_steps(rng, 1, 3, t) for t in lengths]
    x = np.zeros((3, 3, 6), np.float32)
    y = np.zeros((3, 3, 6), np.float32)
    mask = np.zeros((3, 6), np.float32)
    for i, t in enumerate(lengths):
        x[i, :, :t], y[i, :, :t], mask[i, :t] = seqs[i][0], labels[i][0], 1.0
    # Regularisation is the same term in every score, so the means compare directly.
    unpadded = [net.score(DataSet(s, lab)) for s, lab in zip(seqs, labels)]
    padded = net.score(DataSet(x, y, mask, mask))
    assert padded == pytest.approx(np.mean(unpadded), rel=1e-5)
    # Without a labels mask the features mask masks the loss.
    assert net.score(DataSet(x, y, mask, None)) == pytest.approx(padded, rel=1e-6)


@pytest.mark.parametrize("recurrent", [GravesLSTM, LSTM])
def test_left_padded_sequence_gives_unpadded_outputs(recurrent):
    rng = np.random.default_rng(5)
    net = make_net([recurrent(n_in=3, n_out=5), recurrent(n_out=4), RnnOutputLayer(n_out=2)])
    seq = rng.normal(size=(1, 3, 4)).astype(np.float32)
    padded = np.concatenate([rng.normal(size=(1, 3, 3)).astype(np.float32), seq], axis=2)
    mask = np.array([[0, 0, 0, 1, 1, 1, 1]], np.float32)
    np.testing.assert_allclose(net.output(padded, mask)[:, :, 3:], net.output(seq), atol=1e-6)


def test_output_zeroes_only_where_labels_mask_is_zero():
    net = _stack()
    x = np.random.default_rng(6).normal(size=(2, 3, 4)).astype(np.float32)
    lmask = np.array([[1, 0, 1, 0], [0, 0, 0, 1]], np.float32)
    full = net.output(x)
    masked = net.output(x, labels_mask=lmask)
    assert np.all(masked.transpose(0, 2, 1)[lmask == 0] == 0)
    np.testing.assert_array_equal(masked.transpose(0, 2, 1)[lmask == 1],
                                  full.transpose(0, 2, 1)[lmask == 1])
    assert np.all(full != 0)


def test_feed_forward_lists_input_and_every_layer():
    net = _stack()
    x = np.random.default_rng(7).normal(size=(2, 3, 4)).astype(np.float32)
    acts = net.feed_forward(x)
    assert [a.shape for a in acts] == [(2, 3, 4), (2, 6, 4), (2, 5, 4), (8, 4), (2, 2, 4)]
    # output() may run on ONNX Runtime (seqnet.inference): the same numbers within 1e-5.
    np.testing.assert_allclose(acts[-1], net.output(x), atol=1e-5)


def test_automatic_preprocessors_and_explicit_ones_win():
    from seqnet.conf.preprocessors import (
        FeedForwardToRnnPreProcessor,
        RnnToFeedForwardPreProcessor,
    )

    net = _stack()
    assert net.conf.preprocessor(0) is None and net.conf.preprocessor(1) is None
    assert isinstance(net.conf.preprocessor(2), RnnToFeedForwardPreProcessor)
    assert isinstance(net.conf.preprocessor(3), FeedForwardToRnnPreProcessor)
    explicit = make_net([DenseLayer(n_in=3, n_out=4), GravesLSTM(n_out=2), OutputLayer(n_out=2)],
                        input_preprocessors={2: RnnToFeedForwardPreProcessor()})
    assert isinstance(explicit.conf.preprocessor(1), FeedForwardToRnnPreProcessor)


def test_last_time_step_picks_last_real_step():
    rng = np.random.default_rng(8)
    net = make_net([LastTimeStep(LSTM(n_in=3, n_out=4)), OutputLayer(n_out=2)])
    x = rng.normal(size=(2, 3, 5)).astype(np.float32)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], np.float32)
    out = net.output(x, mask)
    np.testing.assert_allclose(out[0], net.output(x[:1, :, :3])[0], atol=1e-6)
    np.testing.assert_allclose(out[1], net.output(x[1:])[0], atol=1e-6)


def test_set_param_table_round_trip_and_errors():
    a, b = _stack(seed=1), _stack(seed=2)
    x = np.random.default_rng(9).normal(size=(2, 3, 4)).astype(np.float32)
    assert not np.allclose(a.output(x), b.output(x))
    b.set_param_table(a.param_table())
    np.testing.assert_array_equal(a.output(x), b.output(x))
    table = a.param_table()
    table["0_RW"] = table["0_RW"][:, :-3]
    with pytest.raises(ConfigurationError, match=r"0_RW.*\[6, 27\].*\[6, 24\]"):
        b.set_param_table(table)
    del table["0_RW"]
    with pytest.raises(ConfigurationError, match="missing.*0_RW"):
        b.set_param_table(table)


def test_float64_network_and_seed_reproducibility():
    a, b = _stack(data_type="float64", seed=5), _stack(data_type="float64", seed=5)
    x = np.random.default_rng(10).normal(size=(2, 3, 4))
    assert a.output(x).dtype == np.float64
    np.testing.assert_array_equal(a.output(x), b.output(x))


def test_video_style_conv_then_recurrent_network():
    from seqnet.conf.layers import ConvolutionLayer, SubsamplingLayer
    from seqnet.conf.preprocessors import RnnToCnnPreProcessor

    net = make_net([ConvolutionLayer(n_in=2, n_out=3, kernel_size=(3, 3), activation="relu"),
                    SubsamplingLayer(kernel_size=(2, 2), stride=(2, 2)),
                    GravesLSTM(n_out=4), RnnOutputLayer(n_out=2)],
                   input_preprocessors={0: RnnToCnnPreProcessor(input_height=6, input_width=6,
                                                               num_channels=2)})
    x = np.random.default_rng(11).normal(size=(2, 72, 5)).astype(np.float32)
    out = net.output(x)
    assert out.shape == (2, 2, 5)
    steps = np.concatenate([net.rnn_time_step(x[:, :, t:t + 1]) for t in range(5)], axis=2)
    np.testing.assert_allclose(steps, out, atol=1e-5)
    # Each frame goes through the conv layers on its own: frame 0 alone gives step 0.
    np.testing.assert_allclose(net.output(x[:, :, :1])[:, :, 0], out[:, :, 0], atol=1e-6)


def test_evaluate_regression_counts_only_real_steps():
    rng = np.random.default_rng(12)
    net = make_net([LSTM(n_in=3, n_out=4), RnnOutputLayer(n_out=1, loss="MSE",
                                                          activation="identity")])
    x = rng.normal(size=(2, 3, 5)).astype(np.float32)
    y = rng.normal(size=(2, 1, 5)).astype(np.float32)
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]], np.float32)
    evaluation = net.evaluate_regression([DataSet(x, y, mask, mask)])
    out = net.output(x, mask)
    real = mask == 1
    expected = float(((out[:, 0][real] - y[:, 0][real]) ** 2).mean())
    assert evaluation.count(0) == 7
    assert evaluation.mean_squared_error(0) == pytest.approx(expected, rel=1e-5)


def test_torch_datasets_and_to_device():
    rng = np.random.default_rng(13)
    net = _stack()
    assert net.to("cpu") is net and net.device == torch.device("cpu")
    x = torch.from_numpy(rng.normal(size=(2, 3, 4)).astype(np.float32))
    y = torch.from_numpy(one_hot_steps(rng, 2, 2, 4))
    net.fit(DataSet(x, y))
    assert isinstance(net.output(x), torch.Tensor)
    assert net.score(DataSet(x, y)) == pytest.approx(net.score(DataSet(x.numpy(), y.numpy())))


def test_uninitialised_network_says_so():
    from seqnet.conf.multilayer import MultiLayerConfiguration
    from seqnet.network import MultiLayerNetwork

    net = MultiLayerNetwork(MultiLayerConfiguration(layers=[DenseLayer(n_in=2, n_out=2),
                                                            OutputLayer(n_out=2)]))
    with pytest.raises(StateError, match="init"):
        net.output(np.zeros((1, 2), np.float32))


def test_shape_errors_are_seqnet_errors_that_say_what_was_expected():
    from seqnet.errors import SeqNetError

    net = _stack()
    with pytest.raises(SeqNetError, match=r"expected 3 channels.*\[2, 5, 4\]"):
        net.output(np.zeros((2, 5, 4), np.float32))
    x = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(SeqNetError, match=r"labels_mask: expected shape \[2, 4\]"):
        net.output(x, labels_mask=np.ones((2, 3), np.float32))
    with pytest.raises(SeqNetError, match=r"features_mask: expected shape \[2, 4\]"):
        net.output(x, features_mask=np.ones((2, 5), np.float32))
    with pytest.raises(SeqNetError, match=r"labels: expected shape \[2, 2, 4\]"):
        net.score(DataSet(x, np.zeros((2, 2, 3), np.float32)))
    with pytest.raises(SeqNetError, match=r"mask: expected shape \[2, 4\]"):
        net.score(DataSet(x, np.zeros((2, 2, 4), np.float32), None, np.ones((2, 3))))


@settings(max_examples=25, deadline=None)
@given(st.sampled_from([GravesLSTM, LSTM]),
       st.lists(st.integers(1, 4), min_size=1, max_size=8),
       st.lists(st.lists(st.booleans(), min_size=12, max_size=12), min_size=1, max_size=3))
def test_time_stepping_any_chunking_with_masks_equals_output(recurrent, cuts, mask_rows):
    net = _cached_stack(recurrent)
    n = len(mask_rows)
    x = np.random.default_rng(len(cuts)).normal(size=(n, 3, 12)).astype(np.float32)
    mask = np.array(mask_rows, np.float32)
    full = net.output(x, mask)
    net.rnn_clear_previous_state()
    pieces, start = [], 0
    for size in [*cuts, 12]:
        end = min(start + size, 12)
        if end > start:
            pieces.append(net.rnn_time_step(x[:, :, start:end], mask[:, start:end]))
        start = end
    np.testing.assert_allclose(np.concatenate(pieces, axis=2), full, atol=1e-5)


_STACKS: dict = {}


def _cached_stack(recurrent):
    if recurrent not in _STACKS:
        _STACKS[recurrent] = _stack(recurrent)
    return _STACKS[recurrent]


def test_summary_lists_layers_and_parameter_count():
    net = _stack()
    text = net.summary()
    assert "0 (GravesLSTM)" in text and "RW:[6, 27]" in text
    assert "RnnToFeedForwardPreProcessor" in text
    assert text.splitlines()[-1] == f"Total parameters: {net.num_params()}"
