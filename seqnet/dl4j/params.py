"""DL4J's flattened parameter vector and updater-state vector, split into ``param_table`` keys.

``params()`` is every layer's parameters in its initializer's order, each matrix reshaped from
its slice in 'f' order (a convolution kernel in 'c' order, its bias first); ``FORMAT.md``
section 4.

>>> from seqnet.conf.layers import GravesLSTM, RnnOutputLayer
>>> from seqnet.conf.multilayer import MultiLayerConfiguration
>>> conf = MultiLayerConfiguration(layers=[GravesLSTM(n_in=1, n_out=1), RnnOutputLayer(n_out=1)])
>>> [(p.key, p.shape) for p in param_layout(conf)]
[('0_W', (1, 4)), ('0_RW', (1, 7)), ('0_b', (1, 4)), ('1_W', (1, 1)), ('1_b', (1, 1))]
>>> unflatten(conf, np.arange(1, 18, dtype=np.float32))["0_RW"].tolist()
[[5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from seqnet.conf.layers import (
    ConvolutionLayer,
    Layer,
)
from seqnet.conf.multilayer import MultiLayerConfiguration
from seqnet.conf.updaters import AdaGrad, Adam, Nadam, Nesterovs, RmsProp, Sgd, Updater
from seqnet.errors import ModelFileError
from seqnet.param_shapes import layer_param_shapes


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: its ``param_table`` key, DL4J shape, reshape order, and its layer."""

    key: str
    shape: tuple[int, ...]
    order: str
    layer: int

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


def layer_params(layer: Layer) -> list[tuple[str, tuple[int, ...], str]]:
    """``(key, shape, order)`` of one layer's parameters in its DL4J initializer's order: the
    ``param_table`` shapes (:mod:`seqnet.param_shapes`, the one home of that rule), each
    flattened in 'f' order, except that a convolution flattens its bias first and its kernel
    in 'c' order."""
    shapes = layer_param_shapes(layer)
    if shapes is None:
        raise ModelFileError(f"no DL4J parameter layout for {type(layer.underlying()).__name__}")
    if isinstance(layer.underlying(), ConvolutionLayer):
        return [("b", shapes["b"], "f"), ("W", shapes["W"], "c")]
    return [(key, shape, "f") for key, shape in shapes.items()]


#: ``param_table`` keys (without the layer prefix) that are biases: no l1 / l2 in DL4J.
BIAS_KEYS = frozenset({"b", "bF", "bB", "fb", "bb"})


def param_layout(conf: MultiLayerConfiguration) -> list[ParamSpec]:
    """Every parameter in DL4J's flattening order."""
    return [ParamSpec(f"{i}_{key}", shape, order, i)
            for i, layer in enumerate(conf.layers)
            for key, shape, order in layer_params(layer)]


def num_params(conf: MultiLayerConfiguration) -> int:
    """The length of DL4J's flattened parameter vector for ``conf``."""
    return sum(p.size for p in param_layout(conf))


def unflatten(conf: MultiLayerConfiguration, flat: np.ndarray) -> dict[str, np.ndarray]:
    """Split DL4J's ``params()`` vector into a ``param_table`` (keys in DL4J's order)."""
    flat = np.asarray(flat).reshape(-1)
    layout = param_layout(conf)
    expected = sum(p.size for p in layout)
    if flat.size != expected:
        raise ModelFileError(f"parameters: expected {expected} values for this configuration, "
                             f"found {flat.size}")
    table: dict[str, np.ndarray] = {}
    start = 0
    for p in layout:
        part = flat[start:start + p.size]
        table[p.key] = part.reshape(p.shape, order="F" if p.order == "f" else "C").copy()
        start += p.size
    return table


def flatten(conf: MultiLayerConfiguration, table: dict[str, Any]) -> np.ndarray:
    """The inverse of :func:`unflatten`: one ``[1, n]`` row vector in DL4J's order."""
    parts = []
    for p in param_layout(conf):
        value = np.asarray(table[p.key])
        if value.shape != p.shape:
            raise ModelFileError(f"param_table[{p.key!r}]: expected shape {list(p.shape)}, "
                                 f"found {list(value.shape)}")
        parts.append(value.reshape(-1, order="F" if p.order == "f" else "C"))
    if not parts:
        return np.zeros((1, 0), np.float32)
    return np.concatenate(parts).reshape(1, -1)


# ND4J's state arrays per updater, in their order inside an updater block, and whether each
# starts at epsilon (RmsProp's and AdaGrad's) rather than 0.
_STATE: dict[type[Updater], tuple[str, ...]] = {
    Sgd: (), Adam: ("M", "V"), Nadam: ("M", "V"), RmsProp: ("G",), Nesterovs: ("V",),
    AdaGrad: ("grad",),
}


def state_names(updater: Updater) -> tuple[str, ...]:
    """The names of ``updater``'s state arrays in ND4J (``("M", "V")`` for Adam)."""
    try:
        return _STATE[type(updater)]
    except KeyError:
        raise ModelFileError(f"no DL4J updater-state layout for {type(updater).__name__}") \
            from None


# ND4J's AdaGradUpdater fills its state with its own default epsilon, not the configured one.
_ADAGRAD_INITIAL = 1e-6


def initial_state_value(updater: Updater) -> float:
    """What ND4J fills a new state with: RmsProp's epsilon, AdaGrad's default epsilon
    (1e-6, whatever the configured one), else 0."""
    if isinstance(updater, RmsProp):
        return updater.epsilon
    return _ADAGRAD_INITIAL if isinstance(updater, AdaGrad) else 0.0


def updater_blocks(conf: MultiLayerConfiguration) -> list[tuple[Updater, list[ParamSpec]]]:
    """DL4J's updater blocks: runs of consecutive parameters with equal updaters."""
    blocks: list[tuple[Updater, list[ParamSpec]]] = []
    for p in param_layout(conf):
        updater = conf.layer_setting(p.layer, "updater")
        if blocks and blocks[-1][0] == updater:
            blocks[-1][1].append(p)
        else:
            blocks.append((updater, [p]))
    return blocks


def updater_state_size(conf: MultiLayerConfiguration) -> int:
    """The length of DL4J's updater-state vector for ``conf``."""
    return sum(len(state_names(u)) * sum(p.size for p in ps) for u, ps in updater_blocks(conf))


def updater_state_table(conf: MultiLayerConfiguration, state: np.ndarray
                        ) -> dict[str, dict[str, np.ndarray]]:
    """Split DL4J's ``updaterState.bin`` vector into per-parameter state arrays.

    Each updater block holds its state arrays one after the other (Adam: ``[M | V]`` over
    the block's parameters), each in the flattened-parameter order; every array comes back
    in its parameter's ``param_table`` shape.

    >>> from seqnet.conf.layers import DenseLayer, OutputLayer
    >>> from seqnet.conf.updaters import Adam
    >>> conf = MultiLayerConfiguration(layers=[DenseLayer(n_in=1, n_out=1), OutputLayer(n_out=1)],
    ...                                updater=Adam())
    >>> table = updater_state_table(conf, np.arange(8.0))
    >>> table["0_W"]["M"].tolist(), table["0_W"]["V"].tolist(), table["1_b"]["V"].tolist()
    ([[0.0]], [[4.0]], [[7.0]])
    """
    state = np.asarray(state).reshape(-1)
    expected = updater_state_size(conf)
    if state.size != expected:
        raise ModelFileError(f"updater state: expected {expected} values for this "
                             f"configuration, found {state.size}")
    table: dict[str, dict[str, np.ndarray]] = {}
    start = 0
    for updater, specs in updater_blocks(conf):
        block = sum(p.size for p in specs)
        for name in state_names(updater):
            offset = start
            for p in specs:
                part = state[offset:offset + p.size]
                table.setdefault(p.key, {})[name] = part.reshape(
                    p.shape, order="F" if p.order == "f" else "C").copy()
                offset += p.size
            start += block
    return table


def flatten_updater_state(conf: MultiLayerConfiguration,
                          table: dict[str, dict[str, np.ndarray]]) -> np.ndarray:
    """The inverse of :func:`updater_state_table`: DL4J's ``[1, m]`` updater-state vector;
    a parameter or state array missing from ``table`` gets ND4J's initial value.

    >>> from seqnet.conf.layers import DenseLayer, OutputLayer
    >>> from seqnet.conf.updaters import Adam
    >>> conf = MultiLayerConfiguration(layers=[DenseLayer(n_in=1, n_out=1), OutputLayer(n_out=1)],
    ...                                updater=Adam())
    >>> flat = flatten_updater_state(conf, updater_state_table(conf, np.arange(8.0)))
    >>> flat.tolist()
    [[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]]
    """
    parts = []
    for updater, specs in updater_blocks(conf):
        for name in state_names(updater):
            for p in specs:
                value = table.get(p.key, {}).get(name)
                if value is None:
                    value = np.full(p.shape, initial_state_value(updater))
                value = np.asarray(value)
                if value.shape != p.shape:
                    raise ModelFileError(f"updater state {p.key}.{name}: expected shape "
                                         f"{list(p.shape)}, found {list(value.shape)}")
                parts.append(value.reshape(-1, order="F" if p.order == "f" else "C"))
    if not parts:
        return np.zeros((1, 0))
    return np.concatenate(parts).reshape(1, -1)
