"""The parameter shapes a configuration implies, computed without allocating anything.

A model file's arrays are checked against these before the network is built, and a run's
memory is estimated from them, so a configuration edited to absurd sizes is refused instead
of allocated. The shapes are :meth:`MultiLayerNetwork.param_table`'s (DL4J's layout);
``tests/seqnet/test_param_shapes.py`` checks them against the built modules for every layer.

>>> from seqnet.conf.layers import GravesLSTM
>>> layer_param_shapes(GravesLSTM(n_in=3, n_out=5))
{'W': (3, 20), 'RW': (5, 23), 'b': (1, 20)}
"""

from __future__ import annotations

import math
from typing import Any

from seqnet.conf.layers import (
    LSTM,
    Bidirectional,
    ConvolutionLayer,
    DenseLayer,
    GlobalPoolingLayer,
    GravesBidirectionalLSTM,
    GravesLSTM,
    LastTimeStep,
    Layer,
    OutputLayer,
    SubsamplingLayer,
)

__all__ = ["layer_param_shapes", "param_shapes", "parameter_count"]

Shapes = dict[str, tuple[int, ...]]


def _graves(n_in: int, n: int) -> Shapes:
    return {"W": (n_in, 4 * n), "RW": (n, 4 * n + 3), "b": (1, 4 * n)}


def layer_param_shapes(layer: Layer) -> Shapes | None:
    """The ``param_table`` shapes of one layer; ``None`` for a layer type without a rule here
    (the caller then falls back to building it)."""
    if isinstance(layer, LastTimeStep):
        return layer_param_shapes(layer.underlying())
    if isinstance(layer, Bidirectional):
        one = layer_param_shapes(layer.underlying())
        if one is None:
            return None
        return {**{f"f{k}": v for k, v in one.items()}, **{f"b{k}": v for k, v in one.items()}}
    n_in, n_out = layer.n_in, layer.n_out
    if isinstance(layer, (SubsamplingLayer, GlobalPoolingLayer)):
        return {}
    if n_in is None or n_out is None:
        return None
    if isinstance(layer, GravesBidirectionalLSTM):
        one = _graves(n_in, n_out)
        return {**{f"{k}F": v for k, v in one.items()}, **{f"{k}B": v for k, v in one.items()}}
    if isinstance(layer, GravesLSTM):
        return _graves(n_in, n_out)
    if isinstance(layer, LSTM):
        return {"W": (n_in, 4 * n_out), "RW": (n_out, 4 * n_out), "b": (1, 4 * n_out)}
    if isinstance(layer, ConvolutionLayer):
        return {"W": (n_out, n_in, *layer.kernel_size), "b": (1, n_out)}
    if isinstance(layer, (DenseLayer, OutputLayer)):
        return {"W": (n_in, n_out), "b": (1, n_out)}
    return None


def param_shapes(conf: Any) -> Shapes | None:
    """Every ``param_table`` key of ``conf`` (``"0_W"``) and its shape; ``None`` when a layer
    has no rule in :func:`layer_param_shapes`."""
    out: Shapes = {}
    for i, layer in enumerate(conf.layers):
        shapes = layer_param_shapes(layer)
        if shapes is None:
            return None
        out.update({f"{i}_{k}": v for k, v in shapes.items()})
    return out


def parameter_count(conf: Any) -> int | None:
    """How many parameters ``conf`` has (``None`` as for :func:`param_shapes`)."""
    shapes = param_shapes(conf)
    return None if shapes is None else sum(math.prod(s) for s in shapes.values())
