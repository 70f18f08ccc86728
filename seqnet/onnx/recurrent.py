"""Recurrent layers: GravesLSTM, LSTM, GravesBidirectionalLSTM, and the LastTimeStep and
Bidirectional wrappers.

# NOTE [ How recurrent layers export ]
# Without a features mask, a layer whose activations ONNX's LSTM knows becomes one LSTM node
# (GravesBidirectionalLSTM: one bidirectional node whose two outputs are summed): DL4J's
# gate blocks [a|f|o|i] reorder to ONNX's [i|o|f|c], W and RW transpose to [4H, nIn] and
# [4H, H], B is [b, 0] (seqnet has one bias), and the peepholes, DL4J's RW columns 4H..4H+2
# = (forget, output, input), become P = [input, output, forget]. Runtimes run that node
# with their fused kernels.
#
# With a features mask seqnet zeroes h and c after every masked step (SPEC section 7): the
# output there is 0, a run of real steps after padding starts from zero state (so a
# left-padded ALIGN_END sequence starts at its first real step as if unpadded), and the
# final state is 0 unless the last step is real. ONNX's LSTM cannot do that: sequence_lens
# describes right padding only and returns Y_h at the last real step, not 0. Shifting each
# example left would cover right, left and both-sides padding (ALIGN_END one-to-many pads
# features on both sides), but not a mask with holes, and would still need the final state
# fixed up. So a masked layer runs as a Scan over time whose body is seqnet's step: the
# same equations, then h and c multiplied by the step's mask. That is exact for every mask
# and every initial state, and is what seqnet itself computes (the fused loop skips padded
# steps instead, with the same result). The input projection x W + b stays one MatMul over
# all steps, outside the Scan. Activations ONNX's LSTM lacks (hard tanh, softmax) take the
# same Scan, without the mask.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from onnx import helper

from seqnet.conf.enums import BidirectionalMode
from seqnet.conf.layers import (
    LSTM,
    BaseLSTM,
    Bidirectional,
    GravesBidirectionalLSTM,
    GravesLSTM,
    LastTimeStep,
)
from seqnet.onnx.activations import apply_activation, lstm_activation
from seqnet.onnx.graph import FLOAT, ExportContext, GraphBuilder, Value, tensor_info
from seqnet.onnx.registry import converter_for, register


@dataclasses.dataclass(frozen=True)
class _Weights:
    """One direction's parameters in DL4J's layout: ``w [nIn, 4H]``, ``rw [H, 4H]``,
    ``b [4H]``, ``peep [3, H]`` (forget, output, input) or ``None``."""

    w: np.ndarray
    rw: np.ndarray
    b: np.ndarray
    peep: np.ndarray | None


def _weights(params: dict[str, np.ndarray], suffix: str = "", prefix: str = "") -> _Weights:
    rw = params[prefix + "RW" + suffix]
    hid = rw.shape[0]
    peep = rw[:, 4 * hid:].T if rw.shape[1] > 4 * hid else None
    return _Weights(params[prefix + "W" + suffix], rw[:, :4 * hid],
                    params[prefix + "b" + suffix].reshape(-1), peep)


def _onnx_gates(m: np.ndarray) -> np.ndarray:
    """Gate blocks on the last axis from DL4J's ``[a|f|o|i]`` to ONNX's ``[i|o|f|c]``.

    >>> _onnx_gates(np.array([1, 2, 3, 4])).tolist()
    [4, 3, 2, 1]
    """
    a, f, o, i = np.split(m, 4, axis=-1)
    return np.concatenate([i, o, f, a], axis=-1)


@register(GravesLSTM)
def convert_graves_lstm(ctx: ExportContext, index: int, layer: GravesLSTM, x: Value) -> Value:
    return _recurrent(ctx, index, layer, x, [_weights(ctx.layer_params(index))])


@register(LSTM)
def convert_lstm(ctx: ExportContext, index: int, layer: LSTM, x: Value) -> Value:
    return _recurrent(ctx, index, layer, x, [_weights(ctx.layer_params(index))])


@register(GravesBidirectionalLSTM)
def convert_graves_bidirectional_lstm(ctx: ExportContext, index: int,
                                      layer: GravesBidirectionalLSTM, x: Value) -> Value:
    params = ctx.layer_params(index)
    return _recurrent(ctx, index, layer, x, [_weights(params, "F"), _weights(params, "B")])


@register(Bidirectional)
def convert_bidirectional(ctx: ExportContext, index: int, layer: Bidirectional,
                          x: Value) -> Value:
    """The wrapped LSTM / GravesLSTM forwards and over reversed time (one bidirectional LSTM
    node, or a forward and a reversed Scan with a mask), combined by the layer's mode."""
    params = ctx.layer_params(index)
    inner = layer.underlying()
    assert isinstance(inner, BaseLSTM)
    return _recurrent(ctx, index, inner, x, [_weights(params, prefix="f"),
                                             _weights(params, prefix="b")], layer.mode)


@register(LastTimeStep)
def convert_last_time_step(ctx: ExportContext, index: int, layer: LastTimeStep,
                           x: Value) -> Value:
    """The wrapped layer, then each example's last real step (``T - 1`` without a mask, or
    when no step is real); the mask ends here, as in seqnet."""
    inner = layer.underlying()
    y = converter_for(inner)(ctx, index, inner, x)
    g = ctx.graph
    if ctx.mask_rows is None:
        last = g.op("Gather", [y.name, g.constant(np.asarray(-1, np.int64), "last")], axis=0,
                    hint="last_step")
    else:
        real = g.op("Cast", [g.op("Greater", [ctx.mask_rows, g.scalar(0.0, "zero")])],
                    to=FLOAT)
        # The last maximum of 0/1: the last real step, or T - 1 when every step is masked.
        step = g.op("ArgMax", [real], axis=1, keepdims=1, select_last_index=1)
        batch_major = g.op("Transpose", [y.name], perm=[1, 0, 2])
        last = g.op("GatherND", [batch_major, step], batch_dims=1, hint="last_step")
    ctx.mask = ctx.mask_rows = None
    return Value(last, "ff", (y.shape[1], y.shape[2]))


def _recurrent(ctx: ExportContext, index: int, layer: BaseLSTM, x: Value,
               directions: list[_Weights],
               mode: BidirectionalMode = BidirectionalMode.ADD) -> Value:
    """A recurrent layer as one LSTM node or as Scans (NOTE [ How recurrent layers export ]);
    two directions are combined by ``mode`` (GravesBidirectionalLSTM adds them)."""
    state = ctx.states.get(index)
    names = (lstm_activation(layer.gate_activation), lstm_activation(layer.activation))
    g = ctx.graph
    if ctx.mask is None and None not in names:
        y, final = _lstm_node(ctx, x, directions, layer, state, mode)
    else:
        runs = [_scan(ctx, x, weights, layer, state if k == 0 else None, reverse=k == 1)
                for k, weights in enumerate(directions)]
        y, final = runs[0]
        if len(runs) == 2:
            y = _combine(g, [y, runs[1][0]], mode)
    if state is not None:
        assert final is not None
        ctx.final_states[index] = final
    hid = directions[0].rw.shape[0]
    width = hid * 2 if len(directions) == 2 and mode == BidirectionalMode.CONCAT else hid
    return Value(y, "rnn", (x.shape[0], x.shape[1], width))


def _combine(g: GraphBuilder, ys: list[str], mode: BidirectionalMode) -> str:
    """Two directions' ``[T, N, H]`` outputs as seqnet combines them."""
    if mode == BidirectionalMode.CONCAT:
        return g.op("Concat", ys, axis=-1, hint="bidirectional_concat")
    if mode == BidirectionalMode.MUL:
        return g.op("Mul", ys, hint="bidirectional_mul")
    total = g.op("Add", ys, hint="bidirectional_sum")
    if mode == BidirectionalMode.AVERAGE:
        return g.op("Mul", [total, g.scalar(0.5, "half")], hint="bidirectional_average")
    return total


def _lstm_node(ctx: ExportContext, x: Value, directions: list[_Weights], layer: BaseLSTM,
               state: tuple[str, str] | None,
               mode: BidirectionalMode) -> tuple[str, tuple[str, str] | None]:
    """One LSTM node; the final (h, c) only when ``state`` is given (stateful export)."""
    g = ctx.graph
    hid = directions[0].rw.shape[0]
    w = np.stack([_onnx_gates(d.w).T for d in directions])                  # [D, 4H, nIn]
    r = np.stack([_onnx_gates(d.rw).T for d in directions])                 # [D, 4H, H]
    b = np.stack([np.concatenate([_onnx_gates(d.b), np.zeros(4 * hid, d.b.dtype)])
                  for d in directions])                                     # [D, 8H]
    inputs = [x.name, g.constant(w, "lstm_W"), g.constant(r, "lstm_R"), g.constant(b, "lstm_B"),
              ""]
    if state is not None:
        inputs += [g.op("Unsqueeze", [s, g.int64s([0], "axes")]) for s in state]
    else:
        inputs += ["", ""]
    peepholes = [d.peep for d in directions if d.peep is not None]
    if peepholes:     # DL4J's (forget, output, input) -> ONNX's [input, output, forget]
        p = np.stack([np.concatenate([q[2], q[1], q[0]]) for q in peepholes])
        inputs.append(g.constant(p, "lstm_P"))
    while inputs[-1] == "":
        inputs.pop()
    gate, act = lstm_activation(layer.gate_activation), lstm_activation(layer.activation)
    assert gate is not None and act is not None
    # ONNX's f (gates), g (block input) and h (cell output), per direction.
    functions = [gate, act, act] * len(directions)
    attrs: dict[str, object] = {"activations": [name for name, _, _ in functions]}
    alphas = [v for _, alpha, _ in functions for v in alpha]
    betas = [v for _, _, beta in functions for v in beta]
    if alphas:
        attrs["activation_alpha"] = alphas
    if betas:
        attrs["activation_beta"] = betas
    outputs = g.op("LSTM", inputs, outputs=3 if state is not None else [g.fresh("lstm")],
                   hint="lstm", hidden_size=hid,
                   direction="forward" if len(directions) == 1 else "bidirectional", **attrs)
    direction_axis = g.int64s([1], "axes")
    if len(directions) == 1:
        out = g.op("Squeeze", [outputs[0], direction_axis])
    elif mode == BidirectionalMode.ADD:
        out = g.op("ReduceSum", [outputs[0], direction_axis], keepdims=0,
                   hint="bidirectional_sum")
    else:         # Y is [T, 2, N, H]: the forward and backward outputs
        halves = g.op("Split", [outputs[0]], outputs=2, axis=1)
        out = _combine(g, [g.op("Squeeze", [h, direction_axis]) for h in halves], mode)
    if state is None:
        return out, None
    zero_axis = g.int64s([0], "axes")
    return out, (g.op("Squeeze", [outputs[1], zero_axis]),
                 g.op("Squeeze", [outputs[2], zero_axis]))


def _scan(ctx: ExportContext, x: Value, weights: _Weights, layer: BaseLSTM,
          state: tuple[str, str] | None, reverse: bool) -> tuple[str, tuple[str, str]]:
    """seqnet's masked step loop as a Scan; ``reverse`` runs it from the last step (the
    backward direction of a bidirectional layer on the flipped sequence and mask)."""
    g = ctx.graph
    hid = weights.rw.shape[0]
    zx = g.op("Add", [g.op("MatMul", [x.name, g.constant(weights.w, "W")]),
                      g.constant(weights.b, "b")], hint="zx")                 # [T, N, 4H]
    h0, c0 = state if state is not None else (ctx.zeros(hid, "h0"), ctx.zeros(hid, "c0"))

    body = g.subgraph()
    h_prev, c_prev, z_x, m = (g.fresh(n) for n in ("h_prev", "c_prev", "zx_t", "mask_t"))

    def act(v: str) -> str:
        return apply_activation(body, v, layer.activation, axis=-1)

    def gate(v: str) -> str:
        return apply_activation(body, v, layer.gate_activation, axis=-1)

    peep = weights.peep

    def peephole(v: str, c: str, row: int) -> str:
        if peep is None:
            return v
        return body.op("Add", [v, body.op("Mul", [c, body.constant(peep[row], "peep")])])

    z = body.op("Add", [z_x, body.op("MatMul", [h_prev, body.constant(weights.rw, "RW")])])
    a, f, o, i = body.op("Split", [z, body.int64s([hid] * 4, "split")], outputs=4, axis=1)
    a = act(a)
    f = gate(peephole(f, c_prev, 0))
    i = gate(peephole(i, c_prev, 2))
    c = body.op("Add", [body.op("Mul", [f, c_prev]), body.op("Mul", [i, a])])
    o = gate(peephole(o, c, 1))
    h = body.op("Mul", [o, act(c)])
    inputs = [tensor_info(h_prev, [None, hid]), tensor_info(c_prev, [None, hid]),
              tensor_info(z_x, [None, 4 * hid])]
    scan_inputs = [zx]
    if ctx.mask is not None:
        h, c = body.op("Mul", [h, m], hint="h"), body.op("Mul", [c, m], hint="c")
        inputs.append(tensor_info(m, [None, 1]))
        scan_inputs.append(ctx.mask)
    h_seq = body.op("Identity", [h], hint="h_seq")
    graph = helper.make_graph(body.nodes, g.fresh("lstm_step"), inputs,
                              [tensor_info(v, [None, hid]) for v in (h, c, h_seq)])
    directions = {"scan_input_directions": [1] * len(scan_inputs),
                  "scan_output_directions": [1]} if reverse else {}
    h_n, c_n, y = g.op("Scan", [h0, c0, *scan_inputs], outputs=3, hint="scan", body=graph,
                       num_scan_inputs=len(scan_inputs), **directions)
    return y, (h_n, c_n)


