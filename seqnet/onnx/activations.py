"""seqnet's activations as ONNX: standalone nodes, and the names ONNX's ``LSTM`` takes.

Each matches :mod:`seqnet.nn.activations` exactly: hard sigmoid ``clip(0.2 x + 0.5, 0, 1)``,
hard tanh ``clip(x, -1, 1)``, leaky relu slope 0.01, elu alpha 1, softmax over the channels.

>>> from seqnet.onnx.graph import GraphBuilder
>>> g = GraphBuilder()
>>> apply_activation(g, "x", Activation.LEAKYRELU, axis=-1)
'leakyrelu_0'
>>> g.nodes[0].attribute[0].f
0.009999999776482582
>>> lstm_activation(Activation.HARDSIGMOID)
('HardSigmoid', [0.2], [0.5])
>>> lstm_activation(Activation.HARDTANH) is None
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from seqnet.conf.enums import Activation
from seqnet.onnx.graph import GraphBuilder
from seqnet.onnx.registry import UnsupportedError

_Emit = Callable[[GraphBuilder, str, int], str]


def _simple(op_type: str, **attrs: Any) -> _Emit:
    def emit(g: GraphBuilder, x: str, axis: int) -> str:
        return g.op(op_type, [x], **attrs)
    return emit


def _hard_tanh(g: GraphBuilder, x: str, axis: int) -> str:
    return g.op("Clip", [x, g.scalar(-1.0, "minus_one"), g.scalar(1.0, "one")], hint="hardtanh")


def _softmax(g: GraphBuilder, x: str, axis: int) -> str:
    return g.op("Softmax", [x], axis=axis)


def _identity(g: GraphBuilder, x: str, axis: int) -> str:
    return x


_NODES: dict[Activation, _Emit] = {
    Activation.TANH: _simple("Tanh"),
    Activation.SIGMOID: _simple("Sigmoid"),
    Activation.HARDSIGMOID: _simple("HardSigmoid", alpha=0.2, beta=0.5),
    Activation.HARDTANH: _hard_tanh,
    Activation.RELU: _simple("Relu"),
    Activation.LEAKYRELU: _simple("LeakyRelu", alpha=0.01),
    Activation.ELU: _simple("Elu", alpha=1.0),
    Activation.SOFTSIGN: _simple("Softsign"),
    Activation.SOFTPLUS: _simple("Softplus"),
    Activation.IDENTITY: _identity,
    Activation.SOFTMAX: _softmax,
}

# ONNX LSTM activation names with their (alpha, beta) lists. Hard tanh and softmax have no
# LSTM form; a recurrent layer using them runs as a Scan (NOTE [ How recurrent layers export ]).
_LSTM_NAMES: dict[Activation, tuple[str, list[float], list[float]]] = {
    Activation.TANH: ("Tanh", [], []),
    Activation.SIGMOID: ("Sigmoid", [], []),
    Activation.HARDSIGMOID: ("HardSigmoid", [0.2], [0.5]),
    Activation.RELU: ("Relu", [], []),
    Activation.LEAKYRELU: ("LeakyRelu", [0.01], []),
    Activation.ELU: ("Elu", [1.0], []),
    Activation.SOFTSIGN: ("Softsign", [], []),
    Activation.SOFTPLUS: ("Softplus", [], []),
    Activation.IDENTITY: ("Affine", [1.0], [0.0]),
}


def apply_activation(g: GraphBuilder, x: str, activation: Activation | str, axis: int) -> str:
    """``activation`` applied to ``x``; ``axis`` is the channel axis (for softmax)."""
    try:
        emit = _NODES[Activation(activation)]
    except (KeyError, ValueError):
        raise UnsupportedError(f"export_onnx: no ONNX form for activation {activation!r}; "
                               f"supported: {', '.join(a.value for a in _NODES)}") from None
    return emit(g, x, axis)


def lstm_activation(activation: Activation) -> tuple[str, list[float], list[float]] | None:
    """ONNX LSTM's name and (alpha, beta) for ``activation``, or ``None`` when it has none."""
    return _LSTM_NAMES.get(activation)
