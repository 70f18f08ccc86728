"""DL4J parameter plumbing: arrays in and out of ``param_table``, checked against layouts."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from seqnet.errors import ConfigurationError
from seqnet.nn.base import LayerModule
from seqnet.tensors import to_numpy


def check_shape(value: Any, shape: tuple[int, ...], key: str) -> torch.Tensor:
    """``value`` as a tensor, or an error naming ``key``, the expected and the found shape.

    >>> check_shape(np.zeros((1, 3)), (1, 3), "0_b").shape
    torch.Size([1, 3])
    """
    if isinstance(value, torch.Tensor):
        tensor = value
    else:
        array = np.asarray(value)
        if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
            raise ConfigurationError(f"param_table[{key!r}]: expected an array of numbers, "
                                     f"found dtype {array.dtype}")
        tensor = torch.as_tensor(array)
    if tuple(tensor.shape) != tuple(shape):
        raise ConfigurationError(
            f"param_table[{key!r}]: expected shape {list(shape)}, found {list(tensor.shape)}")
    return tensor.detach()


class WeightBiasModule(LayerModule):
    """A layer module with one weight ``W`` and one bias ``b``.

    The weight keeps its stored layout (the subclass says which); the bias is ``[1, nOut]``
    in DL4J and ``[nOut]`` inside.
    """

    W: nn.Parameter
    b: nn.Parameter

    def param_table(self) -> dict[str, np.ndarray]:
        """``W`` as stored and ``b [1, nOut]``."""
        return {"W": to_numpy(self.W, copy=True), "b": to_numpy(self.b, copy=True).reshape(1, -1)}

    def set_param_table(self, table: dict[str, Any], prefix: str) -> None:
        """Load DL4J-layout arrays (keys without the layer prefix)."""
        w = check_shape(table["W"], tuple(self.W.shape), prefix + "W")
        b = check_shape(table["b"], (1, self.b.shape[0]), prefix + "b")
        with torch.no_grad():
            self.W.copy_(w)
            self.b.copy_(b.reshape(-1))

    def param_types(self) -> dict[str, list[nn.Parameter]]:
        """Parameters grouped by DL4J parameter type."""
        return {"W": [self.W], "b": [self.b]}

    def weight_params(self) -> list[nn.Parameter]:
        """The parameters l1 / l2 apply to (not biases)."""
        return [self.W]


# NOTE [ Moving other arrays through a module's parameter layout ]
# param_table / set_param_table map torch parameters to DL4J's layouts and back by reshapes,
# transposes, gate reorders and splits only (nn.LSTM's frozen second bias stays 0), so the
# same maps carry any array shaped like the parameters: gradients, updater state. The two
# functions below run a module's own maps on such arrays by lending them the parameters'
# storage for the duration of the call, so there is one layout rule per module.


def table_of(module: LayerModule,
             values: dict[nn.Parameter, torch.Tensor]) -> dict[str, np.ndarray]:
    """Arrays shaped like ``module``'s parameters (``values[p]``, zeros where absent) laid
    out as :meth:`~LayerModule.param_table` lays out the parameters.

    >>> from seqnet.conf.layers import DenseLayer
    >>> from seqnet.nn.dense import DenseModule
    >>> m = DenseModule(DenseLayer(n_in=2, n_out=1), torch.float32, torch.Generator())
    >>> table_of(m, {m.b: torch.tensor([5.0])})["b"].tolist()
    [[5.0]]
    """
    params = list(module.parameters())
    saved = [p.detach().clone() for p in params]
    try:
        with torch.no_grad():
            for p in params:
                value = values.get(p)
                p.copy_(value if value is not None else torch.zeros_like(p))
            return module.param_table()
    finally:
        with torch.no_grad():
            for p, keep in zip(params, saved):
                p.copy_(keep)


def values_of(module: LayerModule, table: dict[str, Any], prefix: str
              ) -> dict[nn.Parameter, torch.Tensor]:
    """The inverse of :func:`table_of`: arrays in ``param_table``'s layout as tensors shaped
    like each trainable parameter of ``module``."""
    params = list(module.parameters())
    saved = [p.detach().clone() for p in params]
    try:
        module.set_param_table(table, prefix)
        return {p: p.detach().clone() for p in params if p.requires_grad}
    finally:
        with torch.no_grad():
            for p, keep in zip(params, saved):
                p.copy_(keep)
