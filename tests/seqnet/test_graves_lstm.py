"""GravesLSTM: the SPEC equations in numpy via param_table, the fused backward, masks."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch

from seqdata.dataset import DataSet
from seqnet.conf.enums import Activation
from seqnet.conf.layers import GravesLSTM, RnnOutputLayer
from seqnet.nn.graves import GravesLSTMModule, cpu, kernel
from seqnet.nn.graves.kernel import fused_graves_lstm
from seqnet.nn.graves.reference import graves_lstm_loop
from tests.seqnet._nets import make_net


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def numpy_graves(x: np.ndarray, table: dict[str, np.ndarray], prefix: str = "0_",
                 mask: np.ndarray | None = None) -> np.ndarray:
    """The SPEC equations, written from the SPEC with DL4J's layouts: x [N, C, T] -> [N, H, T]."""
    w, rw, b = table[prefix + "W"], table[prefix + "RW"], table[prefix + "b"][0]
    hid = rw.shape[0]
    r, p_f, p_o, p_i = rw[:, :4 * hid], rw[:, 4 * hid], rw[:, 4 * hid + 1], rw[:, 4 * hid + 2]
    blocks = lambda m: (m[..., :hid], m[..., hid:2 * hid], m[..., 2 * hid:3 * hid],  # noqa: E731
                        m[..., 3 * hid:])
    (w_a, w_f, w_o, w_i), (r_a, r_f, r_o, r_i), (b_a, b_f, b_o, b_i) = (
        blocks(w), blocks(r), blocks(b))
    n, _, steps = x.shape
    h = np.zeros((n, hid))
    c = np.zeros((n, hid))
    out = np.zeros((n, hid, steps))
    for t in range(steps):
        xt = x[:, :, t]
        a = np.tanh(xt @ w_a + h @ r_a + b_a)
        f = _sigmoid(xt @ w_f + h @ r_f + p_f * c + b_f)
        i = _sigmoid(xt @ w_i + h @ r_i + p_i * c + b_i)
        c = f * c + i * a
        o = _sigmoid(xt @ w_o + h @ r_o + p_o * c + b_o)
        h = o * np.tanh(c)
        if mask is not None:
            h = h * mask[:, t:t + 1]
            c = c * mask[:, t:t + 1]
        out[:, :, t] = h
    return out


def test_forward_equals_numpy_spec_equations():
    rng = np.random.default_rng(0)
    net = make_net([GravesLSTM(n_in=3, n_out=5), RnnOutputLayer(n_out=2)], data_type="float64")
    table = net.param_table()
    # Non-zero peepholes and biases so every term of the equations matters.
    table["0_RW"][:, -3:] = rng.normal(size=(5, 3))
    table["0_b"] = rng.normal(size=(1, 20))
    net.set_param_table(table)
    x = rng.normal(size=(4, 3, 7))
    hidden = net.feed_forward(x)[1]
    np.testing.assert_allclose(hidden, numpy_graves(x, table), atol=1e-12)


def test_masked_forward_equals_numpy_and_zeroes_state():
    rng = np.random.default_rng(1)
    net = make_net([GravesLSTM(n_in=2, n_out=3), RnnOutputLayer(n_out=2)], data_type="float64")
    table = net.param_table()
    table["0_RW"][:, -3:] = rng.normal(size=(3, 3))
    net.set_param_table(table)
    x = rng.normal(size=(3, 2, 6))
    mask = np.array([[1, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1], [1, 0, 1, 1, 0, 1]], float)
    hidden = net.feed_forward(x, mask)[1]
    np.testing.assert_allclose(hidden, numpy_graves(x, table, mask=mask), atol=1e-12)
    assert np.all(hidden.transpose(0, 2, 1)[mask == 0.0] == 0.0)


def test_param_table_layout_and_forget_bias():
    net = make_net([GravesLSTM(n_in=3, n_out=4), RnnOutputLayer(n_out=2)])
    table = net.param_table()
    assert table["0_W"].shape == (3, 16)
    assert table["0_RW"].shape == (4, 19)
    assert table["0_b"].shape == (1, 16)
    np.testing.assert_array_equal(table["0_b"][0, 4:8], 1.0)       # forget block [a|f|o|i]
    np.testing.assert_array_equal(np.delete(table["0_b"][0], range(4, 8)), 0.0)
    assert net.num_params() == 3 * 16 + 4 * 19 + 16 + 4 * 2 + 2


def test_xavier_init_uses_dl4j_fans():
    net = make_net([GravesLSTM(n_in=100, n_out=150), RnnOutputLayer(n_out=2)], seed=3)
    table = net.param_table()
    expected = np.sqrt(2.0 / (150 + 100 + 150))    # fan_in = H, fan_out = nIn + H
    for key in ("0_W", "0_RW"):
        assert abs(table[key].std() - expected) < 0.05 * expected


def _inputs(seed: int, steps: int = 5, n: int = 3, hid: int = 4):
    g = torch.Generator().manual_seed(seed)
    make = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64,  # noqa: E731
                                  requires_grad=True)
    return make(steps, n, 4 * hid), make(hid, 4 * hid), make(3, hid), make(n, hid), make(n, hid)


@pytest.mark.parametrize("masked", [False, True])
def test_fused_backward_passes_gradcheck(masked):
    args = _inputs(0)
    mask = None
    if masked:
        mask = torch.tensor([[1, 1, 0], [0, 1, 1], [1, 1, 0], [1, 0, 0], [1, 1, 1]],
                            dtype=torch.float64).unsqueeze(-1)
    assert torch.autograd.gradcheck(lambda *a: fused_graves_lstm(*a, mask, None), args)


def test_fused_equals_reference_loop_values_and_gradients():
    args = _inputs(1, steps=8)
    fused = fused_graves_lstm(*args, None, None)
    loop = graves_lstm_loop(*args, None, Activation.TANH, Activation.SIGMOID)
    for a, b in zip(fused, loop):
        torch.testing.assert_close(a, b)
    weights = [torch.randn_like(t) for t in fused]
    g_fused = torch.autograd.grad(sum((w * t).sum() for w, t in zip(weights, fused)), args)
    g_loop = torch.autograd.grad(sum((w * t).sum() for w, t in zip(weights, loop)), args)
    for a, b in zip(g_fused, g_loop):
        torch.testing.assert_close(a, b)


def test_other_activations_use_the_reference_loop():
    conf = GravesLSTM(n_in=2, n_out=3, activation="softsign", gate_activation="hardsigmoid")
    module = GravesLSTMModule(conf, torch.float64, torch.Generator().manual_seed(0))
    x = torch.randn(2, 2, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: module(x)[0], (x,))


@pytest.mark.parametrize("side", ["right", "left"])
def test_padded_batches_skip_padding_with_masked_loop_numbers(side):
    """Right- and left-padded masks take the prefix path; values and gradients equal the
    masked reference loop."""
    module = GravesLSTMModule(GravesLSTM(n_in=3, n_out=4), torch.float64,
                              torch.Generator().manual_seed(4))
    with torch.no_grad():
        module.peep.normal_()
    lengths = torch.tensor([3, 6, 1, 4, 6])
    idx = torch.arange(6)
    real = idx < lengths[:, None] if side == "right" else idx >= 6 - lengths[:, None]
    mask = real.double()
    g = torch.Generator().manual_seed(5)
    x = torch.randn(5, 3, 6, generator=g, dtype=torch.float64, requires_grad=True)
    state = tuple(torch.randn(5, 4, generator=g, dtype=torch.float64, requires_grad=True)
                  for _ in range(2))
    y, (h, c) = module(x, mask, state)
    zx = torch.addmm(module.b, x.permute(2, 0, 1).reshape(30, 3), module.W).view(6, 5, 16)
    y_ref, h_ref, c_ref = graves_lstm_loop(zx, module.RW, module.peep, state[0], state[1],
                                           mask.t().unsqueeze(-1), Activation.TANH,
                                           Activation.SIGMOID)
    outs, refs = (y, h, c), (y_ref.permute(1, 2, 0), h_ref, c_ref)
    for a, b in zip(outs, refs):
        torch.testing.assert_close(a, b)
    weights = [torch.randn_like(t) for t in outs]
    inputs = [x, *state, *module.parameters()]
    got = torch.autograd.grad(sum((w * t).sum() for w, t in zip(weights, outs)), inputs)
    want = torch.autograd.grad(sum((w * t).sum() for w, t in zip(weights, refs)), inputs)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)


def test_prefix_path_passes_gradcheck():
    args = _inputs(2, steps=4, n=3)
    sizes = [3, 2, 2, 0]
    assert torch.autograd.gradcheck(lambda *a: fused_graves_lstm(*a, None, sizes), args)


def test_float32_fast_path_matches_float64_reference():
    """float32 on CPU takes the packed-weight products; values and gradients stay within
    float32 rounding of the float64 computation."""
    rng = np.random.default_rng(6)
    net64 = make_net([GravesLSTM(n_in=3, n_out=16), RnnOutputLayer(n_out=2)],
                     data_type="float64")
    table = net64.param_table()
    table["0_RW"][:, -3:] = rng.normal(size=(16, 3))
    net64.set_param_table(table)
    net32 = make_net([GravesLSTM(n_in=3, n_out=16), RnnOutputLayer(n_out=2)])
    net32.set_param_table({k: v.astype(np.float32) for k, v in table.items()})
    x = rng.normal(size=(5, 3, 9))
    np.testing.assert_allclose(net32.feed_forward(x.astype(np.float32))[1],
                               numpy_graves(x, table), atol=1e-5)
    grads = []
    for net in (net32, net64):
        module = net.layers[0]
        y, _ = module(torch.as_tensor(x, dtype=module.W.dtype))
        grads.append(torch.autograd.grad(y.square().sum(), [module.W, module.RW, module.peep]))
    for g32, g64 in zip(*grads):
        torch.testing.assert_close(g32.double(), g64, rtol=1e-4, atol=1e-4)


def _module_with_peepholes(seed: int, n_in: int = 3, hid: int = 4) -> GravesLSTMModule:
    module = GravesLSTMModule(GravesLSTM(n_in=n_in, n_out=hid), torch.float64,
                              torch.Generator().manual_seed(seed))
    with torch.no_grad():
        module.peep.normal_()
        module.b.normal_()
    return module


@pytest.mark.parametrize("mask_kind", ["none", "right", "holes"])
def test_module_fused_path_passes_gradcheck(mask_kind):
    """The fused Function projects the inputs itself: gradients for x, the initial state and
    every parameter (through the internal gate order) match finite differences."""
    module = _module_with_peepholes(8)
    g = torch.Generator().manual_seed(9)
    x = torch.randn(3, 3, 5, generator=g, dtype=torch.float64, requires_grad=True)
    state = tuple(torch.randn(3, 4, generator=g, dtype=torch.float64, requires_grad=True)
                  for _ in range(2))
    masks = {"none": None,
             "right": torch.tensor([[1., 1., 1., 1., 1.], [1., 1., 0., 0., 0.],
                                    [1., 1., 1., 1., 0.]], dtype=torch.float64),
             "holes": torch.tensor([[1., 0., 1., 1., 0.], [0., 1., 1., 0., 1.],
                                    [1., 1., 0., 1., 1.]], dtype=torch.float64)}
    mask = masks[mask_kind]

    def run(x, h0, c0, *params):
        y, (h, c) = module(x, mask, (h0, c0))
        return y, h, c

    assert torch.autograd.gradcheck(run, (x, *state, *module.parameters()))


def test_skip_padding_off_gives_the_same_numbers():
    """skip_padding = False (the masked loop over every padded step) and the default (padded
    steps skipped) give the same outputs, final state and gradients."""
    module = _module_with_peepholes(10, hid=6)
    lengths = torch.tensor([7, 2, 5, 7, 1])
    mask = (torch.arange(7) < lengths[:, None]).double()
    x = torch.randn(5, 3, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(11))
    results = []
    for skip in (True, False):
        module.skip_padding = skip
        y, (h, c) = module(x, mask)
        grads = torch.autograd.grad((y.sin().sum() + h.sum() + c.square().sum()),
                                    list(module.parameters()))
        results.append((y, h, c, *grads))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_packed_loss_equals_masked_loop_loss_float32():
    """On one right-padded float32 batch (lengths 10..200), the score with padded steps
    skipped equals the masked loop's to 1e-5."""
    rng = np.random.default_rng(12)
    net = make_net([GravesLSTM(n_in=4, n_out=16), RnnOutputLayer(n_out=3)])
    lengths = rng.integers(10, 201, size=8)
    steps = int(lengths.max())
    mask = (np.arange(steps) < lengths[:, None]).astype(np.float32)
    x = rng.normal(size=(8, 4, steps)).astype(np.float32) * mask[:, None, :]
    labels = np.zeros((8, 3, steps), np.float32)
    labels[np.arange(8)[:, None], rng.integers(0, 3, size=(8, steps)), np.arange(steps)] = 1.0
    ds = DataSet(x, labels * mask[:, None, :], mask, mask)
    packed = net.score(ds)
    net.layers[0].skip_padding = False
    masked = net.score(ds)
    assert abs(packed - masked) <= 1e-5 * max(1.0, abs(masked))


def test_single_step_cell_equals_reference_and_trains():
    """One step (time-stepping, or a TBPTT segment of length 1) runs the plain cell: same
    numbers as the reference loop, and gradients flow through it."""
    module = _module_with_peepholes(13)
    x = torch.randn(2, 3, 1, dtype=torch.float64, requires_grad=True)
    state = (torch.randn(2, 4, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64))
    y, (h, c) = module(x, None, state)
    zx = torch.addmm(module.b, x[:, :, 0], module.W).unsqueeze(0)
    y_ref, h_ref, c_ref = graves_lstm_loop(zx, module.RW, module.peep, *state, None,
                                           Activation.TANH, Activation.SIGMOID)
    torch.testing.assert_close(y[:, :, 0], y_ref[0])
    torch.testing.assert_close((h, c), (h_ref, c_ref))
    assert torch.autograd.gradcheck(lambda x: module(x, None, state)[0], (x,))
    with torch.no_grad():
        y_no_grad, _ = module(x, None, state)
    torch.testing.assert_close(y_no_grad, y, rtol=0, atol=1e-15)


def test_time_stepping_follows_parameter_changes():
    """Single steps keep packed recurrent weights between calls; changing the parameters
    (set_param_table, an update) must show in the next step, as output() shows it."""
    rng = np.random.default_rng(14)
    net = make_net([GravesLSTM(n_in=3, n_out=8), RnnOutputLayer(n_out=2)])
    x = rng.normal(size=(4, 3, 3)).astype(np.float32)
    for _ in range(2):
        net.rnn_clear_previous_state()
        steps = np.stack([net.rnn_time_step(x[:, :, t]) for t in range(3)], axis=2)
        np.testing.assert_allclose(steps, net.output(x), atol=1e-5)
        table = net.param_table()
        table["0_RW"] = rng.normal(size=table["0_RW"].shape).astype(np.float32)
        net.set_param_table(table)
    ds = DataSet(x, np.ones((4, 2, 3), np.float32) / 2)
    net.rnn_clear_previous_state()
    net.rnn_time_step(x[:, :, 0])
    net.fit(ds)
    net.rnn_clear_previous_state()
    steps = np.stack([net.rnn_time_step(x[:, :, t]) for t in range(3)], axis=2)
    np.testing.assert_allclose(steps, net.output(x), atol=1e-5)


def test_time_stepped_network_copies_and_pickles():
    """The packed-weight cache of time-stepping does not stop deepcopy or pickle."""
    net = make_net([GravesLSTM(n_in=3, n_out=8), RnnOutputLayer(n_out=2)])
    x = np.ones((4, 3), np.float32)
    net.rnn_time_step(x)
    for make_twin in (copy.deepcopy, lambda n: pickle.loads(pickle.dumps(n))):
        twin = make_twin(net)
        np.testing.assert_allclose(twin.rnn_time_step(x), net.rnn_time_step(x), atol=1e-6)


def test_fused_loop_with_torch_tanh_equals_reference(monkeypatch):
    """Off the CPU the loop takes torch.tanh instead of the sigmoid form (NOTE [ tanh on CPU ]);
    that branch gives the reference numbers too."""
    monkeypatch.setattr(cpu, "tanh_into", lambda device: cpu.tanh_torch)
    args = _inputs(15, steps=6)
    fused = fused_graves_lstm(*args, None, None)
    loop = graves_lstm_loop(*args, None, Activation.TANH, Activation.SIGMOID)
    for a, b in zip(fused, loop):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("mask_kind", ["none", "right", "holes"])
def test_backward_in_chunks_of_steps_passes_gradcheck(monkeypatch, mask_kind):
    """Long sequences go back in chunks of steps (NOTE [ Backward in chunks of steps ]);
    chunks of 2 steps over 5 give the finite-difference gradients, with and without an input
    projection."""
    monkeypatch.setattr(kernel, "CHUNK_BYTES", 2 * 3 * 16 * 8)   # 2 steps of [3, 16]
    test_module_fused_path_passes_gradcheck(mask_kind)
    args = _inputs(16, steps=5)
    sizes = [3, 3, 2, 1, 1] if mask_kind == "right" else None
    assert torch.autograd.gradcheck(lambda *a: fused_graves_lstm(*a, None, sizes), args)


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("lengths", [[6, 6, 4, 3, 1], [1, 3, 4, 6, 6], [2, 6, 2, 5, 1]])
def test_sorted_padded_batches_skip_padding_in_place(side, lengths):
    """Batches sorted longest first, shortest first (bucketed) or not at all, right- or
    left-padded: skipping padding gives the masked loop's values and gradients."""
    module = _module_with_peepholes(17)
    lengths_t = torch.tensor(lengths)
    idx = torch.arange(6)
    real = idx < lengths_t[:, None] if side == "right" else idx >= 6 - lengths_t[:, None]
    mask = real.double()
    g = torch.Generator().manual_seed(18)
    x = torch.randn(5, 3, 6, generator=g, dtype=torch.float64, requires_grad=True)
    state = tuple(torch.randn(5, 4, generator=g, dtype=torch.float64) for _ in range(2))
    results = []
    for skip in (True, False):
        module.skip_padding = skip
        y, (h, c) = module(x, mask, state)
        grads = torch.autograd.grad(y.square().sum() + h.sum() + c.sum(),
                                    [x, *module.parameters()])
        results.append((y, h, c, *grads))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b)


def test_shortest_first_prefix_path_passes_gradcheck():
    args = _inputs(19, steps=4, n=3)
    assert torch.autograd.gradcheck(
        lambda *a: fused_graves_lstm(*a, None, [1, 2, 2, 3], from_end=True), args)


def test_module_switch_forces_the_reference_loop(monkeypatch):
    """uses_fused_kernel is the one switch between the paths: forced off, the module runs the
    reference loop and gives the fused kernel's values and gradients."""
    module = _module_with_peepholes(20)
    x = torch.randn(3, 3, 5, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[1., 1., 1., 1., 1.], [1., 1., 1., 0., 0.], [1., 0., 1., 1., 0.]])
    results = []
    for fused in (True, False):
        monkeypatch.setattr(module, "uses_fused_kernel", lambda fused=fused: fused)
        y, (h, c) = module(x, mask)
        grads = torch.autograd.grad(y.square().sum() + h.sum() + c.sum(),
                                    [x, *module.parameters()])
        results.append((y, h, c, *grads))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b)
