"""UpdateRule.DL4J_LEGACY against an independent numpy transcription of DL4J 1.0.0-beta's
update (FORMAT.md section 6) and of ND4J's updater formulas, on a softmax output layer whose
gradient is written out by hand: G_W = x^T (p - y), G_b = sum (p - y)."""

from __future__ import annotations

import numpy as np
import pytest

from seqdata.dataset import DataSet
from seqnet.conf.enums import UpdateRule
from seqnet.conf.layers import DenseLayer, OutputLayer
from seqnet.conf.multilayer import MultiLayerConfiguration
from seqnet.conf.updaters import AdaGrad, Adam, Nadam, Nesterovs, RmsProp, Sgd
from seqnet.network import MultiLayerNetwork
from tests.seqnet._nets import make_net

L1, L2 = 1e-3, 2e-3


def _adam(g, s, t, lr=0.05, b1=0.9, b2=0.999, eps=1e-8):
    s.setdefault("m", np.zeros_like(g))
    s.setdefault("v", np.zeros_like(g))
    s["m"] = b1 * s["m"] + (1 - b1) * g
    s["v"] = b2 * s["v"] + (1 - b2) * g * g
    alpha = lr * np.sqrt(1 - b2 ** (t + 1)) / (1 - b1 ** (t + 1))
    return alpha * s["m"] / (np.sqrt(s["v"]) + eps)


def _nadam(g, s, t, lr=0.05, b1=0.9, b2=0.999, eps=1e-8):
    s.setdefault("m", np.zeros_like(g))
    s.setdefault("v", np.zeros_like(g))
    s["m"] = b1 * s["m"] + (1 - b1) * g
    s["v"] = b2 * s["v"] + (1 - b2) * g * g
    c = 1 - b1 ** (t + 1)
    return lr * (b1 * s["m"] / c + (1 - b1) * g / c) / (np.sqrt(s["v"]) + eps)


def _rmsprop(g, s, t, lr=0.05, decay=0.95, eps=1e-8):
    s.setdefault("g", np.full_like(g, eps))
    s["g"] = decay * s["g"] + (1 - decay) * g * g
    return lr * g / (np.sqrt(s["g"]) + eps)


def _adagrad(g, s, t, lr=0.05, eps=1e-6):
    s.setdefault("h", np.full_like(g, 1e-6))       # ND4J's own default, not the configured eps
    s["h"] = s["h"] + g * g
    return lr * g / (np.sqrt(s["h"]) + eps)


def _nesterovs(g, s, t, lr=0.05, mu=0.9):
    s.setdefault("v", np.zeros_like(g))
    previous = s["v"]
    s["v"] = mu * previous - lr * g
    return mu * previous - (1 + mu) * s["v"]


def _sgd(g, s, t, lr=0.05):
    return lr * g


CASES = [(Adam(0.05), _adam), (Nadam(0.05), _nadam), (RmsProp(0.05), _rmsprop),
         (AdaGrad(0.05, epsilon=1e-4),
          lambda g, s, t: _adagrad(g, s, t, eps=1e-4)), (Nesterovs(0.05, momentum=0.9), _nesterovs),
         (Sgd(0.05), _sgd)]


def _data(rng, n=5):
    x = rng.normal(size=(n, 3))
    y = np.eye(4)[rng.integers(0, 4, size=n)]
    return x, y


def _expected_step(w, b, x, y, states, t, formula):
    z = x @ w + b
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    n = x.shape[0]
    loss_sum = -(y * np.log(np.clip(p, 1e-10, 1 - 1e-10))).sum()
    score = (loss_sum + L1 * np.abs(w).sum() + 0.5 * L2 * (w * w).sum()) / n
    u_w = formula(x.T @ (p - y), states["W"], t) + L2 * w + L1 * np.sign(w)
    u_b = formula((p - y).sum(axis=0), states["b"], t)
    return w - u_w / n, b - u_b / n, score


@pytest.mark.parametrize("updater, formula", CASES, ids=[type(c[0]).__name__ for c in CASES])
def test_legacy_rule_matches_dl4j_formulas_over_three_steps(updater, formula):
    rng = np.random.default_rng(3)
    net = make_net([OutputLayer(n_in=3, n_out=4, l1=L1, l2=L2)], updater=updater,
                   update_rule=UpdateRule.DL4J_LEGACY, data_type="float64")
    table = net.param_table()
    w, b = table["0_W"].copy(), table["0_b"].reshape(-1).copy()
    states = {"W": {}, "b": {}}
    for t in range(3):
        x, y = _data(rng)
        w, b, score = _expected_step(w, b, x, y, states, t, formula)
        net.fit(DataSet(x, y))
        assert net.score() == pytest.approx(score, rel=1e-12)
        np.testing.assert_allclose(net.param_table()["0_W"], w, rtol=1e-11, atol=1e-14)
        np.testing.assert_allclose(net.param_table()["0_b"].reshape(-1), b, rtol=1e-11,
                                   atol=1e-14)
    assert net.iteration_count == 3


def test_adam_bias_correction_counts_the_networks_iterations():
    # An imported model continues DL4J's iteration count: step t uses t = iteration + 1.
    rng = np.random.default_rng(4)
    x, y = _data(rng)
    net = make_net([OutputLayer(n_in=3, n_out=4, l1=L1, l2=L2)], updater=Adam(0.05),
                   update_rule=UpdateRule.DL4J_LEGACY, data_type="float64")
    net.iteration_count = 41
    table = net.param_table()
    w, b = table["0_W"].copy(), table["0_b"].reshape(-1).copy()
    w, b, _ = _expected_step(w, b, x, y, {"W": {}, "b": {}}, 41, _adam)
    net.fit(DataSet(x, y))
    np.testing.assert_allclose(net.param_table()["0_W"], w, rtol=1e-11, atol=1e-14)


def test_score_follows_the_rule_and_standard_is_unchanged():
    rng = np.random.default_rng(5)
    x, y = _data(rng)
    layers = [DenseLayer(n_in=3, n_out=5, activation="tanh", l2=L2), OutputLayer(n_out=4)]
    standard = make_net(layers, data_type="float64")
    legacy = make_net(layers, data_type="float64", update_rule=UpdateRule.DL4J_LEGACY)
    ds = DataSet(x, y)
    reg = float(standard.regularization().detach())
    assert standard.score(ds) == pytest.approx(legacy.score(ds) + reg - reg / 5, rel=1e-12)


def test_the_rule_is_saved_with_the_model(tmp_path):
    net = make_net([OutputLayer(n_in=3, n_out=4)], updater=RmsProp(0.1),
                   update_rule="DL4J_LEGACY")
    rng = np.random.default_rng(6)
    net.fit(DataSet(*(a.astype(np.float32) for a in _data(rng))))
    net.save(tmp_path / "m.zip")
    back = MultiLayerNetwork.load(tmp_path / "m.zip")
    assert back.conf.update_rule == UpdateRule.DL4J_LEGACY
    assert MultiLayerConfiguration.from_json(net.conf.to_json()) == net.conf
    x, y = (a.astype(np.float32) for a in _data(rng))
    net.fit(DataSet(x, y))
    back.fit(DataSet(x, y))
    np.testing.assert_array_equal(net.param_table()["0_W"], back.param_table()["0_W"])
