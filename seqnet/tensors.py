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
    return to_numpy(result)


def to_numpy(value: Any, copy: bool = False) -> Any:
    """A tensor as a numpy array (detached, on the CPU); anything else as it is.

    ``copy=True`` makes the array its own memory: on the CPU ``.numpy()`` shares the
    tensor's, so a parameter table handed out must be a copy.

    >>> t = torch.zeros(2)
    >>> shared, own = to_numpy(t), to_numpy(t, copy=True)
    >>> _ = t.add_(1)
    >>> shared.tolist(), own.tolist(), to_numpy([1, 2])
    ([1.0, 1.0], [0.0, 0.0], [1, 2])
    """
    if not isinstance(value, torch.Tensor):
        return value
    array = value.detach().cpu().numpy()
    return array.copy() if copy else array
