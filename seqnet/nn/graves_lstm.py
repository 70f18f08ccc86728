"""The Graves (peephole) LSTM: a fused recurrent loop with a hand-written backward.

Gate blocks are stored in DL4J's order ``[a | f | o | i]`` (block input, forget, output,
input gate), so ``param_table`` needs no reordering. Time-major tensors inside: ``[T, N, .]``.

>>> import torch
>>> from seqnet.conf.layers import GravesLSTM
>>> layer = GravesLSTMModule(GravesLSTM(n_in=3, n_out=4), torch.float64, torch.Generator())
>>> y, (h, c) = layer(torch.randn(2, 3, 5, dtype=torch.float64))
>>> tuple(y.shape), tuple(h.shape)
((2, 4, 5), (2, 4))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from seqnet.conf.enums import Activation, WeightInit
from seqnet.conf.layers import _BaseLSTM
from seqnet.nn.activations import activation_fn
from seqnet.nn.init import init_weight
from seqnet.nn.params import as_numpy, check_shape

State = tuple[torch.Tensor, torch.Tensor]


def _step_matmul(weight: torch.Tensor, rows: int,
                 steps: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """``x -> x @ weight`` for the many small per-step products of one sequence batch.

    # NOTE [ Packed weights for the recurrent product ]
    # On CPU in float32, oneDNN's linear with the weight reordered once per call runs the
    # [N, H] x [H, 4H] product about twice as fast as addmm (it is what torch.nn.LSTM's CPU
    # kernel does internally). The reorder costs a few products, so short runs (time-stepping)
    # skip it; float64, other devices, or a torch without the op use mm.
    """
    if steps >= _PACK_MIN_STEPS and _onednn(weight):
        packed_weight = torch.ops.mkldnn._reorder_linear_weight(weight.t().contiguous(), rows)
        return lambda x: _PACKED_LINEAR(x, packed_weight, None, "none", [], "")
    dense = weight.contiguous()
    return lambda x: torch.mm(x, dense)


_PACKED_LINEAR = getattr(torch.ops.mkldnn, "_linear_pointwise", None)
_PACK_MIN_STEPS = 8


def _onednn(t: torch.Tensor) -> bool:
    return (t.device.type == "cpu" and t.dtype == torch.float32 and _PACKED_LINEAR is not None
            and torch.backends.mkldnn.is_available())


def _weight_grad(inputs: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    """``inputs.t() @ grads`` for the recurrent weight gradient over all steps ``[T N, .]``.

    # NOTE [ One product for the recurrent weight gradient ]
    # A single [H, T N] x [T N, 4H] product. On CPU in float32 oneDNN runs it about twice as
    # fast as the BLAS mm on the machines measured (MKL takes a slow path on AMD CPUs).
    """
    if _onednn(grads):
        return _PACKED_LINEAR(inputs.t().contiguous(), grads.t(), None, "none", [], "")
    return torch.mm(inputs.t(), grads)


def _tanh_sigmoid(src: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``tanh(src)`` written into ``out`` (which may be ``src``) as ``2 sigmoid(2 src) - 1``.

    # NOTE [ tanh on CPU ]
    # torch's CPU tanh goes through MKL's vector maths, which is several times slower than
    # sigmoid and opens a parallel region for as few as 2048 values: on the recurrent loop's
    # [N, H] blocks it costs more than the recurrent product when the cores are busy. The
    # identity tanh(x) = 2 sigmoid(2x) - 1 on sigmoid's own vectorised kernel is exact in
    # real arithmetic and within one rounding of 1.0 (absolute) in floating point.

    >>> x = torch.linspace(-20, 20, 9, dtype=torch.float64)
    >>> bool((_tanh_sigmoid(x, torch.empty_like(x)) - torch.tanh(x)).abs().max() < 1e-15)
    True
    """
    return torch.mul(src, 2.0, out=out).sigmoid_().mul_(2.0).sub_(1.0)


def _tanh_torch(src: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    return torch.tanh(src, out=out)


def _tanh_into(device: torch.device) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The faster tanh for the recurrent loop on ``device`` (see NOTE [ tanh on CPU ])."""
    return _tanh_sigmoid if device.type == "cpu" else _tanh_torch


class _GravesLSTMFunction(torch.autograd.Function):
    """tanh / sigmoid Graves LSTM over ``T`` steps with buffers preallocated for backward.

    ``zx`` is the input projection ``x W + b`` of all steps ``[T, N, 4H]`` (one matmul done by
    the caller, so autograd handles W, b and x); ``peep`` is ``[3, H]`` (forget, output, input).
    ``mask`` is ``[T, N, 1]`` or ``None``; at a masked step h and c are zeroed.
    ``sizes`` (instead of a mask) says that at step t exactly the first ``sizes[t]`` examples
    are real: padded steps are then skipped instead of computed and zeroed (see
    NOTE [ Skipping padded steps ]).
    """

    @staticmethod
    def forward(ctx: Any, zx: torch.Tensor, rw: torch.Tensor, peep: torch.Tensor,
                h0: torch.Tensor, c0: torch.Tensor, mask: torch.Tensor | None,
                sizes: list[int] | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        steps, n, g = zx.shape
        hid = g // 4
        p_f, p_o, p_i = peep[0], peep[1], peep[2]
        # With sizes, rows of skipped steps must read as 0 (outputs, state, backward sums).
        alloc = zx.new_zeros if sizes is not None else zx.new_empty
        gates = alloc(steps, n, g)              # activated a, f, o, i
        tanh_c = alloc(steps, n, hid)
        # Row 0 of these holds the initial state, so "previous step" is a view, not a copy.
        hs_full = alloc(steps + 1, n, hid)
        c_raw_full = alloc(steps + 1, n, hid)   # cell before masking
        cs_full = zx.new_empty(steps + 1, n, hid) if mask is not None else c_raw_full
        hs_full[0] = h0
        cs_full[0] = c0
        hs, c_raw, cs = hs_full[1:], c_raw_full[1:], cs_full[1:]
        step_mm = _step_matmul(rw, n, steps)
        tanh_into = _tanh_into(zx.device)
        h, c = h0, c0
        for t in range(steps):
            b = n if sizes is None else sizes[t]
            z = torch.add(zx[t, :b], step_mm(h[:b]), out=gates[t, :b])
            a, f, o, i = z[:, :hid], z[:, hid:2 * hid], z[:, 2 * hid:3 * hid], z[:, 3 * hid:]
            c_b = c[:b]
            tanh_into(a, a)
            f.addcmul_(c_b, p_f).sigmoid_()
            i.addcmul_(c_b, p_i).sigmoid_()
            cn = torch.mul(f, c_b, out=c_raw[t, :b]).addcmul_(i, a)
            o.addcmul_(cn, p_o).sigmoid_()
            torch.mul(o, tanh_into(cn, tanh_c[t, :b]), out=hs[t, :b])
            h = hs[t]
            if mask is not None:
                h.mul_(mask[t])
                c = torch.mul(c_raw[t], mask[t], out=cs[t])
            else:
                c = c_raw[t]
        ctx.buffers = (gates, c_raw, tanh_c, cs_full, hs_full)
        ctx.sizes = sizes
        ctx.save_for_backward(rw, peep, mask)
        return hs, h.clone(), c.clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, d_hs: torch.Tensor, d_h: torch.Tensor, d_c: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
                            torch.Tensor, None, None]:
        rw, peep, mask = ctx.saved_tensors
        gates, c_raw, tanh_c, cs_full, hs_full = ctx.buffers
        sizes = ctx.sizes
        steps, n, g = gates.shape
        hid = g // 4
        p_f, p_o, p_i = peep[0], peep[1], peep[2]
        step_mm = _step_matmul(rw.t(), n, steps)
        c_prev_all = cs_full[:-1]
        # NOTE [ Backward factors ] Every per-step product that does not involve the carried
        # gradients is computed for all steps at once, so the loop runs ~10 small ops a step.
        a_all, f_all = gates[..., :hid], gates[..., hid:2 * hid]
        o_all, i_all = gates[..., 2 * hid:3 * hid], gates[..., 3 * hid:]
        factors = torch.empty_like(gates)
        f_a, f_f = factors[..., :hid], factors[..., hid:2 * hid]
        f_o, f_i = factors[..., 2 * hid:3 * hid], factors[..., 3 * hid:]
        # sigmoid' = s - s^2 for the f, o, i blocks at once (they are adjacent).
        torch.mul(gates[..., hid:], gates[..., hid:], out=factors[..., hid:])
        torch.sub(gates[..., hid:], factors[..., hid:], out=factors[..., hid:])
        f_f.mul_(c_prev_all)                                                # d z_f / d c
        f_o.mul_(tanh_c)                                                    # d z_o / d h
        f_i.mul_(a_all)                                                     # d z_i / d c
        torch.mul(a_all, a_all, out=f_a).mul_(i_all)
        torch.sub(i_all, f_a, out=f_a)                                      # (1 - a^2) i
        dh_dc = torch.mul(tanh_c, tanh_c).mul_(o_all)
        torch.sub(o_all, dh_dc, out=dh_dc)                                  # (1 - tanh^2) o
        dz = torch.zeros_like(gates) if sizes is not None else torch.empty_like(gates)
        dh = d_h.clone()
        dc = d_c.clone()
        for t in range(steps - 1, -1, -1):
            b = n if sizes is None else sizes[t]
            dh += d_hs[t]
            if mask is not None:
                dh.mul_(mask[t])
                dc.mul_(mask[t])
            elif b < n:
                dc[b:] = 0.0
            dh_b, dc_b = dh[:b], dc[:b]
            fac = factors[t, :b]
            dzt = dz[t, :b]
            dzf, dzo, dzi = dzt[:, hid:2 * hid], dzt[:, 2 * hid:3 * hid], dzt[:, 3 * hid:]
            torch.mul(dh_b, fac[:, 2 * hid:3 * hid], out=dzo)
            dc_b.addcmul_(dh_b, dh_dc[t, :b]).addcmul_(dzo, p_o)
            torch.mul(fac[:, :2 * hid].view(b, 2, hid), dc_b.unsqueeze(1),
                      out=dzt[:, :2 * hid].view(b, 2, hid))
            torch.mul(fac[:, 3 * hid:], dc_b, out=dzi)
            dc_b.mul_(f_all[t, :b]).addcmul_(dzf, p_f).addcmul_(dzi, p_i)
            dh = step_mm(dz[t])
        d_rw = _weight_grad(hs_full[:-1].reshape(-1, hid), dz.reshape(-1, g))
        d_peep = torch.stack((
            (dz[:, :, hid:2 * hid] * c_prev_all).sum((0, 1)),
            (dz[:, :, 2 * hid:3 * hid] * c_raw).sum((0, 1)),
            (dz[:, :, 3 * hid:] * c_prev_all).sum((0, 1)),
        ))
        return dz, d_rw, d_peep, dh, dc, None, None


# NOTE [ Skipping padded steps ]
# A right-padded (ALIGN_START) or left-padded (ALIGN_END) batch, sorted by length (longest
# first), has at every step a prefix of real examples: the first sizes[t]. The fused loop then
# runs each step on that prefix only, as packed sequences do, and the skipped rows read as
# zero h and c: exactly what the masked loop computes, without the arithmetic on padding.


def prefix_sizes(mask: torch.Tensor) -> tuple[torch.Tensor, list[int]] | None:
    """For a right- or left-padded ``[N, T]`` mask: the order that sorts examples longest
    first, and the number of real examples at each step in that order; else ``None``.

    >>> prefix_sizes(torch.tensor([[1., 0., 0.], [1., 1., 1.]]))
    (tensor([1, 0]), [2, 1, 1])
    >>> prefix_sizes(torch.tensor([[0., 1., 1.], [1., 1., 1.]]))
    (tensor([1, 0]), [1, 2, 2])
    >>> prefix_sizes(torch.tensor([[1., 0., 1.]])) is None
    True
    """
    real = mask > 0
    lengths = real.sum(dim=1)
    steps = mask.shape[1]
    idx = torch.arange(steps, device=mask.device)
    if bool((real == (idx < lengths.unsqueeze(1))).all()):
        active_after = idx                      # step t is real where length > t
    elif bool((real == (idx >= steps - lengths.unsqueeze(1))).all()):
        active_after = steps - 1 - idx          # step t is real where length > T - 1 - t
    else:
        return None
    order = torch.argsort(lengths, descending=True, stable=True)
    sizes = (lengths.unsqueeze(0) > active_after.unsqueeze(1)).sum(dim=1)
    return order, sizes.tolist()


def graves_lstm_loop(zx: torch.Tensor, rw: torch.Tensor, peep: torch.Tensor, h: torch.Tensor,
                     c: torch.Tensor, mask: torch.Tensor | None, activation: Activation,
                     gate_activation: Activation) -> tuple[torch.Tensor, torch.Tensor,
                                                           torch.Tensor]:
    """The SPEC equations step by step with autograd, for any activation pair.

    Same arguments and results as the fused function; used where it does not apply.
    """
    act, gate = activation_fn(activation), activation_fn(gate_activation)
    hid = rw.shape[0]
    outputs = []
    for t in range(zx.shape[0]):
        z = zx[t] + h @ rw
        a = act(z[:, :hid])
        f = gate(z[:, hid:2 * hid] + peep[0] * c)
        i = gate(z[:, 3 * hid:] + peep[2] * c)
        c = f * c + i * a
        o = gate(z[:, 2 * hid:3 * hid] + peep[1] * c)
        h = o * act(c)
        if mask is not None:
            h = h * mask[t]
            c = c * mask[t]
        outputs.append(h)
    return torch.stack(outputs), h, c


class GravesLSTMModule(nn.Module):
    """One Graves LSTM layer on ``[N, nIn, T]`` inputs, returning ``[N, H, T]`` and (h, c)."""

    def __init__(self, conf: _BaseLSTM, dtype: torch.dtype, generator: torch.Generator,
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
        self._fused = (conf.activation == Activation.TANH
                       and conf.gate_activation == Activation.SIGMOID)
        # False runs padded batches through the masked loop, computing every padded step
        # (same numbers; the baseline the padded-epoch benchmark measures packing against).
        self.skip_padding = True

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                state: State | None = None) -> tuple[torch.Tensor, State]:
        n, _, steps = x.shape
        zx = torch.addmm(self.b, x.permute(2, 0, 1).reshape(steps * n, -1), self.W)
        zx = zx.view(steps, n, -1)
        if state is None:
            h0 = c0 = zx.new_zeros(n, self.hidden)
        else:
            h0, c0 = state
        # One step (rnn_time_step): the plain expressions beat the fused loop's buffer set-up.
        fused = self._fused and steps > 1
        if fused and mask is not None and self.skip_padding:
            packed = prefix_sizes(mask)
            if packed is not None:
                order, sizes = packed
                inverse = torch.argsort(order)
                hs, h, c = _GravesLSTMFunction.apply(zx[:, order], self.RW, self.peep,
                                                     h0[order], c0[order], None, sizes)
                return hs[:, inverse].permute(1, 2, 0), (h[inverse], c[inverse])
        m = None if mask is None else mask.t().unsqueeze(-1).to(zx.dtype)
        if fused:
            hs, h, c = _GravesLSTMFunction.apply(zx, self.RW, self.peep, h0, c0, m, None)
        else:
            hs, h, c = graves_lstm_loop(zx, self.RW, self.peep, h0, c0, m, self.conf.activation,
                                        self.conf.gate_activation)
        return hs.permute(1, 2, 0), (h, c)

    def param_table(self) -> dict[str, np.ndarray]:
        """``W [nIn, 4H]``, ``RW [H, 4H+3]`` (peepholes f, o, i last), ``b [1, 4H]``."""
        rw = torch.cat((self.RW, self.peep.t()), dim=1)
        return {"W": as_numpy(self.W), "RW": as_numpy(rw), "b": as_numpy(self.b).reshape(1, -1)}

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
