"""Checking arrays handed to ``set_param_table`` against DL4J's layouts."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from seqnet.errors import ConfigurationError


def check_shape(value: Any, shape: tuple[int, ...], key: str) -> torch.Tensor:
    """``value`` as a tensor, or an error naming ``key``, the expected and the found shape.

    >>> check_shape(np.zeros((1, 3)), (1, 3), "0_b").shape
    torch.Size([1, 3])
    """
    tensor = value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
    if tuple(tensor.shape) != tuple(shape):
        raise ConfigurationError(
            f"param_table[{key!r}]: expected shape {list(shape)}, found {list(tensor.shape)}")
    return tensor.detach()


def as_numpy(t: torch.Tensor) -> np.ndarray:
    """A detached numpy copy of ``t``."""
    return t.detach().cpu().numpy().copy()
