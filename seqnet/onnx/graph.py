"""Building an ONNX graph with ``onnx.helper``: fresh names, nodes, constants, subgraphs,
and the values and context the converters pass along.

>>> b = GraphBuilder()
>>> y = b.op("Relu", [b.constant(np.ones(2, np.float32), "x")])
>>> [n.op_type for n in b.nodes], y
(['Relu'], 'relu_1')
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("seqnet.onnx needs the onnx package: pip install 'seqdl[onnx]'") from e

Dim = int | str | None
FLOAT = TensorProto.FLOAT


class GraphBuilder:
    """Nodes and initializers of one graph; a :meth:`subgraph` (a Scan body) shares the
    root's names and puts its constants in the root graph, where the body reads them as
    outer-scope values."""

    def __init__(self, parent: GraphBuilder | None = None) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._root: GraphBuilder = parent._root if parent is not None else self
        self._counter: itertools.count[int] = (parent._counter if parent is not None
                                               else itertools.count())

    def fresh(self, hint: str) -> str:
        """A name no other value of the model has."""
        return f"{hint}_{next(self._counter)}"

    def op(self, op_type: str, inputs: Sequence[str], outputs: int | Sequence[str] = 1,
           hint: str | None = None, **attrs: Any) -> Any:
        """Add a node; returns its output name (or the list of names when ``outputs`` is a
        count above 1 or a list). An empty input name is an omitted optional input."""
        base = hint or op_type.lower()
        names = ([self.fresh(base) for _ in range(outputs)] if isinstance(outputs, int)
                 else list(outputs))
        self.nodes.append(helper.make_node(op_type, list(inputs), names,
                                           name=self.fresh(f"{base}_node"), **attrs))
        return names[0] if isinstance(outputs, int) and outputs == 1 else names

    def constant(self, array: np.ndarray, hint: str) -> str:
        """``array`` as an initializer of the root graph (float arrays as float32)."""
        array = np.asarray(array)
        if array.dtype.kind == "f":
            array = array.astype(np.float32)
        name = self._root.fresh(hint)
        # copy(), not ascontiguousarray(): that makes a 0-d array 1-d.
        self._root.initializers.append(numpy_helper.from_array(array.copy(order="C"), name))
        return name

    def int64s(self, values: Sequence[int], hint: str = "ints") -> str:
        """A 1-D int64 constant (shapes, axes, indices)."""
        return self.constant(np.asarray(values, dtype=np.int64), hint)

    def scalar(self, value: float, hint: str = "scalar") -> str:
        """A 0-d float32 constant."""
        return self.constant(np.asarray(value, dtype=np.float32), hint)

    def subgraph(self) -> GraphBuilder:
        """A builder for a nested graph (Scan body)."""
        return GraphBuilder(self)


def tensor_info(name: str, shape: Sequence[Dim] | None,
                elem_type: int = FLOAT) -> onnx.ValueInfoProto:
    """A typed graph input or output; ``None`` or a string in ``shape`` is a dynamic dim."""
    return helper.make_tensor_value_info(name, elem_type,
                                         None if shape is None else list(shape))


@dataclasses.dataclass(frozen=True)
class Value:
    """A tensor between layers, as the graph stores it.

    ``kind`` is ``"rnn"`` (stored time-major ``[T, N, C]``, the layout ONNX's LSTM takes),
    ``"ff"`` (``[rows, C]``) or ``"cnn"`` (``[rows, C, H, W]``); ``shape`` is the stored
    shape with symbolic dims as strings (``"N"``, ``"T"``, ``"N*T"``), for the declared
    output shape.
    """

    name: str
    kind: str
    shape: tuple[Dim, ...]

    def seqnet_shape(self) -> tuple[Dim, ...]:
        """The shape seqnet returns for this value: ``[N, C, T]`` for a sequence."""
        if self.kind == "rnn":
            steps, n, c = self.shape
            return n, c, steps
        return self.shape


@dataclasses.dataclass
class ExportContext:
    """What every converter may read or add to.

    ``mask`` is the features mask time-major ``[T, N, 1]`` (``None`` without one, and after a
    layer that drops it, as ``LastTimeStep`` does); ``mask_rows`` the same as ``[N, T]``.
    ``states`` maps a recurrent layer index to the names of its ``(h, c)`` state inputs,
    and converters put the final states in ``final_states``.
    """

    graph: GraphBuilder
    params: dict[str, np.ndarray]
    batch: str
    mask: str | None = None
    mask_rows: str | None = None
    states: dict[int, tuple[str, str]] = dataclasses.field(default_factory=dict)
    final_states: dict[int, tuple[str, str]] = dataclasses.field(default_factory=dict)

    def layer_params(self, index: int) -> dict[str, np.ndarray]:
        """Layer ``index``'s entries of ``param_table()``, without the ``"{index}_"``."""
        prefix = f"{index}_"
        return {k[len(prefix):]: v for k, v in self.params.items() if k.startswith(prefix)}

    def zeros(self, width: int, hint: str) -> str:
        """A float32 ``[N, width]`` of zeros for the current minibatch."""
        g = self.graph
        shape = g.op("Concat", [self.batch, g.int64s([width])], axis=0, hint=f"{hint}_shape")
        return g.op("ConstantOfShape", [shape], hint=hint,
                    value=numpy_helper.from_array(np.zeros(1, np.float32)))
