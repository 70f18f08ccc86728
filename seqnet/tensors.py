"""numpy-or-torch in, the same kind out (SPEC section 1): the one home for conversions."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from seqnet.errors import SeqNetError


def to_tensor(value: Any, dtype: torch.dtype, device: torch.device, name: str) -> torch.Tensor:
    """``value`` (numpy array, tensor or nested list) as a tensor on ``device`` of ``dtype``.

    >>> to_tensor(np.ones((2, 3), np.float32), torch.float64, torch.device("cpu"), "x").dtype
    torch.float64
    """
    if isinstance(value, torch.Tensor):
        return value.to(device=device, dtype=dtype)
    try:
        array = np.asarray(value, dtype=np.float64 if dtype == torch.float64 else np.float32)
    except (TypeError, ValueError) as e:
        raise SeqNetError(f"{name}: expected a numeric array, found {type(value).__name__} "
                          f"({e})") from None
    return torch.from_numpy(array).to(device=device, dtype=dtype)


def like(result: torch.Tensor, original: Any) -> Any:
    """``result`` as numpy when ``original`` was not a tensor, else the tensor itself."""
    if isinstance(original, torch.Tensor):
        return result
    return result.detach().cpu().numpy()


def numpy_of(value: Any) -> Any:
    """A tensor as a numpy array on the host; anything else (numpy, ``None``) as it is.

    >>> numpy_of(torch.ones(2)).tolist(), numpy_of(None)
    ([1.0, 1.0], None)
    """
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return value
