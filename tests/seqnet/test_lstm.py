"""LSTM on torch.nn.LSTM: same numbers as the masked reference loop for any mask pattern."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqnet.conf.enums import Activation
from seqnet.conf.layers import LSTM
from seqnet.nn.graves.reference import graves_lstm_loop
from seqnet.nn.lstm import LSTMModule, mask_runs


def _module(n_in: int = 3, hid: int = 4, seed: int = 0) -> LSTMModule:
    return LSTMModule(LSTM(n_in=n_in, n_out=hid), torch.float64,
                      torch.Generator().manual_seed(seed))


def _reference(module: LSTMModule, x, mask, state):
    """The masked step loop (no peepholes) on the module's DL4J-layout parameters."""
    table = {k: torch.from_numpy(v) for k, v in module.param_table().items()}
    n, _, steps = x.shape
    zx = (x.permute(2, 0, 1) @ table["W"]) + table["b"][0]
    m = None if mask is None else mask.t().unsqueeze(-1)
    peep = torch.zeros(3, module.hidden, dtype=torch.float64)
    hs, h, c = graves_lstm_loop(zx, table["RW"], peep, state[0], state[1], m, Activation.TANH,
                                Activation.SIGMOID)
    return hs.permute(1, 2, 0), h, c


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.booleans(), min_size=6, max_size=6), min_size=1, max_size=4),
       st.integers(0, 2**16))
def test_masked_nn_lstm_equals_reference_loop(mask_rows, seed):
    module = _module()
    g = torch.Generator().manual_seed(seed)
    n = len(mask_rows)
    x = torch.randn(n, 3, 6, generator=g, dtype=torch.float64)
    state = (torch.randn(n, 4, generator=g, dtype=torch.float64),
             torch.randn(n, 4, generator=g, dtype=torch.float64))
    mask = torch.tensor(mask_rows, dtype=torch.float64)
    y, (h, c) = module(x, mask, state)
    y_ref, h_ref, c_ref = _reference(module, x, mask, state)
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(h, h_ref)
    torch.testing.assert_close(c, c_ref)


def test_unmasked_equals_reference_and_gradcheck():
    module = _module(seed=1)
    x = torch.randn(2, 3, 5, dtype=torch.float64, requires_grad=True)
    zeros = (torch.zeros(2, 4, dtype=torch.float64), torch.zeros(2, 4, dtype=torch.float64))
    torch.testing.assert_close(module(x)[0], _reference(module, x, None, zeros)[0])
    mask = torch.tensor([[0, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: module(x, mask)[0], (x,))


def test_param_table_round_trip_and_gate_order():
    module = _module(seed=2)
    table = module.param_table()
    assert table["W"].shape == (3, 16) and table["RW"].shape == (4, 16)
    np.testing.assert_array_equal(table["b"][0, 4:8], 1.0)        # DL4J forget block
    # torch keeps the forget gate in its second block too; the input gate is DL4J's last.
    np.testing.assert_array_equal(module.lstm.bias_ih_l0.detach().numpy()[4:8], 1.0)
    rng = np.random.default_rng(0)
    new = {k: rng.normal(size=v.shape) for k, v in table.items()}
    module.set_param_table(new, "0_")
    for k in new:
        np.testing.assert_allclose(module.param_table()[k], new[k])
    np.testing.assert_allclose(module.lstm.weight_ih_l0.detach().numpy()[:4], new["W"][:, 12:].T)


def test_mask_runs_finds_every_run():
    mask = torch.tensor([[1, 0, 1, 1], [0, 0, 0, 0], [1, 1, 1, 1]])
    example, start, length = mask_runs(mask)
    assert list(zip(example.tolist(), start.tolist(), length.tolist())) == [
        (0, 0, 1), (0, 2, 2), (2, 0, 4)]


def test_single_step_path_equals_reference():
    module = _module(seed=3)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 1, generator=g, dtype=torch.float64)
    state = (torch.randn(2, 4, generator=g, dtype=torch.float64),
             torch.randn(2, 4, generator=g, dtype=torch.float64))
    for mask in (None, torch.tensor([[1.0], [0.0]], dtype=torch.float64)):
        y, (h, c) = module(x, mask, state)
        y_ref, h_ref, c_ref = _reference(module, x, mask, state)
        torch.testing.assert_close(y, y_ref)
        torch.testing.assert_close(h, h_ref)
        torch.testing.assert_close(c, c_ref)


def test_init_leaves_the_global_torch_rng_alone():
    # A seeded configuration draws only from its own generator, whatever the layer kind.
    from seqnet.conf.layers import LSTM, RnnOutputLayer
    from seqnet.conf.multilayer import MultiLayerConfiguration
    from seqnet.network import MultiLayerNetwork

    torch.manual_seed(0)
    before = torch.get_rng_state()
    net = MultiLayerNetwork(MultiLayerConfiguration(
        layers=[LSTM(n_in=3, n_out=4), RnnOutputLayer(n_out=2)], seed=3))
    net.init()
    assert torch.equal(torch.get_rng_state(), before)
