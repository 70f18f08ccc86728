"""Minibatch helpers of the fit loop: one epoch of DataSets, padding to a common length."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch

from seqnet.errors import SeqNetError


def pad_steps(x: torch.Tensor, labels: torch.Tensor, fmask: torch.Tensor | None,
              lmask: torch.Tensor | None, steps: int
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """``[N, C, T]`` features and labels zero-padded at the end to ``steps``, with masks that
    are 0 on the padding (see NOTE [ TBPTT in lock-step ] in :mod:`seqnet.distributed`).

    A missing features mask becomes ones on the real steps; a missing labels mask stays
    missing, so the loss is masked by the features mask as before.

    >>> x = torch.ones(1, 2, 2); y = torch.ones(1, 3, 2)
    >>> px, py, fm, lm = pad_steps(x, y, None, None, 3)
    >>> px.shape, py.shape, fm.tolist(), lm
    (torch.Size([1, 2, 3]), torch.Size([1, 3, 3]), [[1.0, 1.0, 0.0]], None)
    """
    extra = steps - x.shape[2]
    if extra <= 0:
        return x, labels, fmask, lmask
    if fmask is None:
        fmask = torch.ones(x.shape[0], x.shape[2], dtype=x.dtype, device=x.device)
    pad = torch.nn.functional.pad
    return (pad(x, (0, extra)), pad(labels, (0, extra)), pad(fmask, (0, extra)),
            None if lmask is None else pad(lmask, (0, extra)))


def epoch_batches(data: Iterable[Any]) -> Iterator[Any]:
    """One epoch of DataSets from ``data``, started from the beginning.

    seqdata's iterators reset themselves when iterated; an object with only DL4J's
    ``reset / has_next / next`` is reset explicitly.
    """
    if hasattr(data, "__iter__"):
        yield from data
        return
    if not (hasattr(data, "has_next") and hasattr(data, "next")):
        raise SeqNetError(f"fit: expected a DataSet or a DataSet iterator, found "
                          f"{type(data).__name__}")
    if hasattr(data, "reset"):
        data.reset()
    while data.has_next():
        yield data.next()
