"""The fused Graves LSTM kernel (tanh / sigmoid): a forward loop over preallocated buffers
and a hand-written backward, as one autograd function; and the plain step for time-stepping.

Time-major tensors: ``[T, N, .]``. The numbers are the SPEC equations' (the tests hold the
kernel to :func:`seqnet.nn.graves.reference.graves_lstm_loop` and to finite differences).

>>> zx, rw, peep = torch.randn(5, 2, 12), torch.randn(3, 12), torch.randn(3, 3)
>>> h0 = c0 = torch.zeros(2, 3)
>>> hs, h, c = fused_graves_lstm(zx, rw, peep, h0, c0)
>>> tuple(hs.shape), bool(torch.equal(hs[-1], h))
((5, 2, 3), True)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from seqnet.nn.graves import compiled, cpu
from seqnet.nn.graves.padding import real_rows

# NOTE [ Internal gate order ]
# Inside the fused loop the gate blocks are [f | i | a | o] with the block input's
# pre-activation doubled, instead of DL4J's [a | f | o | i]: the forget and input gates (both
# peeking at c_{t-1}) then take their peepholes in one op, and f, i and a take one sigmoid,
# since tanh(z) = 2 sigmoid(2 z) - 1. Reordering and doubling the (small) weights before the
# input projection gives the loop its layout for free; doubling is exact in floating point,
# and autograd carries the gradients back to the DL4J-ordered parameters.
_INTERNAL_BLOCKS = (1, 3, 0, 2)        # internal block k is DL4J block _INTERNAL_BLOCKS[k]
INTERNAL_PEEPHOLES = [0, 2, 1]         # internal peephole rows (f, i, o) from DL4J's (f, o, i)


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
                      sizes: list[int] | None = None, from_end: bool = False,
                      compiled_loops: bool | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The fused tanh / sigmoid loop on DL4J-ordered ``zx [T, N, 4H]``, ``rw [H, 4H]`` and
    ``peep [3, H]`` (forget, output, input): the same arguments and results as
    :func:`~seqnet.nn.graves.reference.graves_lstm_loop`. Returns all outputs ``[T, N, H]``
    and the final h and c. ``compiled_loops`` picks the C++ step loops or the Python ones
    (by default the compiled ones where :func:`seqnet.nn.graves.compiled.enabled_for` says).

    The module itself passes the inputs and reordered input weights instead, which saves
    a copy of ``zx``.
    """
    if compiled_loops is None:
        compiled_loops = compiled.enabled_for(zx)
    return GravesLSTMFunction.apply(to_internal(zx), None, None, to_internal(rw),
                                    peep[INTERNAL_PEEPHOLES], h0, c0, mask, sizes, from_end,
                                    compiled_loops)


class GravesLSTMFunction(torch.autograd.Function):
    """tanh / sigmoid Graves LSTM over ``T`` steps with buffers preallocated for backward.

    Weights are in the internal layout (NOTE [ Internal gate order ]): ``x [T, N, C]`` is
    projected by ``w [C, 4H]`` and ``b [4H]`` in one matmul for all steps, into the buffer the
    loop then works in; with ``w = b = None``, ``x`` is that projection ``[T, N, 4H]``
    already. ``peep`` is ``[3, H]`` (forget, input, output).
    ``mask`` is ``[T, N, 1]`` or ``None``; at a masked step h and c are zeroed.
    ``sizes`` (instead of a mask) says that at step t exactly the first ``sizes[t]`` examples
    (the last ones, with ``from_end``) are real: padded steps are then skipped instead of
    computed and zeroed (see NOTE [ Skipping padded steps ]). ``compiled_loops`` runs the
    step loops of forward and backward in C++ (:mod:`seqnet.nn.graves.compiled`; the same
    ATen calls in the same order, so the same numbers) instead of Python.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, w: torch.Tensor | None, b: torch.Tensor | None,
                rw: torch.Tensor, peep: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor,
                mask: torch.Tensor | None, sizes: list[int] | None, from_end: bool = False,
                compiled_loops: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        steps, n = x.shape[:2]
        hid = rw.shape[0]
        g = 4 * hid
        # The projection is the loop's work buffer: gates[t] becomes f, i, a, o of step t.
        if w is None or b is None:     # the caller projected x already (then b is None too)
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
        ctx.buffers = (gates, c_raw_full, tanh_c, cs_full, hs_full)
        ctx.sizes, ctx.from_end, ctx.compiled_loops = sizes, from_end, compiled_loops
        ctx.save_for_backward(x if w is not None else None, w, rw, peep, mask)
        if compiled_loops:
            packed, dense = cpu.step_weights(rw, n, steps)
            compiled.ops().forward_steps(gates, hs_full, c_raw_full, cs_full, tanh_c, peep,
                                         packed, dense, mask, sizes or [], from_end)
        else:
            _forward_steps(gates, hs_full, c_raw_full, cs_full, tanh_c, peep, rw, mask, sizes,
                           from_end)
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
        packed, dense = cpu.step_weights(rw.t(), n, steps)
        step_mm = cpu.step_product(packed, dense)
        # NOTE [ Backward in chunks of steps ] The backward walks back through chunks of a
        # few megabytes of steps: each chunk's factors are computed at once (vectorised), the
        # step loop turns them into dz in place, and the weight gradients take the chunk while
        # it is still in cache. Without an input projection (w is None) dz itself is the
        # result, so the chunks are views of one full buffer.
        span = max(1, min(steps, CHUNK_BYTES // max(1, n * g * gates.element_size())))
        # Without a projection dz is the result (one full buffer), with one a chunk's work area.
        dz_full = torch.empty_like(gates) if w is None else gates.new_empty(span, n, g)
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
            dz = dz_full[lo:hi] if w is None else dz_full[:length]
            _backward_factors(gates[lo:hi], cs_full[lo:hi], tanh_c[lo:hi], hs_full[lo + 1:hi + 1],
                              peep, dz, carry[0, :length], carry[1, :length])
            chunk_mask = None if mask is None else mask[lo:hi]
            chunk_sizes = None if sizes is None else sizes[lo:hi]
            if ctx.compiled_loops:
                dh, dc = compiled.ops().backward_steps(
                    dz, carry[0, :length], carry[1, :length], d_hs[lo:hi], chunk_mask,
                    chunk_sizes or [], ctx.from_end, packed, dense, dh, dc)
            else:
                dh, dc = _backward_steps(dz, carry[0, :length], carry[1, :length], d_hs[lo:hi],
                                         chunk_mask, chunk_sizes, ctx.from_end, step_mm, dh,
                                         dc, dc_u)
            dz2 = dz.view(-1, g)
            d_rw += cpu.weight_grad(hs_full[lo:hi].reshape(-1, hid), dz2)
            d_peep[:2] += (dz[..., :2 * hid].view(length, n, 2, hid)
                           * cs_full[lo:hi].unsqueeze(2)).sum((0, 1))
            d_peep[2] += (dz[..., 3 * hid:] * c_raw_full[lo + 1:hi + 1]).sum((0, 1))
            if d_x is not None and w is not None:
                torch.mm(dz2, w.t(), out=d_x[lo:hi].view(-1, x.shape[-1]))
            if d_w is not None:
                d_w += cpu.weight_grad(x[lo:hi].reshape(length * n, -1), dz2)
            if d_b is not None:
                d_b += dz2.sum(0)
        if w is None:
            return dz_full, None, None, d_rw, d_peep, dh, dc, None, None, None, None
        return d_x, d_w, d_b, d_rw, d_peep, dh, dc, None, None, None, None


def _forward_steps(gates: torch.Tensor, hs_full: torch.Tensor, c_raw_full: torch.Tensor,
                   cs_full: torch.Tensor, tanh_c: torch.Tensor, peep: torch.Tensor,
                   rw: torch.Tensor, mask: torch.Tensor | None, sizes: list[int] | None,
                   from_end: bool) -> None:
    """The forward step loop in Python, in place on the buffers (the layouts written out in
    ``csrc/graves_lstm.cpp``, whose ``forward_steps`` makes the same calls)."""
    steps, n, g = gates.shape
    hid = g // 4
    p_fi, p_o = peep[:2], peep[2]
    step_mm = cpu.step_matmul(rw, n, steps)
    tanh_into = cpu.tanh_into(gates.device)
    minus_one = gates.new_full((), -1.0)
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
            keep, drop = real_rows(sizes[t], n, from_end)
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


#: About how many bytes of gates one backward chunk holds (NOTE [ Backward in chunks of
#: steps ]); a test lowers it to make chunks of a few steps.
CHUNK_BYTES = 4 << 20


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
            keep, drop = real_rows(sizes[t], n, from_end)
            dc[drop] = 0.0
            dh_b, dc_b, dcu, dcdh, dcdc, dzo, dzfia = (
                v[keep] for v in (dh_b, dc_b, dcu, dcdh, dcdc, dzo, dzfia))
        dzo.mul_(dh_b)
        dc_b.addcmul_(dh_b, dcdh)
        dzfia.mul_(dcu)
        dc_b.mul_(dcdc)
        dh = step_mm(dz_s[t])
    return dh, dc



def graves_cell_step(z: torch.Tensor, peep: torch.Tensor,
                     c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One tanh / sigmoid step from ``z = x W + h_{t-1} RW + b`` ``[N, 4H]`` (DL4J order) and
    ``c = c_{t-1}``: the new h and c.

    The SPEC equations as a handful of tensor ops, for time-stepping one step at a time
    (tanh as in NOTE [ tanh on CPU ]); works under autograd too.
    """
    a, f, o, i = z.chunk(4, dim=1)
    a = cpu.tanh(a)
    f = torch.addcmul(f, c, peep[0]).sigmoid_()
    i = torch.addcmul(i, c, peep[2]).sigmoid_()
    c = torch.addcmul(f * c, i, a)
    o = torch.addcmul(o, c, peep[1]).sigmoid_()
    return o * cpu.tanh(c), c

