"""The Graves (peephole) LSTM: a fused recurrent loop with a hand-written backward.

Gate blocks are stored in DL4J's order ``[a | f | o | i]`` (block input, forget, output,
input gate), so ``param_table`` needs no reordering; the fused loop works in its own order
(NOTE [ Internal gate order ]). Time-major tensors inside: ``[T, N, .]``. On CPU in float32
the recurrent products run on oneDNN with packed weights, tanh runs as a sigmoid, and padded
steps of right- or left-padded batches are skipped; the numbers are the SPEC equations' (the
tests hold the fused loop to the step-by-step reference and to finite differences).

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
from seqnet.conf.layers import BaseLSTM
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
        packed_weight = _pack(weight, rows)
        return lambda x: _packed_product(x, packed_weight)
    dense = weight.contiguous()
    return lambda x: torch.mm(x, dense)


def _pack(weight: torch.Tensor, rows: int) -> torch.Tensor:
    """``weight [K, M]`` reordered for oneDNN products with ``rows``-row left operands."""
    return torch.ops.mkldnn._reorder_linear_weight(weight.t().contiguous(), rows)


def _packed_product(x: torch.Tensor, packed_weight: torch.Tensor) -> torch.Tensor:
    return _PACKED_LINEAR(x, packed_weight, None, "none", [], "")


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


def _tanh_sigmoid(src: torch.Tensor, out: torch.Tensor, minus_one: torch.Tensor) -> torch.Tensor:
    """``tanh(src)`` written into ``out`` (which may be ``src``) as ``2 sigmoid(2 src) - 1``;
    ``minus_one`` is a 0-d tensor of -1 (``-1 + 2 s`` in one op is ``2 s - 1`` exactly).

    # NOTE [ tanh on CPU ]
    # torch's CPU tanh goes through MKL's vector maths, which is several times slower than
    # sigmoid and opens a parallel region for as few as 2048 values: on the recurrent loop's
    # [N, H] blocks it costs more than the recurrent product when the cores are busy. The
    # identity tanh(x) = 2 sigmoid(2x) - 1 on sigmoid's own vectorised kernel is exact in
    # real arithmetic and within one rounding of 1.0 (absolute) in floating point.

    >>> x = torch.linspace(-20, 20, 9, dtype=torch.float64)
    >>> y = _tanh_sigmoid(x, torch.empty_like(x), x.new_full((), -1.0))
    >>> bool((y - torch.tanh(x)).abs().max() < 1e-15)
    True
    """
    return torch.add(minus_one, torch.mul(src, 2.0, out=out).sigmoid_(), alpha=2.0, out=out)


def _tanh_torch(src: torch.Tensor, out: torch.Tensor, minus_one: torch.Tensor) -> torch.Tensor:
    return torch.tanh(src, out=out)


def _tanh_into(device: torch.device
               ) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """The faster tanh for the recurrent loop on ``device`` (see NOTE [ tanh on CPU ])."""
    return _tanh_sigmoid if device.type == "cpu" else _tanh_torch


# NOTE [ Internal gate order ]
# Inside the fused loop the gate blocks are [f | i | a | o] with the block input's
# pre-activation doubled, instead of DL4J's [a | f | o | i]: the forget and input gates (both
# peeking at c_{t-1}) then take their peepholes in one op, and f, i and a take one sigmoid,
# since tanh(z) = 2 sigmoid(2 z) - 1. Reordering and doubling the (small) weights before the
# input projection gives the loop its layout for free; doubling is exact in floating point,
# and autograd carries the gradients back to the DL4J-ordered parameters.
_INTERNAL_BLOCKS = (1, 3, 0, 2)        # internal block k is DL4J block _INTERNAL_BLOCKS[k]
_INTERNAL_PEEPHOLES = [0, 2, 1]        # internal peephole rows (f, i, o) from DL4J's (f, o, i)


def to_internal(t: torch.Tensor) -> torch.Tensor:
    """Gate blocks on the last dimension from DL4J's ``[a|f|o|i]`` to the fused loop's
    ``[f|i|2a|o]`` (see NOTE [ Internal gate order ]).

    >>> to_internal(torch.tensor([1., 2., 3., 4.]))
    tensor([2., 4., 2., 3.])
    """
    blocks = t.chunk(4, dim=-1)
    f, i, a, o = (blocks[k] for k in _INTERNAL_BLOCKS)
    return torch.cat((f, i, a * 2.0, o), dim=-1)


def fused_graves_lstm(zx: torch.Tensor, rw: torch.Tensor, peep: torch.Tensor, h0: torch.Tensor,
                      c0: torch.Tensor, mask: torch.Tensor | None = None,
                      sizes: list[int] | None = None, from_end: bool = False
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The fused tanh / sigmoid loop on DL4J-ordered ``zx [T, N, 4H]``, ``rw [H, 4H]`` and
    ``peep [3, H]`` (forget, output, input): the same arguments and results as
    :func:`graves_lstm_loop`. Returns all outputs ``[T, N, H]`` and the final h and c.

    The module itself passes the inputs and reordered input weights instead, which saves
    a copy of ``zx``.
    """
    return _GravesLSTMFunction.apply(to_internal(zx), None, None, to_internal(rw),
                                     peep[_INTERNAL_PEEPHOLES], h0, c0, mask, sizes, from_end)


class _GravesLSTMFunction(torch.autograd.Function):
    """tanh / sigmoid Graves LSTM over ``T`` steps with buffers preallocated for backward.

    Weights are in the internal layout (NOTE [ Internal gate order ]): ``x [T, N, C]`` is
    projected by ``w [C, 4H]`` and ``b [4H]`` in one matmul for all steps, into the buffer the
    loop then works in; with ``w = b = None``, ``x`` is that projection ``[T, N, 4H]``
    already. ``peep`` is ``[3, H]`` (forget, input, output).
    ``mask`` is ``[T, N, 1]`` or ``None``; at a masked step h and c are zeroed.
    ``sizes`` (instead of a mask) says that at step t exactly the first ``sizes[t]`` examples
    (the last ones, with ``from_end``) are real: padded steps are then skipped instead of
    computed and zeroed (see NOTE [ Skipping padded steps ]).
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, w: torch.Tensor | None, b: torch.Tensor | None,
                rw: torch.Tensor, peep: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor,
                mask: torch.Tensor | None, sizes: list[int] | None, from_end: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        steps, n = x.shape[:2]
        hid = rw.shape[0]
        g = 4 * hid
        p_fi, p_o = peep[:2], peep[2]
        # The projection is the loop's work buffer: gates[t] becomes f, i, a, o of step t.
        if w is None:
            gates = x.clone(memory_format=torch.contiguous_format)
        else:
            gates = torch.addmm(b, x.reshape(steps * n, -1), w).view(steps, n, g)
        # With sizes, rows of skipped steps must read as 0 (outputs, state, backward sums).
        alloc = x.new_zeros if sizes is not None else x.new_empty
        tanh_c = alloc(steps, n, hid)
        # Row 0 of these holds the initial state, so "previous step" is a view, not a copy.
        hs_full = alloc(steps + 1, n, hid)
        c_raw_full = alloc(steps + 1, n, hid)   # cell before masking
        cs_full = x.new_empty(steps + 1, n, hid) if mask is not None else c_raw_full
        hs_full[0] = h0
        cs_full[0] = c0
        step_mm = _step_matmul(rw, n, steps)
        tanh_into = _tanh_into(x.device)
        minus_one = x.new_full((), -1.0)
        # Per-step views made once (unbind): indexing a tensor in the loop costs more than
        # the arithmetic at small sizes.
        f_all, i_all, a_all, o_all = gates.split(hid, dim=-1)
        z_s, tanh_s = gates.unbind(0), tanh_c.unbind(0)
        fi_s = gates[..., :2 * hid].view(steps, n, 2, hid).unbind(0)
        fia_s = gates[..., :3 * hid].unbind(0)
        f_s, i_s, a_s, o_s = (v.unbind(0) for v in (f_all, i_all, a_all, o_all))
        h_s, c_s, c_raw_s = hs_full.unbind(0), cs_full.unbind(0), c_raw_full.unbind(0)
        cu_s = cs_full.unsqueeze(2).unbind(0)
        for t in range(steps):
            h, c, cu, z, fi, fia = h_s[t], c_s[t], cu_s[t], z_s[t], fi_s[t], fia_s[t]
            f, i, a, o, tc = f_s[t], i_s[t], a_s[t], o_s[t], tanh_s[t]
            cn, h_new = c_raw_s[t + 1], h_s[t + 1]
            if sizes is not None and sizes[t] < n:
                keep, drop = _real_rows(sizes[t], n, from_end)
                z[drop] = 0.0
                h, c, cu, z, fi, fia, f, i, a, o, tc, cn, h_new = (
                    v[keep] for v in (h, c, cu, z, fi, fia, f, i, a, o, tc, cn, h_new))
            z.add_(step_mm(h))
            fi.addcmul_(cu, p_fi)                # peepholes of f and i on c_{t-1}
            fia.sigmoid_()
            torch.add(minus_one, a, alpha=2.0, out=a)   # tanh of the block input: 2 s - 1
            torch.mul(f, c, out=cn).addcmul_(i, a)
            o.addcmul_(cn, p_o).sigmoid_()
            torch.mul(o, tanh_into(cn, tc, minus_one), out=h_new)
            if mask is not None:
                h_new.mul_(mask[t])
                torch.mul(cn, mask[t], out=c_s[t + 1])
        ctx.buffers = (gates, c_raw_full, tanh_c, cs_full, hs_full)
        ctx.sizes, ctx.from_end = sizes, from_end
        ctx.save_for_backward(x if w is not None else None, w, rw, peep, mask)
        return hs_full[1:], hs_full[steps].clone(), cs_full[steps].clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, d_hs: torch.Tensor, d_h: torch.Tensor, d_c: torch.Tensor
                 ) -> tuple[torch.Tensor | None, ...]:
        x, w, rw, peep, mask = ctx.saved_tensors
        gates, c_raw_full, tanh_c, cs_full, hs_full = ctx.buffers
        sizes = ctx.sizes
        steps, n, g = gates.shape
        hid = g // 4
        step_mm = _step_matmul(rw.t(), n, steps)
        # NOTE [ Backward in chunks of steps ] The backward walks back through chunks of a
        # few megabytes of steps: each chunk's factors are computed at once (vectorised), the
        # step loop turns them into dz in place, and the weight gradients take the chunk while
        # it is still in cache. Without an input projection (w is None) dz itself is the
        # result, so the chunks are views of one full buffer.
        span = max(1, min(steps, _CHUNK_BYTES // max(1, n * g * gates.element_size())))
        dz_full = torch.empty_like(gates) if w is None else None
        work = gates.new_empty(span, n, g) if w is not None else None
        carry = gates.new_empty(2, span, n, hid)      # dc_dh and dc_dc of a chunk
        need_x, need_w, need_b = ctx.needs_input_grad[:3] if w is not None else (False,) * 3
        d_x = x.new_empty(x.shape) if need_x else None
        d_rw = rw.new_zeros(rw.shape)
        d_w = w.new_zeros(w.shape) if need_w else None
        d_b = rw.new_zeros(g) if need_b else None
        d_peep = peep.new_zeros(peep.shape)
        dh = d_h.clone()
        dc = d_c.clone()
        dc_u = dc.unsqueeze(1)              # a view: follows dc's in-place updates
        for hi in range(steps, 0, -span):
            lo = max(0, hi - span)
            length = hi - lo
            dz = dz_full[lo:hi] if dz_full is not None else work[:length]
            _backward_factors(gates[lo:hi], cs_full[lo:hi], tanh_c[lo:hi], hs_full[lo + 1:hi + 1],
                              peep, dz, carry[0, :length], carry[1, :length])
            dh, dc = _backward_steps(dz, carry[0, :length], carry[1, :length], d_hs[lo:hi],
                                     None if mask is None else mask[lo:hi],
                                     None if sizes is None else sizes[lo:hi],
                                     ctx.from_end, step_mm, dh, dc, dc_u)
            dz2 = dz.view(-1, g)
            d_rw += _weight_grad(hs_full[lo:hi].reshape(-1, hid), dz2)
            d_peep[:2] += (dz[..., :2 * hid].view(length, n, 2, hid)
                           * cs_full[lo:hi].unsqueeze(2)).sum((0, 1))
            d_peep[2] += (dz[..., 3 * hid:] * c_raw_full[lo + 1:hi + 1]).sum((0, 1))
            if need_x:
                torch.mm(dz2, w.t(), out=d_x[lo:hi].view(-1, x.shape[-1]))
            if need_w:
                d_w += _weight_grad(x[lo:hi].reshape(length * n, -1), dz2)
            if need_b:
                d_b += dz2.sum(0)
        if w is None:
            return dz_full, None, None, d_rw, d_peep, dh, dc, None, None, None
        return d_x, d_w, d_b, d_rw, d_peep, dh, dc, None, None, None


_CHUNK_BYTES = 4 << 20


def _real_rows(real: int, n: int, from_end: bool) -> tuple[slice, slice]:
    """The rows of the ``real`` examples of a step and the other rows: the first ``real``
    rows, or with ``from_end`` the last ones."""
    if from_end:
        return slice(n - real, n), slice(0, n - real)
    return slice(0, real), slice(real, n)


def _backward_factors(gates: torch.Tensor, c_prev: torch.Tensor, tanh_c: torch.Tensor,
                      hs: torch.Tensor, peep: torch.Tensor, factors: torch.Tensor,
                      dc_dh: torch.Tensor, dc_dc: torch.Tensor) -> None:
    """The per-step products that do not involve the carried gradients, for a chunk of
    steps at once, written into ``factors`` (d z / d c or d h per gate) and ``dc_dh``,
    ``dc_dc``.

    # NOTE [ Backward factors ] Whatever can be computed for many steps at once is, so the
    # step loop runs 5 small ops a step.
    """
    hid = gates.shape[-1] // 4
    p_f, p_i, p_o = peep[0], peep[1], peep[2]
    f_all, i_all, a_all, o_all = gates.split(hid, dim=-1)
    fac_f, fac_i, fac_a, fac_o = factors.split(hid, dim=-1)
    # sigmoid' = s - s s (one addcmul), for f and i at once (adjacent blocks).
    fi_all = gates[..., :2 * hid]
    torch.addcmul(fi_all, fi_all, fi_all, value=-1.0, out=factors[..., :2 * hid])
    fac_f.mul_(c_prev)                                      # d z_f / d c
    fac_i.mul_(a_all)                                       # d z_i / d c
    torch.mul(a_all, i_all, out=fac_a)
    torch.addcmul(i_all, fac_a, a_all, value=-1.0, out=fac_a).mul_(0.5)  # d (2 z_a) / d c
    torch.addcmul(o_all, o_all, o_all, value=-1.0, out=fac_o).mul_(tanh_c)  # d z_o / d h
    # dc += dh * dc_dh with dc_dh = (1 - tanh^2) o + (d z_o / d h) p_o (written as
    # o - h tanh: wherever hs is masked or skipped, dh is 0 in the loop), and
    # dc_prev = dc * dc_dc with dc_dc = f + (d z_f / d c) p_f + (d z_i / d c) p_i.
    torch.addcmul(o_all, hs, tanh_c, value=-1.0, out=dc_dh).addcmul_(fac_o, p_o)
    torch.addcmul(f_all, fac_f, p_f, out=dc_dc).addcmul_(fac_i, p_i)


def _backward_steps(factors: torch.Tensor, dc_dh: torch.Tensor, dc_dc: torch.Tensor,
                    d_hs: torch.Tensor, mask: torch.Tensor | None, sizes: list[int] | None,
                    from_end: bool,
                    step_mm: Callable[[torch.Tensor], torch.Tensor], dh: torch.Tensor,
                    dc: torch.Tensor, dc_u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Back through a chunk's steps, last first: ``factors`` become dz in place (dz_t =
    factor_t * carried gradient). Rows the loop skips keep their factor, which is 0 there:
    sizes-skipped rows have zero gates; masked rows are multiplied by a zeroed dh and dc.
    ``dc`` is updated in place (``dc_u`` is its ``unsqueeze(1)`` view); returns dh, dc."""
    steps, n, g = factors.shape
    hid = g // 4
    dz_s, dzo_s = factors.unbind(0), factors[..., 3 * hid:].unbind(0)
    dzfia_s = factors[..., :3 * hid].view(steps, n, 3, hid).unbind(0)
    dcdh_s, dcdc_s = dc_dh.unbind(0), dc_dc.unbind(0)
    for t in range(steps - 1, -1, -1):
        dh += d_hs[t]
        if mask is not None:
            dh.mul_(mask[t])
            dc.mul_(mask[t])
        dh_b, dc_b, dcu, dcdh, dcdc, dzo, dzfia = (
            dh, dc, dc_u, dcdh_s[t], dcdc_s[t], dzo_s[t], dzfia_s[t])
        if sizes is not None and sizes[t] < n:
            keep, drop = _real_rows(sizes[t], n, from_end)
            dc[drop] = 0.0
            dh_b, dc_b, dcu, dcdh, dcdc, dzo, dzfia = (
                v[keep] for v in (dh_b, dc_b, dcu, dcdh, dcdc, dzo, dzfia))
        dzo.mul_(dh_b)
        dc_b.addcmul_(dh_b, dcdh)
        dzfia.mul_(dcu)
        dc_b.mul_(dcdc)
        dh = step_mm(dz_s[t])
    return dh, dc


# NOTE [ Skipping padded steps ]
# A right-padded (ALIGN_START) or left-padded (ALIGN_END) batch, sorted by length (longest
# first), has at every step a prefix of real examples: the first sizes[t]. The fused loop then
# runs each step on that prefix only, as packed sequences do, and the skipped rows read as
# zero h and c: exactly what the masked loop computes, without the arithmetic on padding.
# A batch already in order needs no reordering: longest first as it is, shortest first (as
# bucket_by_length makes them) with the real examples at the end of each step.


def prefix_sizes(mask: torch.Tensor) -> tuple[torch.Tensor | None, list[int], bool] | None:
    """For a right- or left-padded ``[N, T]`` mask: the order that sorts examples longest
    first (``None`` when no reordering is needed), the number of real examples at each step,
    and whether those are the last rows (a batch sorted shortest first); else ``None``.

    >>> prefix_sizes(torch.tensor([[1., 0., 0.], [1., 1., 1.], [1., 1., 0.]]))
    (tensor([1, 2, 0]), [3, 2, 1], False)
    >>> prefix_sizes(torch.tensor([[1., 1., 1.], [1., 1., 0.]]))
    (None, [2, 2, 1], False)
    >>> prefix_sizes(torch.tensor([[0., 0., 1.], [0., 1., 1.]]))
    (None, [0, 1, 2], True)
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
    sizes = (lengths.unsqueeze(0) > active_after.unsqueeze(1)).sum(dim=1).tolist()
    steps_down = lengths[1:] - lengths[:-1]
    if bool((steps_down <= 0).all()):
        return None, sizes, False
    if bool((steps_down >= 0).all()):
        return None, sizes, True
    return torch.argsort(lengths, descending=True, stable=True), sizes, False


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


def graves_cell_step(z: torch.Tensor, peep: torch.Tensor,
                     c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One tanh / sigmoid step from ``z = x W + h_{t-1} RW + b`` ``[N, 4H]`` (DL4J order) and
    ``c = c_{t-1}``: the new h and c.

    The SPEC equations as a handful of tensor ops, for time-stepping one step at a time
    (tanh as in NOTE [ tanh on CPU ]); works under autograd too.
    """
    a, f, o, i = z.chunk(4, dim=1)
    a = _tanh(a)
    f = torch.addcmul(f, c, peep[0]).sigmoid_()
    i = torch.addcmul(i, c, peep[2]).sigmoid_()
    c = torch.addcmul(f * c, i, a)
    o = torch.addcmul(o, c, peep[1]).sigmoid_()
    return o * _tanh(c), c


def _tanh(x: torch.Tensor) -> torch.Tensor:
    """tanh as NOTE [ tanh on CPU ] says where no gradient is recorded (in-place ops)."""
    if x.device.type == "cpu" and not (x.requires_grad and torch.is_grad_enabled()):
        return _tanh_sigmoid(x, torch.empty_like(x), x.new_full((), -1.0))
    return torch.tanh(x)


class GravesLSTMModule(nn.Module):
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
        self._fused = (conf.activation == Activation.TANH
                       and conf.gate_activation == Activation.SIGMOID)
        # False runs padded batches through the masked loop, computing every padded step
        # (same numbers; the baseline the padded-epoch benchmark measures packing against).
        self.skip_padding = True
        self._packed_rw: tuple[tuple[int, int, int], torch.Tensor] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # The packed weights are an opaque oneDNN tensor (no storage to pickle or copy), and
        # only a cache: copies and pickles start without it.
        state = self.__dict__.copy()
        state["_packed_rw"] = None
        return state

    def _time_step_rw(self, rows: int) -> torch.Tensor | None:
        """RW packed for oneDNN and kept from one time step to the next, where no gradient
        is recorded; packed again whenever RW changes (its version counter) or moves.

        # NOTE [ Packed weights across time steps ]
        # Time-stepping (sampling, streaming prediction) calls one step at a time with the
        # same weights, so the oneDNN reorder of NOTE [ Packed weights for the recurrent
        # product ] is paid once, not per call.
        """
        if torch.is_grad_enabled() or not _onednn(self.RW):
            return None
        key = (self.RW.data_ptr(), self.RW._version, rows)
        if self._packed_rw is None or self._packed_rw[0] != key:
            self._packed_rw = (key, _pack(self.RW.detach(), rows))
        return self._packed_rw[1]

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                state: State | None = None) -> tuple[torch.Tensor, State]:
        n, _, steps = x.shape
        xt = x.permute(2, 0, 1)                                  # [T, N, C]
        if state is None:
            h0 = c0 = x.new_zeros(n, self.hidden)
        else:
            h0, c0 = state
        if not self._fused:
            zx = torch.addmm(self.b, xt.reshape(steps * n, -1), self.W).view(steps, n, -1)
            m = None if mask is None else mask.t().unsqueeze(-1).to(zx.dtype)
            hs, h, c = graves_lstm_loop(zx, self.RW, self.peep, h0, c0, m, self.conf.activation,
                                        self.conf.gate_activation)
            return hs.permute(1, 2, 0), (h, c)
        if steps == 1:
            # One step (rnn_time_step): no loop set-up, no weight reordering.
            z = torch.addmm(self.b, xt[0], self.W)
            packed_rw = self._time_step_rw(n)
            if packed_rw is not None:
                z = z.add_(_packed_product(h0, packed_rw))
            else:
                z = z.addmm_(h0, self.RW)
            h, c = graves_cell_step(z, self.peep, c0)
            if mask is not None:
                h, c = h * mask, c * mask
            return h.unsqueeze(2), (h, c)
        w, b, rw = to_internal(self.W), to_internal(self.b), to_internal(self.RW)
        peep = self.peep[_INTERNAL_PEEPHOLES]
        if mask is not None and self.skip_padding:
            packed = prefix_sizes(mask)
            if packed is not None:
                order, sizes, from_end = packed
                if order is None:
                    hs, h, c = _GravesLSTMFunction.apply(xt, w, b, rw, peep, h0, c0, None,
                                                         sizes, from_end)
                    return hs.permute(1, 2, 0), (h, c)
                inverse = torch.argsort(order)
                hs, h, c = _GravesLSTMFunction.apply(xt[:, order], w, b, rw, peep, h0[order],
                                                     c0[order], None, sizes, False)
                return hs[:, inverse].permute(1, 2, 0), (h[inverse], c[inverse])
        m = None if mask is None else mask.t().unsqueeze(-1).to(x.dtype)
        hs, h, c = _GravesLSTMFunction.apply(xt, w, b, rw, peep, h0, c0, m, None)
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
