"""Float64 gradient checks: autograd gradient of the score == finite differences of score()."""

from __future__ import annotations

import numpy as np
import pytest
import torch

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
from tests.seqnet._nets import make_net, one_hot_steps


def _check(net, ds, entries_per_param: int = 12, eps: float = 1e-6) -> None:
    x, labels, fmask, lmask = net.dataset_tensors(ds)
    for p in net.parameters():
        p.grad = None
    data, _ = net.data_loss(x, labels, fmask, lmask)
    (data + net.regularization()).backward()
    rng = np.random.default_rng(0)
    checked = 0
    for p in net.parameters():
        flat = p.data.view(-1)
        for idx in rng.choice(flat.numel(), min(entries_per_param, flat.numel()), replace=False):
            orig = float(flat[idx])
            flat[idx] = orig + eps
            plus = net.score(ds)
            flat[idx] = orig - eps
            minus = net.score(ds)
            flat[idx] = orig
            numeric = (plus - minus) / (2 * eps)
            analytic = float(p.grad.view(-1)[idx])
            assert abs(numeric - analytic) <= 1e-6 + 1e-5 * abs(numeric), (
                p.shape, idx, numeric, analytic)
            checked += 1
    assert checked > 0


def _seq_data(rng, n=3, c=3, k=2, t=5, fmask=None, lmask=None):
    return DataSet(rng.normal(size=(n, c, t)), one_hot_steps(rng, n, k, t).astype(np.float64),
                   fmask, lmask)


MASK = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [0, 0, 1, 1, 1]], float)


@pytest.mark.parametrize("masks", ["none", "features", "labels"])
@pytest.mark.parametrize("reg", [{}, {"l1": 0.01, "l2": 0.02}])
def test_graves_lstm_peepholes(masks, reg):
    rng = np.random.default_rng(1)
    net = make_net([GravesLSTM(n_in=3, n_out=4), RnnOutputLayer(n_out=2)], data_type="float64",
                   **reg)
    table = net.param_table()
    table["0_RW"][:, -3:] = rng.normal(size=(4, 3))     # peepholes matter
    net.set_param_table(table)
    ds = _seq_data(rng, fmask=MASK if masks == "features" else None,
                   lmask=MASK if masks == "labels" else None)
    _check(net, ds)


@pytest.mark.parametrize("masked", [False, True])
def test_lstm_on_nn_lstm(masked):
    rng = np.random.default_rng(2)
    net = make_net([LSTM(n_in=3, n_out=4), RnnOutputLayer(n_out=2)], data_type="float64",
                   l2=0.05)
    _check(net, _seq_data(rng, fmask=MASK if masked else None))


@pytest.mark.parametrize("masked", [False, True])
def test_bidirectional_dense_and_mse_output(masked):
    rng = np.random.default_rng(3)
    net = make_net([GravesBidirectionalLSTM(n_in=3, n_out=4), DenseLayer(n_out=3,
                                                                         activation="tanh"),
                    RnnOutputLayer(n_out=2, loss="MSE", activation="identity")],
                   data_type="float64", l1=0.01)
    ds = _seq_data(rng, fmask=MASK if masked else None)
    ds.labels = rng.normal(size=ds.labels.shape)
    _check(net, ds)


@pytest.mark.parametrize("loss,activation", [("XENT", "sigmoid"), ("L2", "tanh"),
                                             ("L1", "identity"), ("NEGATIVELOGLIKELIHOOD",
                                                                  "softmax")])
def test_dense_and_output_layer_losses(loss, activation):
    rng = np.random.default_rng(4)
    net = make_net([DenseLayer(n_in=4, n_out=5, activation="relu"),
                    OutputLayer(n_out=3, loss=loss, activation=activation)],
                   data_type="float64", l2=0.01)
    labels = np.eye(3)[rng.integers(0, 3, 6)] if loss != "L1" else rng.normal(size=(6, 3))
    _check(net, DataSet(rng.normal(size=(6, 4)), labels))


def test_last_time_step_with_mask():
    rng = np.random.default_rng(5)
    net = make_net([LastTimeStep(GravesLSTM(n_in=3, n_out=4)), OutputLayer(n_out=2)],
                   data_type="float64")
    ds = DataSet(rng.normal(size=(3, 3, 5)), np.eye(2)[[0, 1, 1]], MASK)
    _check(net, ds)


def test_score_gradient_drives_the_update():
    """One Sgd step moves the parameters by -lr * d(score)/d(params), regularisation included."""
    from seqnet.conf.updaters import Sgd

    rng = np.random.default_rng(6)
    net = make_net([GravesLSTM(n_in=3, n_out=4), RnnOutputLayer(n_out=2)], data_type="float64",
                   l2=0.1, updater=Sgd(0.5))
    ds = _seq_data(rng, fmask=MASK)
    x, labels, fmask, lmask = net.dataset_tensors(ds)
    params = net.parameters()
    data, _ = net.data_loss(x, labels, fmask, lmask)
    grads = torch.autograd.grad(data + net.regularization(), params)
    before = [p.detach().clone() for p in params]
    net.fit(ds)
    for p, b, g in zip(params, before, grads):
        torch.testing.assert_close(p.detach(), b - 0.5 * g)
