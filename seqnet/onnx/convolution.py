"""Convolution and subsampling layers on ``[rows, C, H, W]`` (DL4J's truncate mode).

ONNX's Conv takes DL4J's ``W [nOut, nIn, kH, kW]`` as it is; padding is symmetric, and
average pooling counts the padded zeros, as torch's ``avg_pool2d`` does by default.
"""

from __future__ import annotations

from typing import Any

from seqnet.conf.enums import PoolingType
from seqnet.conf.layers import ConvolutionLayer, SubsamplingLayer
from seqnet.onnx.activations import apply_activation
from seqnet.onnx.graph import Dim, ExportContext, Value
from seqnet.onnx.registry import register


def _window(layer: ConvolutionLayer | SubsamplingLayer) -> dict[str, Any]:
    (kh, kw), (sh, sw), (ph, pw) = layer.kernel_size, layer.stride, layer.padding
    return {"kernel_shape": [kh, kw], "strides": [sh, sw], "pads": [ph, pw, ph, pw]}


def _out_size(size: Dim, kernel: int, stride: int, padding: int) -> Dim:
    return (size + 2 * padding - kernel) // stride + 1 if isinstance(size, int) else None


def _out_shape(layer: ConvolutionLayer | SubsamplingLayer, x: Value,
               channels: Dim) -> tuple[Dim, ...]:
    rows, _, height, width = x.shape
    k, s, p = layer.kernel_size, layer.stride, layer.padding
    return (rows, channels, _out_size(height, k[0], s[0], p[0]),
            _out_size(width, k[1], s[1], p[1]))


@register(ConvolutionLayer)
def convert_convolution(ctx: ExportContext, index: int, layer: ConvolutionLayer,
                        x: Value) -> Value:
    g = ctx.graph
    params = ctx.layer_params(index)
    w, b = params["W"], params["b"].reshape(-1)
    y = g.op("Conv", [x.name, g.constant(w, f"W{index}"), g.constant(b, f"b{index}")],
             **_window(layer))
    y = apply_activation(g, y, layer.activation, axis=1)
    return Value(y, "cnn", _out_shape(layer, x, w.shape[0]))


@register(SubsamplingLayer)
def convert_subsampling(ctx: ExportContext, index: int, layer: SubsamplingLayer,
                        x: Value) -> Value:
    if layer.pooling_type == PoolingType.MAX:
        y = ctx.graph.op("MaxPool", [x.name], **_window(layer))
    else:
        y = ctx.graph.op("AveragePool", [x.name], count_include_pad=1, **_window(layer))
    return Value(y, "cnn", _out_shape(layer, x, x.shape[1]))
