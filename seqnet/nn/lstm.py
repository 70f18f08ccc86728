"""``LSTM`` on ``torch.nn.LSTM`` with DL4J's mask rule, and DL4J layout only in param_table.

# NOTE [ Masks on torch.nn.LSTM ]
# The contract: at a masked step h and c are zeroed, so every run of consecutive real steps
# starts from zero state (or from the carried state when the run starts at t = 0), masked
# steps output 0, and the final state is 0 unless the last step is real. nn.LSTM cannot zero
# its state mid-sequence, so each run of real steps becomes its own packed sequence: one
# nn.LSTM call over all runs of the batch, padded steps cost nothing, and right-padded
# (ALIGN_START) batches are simply one run per example. The outputs are scattered back.

>>> import torch
>>> from seqnet.conf.layers import LSTM
>>> layer = LSTMModule(LSTM(n_in=2, n_out=3), torch.float64, torch.Generator())
>>> x = torch.randn(2, 2, 4, dtype=torch.float64)
>>> mask = torch.tensor([[0., 1., 1., 1.], [1., 1., 1., 1.]])
>>> y, _ = layer(x, mask)
>>> y[0, :, 0].tolist()
[0.0, 0.0, 0.0]
>>> torch.allclose(y[0, :, 1:], layer(x[:1, :, 1:])[0][0])   # left padding = shorter sequence
True
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqnet.conf.enums import WeightInit
from seqnet.conf.layers import BaseLSTM
from seqnet.nn.base import RecurrentModule, State
from seqnet.nn.init import init_weight
from seqnet.nn.params import check_shape
from seqnet.tensors import to_numpy

# torch's gate blocks are (i, f, g, o); DL4J's are (a=g, f, o, i).
_TORCH_FROM_DL4J = [3, 1, 0, 2]
_DL4J_FROM_TORCH = [2, 1, 3, 0]


def _reorder(t: torch.Tensor, order: list[int], hid: int, dim: int) -> torch.Tensor:
    return torch.cat([t.narrow(dim, k * hid, hid) for k in order], dim=dim)


def mask_runs(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Runs of consecutive 1s in a ``[N, T]`` mask: (example, start, length), row-major.

    >>> mask_runs(torch.tensor([[1., 1., 0., 1.], [0., 1., 1., 0.]]))
    (tensor([0, 0, 1]), tensor([0, 3, 1]), tensor([2, 1, 2]))
    """
    m = mask > 0
    before = torch.zeros_like(m[:, :1])
    starts = m & ~torch.cat((before, m[:, :-1]), dim=1)
    ends = m & ~torch.cat((m[:, 1:], before), dim=1)
    example, start = starts.nonzero(as_tuple=True)
    _, end = ends.nonzero(as_tuple=True)
    return example, start, end - start + 1


class LSTMModule(RecurrentModule):
    """An ``LSTM`` layer: ``[N, nIn, T]`` -> ``[N, H, T]`` and the final (h, c)."""

    def __init__(self, conf: BaseLSTM, dtype: torch.dtype, generator: torch.Generator,
                 weight_init: WeightInit = WeightInit.XAVIER) -> None:
        super().__init__()
        n_in, hid = conf.n_in, conf.n_out
        assert n_in is not None and hid is not None
        self.hidden = hid
        # Built on the meta device: nn.LSTM's own initialisation would draw from the global
        # torch RNG, and every value is overwritten from the seeded generator below anyway.
        self.lstm = nn.LSTM(n_in, hid, dtype=dtype, device="meta").to_empty(device="cpu")
        # nn.LSTM has two biases; DL4J has one. bias_hh stays 0 and frozen so that the
        # trainable parameters (and num_params) are exactly DL4J's.
        self.b_hh.requires_grad_(False)
        scheme = conf.weight_init or weight_init
        w = init_weight((n_in, 4 * hid), scheme, hid, n_in + hid, dtype, generator)
        rw = init_weight((hid, 4 * hid), scheme, hid, n_in + hid, dtype, generator)
        b = torch.full((1, 4 * hid), conf.bias_init, dtype=dtype)
        b[:, hid:2 * hid] = conf.forget_gate_bias_init
        self._load(w, rw, b)

    # nn.LSTM's parameters of its one layer, typed (nn.Module's attribute lookup is not).
    @property
    def w_ih(self) -> nn.Parameter:
        return cast(nn.Parameter, self.lstm.weight_ih_l0)

    @property
    def w_hh(self) -> nn.Parameter:
        return cast(nn.Parameter, self.lstm.weight_hh_l0)

    @property
    def b_ih(self) -> nn.Parameter:
        return cast(nn.Parameter, self.lstm.bias_ih_l0)

    @property
    def b_hh(self) -> nn.Parameter:
        return cast(nn.Parameter, self.lstm.bias_hh_l0)

    def _load(self, w: torch.Tensor, rw: torch.Tensor, b: torch.Tensor) -> None:
        hid = self.hidden
        with torch.no_grad():
            self.w_ih.copy_(_reorder(w.t(), _TORCH_FROM_DL4J, hid, 0))
            self.w_hh.copy_(_reorder(rw.t(), _TORCH_FROM_DL4J, hid, 0))
            self.b_ih.copy_(_reorder(b.reshape(-1), _TORCH_FROM_DL4J, hid, 0))
            self.b_hh.zero_()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                state: State | None = None) -> tuple[torch.Tensor, State]:
        n, _, steps = x.shape
        xt = x.permute(2, 0, 1)
        if state is None:
            state = (xt.new_zeros(n, self.hidden), xt.new_zeros(n, self.hidden))
        if steps == 1:
            return self._step(xt[0], None if mask is None else mask[:, :1], state)
        if mask is None or bool((mask > 0).all()):
            y, (h, c) = self.lstm(xt, (state[0].unsqueeze(0), state[1].unsqueeze(0)))
            return y.permute(1, 2, 0), (h[0], c[0])
        return self._forward_runs(xt, mask, state)

    def _step(self, x: torch.Tensor, mask: torch.Tensor | None,
              state: State) -> tuple[torch.Tensor, State]:
        # One step (rnn_time_step): the fused cell skips nn.LSTM's per-call set-up, which
        # costs several times the arithmetic for small layers.
        h, c = torch.lstm_cell(x, state, self.w_ih, self.w_hh, self.b_ih,
                               self.b_hh)
        if mask is not None:
            h, c = h * mask, c * mask
        return h.unsqueeze(2), (h, c)

    def _forward_runs(self, xt: torch.Tensor, mask: torch.Tensor,
                      state: State) -> tuple[torch.Tensor, State]:
        steps, n, _ = xt.shape
        hid = self.hidden
        example, start, length = mask_runs(mask)
        y = xt.new_zeros(steps, n, hid)
        h_out, c_out = xt.new_zeros(n, hid), xt.new_zeros(n, hid)
        if example.numel() == 0:
            return y.permute(1, 2, 0), (h_out, c_out)
        longest = int(length.max())
        offsets = torch.arange(longest, device=xt.device)
        pos = (start.unsqueeze(0) + offsets.unsqueeze(1)).clamp_max(steps - 1)   # [L, R]
        runs_x = xt[pos, example.unsqueeze(0)]
        from_state = (start == 0).unsqueeze(1).to(xt.dtype)
        h0 = state[0][example] * from_state
        c0 = state[1][example] * from_state
        packed = pack_padded_sequence(runs_x, length.cpu(), enforce_sorted=False)
        out, (h_n, c_n) = self.lstm(packed, (h0.unsqueeze(0), c0.unsqueeze(0)))
        out, _ = pad_packed_sequence(out, total_length=longest)
        valid = offsets.unsqueeze(1) < length.unsqueeze(0)
        y = y.index_put((pos[valid], example.unsqueeze(0).expand_as(pos)[valid]), out[valid])
        last = start + length == steps
        h_out = h_out.index_put((example[last],), h_n[0][last])
        c_out = c_out.index_put((example[last],), c_n[0][last])
        return y.permute(1, 2, 0), (h_out, c_out)

    def param_table(self) -> dict[str, np.ndarray]:
        """``W [nIn, 4H]``, ``RW [H, 4H]``, ``b [1, 4H]`` in DL4J's gate order."""
        hid = self.hidden
        w = _reorder(self.w_ih, _DL4J_FROM_TORCH, hid, 0).t()
        rw = _reorder(self.w_hh, _DL4J_FROM_TORCH, hid, 0).t()
        b = _reorder(self.b_ih + self.b_hh, _DL4J_FROM_TORCH, hid, 0)
        return {"W": to_numpy(w, copy=True), "RW": to_numpy(rw, copy=True),
                "b": to_numpy(b, copy=True).reshape(1, -1)}

    def set_param_table(self, table: dict[str, Any], prefix: str) -> None:
        """Load DL4J-layout arrays (keys without the layer prefix)."""
        hid = self.hidden
        dtype = self.w_ih.dtype
        w = check_shape(table["W"], (self.lstm.input_size, 4 * hid), prefix + "W").to(dtype)
        rw = check_shape(table["RW"], (hid, 4 * hid), prefix + "RW").to(dtype)
        b = check_shape(table["b"], (1, 4 * hid), prefix + "b").to(dtype)
        self._load(w, rw, b)

    def param_types(self) -> dict[str, list[nn.Parameter]]:
        """Parameters grouped by DL4J parameter type (for per-type gradient clipping)."""
        return {"W": [self.w_ih], "RW": [self.w_hh],
                "b": [self.b_ih]}

    def weight_params(self) -> list[nn.Parameter]:
        """The parameters l1 / l2 apply to (not biases)."""
        return [self.w_ih, self.w_hh]
