"""``GravesLSTMModule``: the Graves (peephole) LSTM layer, on the fused kernel or the
reference loop (:meth:`GravesLSTMModule.uses_fused_kernel` picks).

Gate blocks are stored in DL4J's order ``[a | f | o | i]`` (block input, forget, output,
input gate), so ``param_table`` needs no reordering; the kernel works in its own order
(NOTE [ Internal gate order ] in :mod:`seqnet.nn.graves.kernel`). On CPU in float32 the
recurrent products run on oneDNN with packed weights, tanh runs as a sigmoid
(:mod:`seqnet.nn.graves.cpu`), and padded steps of right- or left-padded batches are skipped
(:mod:`seqnet.nn.graves.padding`).

>>> import torch
>>> from seqnet.conf.layers import GravesLSTM
>>> layer = GravesLSTMModule(GravesLSTM(n_in=3, n_out=4), torch.float64, torch.Generator())
>>> y, (h, c) = layer(torch.randn(2, 3, 5, dtype=torch.float64))
>>> tuple(y.shape), tuple(h.shape)
((2, 4, 5), (2, 4))
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from seqnet.conf.enums import Activation, WeightInit
from seqnet.conf.layers import BaseLSTM
from seqnet.nn.base import RecurrentModule, State
from seqnet.nn.graves import compiled
from seqnet.nn.graves.cpu import onednn, pack, packed_product
from seqnet.nn.graves.kernel import (
    INTERNAL_PEEPHOLES,
    GravesLSTMFunction,
    graves_cell_step,
    to_internal,
)
from seqnet.nn.graves.padding import prefix_sizes
from seqnet.nn.graves.reference import graves_lstm_loop
from seqnet.nn.init import init_weight
from seqnet.nn.params import check_shape
from seqnet.tensors import to_numpy

#: Below this many rows a time step's product runs faster on addmm than on packed weights.
_PACK_MIN_ROWS = 8


class GravesLSTMModule(RecurrentModule):
    """One Graves LSTM layer on ``[N, nIn, T]`` inputs, returning ``[N, H, T]`` and (h, c)."""

    def __init__(self, conf: BaseLSTM, dtype: torch.dtype, generator: torch.Generator,
                 weight_init: WeightInit = WeightInit.XAVIER) -> None:
        super().__init__()
        n_in, hid = conf.n_in, conf.n_out
        assert n_in is not None and hid is not None
        self.conf = conf
        self.hidden = hid
        scheme = conf.weight_init or weight_init
        # DL4J draws W and RW (peepholes included) with fan_in = H and fan_out = nIn + H.
        self.W = nn.Parameter(init_weight((n_in, 4 * hid), scheme, hid, n_in + hid, dtype,
                                          generator))
        rw = init_weight((hid, 4 * hid + 3), scheme, hid, n_in + hid, dtype, generator)
        self.RW = nn.Parameter(rw[:, :4 * hid].contiguous())
        self.peep = nn.Parameter(rw[:, 4 * hid:].t().contiguous())
        bias = torch.full((4 * hid,), conf.bias_init, dtype=dtype)
        bias[hid:2 * hid] = conf.forget_gate_bias_init
        self.b = nn.Parameter(bias)
        # False runs padded batches through the masked loop, computing every padded step
        # (same numbers; the baseline the padded-epoch benchmark measures packing against).
        self.skip_padding = True
        self._packed_rw: tuple[tuple[int, int, int], torch.Tensor] | None = None
        self._step_weights: tuple[tuple[int, ...], tuple[torch.Tensor, ...]] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # The packed weights are an opaque oneDNN tensor (no storage to pickle or copy), and
        # only a cache: copies and pickles start without it.
        state = self.__dict__.copy()
        state["_packed_rw"] = None
        state["_step_weights"] = None
        return state

    def _time_step_rw(self, rows: int) -> torch.Tensor | None:
        """RW packed for oneDNN and kept from one time step to the next, where no gradient
        is recorded; packed again whenever RW changes (its version counter) or moves.

        # NOTE [ Packed weights across time steps ]
        # Time-stepping (sampling, streaming prediction) calls one step at a time with the
        # same weights, so the oneDNN reorder of NOTE [ Packed weights for the recurrent
        # product ] is paid once, not per call.
        """
        if torch.is_grad_enabled() or rows < _PACK_MIN_ROWS or not onednn(self.RW):
            return None
        key = (self.RW.data_ptr(), self.RW._version, rows)
        if self._packed_rw is None or self._packed_rw[0] != key:
            self._packed_rw = (key, pack(self.RW.detach(), rows))
        return self._packed_rw[1]

    def _compiled_step_weights(self) -> tuple[torch.Tensor, ...] | None:
        """W, b, RW and the peepholes in the kernel's order for the compiled time step,
        kept from one step to the next (reordered again when a parameter changes); ``None``
        where a gradient is recorded or the loops are not compiled."""
        if torch.is_grad_enabled() or not self.uses_compiled_loops():
            return None
        key = (self.W._version, self.b._version, self.RW._version, self.peep._version,
               self.W.data_ptr())
        if self._step_weights is None or self._step_weights[0] != key:
            with torch.no_grad():
                weights = (to_internal(self.W), to_internal(self.b), to_internal(self.RW),
                           self.peep[INTERNAL_PEEPHOLES])
            self._step_weights = (key, tuple(w.contiguous() for w in weights))
        return self._step_weights[1]

    def uses_fused_kernel(self) -> bool:
        """Whether :meth:`forward` runs the fused kernel (:mod:`seqnet.nn.graves.kernel`) or
        the reference loop (:mod:`seqnet.nn.graves.reference`).

        The one switch between the two paths: the kernel is written for tanh / sigmoid only,
        the loop takes any activations. A test forces the reference loop by overriding this
        (on a subclass or an instance); forcing the kernel on other activations would compute
        tanh / sigmoid regardless.
        """
        return (self.conf.activation == Activation.TANH
                and self.conf.gate_activation == Activation.SIGMOID)

    def uses_compiled_loops(self) -> bool:
        """Whether the fused kernel runs its step loops compiled (C++, on the CPU, unless
        ``SEQNET_COMPILED=0``; :mod:`seqnet.nn.graves.compiled`) or in Python: the same
        numbers either way. Overridden like :meth:`uses_fused_kernel` to force either."""
        return compiled.enabled_for(self.RW)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                state: State | None = None) -> tuple[torch.Tensor, State]:
        n = x.shape[0]
        xt = x.permute(2, 0, 1)                                  # [T, N, C]
        if state is None:
            h0 = c0 = x.new_zeros(n, self.hidden)
        else:
            h0, c0 = state
        if not self.uses_fused_kernel():
            hs, h, c = self._reference(xt, mask, h0, c0)
        elif xt.shape[0] == 1:
            return self._one_step(xt[0], mask, h0, c0)
        else:
            hs, h, c = self._fused(xt, mask, h0, c0)
        return hs.permute(1, 2, 0), (h, c)

    def _reference(self, xt: torch.Tensor, mask: torch.Tensor | None, h0: torch.Tensor,
                   c0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        steps, n, _ = xt.shape
        zx = torch.addmm(self.b, xt.reshape(steps * n, -1), self.W).view(steps, n, -1)
        m = None if mask is None else mask.t().unsqueeze(-1).to(zx.dtype)
        return graves_lstm_loop(zx, self.RW, self.peep, h0, c0, m, self.conf.activation,
                                self.conf.gate_activation)

    def _one_step(self, x: torch.Tensor, mask: torch.Tensor | None, h0: torch.Tensor,
                  c0: torch.Tensor) -> tuple[torch.Tensor, State]:
        h, c = self.time_step(x, (h0, c0))
        if mask is not None:
            h, c = h * mask, c * mask
        return h.unsqueeze(2), (h, c)

    def time_step(self, x: torch.Tensor, state: State) -> State:
        """One step from ``state`` (h, c) on ``x [N, nIn]``: the new h and c, as
        :meth:`forward` computes them for a one-step input (tanh / sigmoid only).

        No loop set-up: without autograd, on the compiled loops, one call with the weights
        reordered once (:meth:`_compiled_step_weights`); else a few ops on DL4J's order.
        """
        h0, c0 = state
        weights = self._compiled_step_weights()
        if weights is not None:
            h, c = compiled.time_step_op()(x, *weights, h0, c0)
            return h, c
        z = torch.addmm(self.b, x, self.W)
        packed_rw = self._time_step_rw(x.shape[0])
        if packed_rw is not None:
            z = z.add_(packed_product(h0, packed_rw))
        else:
            z = z.addmm_(h0, self.RW)
        return graves_cell_step(z, self.peep, c0)

    def _fused(self, xt: torch.Tensor, mask: torch.Tensor | None, h0: torch.Tensor,
               c0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        w, b, rw = to_internal(self.W), to_internal(self.b), to_internal(self.RW)
        peep = self.peep[INTERNAL_PEEPHOLES]
        loops = self.uses_compiled_loops()
        if mask is not None and self.skip_padding:
            packed = prefix_sizes(mask)
            if packed is not None:
                order, sizes, from_end = packed
                if order is None:
                    return GravesLSTMFunction.apply(xt, w, b, rw, peep, h0, c0, None, sizes,
                                                    from_end, loops)
                inverse = torch.argsort(order)
                hs, h, c = GravesLSTMFunction.apply(xt[:, order], w, b, rw, peep, h0[order],
                                                    c0[order], None, sizes, False, loops)
                return hs[:, inverse], h[inverse], c[inverse]
        m = None if mask is None else mask.t().unsqueeze(-1).to(xt.dtype)
        return GravesLSTMFunction.apply(xt, w, b, rw, peep, h0, c0, m, None, False, loops)

    def param_table(self) -> dict[str, np.ndarray]:
        """``W [nIn, 4H]``, ``RW [H, 4H+3]`` (peepholes f, o, i last), ``b [1, 4H]``."""
        rw = torch.cat((self.RW, self.peep.t()), dim=1)
        return {"W": to_numpy(self.W, copy=True), "RW": to_numpy(rw, copy=True),
                "b": to_numpy(self.b, copy=True).reshape(1, -1)}

    def set_param_table(self, table: dict[str, Any], prefix: str, suffix: str = "") -> None:
        """Load DL4J-layout arrays (keys without the layer prefix ``prefix`` and the
        direction ``suffix``, which only name the key in errors)."""
        hid = self.hidden
        w = check_shape(table["W"], (self.W.shape[0], 4 * hid), f"{prefix}W{suffix}")
        rw = check_shape(table["RW"], (hid, 4 * hid + 3), f"{prefix}RW{suffix}")
        b = check_shape(table["b"], (1, 4 * hid), f"{prefix}b{suffix}")
        with torch.no_grad():
            self.W.copy_(w)
            self.RW.copy_(rw[:, :4 * hid])
            self.peep.copy_(rw[:, 4 * hid:].t())
            self.b.copy_(b.reshape(-1))

    def param_types(self) -> dict[str, list[nn.Parameter]]:
        """Parameters grouped by DL4J parameter type (for per-type gradient clipping)."""
        return {"W": [self.W], "RW": [self.RW, self.peep], "b": [self.b]}

    def weight_params(self) -> list[nn.Parameter]:
        """The parameters l1 / l2 apply to (not biases)."""
        return [self.W, self.RW, self.peep]
