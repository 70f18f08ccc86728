"""The compiled step loops (seqnet.nn.graves.compiled): the same numbers as the Python loops,
gradcheck on both paths, the switch, and the fallbacks when no library can be built."""

from __future__ import annotations

import logging
import os
import time

import numpy as np
import pytest
import torch

from seqnet.conf.enums import Activation
from seqnet.conf.layers import GravesLSTM, RnnOutputLayer
from seqnet.nn.graves import GravesLSTMModule, compiled, kernel
from seqnet.nn.graves.kernel import fused_graves_lstm
from seqnet.nn.graves.reference import graves_lstm_loop
from tests.seqnet._nets import make_net

needs_compiled = pytest.mark.skipif(
    os.environ.get(compiled.ENV) == "0" or not compiled.load(),
    reason="the compiled loops are off or cannot be built here")
BOTH_PATHS = pytest.mark.parametrize(
    "compiled_loops", [False, pytest.param(True, marks=needs_compiled)], ids=["python", "c++"])


def _inputs(seed: int, steps: int = 5, n: int = 3, hid: int = 4,
            dtype: torch.dtype = torch.float64):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(*shape, generator=g, dtype=dtype, requires_grad=True)
                 for shape in ((steps, n, 4 * hid), (hid, 4 * hid), (3, hid), (n, hid),
                               (n, hid)))


# (mask, sizes, from_end) for 5 steps of 3 examples: none, a mask with holes, right-padded
# (skipped), left-padded sorted shortest first (skipped from the end).
CASES = {
    "plain": (None, None, False),
    "mask": (torch.tensor([[1, 1, 0], [0, 1, 1], [1, 1, 0], [1, 0, 0], [1, 1, 1]],
                          dtype=torch.float64).unsqueeze(-1), None, False),
    "right": (None, [3, 3, 2, 1, 1], False),
    "left": (None, [1, 2, 2, 3, 3], True),
}


@BOTH_PATHS
@pytest.mark.parametrize("case", list(CASES))
def test_each_path_passes_gradcheck(compiled_loops, case):
    mask, sizes, from_end = CASES[case]
    assert torch.autograd.gradcheck(
        lambda *a: fused_graves_lstm(*a, mask, sizes, from_end, compiled_loops=compiled_loops),
        _inputs(1))


@BOTH_PATHS
def test_each_path_equals_the_reference_loop(compiled_loops):
    args = _inputs(2, steps=12)          # >= 8 steps: packed products in float32 below
    fused = fused_graves_lstm(*args, None, None, compiled_loops=compiled_loops)
    loop = graves_lstm_loop(*args, None, Activation.TANH, Activation.SIGMOID)
    for a, b in zip(fused, loop):
        torch.testing.assert_close(a, b)


@needs_compiled
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("case", list(CASES))
def test_compiled_loops_give_the_python_loops_numbers_bit_for_bit(monkeypatch, dtype, case):
    """The same ATen calls in the same order: values and gradients are equal, not close,
    over 20 steps (packed products in float32) and in backward chunks of 2 steps."""
    monkeypatch.setattr(kernel, "CHUNK_BYTES", 2 * 3 * 32 * 8)
    mask, sizes, from_end = CASES[case]
    steps = 20
    if mask is not None:
        mask = mask.repeat(4, 1, 1).to(dtype)
    if sizes is not None:
        sizes = sorted(sizes * 4, reverse=not from_end)
    args = _inputs(3, steps=steps, hid=8, dtype=dtype)
    weights = torch.linspace(-1, 1, steps * 3 * 8, dtype=dtype).view(steps, 3, 8)
    results = []
    for compiled_loops in (False, True):
        hs, h, c = fused_graves_lstm(*args, mask, sizes, from_end, compiled_loops=compiled_loops)
        grads = torch.autograd.grad((hs * weights).sum() + h.sum() + 2 * c.sum(), args)
        results.append((hs, h, c, *grads))
    for a, b in zip(*results):
        assert torch.equal(a, b)


@needs_compiled
def test_compiled_time_step_equals_the_fused_forward_step():
    """rnn_time_step's one-step op gives what the fused forward gives for one step."""
    module = GravesLSTMModule(GravesLSTM(n_in=3, n_out=6), torch.float32,
                              torch.Generator().manual_seed(4))
    x = torch.randn(5, 3, 1)
    state = (torch.randn(5, 6), torch.randn(5, 6))
    with torch.no_grad():
        stepped = module.time_step(x[:, :, 0], state)
        module._step_weights = None
        whole = module._fused(x.permute(2, 0, 1), None, *state)
    assert torch.equal(stepped[0], whole[1]) and torch.equal(stepped[1], whole[2])


def test_switch_off_runs_the_python_loops_with_the_same_numbers(monkeypatch):
    """SEQNET_COMPILED=0 turns the compiled loops off; the module then gives the numbers it
    gives with them (where they exist), for training and for time steps."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4, 3, 9)).astype(np.float32)
    outputs = []
    for value in ("0", "1"):
        monkeypatch.setenv(compiled.ENV, value)
        net = make_net([GravesLSTM(n_in=3, n_out=6), RnnOutputLayer(n_out=2)])
        net.inference.onnxruntime = False
        assert net.layers[0].uses_compiled_loops() == (value == "1" and compiled.load())
        steps = [net.rnn_time_step(x[:, :, t]) for t in range(x.shape[2])]
        outputs.append((net.output(x), np.stack(steps, axis=2)))
    for a, b in zip(*outputs):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_a_stale_lock_file_is_reported_and_the_python_loops_run(monkeypatch, tmp_path, caplog):
    """A build killed half way leaves `lock` behind; torch would wait on it for ever."""
    monkeypatch.delenv(compiled.ENV, raising=False)
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    monkeypatch.setattr(compiled, "_state", {})
    folder = compiled.build_directory()
    folder.mkdir(parents=True)
    lock = folder / "lock"
    lock.touch()
    old = time.time() - 2 * compiled.STALE_LOCK_SECONDS
    os.utime(lock, (old, old))
    with caplog.at_level(logging.WARNING, logger=compiled.__name__):
        assert compiled.load() is False
        assert compiled.load() is False          # decided once: one log line
    assert len(caplog.records) == 1
    assert str(lock) in caplog.records[0].getMessage()
    assert "pure-PyTorch" in compiled.status()
    assert compiled.enabled_for(torch.zeros(1)) is False


def test_no_compiler_means_one_warning_and_the_python_loops(monkeypatch, tmp_path, caplog):
    def no_compiler(**kwargs):
        raise RuntimeError("Error building extension 'seqnet_graves'\nc++: not found")

    monkeypatch.delenv(compiled.ENV, raising=False)
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    monkeypatch.setattr(compiled, "_state", {})
    monkeypatch.setattr(compiled.cpp_extension, "load", no_compiler)
    with caplog.at_level(logging.WARNING, logger=compiled.__name__):
        module = GravesLSTMModule(GravesLSTM(n_in=2, n_out=3), torch.float32,
                                  torch.Generator().manual_seed(6))
        assert module.uses_compiled_loops() is False
        y, _ = module(torch.randn(2, 2, 10))
    assert [r.getMessage().count("\n") for r in caplog.records] == [0]
    assert "Error building extension" in caplog.records[0].getMessage()
    assert y.shape == (2, 3, 10)
    with pytest.raises(RuntimeError, match="not available"):
        compiled.ops()


def test_the_source_ships_with_the_package():
    assert (compiled._SOURCE).is_file()
