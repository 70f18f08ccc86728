"""Dense and output layers: ``act(x W + b)`` at every row or every step.

A sequence (stored time-major ``[T, N, C]``) is multiplied along its channel axis, so an
``RnnOutputLayer`` needs no reshape; softmax runs over the channels.
"""

from __future__ import annotations

from seqnet.conf.layers import DenseLayer, Layer, OutputLayer, RnnOutputLayer
from seqnet.onnx.activations import apply_activation
from seqnet.onnx.graph import ExportContext, Value
from seqnet.onnx.registry import register


@register(DenseLayer, OutputLayer, RnnOutputLayer)
def convert_dense(ctx: ExportContext, index: int, layer: Layer, x: Value) -> Value:
    g = ctx.graph
    params = ctx.layer_params(index)
    w, b = params["W"], params["b"].reshape(-1)
    pre = g.op("Add", [g.op("MatMul", [x.name, g.constant(w, f"W{index}")]),
                       g.constant(b, f"b{index}")], hint=f"preout{index}")
    y = apply_activation(g, pre, layer.activation, axis=-1)
    return Value(y, x.kind, (*x.shape[:-1], w.shape[1]))
