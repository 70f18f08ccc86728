"""Evaluation inputs as numpy arrays: conversion, label / prediction pairs, masks, and
``[N, C, T]`` time series as time-major rows.

>>> y, p, m = time_series_rows(np.zeros((2, 3, 4)), np.ones((2, 3, 4)), np.ones((2, 4)), "ev")
>>> y.shape, p.shape, m.shape
((8, 3), (8, 3), (8,))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqnet.evaluation.errors import EvaluationError
from seqnet.tensors import to_numpy


def to_array(x: Any, what: str) -> np.ndarray:
    """``x`` (numpy, torch tensor or nested lists) as a numeric numpy array; booleans become
    float64. Tensors are detached and copied to the CPU.

    >>> to_array([True, False], "mask")
    array([1., 0.])
    """
    x = to_numpy(x)
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as e:
        raise EvaluationError(f"{what}: expected a numeric array, found {type(x).__name__}") from e
    if arr.dtype == bool:
        arr = arr.astype(np.float64)
    if not np.issubdtype(arr.dtype, np.number):
        raise EvaluationError(f"{what}: expected a numeric array, found dtype {arr.dtype}")
    return arr


def checked_mask(mask: Any, allowed: dict[tuple[int, ...], str], where: str) -> np.ndarray:
    """Convert ``mask`` and check that its shape is one of ``allowed`` and its values 0 or 1."""
    m = to_array(mask, f"{where} mask")
    if m.shape not in allowed:
        expected = " or ".join(f"{list(s)} ({name})" for s, name in allowed.items())
        raise EvaluationError(f"{where}: mask shape expected {expected}, found {list(m.shape)}")
    bad = ~((m == 0) | (m == 1))
    if bad.any():
        pos = tuple(int(i) for i in np.argwhere(bad)[0])
        raise EvaluationError(
            f"{where}: mask values expected 0 or 1, found {m[pos].item()!r} at index {list(pos)}")
    return m.astype(bool)


def pair(labels: Any, predicted: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    """``labels`` and ``predicted`` as arrays of the same shape, or an error naming both."""
    y = to_array(labels, f"{where} labels")
    p = to_array(predicted, f"{where} predicted")
    if y.shape != p.shape:
        raise EvaluationError(f"{where}: labels and predicted must have the same shape, "
                              f"found labels {list(y.shape)} and predicted {list(p.shape)}")
    return y, p


def time_series_rows(labels: Any, predicted: Any, mask: Any,
                     where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Reshape ``[N, C, T]`` data to time-major rows ``[N*T, C]``, with the mask alongside.

    The mask may be ``[N, T]`` (per step) or ``[N, C, T]`` (per output); it comes back as
    ``[N*T]`` or ``[N*T, C]`` booleans, or ``None`` when none was given.
    """
    y, p = pair(labels, predicted, where)
    if y.ndim != 3:
        raise EvaluationError(f"{where}: expected 3-D [N, C, T] labels and predicted, "
                              f"found shape {list(y.shape)}")
    n, c, t = y.shape
    y2 = y.transpose(0, 2, 1).reshape(n * t, c)
    p2 = p.transpose(0, 2, 1).reshape(n * t, c)
    if mask is None:
        return y2, p2, None
    m = checked_mask(mask, {(n, t): "[N, T]", (n, c, t): "[N, C, T]"}, where)
    m2 = m.reshape(n * t) if m.ndim == 2 else m.transpose(0, 2, 1).reshape(n * t, c)
    return y2, p2, m2
