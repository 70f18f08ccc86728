"""PyTorch adapter: minibatches of a SequenceRecordReaderDataSetIterator as torch tensors.

The only seqdata module that imports torch. The iterator already batches, pads and masks, so
a ``DataLoader`` over :class:`SequenceIterableDataset` takes ``batch_size=None`` (no second
collation); with ``num_workers=W`` each worker iterates its own shard. With ``shuffle``, call
``dataset.set_epoch(e)`` before each epoch of a DataLoader, as with ``DistributedSampler``.

>>> from seqdata.readers.base import CollectionSequenceRecordReader
>>> from seqdata.iterator import SequenceRecordReaderDataSetIterator
>>> from torch.utils.data import DataLoader
>>> reader = CollectionSequenceRecordReader([[[1.0], [2.0]], [[3.0]], [[4.0]], [[5.0]]])
>>> it = SequenceRecordReaderDataSetIterator(reader, 2, -1, -1)   # features only
>>> batches = list(DataLoader(SequenceIterableDataset(it), batch_size=None))
>>> [tuple(b["features"].shape) for b in batches], batches[0]["features_mask"].tolist()
([(2, 1, 2), (2, 1, 1)], [[1.0, 1.0], [1.0, 0.0]])
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import IterableDataset, get_worker_info

from seqdata.dataset import DataSet
from seqdata.errors import SeqDataError

__all__ = ["SequenceIterableDataset", "to_tensors"]

FIELDS = ("features", "labels", "features_mask", "labels_mask")


def to_tensors(ds: DataSet, as_tuple: bool = False,
               device: torch.device | str | None = None) -> dict[str, Any] | tuple[Any, ...]:
    """A DataSet's four arrays as tensors (``None`` stays ``None``), as a dict or a tuple.

    On the CPU the tensors share memory with the DataSet's arrays (``torch.from_numpy``).

    >>> import numpy as np
    >>> ds = DataSet(np.ones((1, 2, 3), np.float32))
    >>> features, labels, fmask, lmask = to_tensors(ds, as_tuple=True)
    >>> features.shape, labels, np.shares_memory(features.numpy(), ds.features)
    (torch.Size([1, 2, 3]), None, True)
    """
    t = ds.to_torch(device)
    values = tuple(getattr(t, name) for name in FIELDS)
    return values if as_tuple else dict(zip(FIELDS, values))


class SequenceIterableDataset(IterableDataset):
    """An ``IterableDataset`` of minibatches from a ``SequenceRecordReaderDataSetIterator``.

    Each ``iter()`` is one epoch (the iterator's shuffle advances per epoch, as in the
    iterator). Sharding uses the iterator's exact ``shard(rank, world_size)``, over
    ``world_size * num_workers`` shards: distributed rank ``r`` (``rank``/``world_size``, by
    default from ``torch.distributed`` when it is initialised) and DataLoader worker ``w`` of
    ``W`` read shard ``r * W + w``. Every shard has the same number of minibatches, so ranks
    stay in step. Items are dicts ``{"features", "labels", "features_mask", "labels_mask"}``
    of tensors (``None`` where the DataSet has ``None``), or tuples in that order with
    ``as_tuple=True``.

    Epochs: :meth:`set_epoch` picks the shuffle order of the next ``iter()``, and each full
    pass advances the epoch by one. Inside DataLoader workers a pass advances only the
    worker's copy, which is discarded after the epoch (unless ``persistent_workers=True``), so
    call ``dataset.set_epoch(e)`` before each epoch of a DataLoader, as with
    ``DistributedSampler``; otherwise every epoch repeats the same order.
    """

    def __init__(self, iterator: Any, *, as_tuple: bool = False, rank: int | None = None,
                 world_size: int | None = None) -> None:
        if not hasattr(iterator, "shard"):
            raise SeqDataError(f"expected a SequenceRecordReaderDataSetIterator, found "
                               f"{type(iterator).__name__}")
        if (rank is None) != (world_size is None):
            raise SeqDataError(f"give both rank and world_size or neither, found rank={rank!r},"
                               f" world_size={world_size!r}")
        self.iterator = iterator
        self.as_tuple = as_tuple
        self.rank = rank
        self.world_size = world_size
        self._epoch = int(getattr(iterator, "epoch", 0))

    @property
    def epoch(self) -> int:
        """The epoch the next ``iter()`` runs (it picks the shuffle order)."""
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter()`` run epoch ``epoch`` (as ``DistributedSampler.set_epoch``).

        >>> from seqdata.readers.base import CollectionSequenceRecordReader
        >>> from seqdata.iterator import SequenceRecordReaderDataSetIterator
        >>> reader = CollectionSequenceRecordReader([[[float(i)]] for i in range(8)])
        >>> it = SequenceRecordReaderDataSetIterator(reader, 1, -1, -1, shuffle=True, seed=1)
        >>> ds = SequenceIterableDataset(it, rank=0, world_size=2)
        >>> order = lambda: [int(b["features"]) for b in ds]
        >>> first, second = order(), order()
        >>> ds.set_epoch(0)
        >>> first != second, order() == first, ds.epoch
        (True, True, 1)
        """
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise SeqDataError(f"epoch: expected an int >= 0, found {epoch!r}")
        self._epoch = epoch

    def _distributed(self) -> tuple[int, int]:
        if self.rank is not None and self.world_size is not None:
            return self.rank, self.world_size
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1

    def __iter__(self) -> Iterator[dict[str, Any] | tuple[Any, ...]]:
        rank, world_size = self._distributed()
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        shards = world_size * workers
        it = self.iterator if shards == 1 else self.iterator.shard(rank * workers + worker,
                                                                   shards)
        # NOTE [ Epochs of shards and worker copies ]
        # A shard, and the iterator copy a DataLoader worker unpickles, is new for each pass:
        # it cannot carry the epoch over from the last pass, so the epoch lives here and is
        # handed to it. In a worker that does not persist, advancing it below is harmless (the
        # copy is discarded); in a persistent one it keeps the worker's epochs moving.
        it.set_epoch(self._epoch)
        for ds in it:
            yield to_tensors(ds, self.as_tuple)
        self._epoch += 1
