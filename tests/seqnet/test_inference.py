"""seqnet.inference: output() and rnn_time_step on ONNX Runtime (the same numbers as the
native path, sessions rebuilt whenever a parameter changes, the network's own state), the
switch, and the native one-step plan (seqnet.time_step)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqdata.dataset import DataSet
from seqnet.conf.layers import (
    LSTM,
    GravesBidirectionalLSTM,
    GravesLSTM,
    LastTimeStep,
    OutputLayer,
    RnnOutputLayer,
)
from seqnet.errors import StateError
from seqnet.inference import available
from seqnet.time_step import StepPlan
from tests.seqnet._nets import make_net, one_hot_steps

needs_runtime = pytest.mark.skipif(not available(), reason="onnxruntime is not installed")
ATOL = 1e-5


@pytest.fixture(autouse=True)
def _runtime_on(monkeypatch):
    """These tests say which path runs: a SEQNET_ONNXRUNTIME=0 run of the suite leaves them."""
    monkeypatch.delenv("SEQNET_ONNXRUNTIME", raising=False)


def _graves_stack(**conf):
    return make_net([GravesLSTM(n_in=3, n_out=8), GravesLSTM(n_in=8, n_out=6),
                     RnnOutputLayer(n_out=4)], **conf)


def _native(net, fn):
    """``fn()`` with the network on the native path, then back on the runtime."""
    net.inference.onnxruntime = False
    try:
        return fn()
    finally:
        net.inference.onnxruntime = True


@needs_runtime
def test_output_runs_on_the_runtime_with_the_native_numbers():
    net = _graves_stack()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 3, 11)).astype(np.float32)
    mask = np.ones((5, 11), np.float32)
    mask[1, :4] = 0
    mask[3, 7:] = 0
    for args in ((x,), (x, mask)):
        y = net.output(*args)
        assert net.inference._sessions, "expected an ONNX Runtime session"
        np.testing.assert_allclose(y, _native(net, lambda args=args: net.output(*args)),
                                   atol=ATOL)
    y_t = net.output(torch.from_numpy(x))
    assert isinstance(y_t, torch.Tensor)
    np.testing.assert_allclose(y_t.numpy(), net.output(x), atol=0)


@needs_runtime
def test_time_steps_on_the_runtime_equal_native_steps_and_keep_the_networks_state():
    net = _graves_stack()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 3, 9)).astype(np.float32)
    steps = [net.rnn_time_step(x[:, :, t]) for t in range(5)]
    chunk = net.rnn_time_step(x[:, :, 5:])
    assert net.inference._sessions
    runtime = np.concatenate([np.stack(steps, axis=2), chunk], axis=2)
    state = {i: net.rnn_get_previous_state(i) for i in (0, 1)}

    net.rnn_clear_previous_state()
    native = _native(net, lambda: net.rnn_time_step(x))
    np.testing.assert_allclose(runtime, native, atol=ATOL)
    np.testing.assert_allclose(runtime, net.output(x), atol=ATOL)
    for i in (0, 1):
        for key in ("prevAct", "prevMem"):
            np.testing.assert_allclose(state[i][key], net.rnn_get_previous_state(i)[key],
                                       atol=ATOL)

    # A state set from outside is fed to the runtime; clearing starts from zeros again.
    net.rnn_set_previous_state(0, {k: v * 0.5 for k, v in state[0].items()})
    after_set = net.rnn_time_step(x[:, :, 0])
    net.rnn_set_previous_state(0, {k: v * 0.5 for k, v in state[0].items()})
    net.rnn_set_previous_state(1, state[1])
    np.testing.assert_allclose(after_set, _native(net, lambda: net.rnn_time_step(x[:, :, 0])),
                               atol=ATOL)
    net.rnn_clear_previous_state()
    np.testing.assert_allclose(net.rnn_time_step(x[:, :, 0]), net.output(x[:, :, :1])[:, :, 0],
                               atol=ATOL)


@needs_runtime
def test_every_parameter_change_invalidates_the_sessions():
    net = _graves_stack()
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 3, 6)).astype(np.float32)
    ds = DataSet(x, one_hot_steps(rng, 4, 4, 6))

    def check() -> np.ndarray:
        y = net.output(x)
        np.testing.assert_allclose(y, _native(net, lambda: net.output(x)), atol=ATOL)
        return y

    before = check()
    session = net.inference._sessions[(False, False)]
    net.output(x)
    assert net.inference._sessions[(False, False)] is session      # cached while unchanged
    net.fit(ds)                                                     # an update
    after_fit = check()
    assert np.abs(after_fit - before).max() > 1e-4
    table = net.param_table()
    table["1_b"] = table["1_b"] + 0.5
    net.set_param_table(table)                                      # set_param_table
    after_set = check()
    assert np.abs(after_set - after_fit).max() > 1e-4
    with torch.no_grad():
        net.layers[2].W.mul_(2.0)                                   # any in-place change
    assert np.abs(check() - after_set).max() > 1e-4
    net.init()                                                      # new layers
    check()


@needs_runtime
def test_the_switch_keeps_the_network_native(monkeypatch):
    net = _graves_stack()
    x = np.ones((2, 3, 4), np.float32)
    net.inference.onnxruntime = False
    net.output(x)
    net.rnn_time_step(x)
    assert not net.inference._sessions
    monkeypatch.setenv("SEQNET_ONNXRUNTIME", "0")
    net = _graves_stack()
    net.output(x)
    assert net.inference.onnxruntime is False and not net.inference._sessions


@needs_runtime
def test_what_the_runtime_cannot_do_runs_natively_with_native_errors():
    x = np.random.default_rng(3).normal(size=(2, 3, 5)).astype(np.float32)
    wide = make_net([GravesLSTM(n_in=3, n_out=4), RnnOutputLayer(n_out=2)],
                    data_type="float64")
    wide.output(x)
    assert not any(wide.inference._sessions.values())            # float64 stays native
    net = _graves_stack()
    with pytest.raises(Exception, match="expected 3 channels"):
        net.output(np.ones((2, 5, 4), np.float32))              # the native message
    net.rnn_time_step(x)
    with pytest.raises(StateError, match="minibatch size"):
        net.rnn_time_step(np.ones((3, 3), np.float32))
    bidirectional = make_net([GravesBidirectionalLSTM(n_in=3, n_out=4),
                              RnnOutputLayer(n_out=2)])
    bidirectional.output(x)                                      # exported: runtime
    with pytest.raises(StateError, match="GravesBidirectionalLSTM"):
        bidirectional.rnn_time_step(x)


def test_a_network_pickles_without_its_sessions():
    import pickle

    net = _graves_stack()
    x = np.ones((2, 3, 4), np.float32)
    y = net.output(x)
    copy = pickle.loads(pickle.dumps(net))
    assert not copy.inference._sessions
    np.testing.assert_allclose(copy.output(x), y, atol=ATOL)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_native_step_plan_gives_the_general_paths_numbers(dtype):
    """StepPlan (GravesLSTM stack + RnnOutputLayer) against the general forward, which the
    network runs where no plan applies (a mask, a [N, C, T] chunk)."""
    net = _graves_stack(data_type=dtype)
    net.inference.onnxruntime = False
    assert StepPlan.for_network(net) is not None
    x = np.random.default_rng(4).normal(size=(3, 3, 6)).astype(dtype)
    planned = np.stack([net.rnn_time_step(x[:, :, t]) for t in range(6)], axis=2)
    state = net.rnn_get_previous_state(1)
    net.rnn_clear_previous_state()
    general = np.stack([net.rnn_time_step(x[:, :, t:t + 1])[:, :, 0] for t in range(6)], axis=2)
    # The same methods; inputs laid out differently may take another BLAS kernel (1 ulp).
    atol = 1e-6 if dtype == "float32" else 1e-14
    np.testing.assert_allclose(planned, general, rtol=0, atol=atol)
    for key in ("prevAct", "prevMem"):
        torch.testing.assert_close(state[key], net.rnn_get_previous_state(1)[key], rtol=0,
                                   atol=atol)
    t = torch.from_numpy(x[:, :, 0])
    assert isinstance(net.rnn_time_step(t), torch.Tensor)


def test_the_step_plan_covers_only_the_stack_it_was_written_for():
    assert StepPlan.for_network(make_net([LSTM(n_in=3, n_out=4), RnnOutputLayer(n_out=2)])) \
        is None
    assert StepPlan.for_network(make_net([GravesLSTM(n_in=3, n_out=4, activation="softsign"),
                                          RnnOutputLayer(n_out=2)])) is None
    assert StepPlan.for_network(make_net([LastTimeStep(GravesLSTM(n_in=3, n_out=4)),
                                          OutputLayer(n_out=2)])) is None
