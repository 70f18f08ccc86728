"""What each rank trains and evaluates on: shards of seqdata iterators, epochs over a shard,
and minibatches in lock-step across ranks.

>>> list(epoch_parts("data", 2)), evaluation_part("data")     # outside a process group
(['data', 'data'], ('data', False))
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

import torch

from seqdata.errors import SeqDataError
from seqnet.distributed.collectives import agree_on_batch
from seqnet.distributed.process import is_distributed, rank, world_size

log = logging.getLogger("seqnet")

T = TypeVar("T")

# NOTE [ TBPTT in lock-step ]
# Each TBPTT segment is one update, hence one all-reduce: every rank must cut its minibatch
# into the same number of segments. Before each minibatch the ranks agree (one small
# all-reduce) on the longest T among them, and a rank with shorter sequences pads its
# minibatch at the end to that T with masked steps, exactly as DataSet.merge pads the union
# minibatch a single process would train on. Masked steps add 0 to loss and gradient and reset
# the recurrent state, so the padding changes no loss; as in the union minibatch, a segment
# holding padding back-propagates through its last k2 steps counting the padded ones. The same
# agreement checks that every rank still has a minibatch, and stops all of them with an error
# (instead of a hang) when one has run out.


def _is_shard(iterator: Any) -> bool:
    # seqdata iterators say which shard they are (world size 1: all of the data); anything
    # without the attribute counts as unsharded.
    return getattr(iterator, "world_size", 1) > 1


def _shardable(data: Any) -> bool:
    return hasattr(data, "shard") and hasattr(data, "set_epoch") and not _is_shard(data)


def shard(data: Any) -> Any:
    """This rank's part of a seqdata iterator (``data.shard(rank, world_size)``); ``data``
    itself outside a process group, or when it is already a shard or has no ``shard``."""
    return data.shard(rank(), world_size()) if is_distributed() and _shardable(data) else data


def epoch_parts(data: Any, epochs: int) -> Iterator[Any]:
    """What this rank trains on in each of ``epochs`` epochs of ``data``.

    A seqdata iterator is split with ``shard(rank, world_size)`` once, and each epoch starts
    with ``set_epoch`` at the epoch ``data`` itself would be in (so the shuffle of epoch e is
    the one a single process sees); afterwards ``data`` starts its next pass at the epoch it
    would after a single-process run. An iterator that is already a shard, or anything
    without ``shard`` (a DataLoader over a ``DistributedSampler``, say), is taken to be this
    rank's part.
    Outside a process group: ``data`` itself, every epoch.
    """
    if not is_distributed() or not _shardable(data):
        for _ in range(epochs):
            yield data
        return
    data.reset()                 # the epoch a single-process `for ds in data` would run next
    first = data.epoch
    part = shard(data)
    for k in range(epochs):
        part.set_epoch(first + k)
        yield part
    data.set_epoch(first + epochs)


def evaluation_part(data: Any) -> tuple[Any, bool]:
    """What this rank evaluates, and whether the results must be merged across ranks.

    A seqdata iterator is sharded; when it cannot be (too few sequences for equal shards)
    every rank evaluates all of it and nothing is merged. An iterator that is already a
    shard, or anything without ``shard``, is this rank's part and is merged.
    """
    if not is_distributed():
        return data, False
    if _shardable(data):
        try:
            return shard(data), True
        except SeqDataError as e:
            log.info("evaluating all of the data on every rank (%s)", e)
            return data, False
    return data, True


def lockstep(batches: Iterable[T], device: torch.device | None = None
             ) -> Iterator[tuple[T, int | None]]:
    """The minibatches of one epoch, each with the longest T over all ranks' minibatches.

    Outside a process group the T is ``None``. In one, every rank must yield the same number
    of minibatches (see NOTE [ TBPTT in lock-step ]); otherwise every rank raises
    :class:`~seqnet.errors.TrainingError` at the first minibatch one of them lacks.
    """
    if not is_distributed():
        for ds in batches:
            yield ds, None
        return
    for item in _then_none(batches):
        any_left, longest = agree_on_batch(item is not None, _steps(item), device)
        if not any_left:
            return
        assert item is not None      # agree_on_batch raised if only some ranks had one
        yield item, longest


def _then_none(items: Iterable[T]) -> Iterator[T | None]:
    yield from items
    yield None


def _steps(ds: Any) -> int:
    features = getattr(ds, "features", None)
    return int(features.shape[2]) if features is not None and features.ndim == 3 else 0
