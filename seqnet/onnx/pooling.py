"""GlobalPoolingLayer: the time axis reduced as seqnet does it, honouring the mask.

The sequence is time-major ``[T, N, C]`` here; with a mask ``[T, N, 1]`` SUM is ``sum x m``,
AVG ``sum x m / sum m``, MAX the maximum over real steps (masked steps set to -inf), PNORM
``(sum |x m|^p)^(1/p)``. The output is one ``[N, C]`` row per sequence, and no mask follows.
"""

from __future__ import annotations

import numpy as np

from seqnet.conf.enums import PoolingType
from seqnet.conf.layers import GlobalPoolingLayer
from seqnet.onnx.graph import ExportContext, Value
from seqnet.onnx.registry import register


@register(GlobalPoolingLayer)
def convert_global_pooling(ctx: ExportContext, index: int, layer: GlobalPoolingLayer,
                           x: Value) -> Value:
    g = ctx.graph
    time = g.int64s([0], "time_axis")
    kind, mask, v = layer.pooling_type, ctx.mask, x.name
    if kind == PoolingType.MAX:
        if mask is not None:
            real = g.op("Greater", [mask, g.scalar(0.0, "zero")])
            v = g.op("Where", [real, v, g.constant(np.array(-np.inf, np.float32), "minus_inf")])
        y = g.op("ReduceMax", [v], axes=[0], keepdims=0, hint=f"max_pool{index}")
    else:
        if mask is not None:
            v = g.op("Mul", [v, mask])
        if kind == PoolingType.PNORM:
            p = float(layer.pnorm)
            v = g.op("Pow", [g.op("Abs", [v]), g.scalar(p, "p")])
        y = g.op("ReduceSum", [v, time], keepdims=0, hint=f"sum_pool{index}")
        if kind == PoolingType.AVG:
            count = (g.op("ReduceSum", [mask, time], keepdims=0) if mask is not None else
                     g.op("Cast", [g.op("Shape", [x.name], start=0, end=1)], to=1))
            y = g.op("Div", [y, count], hint=f"avg_pool{index}")
        elif kind == PoolingType.PNORM:
            y = g.op("Pow", [y, g.scalar(1.0 / float(layer.pnorm), "inverse_p")],
                     hint=f"pnorm_pool{index}")
    ctx.mask = ctx.mask_rows = None
    return Value(y, "ff", (x.shape[1], x.shape[2]))
