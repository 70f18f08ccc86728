"""Which sequences go into which minibatch: order, shuffling, bucketing and sharding.

Pure functions over indices; the iterator asks for one epoch's plan at a time.

>>> [b.tolist() for b in epoch_plan(5, 2, 3)]
[[0, 1], [2, 3], [4]]
>>> [b.tolist() for b in epoch_plan(5, 2, 2, rank=1, world_size=2)]
[[1], [3]]
"""

from __future__ import annotations

import math

import numpy as np


def num_batches(n: int, batch_size: int, world_size: int = 1) -> int:
    """Minibatches per epoch of every shard: ``ceil(ceil(n / world_size) / batch_size)``."""
    return math.ceil(math.ceil(n / world_size) / batch_size)


def epoch_plan(n: int, batch_size: int, batches: int, *, rank: int = 0, world_size: int = 1,
               seed: int | None = None, lengths: np.ndarray | None = None,
               bucket_window: int = 0) -> list[np.ndarray]:
    """The sequence indices of each of ``batches`` minibatches of one epoch of shard ``rank``.

    ``seed`` shuffles (``None``: file order). The shard takes every ``world_size``-th sequence
    of the epoch order, so shard sizes differ by at most one. With ``bucket_window`` w > 0 and
    per-sequence ``lengths``, the order is cut into windows of w minibatches, each sorted by
    length, and (when shuffling) the minibatches are shuffled after.
    """
    rng = np.random.default_rng(seed) if seed is not None else None
    order = rng.permutation(n) if rng is not None else np.arange(n, dtype=np.int64)
    order = order[rank::world_size]
    if bucket_window and lengths is not None:
        window = np.arange(len(order)) // (bucket_window * batch_size)
        order = order[np.lexsort((lengths[order], window))]
    sizes = batch_sizes(len(order), batches, batch_size)
    plan = np.split(order, np.cumsum(sizes)[:-1]) if sizes else []
    if bucket_window and rng is not None:
        plan = [plan[i] for i in rng.permutation(len(plan))]
    return plan


def batch_sizes(m: int, k: int, b: int) -> list[int]:
    """Split ``m`` sequences into ``k`` minibatches of at most ``b``, filled greedily while
    leaving at least one for each minibatch still to come (so every shard has ``k``).

    >>> batch_sizes(5, 3, 2)
    [2, 2, 1]
    >>> batch_sizes(4, 3, 2)
    [2, 1, 1]
    """
    sizes, remaining = [], m
    for i in range(k):
        size = min(b, remaining - (k - 1 - i))
        sizes.append(size)
        remaining -= size
    return sizes
