"""fit: truncated BPTT, updaters, gradient normalisation, NaN scores, epochs and iterators."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqdata.dataset import DataSet
from seqnet.conf.enums import BackpropType, GradientNormalization
from seqnet.conf.layers import LSTM, DenseLayer, GravesLSTM, RnnOutputLayer
from seqnet.conf.multilayer import MultiLayerConfiguration
from seqnet.conf.updaters import AdaGrad, Adam, Nadam, Nesterovs, RmsProp, Sgd
from seqnet.errors import ConfigurationError, TrainingError
from tests.seqnet._nets import make_net, one_hot_steps

TBPTT = BackpropType.TRUNCATED_BPTT


def _data(seed=0, n=3, t=12, masked=False):
    rng = np.random.default_rng(seed)
    mask = None
    if masked:
        mask = np.ones((n, t))
        mask[1, t // 2:] = 0
        mask[2, :2] = 0
    return DataSet(rng.normal(size=(n, 3, t)), one_hot_steps(rng, n, 2, t).astype(np.float64),
                   mask, mask)


def _net(recurrent=GravesLSTM, **conf):
    conf.setdefault("updater", Sgd(0.1))
    return make_net([recurrent(n_in=3, n_out=4), RnnOutputLayer(n_out=2)], data_type="float64",
                    **conf)


def _params(net):
    return {k: v.copy() for k, v in net.param_table().items()}


@pytest.mark.parametrize("recurrent", [GravesLSTM, LSTM])
@pytest.mark.parametrize("masked", [False, True])
def test_tbptt_with_k1_k2_covering_t_equals_standard_bptt(recurrent, masked):
    ds = _data(masked=masked)
    standard = _net(recurrent, updater=Adam(0.01))
    truncated = _net(recurrent, updater=Adam(0.01), backprop_type=TBPTT,
                     tbptt_forward_length=12, tbptt_backward_length=12)
    standard.fit(ds)
    truncated.fit(ds)
    for k, v in _params(standard).items():
        np.testing.assert_allclose(truncated.param_table()[k], v, atol=1e-12)
    assert standard.iteration_count == truncated.iteration_count == 1


def test_tbptt_makes_one_update_per_segment():
    net = _net(backprop_type=TBPTT, tbptt_forward_length=4, tbptt_backward_length=4)
    net.fit(_data(t=12))
    assert net.iteration_count == 3
    net.fit(_data(t=13))                      # ceil(13 / 4) = 4 segments
    assert net.iteration_count == 7


@pytest.mark.parametrize("recurrent", [GravesLSTM, LSTM])
def test_tbptt_carries_state_between_segments(recurrent):
    ds = _data(t=8)
    net = _net(recurrent, updater=Sgd(1e-30), backprop_type=TBPTT, tbptt_forward_length=4,
               tbptt_backward_length=4)
    x, y, _, _ = net.dataset_tensors(ds)
    net.rnn_time_step(ds.features[:, :, :4])
    state = {0: tuple(net.rnn_get_previous_state(0).values())}
    with torch.no_grad():
        expected, _ = net.data_loss(x[:, :, 4:], y[:, :, 4:], None, None, state)
    net.fit(ds)
    assert net.score() == pytest.approx(float(expected), rel=1e-9)
    assert net.rnn_get_previous_state(0) == {}          # cleared after a TBPTT minibatch


@pytest.mark.parametrize("recurrent", [GravesLSTM, LSTM])
def test_k2_below_k1_backpropagates_recurrent_layers_over_last_k2_steps_only(recurrent):
    lr, k1, k2 = 0.1, 6, 2
    ds = _data(t=6)
    net = _net(recurrent, updater=Sgd(lr), backprop_type=TBPTT, tbptt_forward_length=k1,
               tbptt_backward_length=k2)
    reference = _net(recurrent)
    x, y, _, _ = reference.dataset_tensors(ds)
    # Recurrent layer: gradient of the last k2 steps' loss, starting from the state reached
    # after the first k1 - k2 steps (a fixed input). Output layer: gradient from all steps.
    reference.rnn_time_step(ds.features[:, :, :k1 - k2])
    state = {0: tuple(reference.rnn_get_previous_state(0).values())}
    tail, _ = reference.data_loss(x[:, :, k1 - k2:], y[:, :, k1 - k2:], None, None, state)
    full, _ = reference.data_loss(x, y, None, None)
    rec_params = [p for p in reference.layers[0].parameters() if p.requires_grad]
    out_params = list(reference.layers[1].parameters())
    rec_grads = torch.autograd.grad(tail, rec_params)
    out_grads = torch.autograd.grad(full, out_params)
    before = [p.detach().clone() for p in net.parameters()]
    net.fit(ds)
    after = net.parameters()
    for b, a, g in zip(before, after, [*rec_grads, *out_grads]):
        torch.testing.assert_close(a.detach(), b - lr * g)


def test_k2_below_k1_leaves_recurrent_weights_untouched_by_early_steps():
    ds = _data(t=6)
    ds.labels_mask = np.zeros((3, 6))
    ds.labels_mask[:, :4] = 1.0               # loss only on the first k1 - k2 = 4 steps
    net = _net(backprop_type=TBPTT, tbptt_forward_length=6, tbptt_backward_length=2)
    before = _params(net)
    net.fit(ds)
    after = net.param_table()
    for key in ("0_W", "0_RW", "0_b"):
        np.testing.assert_array_equal(after[key], before[key])
    assert not np.array_equal(after["1_W"], before["1_W"])


def test_tbptt_lengths_are_validated_at_construction():
    with pytest.raises(ConfigurationError, match="tbptt_backward_length.*<= .*4.*found 5"):
        MultiLayerConfiguration(layers=[GravesLSTM(n_in=1, n_out=2), RnnOutputLayer(n_out=2)],
                                backprop_type=TBPTT, tbptt_forward_length=4,
                                tbptt_backward_length=5)


def test_tbptt_rejects_labels_of_another_length():
    net = _net(backprop_type=TBPTT, tbptt_forward_length=4, tbptt_backward_length=4)
    ds = _data(t=8)
    ds.labels = ds.labels[:, :, :6]
    with pytest.raises(Exception, match="8 steps"):
        net.fit(ds)


def test_standard_fit_neither_uses_nor_changes_rnn_state():
    net = _net()
    ds = _data()
    net.rnn_time_step(ds.features[:, :, :3])
    state = net.rnn_get_previous_state(0)
    net.fit(ds)
    torch.testing.assert_close(net.rnn_get_previous_state(0), state)


def test_nan_score_raises_training_error_naming_epoch_and_iteration():
    net = _net()
    net.fit(_data())
    table = net.param_table()
    table["1_b"][:] = np.nan
    net.set_param_table(table)
    before = net.param_table()
    with pytest.raises(TrainingError, match="epoch 0, iteration 1"):
        net.fit(_data())
    np.testing.assert_array_equal(net.param_table()["0_W"], before["0_W"])   # no update


class _Dl4jIterator:
    """Only DL4J's cursor methods, counting resets."""

    def __init__(self, batches):
        self.batches, self.pos, self.resets = batches, 0, 0

    def reset(self):
        self.pos, self.resets = 0, self.resets + 1

    def has_next(self):
        return self.pos < len(self.batches)

    def next(self):
        self.pos += 1
        return self.batches[self.pos - 1]


def test_fit_iterator_resets_every_epoch_and_counts():
    it = _Dl4jIterator([_data(0), _data(1)])
    it.pos = 2                                # exhausted: fit must reset it
    net = _net()
    net.fit(it, epochs=3, progress=False)
    assert it.resets == 3
    assert net.epoch_count == 3 and net.iteration_count == 6
    net.fit([_data(2)], epochs=2, progress=False)
    assert net.epoch_count == 5 and net.iteration_count == 8


@pytest.mark.parametrize("updater", [Sgd(0.1), Adam(0.01), Nadam(0.01), RmsProp(0.01),
                                     Nesterovs(0.05), AdaGrad(0.1)])
def test_every_updater_lowers_the_score(updater):
    ds = _data(masked=True)
    net = _net(updater=updater)
    start = net.score(ds)
    for _ in range(15):
        net.fit(ds)
    assert net.score(ds) < start


def test_layer_updater_and_l2_override_the_network_defaults():
    net = make_net([GravesLSTM(n_in=3, n_out=4, updater=Sgd(0.0001), l2=0.5),
                    RnnOutputLayer(n_out=2)], updater=Adam(0.01), data_type="float64")
    opts = net.solver.optimizers()
    assert sorted(type(o).__name__ for o in opts) == ["Adam", "SGD"]
    w = torch.from_numpy(net.param_table()["0_W"])
    rw = torch.from_numpy(net.param_table()["0_RW"])
    expected = 0.5 * 0.5 * float((w * w).sum() + (rw * rw).sum())
    assert float(net.regularization().detach()) == pytest.approx(expected)


@pytest.mark.parametrize("mode", list(GradientNormalization)[1:])
def test_gradient_normalization_modes(mode):
    lr, threshold = 1.0, 0.01
    ds = _data()
    net = _net(updater=Sgd(lr), gradient_normalization=mode,
               gradient_normalization_threshold=threshold)
    before = _params(net)
    net.fit(ds)
    steps = {k: (before[k] - v) / lr for k, v in net.param_table().items()}
    per_layer = [np.sqrt(sum((steps[k] ** 2).sum() for k in steps if k.startswith(f"{i}_")))
                 for i in (0, 1)]
    if mode == GradientNormalization.CLIP_ELEMENT_WISE_ABSOLUTE_VALUE:
        assert max(np.abs(s).max() for s in steps.values()) <= threshold + 1e-12
    elif mode == GradientNormalization.RENORMALIZE_L2_PER_LAYER:
        np.testing.assert_allclose(per_layer, 1.0)
    elif mode == GradientNormalization.CLIP_L2_PER_LAYER:
        np.testing.assert_allclose(per_layer, threshold)          # gradients are larger here
    elif mode == GradientNormalization.RENORMALIZE_L2_PER_PARAM_TYPE:
        for s in steps.values():
            assert np.sqrt((s ** 2).sum()) == pytest.approx(1.0)
    else:
        for s in steps.values():
            assert np.sqrt((s ** 2).sum()) <= threshold + 1e-12


def test_dense_between_recurrent_layers_trains_on_masked_time_series():
    ds = _data(masked=True)
    net = make_net([LSTM(n_in=3, n_out=4), DenseLayer(n_out=3, activation="tanh"),
                    RnnOutputLayer(n_out=2)], updater=Adam(0.05))
    start = net.score(ds)
    for _ in range(20):
        net.fit(ds)
    assert net.score(ds) < 0.8 * start


def test_infinite_feature_stops_before_the_parameters_are_damaged():
    net = _net()
    net.fit(_data())
    bad = _data(1)
    bad.features[0, 1, 3] = np.inf
    before = _params(net)
    with pytest.raises(TrainingError, match="gradients.*epoch 0, iteration 1"):
        net.fit(bad)
    for k, v in net.param_table().items():
        np.testing.assert_array_equal(v, before[k])
