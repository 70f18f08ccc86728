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
