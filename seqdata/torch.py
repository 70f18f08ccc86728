"""PyTorch adapter: minibatches of a SequenceRecordReaderDataSetIterator as torch tensors.

The only seqdata module that imports torch. The iterator already batches, pads and masks, so
an item of :class:`SequenceIterableDataset` is a whole minibatch and a ``DataLoader`` over it
takes ``batch_size=None`` (no second collation; the default ``batch_size=1`` is refused with a
message saying so). ``len(loader)`` is the number of minibatches, and the minibatches are the
same, in the same order, for any ``num_workers`` (each worker reads every W-th minibatch). With
``shuffle``, call ``dataset.set_epoch(e)`` before each epoch of a DataLoader, as with
``DistributedSampler``. ``targets="index"`` gives class indices as torch's classification
losses take them.

>>> from seqdata.readers.base import CollectionSequenceRecordReader
>>> from seqdata.iterator import SequenceRecordReaderDataSetIterator
>>> from torch.utils.data import DataLoader
>>> reader = CollectionSequenceRecordReader([[[1.0], [2.0]], [[3.0]], [[4.0]], [[5.0]]])
>>> it = SequenceRecordReaderDataSetIterator(reader, 2, -1, -1)   # features only
>>> loader = DataLoader(SequenceIterableDataset(it), batch_size=None)
>>> batches = list(loader)
>>> len(loader), [tuple(b["features"].shape) for b in batches]
(2, [(2, 1, 2), (2, 1, 1)])
>>> batches[0]["features_mask"].tolist()
[[1.0, 1.0], [1.0, 0.0]]
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import IterableDataset, get_worker_info

from seqdata.dataset import DataSet
from seqdata.errors import SeqDataError

__all__ = ["SequenceIterableDataset", "TARGETS", "class_indices", "to_tensors"]

FIELDS = ("features", "labels", "features_mask", "labels_mask")
# What ``labels`` holds: one-hot [N, K, T] (as the iterator gives it), class indices per step
# [N, T], or one class index per sequence [N] (its last real label step: many-to-one).
TARGETS = ("one_hot", "index", "sequence_index")


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


def class_indices(labels: torch.Tensor, labels_mask: torch.Tensor | None,
                  targets: str = "index", ignore_index: int = -100) -> torch.Tensor:
    """One-hot ``[N, K, T]`` labels as int64 class indices, as ``cross_entropy`` takes them.

    ``targets="index"``: ``[N, T]``, ``ignore_index`` at padded steps (mask 0) and at steps
    without a class (an all-zero row). ``"sequence_index"``: ``[N]``, the class at each
    sequence's last real label step (many-to-one).

    >>> one_hot = torch.tensor([[[0., 1.], [1., 0.]], [[0., 0.], [0., 1.]]])   # [N=2, K=2, T=2]
    >>> class_indices(one_hot, torch.tensor([[1., 1.], [0., 1.]])).tolist()
    [[1, 0], [-100, 1]]
    >>> class_indices(one_hot, torch.tensor([[1., 1.], [0., 1.]]), "sequence_index").tolist()
    [0, 1]
    """
    if labels.ndim != 3:
        raise SeqDataError(f"expected one-hot labels [N, K, T], found shape "
                           f"{tuple(labels.shape)}")
    index = labels.argmax(dim=1)
    real = labels.sum(dim=1) > 0
    if labels_mask is not None:
        real &= labels_mask > 0
    if targets == "sequence_index":
        steps = torch.arange(labels.shape[2], device=labels.device).expand_as(index)
        last = torch.where(real, steps, -1).max(dim=1).values
        if bool((last < 0).any()):
            n = int(torch.nonzero(last < 0)[0, 0])
            raise SeqDataError(f"targets='sequence_index': expected a class in every "
                               f"sequence, found none in example {n} of the minibatch")
        return index.gather(1, last[:, None])[:, 0]
    return torch.where(real, index, torch.full_like(index, ignore_index))


class SequenceIterableDataset(IterableDataset):
    """An ``IterableDataset`` of minibatches from a ``SequenceRecordReaderDataSetIterator``.

    Use it with ``DataLoader(dataset, batch_size=None)``: items are whole minibatches, so the
    loader must not batch again (``batch_size=1``, the default, is refused). ``len(dataset)``
    is the number of minibatches per epoch of this rank.

    Each ``iter()`` is one epoch (the iterator's shuffle advances per epoch, as in the
    iterator). Distributed ranks (``rank``/``world_size``, by default from
    ``torch.distributed`` when it is initialised) each read their own shard of the sequences
    (the iterator's exact ``shard(rank, world_size)``: every rank the same number of
    minibatches, so ranks stay in step). DataLoader workers split a rank's minibatches:
    worker ``w`` of ``W`` assembles minibatches ``w, w + W, ...`` and the loader returns them
    in order, so the minibatches are identical for any ``num_workers``.

    Items are dicts ``{"features", "labels", "features_mask", "labels_mask"}`` of tensors
    (``None`` where the DataSet has ``None``), or tuples in that order with ``as_tuple=True``.
    ``targets`` (see :data:`TARGETS` and :func:`class_indices`; classification only) turns
    one-hot labels into int64 class indices with ``ignore_index`` at padded steps, as
    ``torch.nn.CrossEntropyLoss`` takes them; ``labels_mask`` stays as it is.

    Epochs: :meth:`set_epoch` picks the shuffle order of the next ``iter()``, and each full
    pass advances the epoch by one. Inside DataLoader workers a pass advances only the
    worker's copy, which is discarded after the epoch (unless ``persistent_workers=True``), so
    call ``dataset.set_epoch(e)`` before each epoch of a DataLoader, as with
    ``DistributedSampler``; otherwise every epoch repeats the same order.
    """

    def __init__(self, iterator: Any, *, as_tuple: bool = False, rank: int | None = None,
                 world_size: int | None = None, targets: str = "one_hot",
                 ignore_index: int = -100) -> None:
        if not hasattr(iterator, "shard"):
            raise SeqDataError(f"expected a SequenceRecordReaderDataSetIterator, found "
                               f"{type(iterator).__name__}")
        if (rank is None) != (world_size is None):
            raise SeqDataError(f"give both rank and world_size or neither, found rank={rank!r},"
                               f" world_size={world_size!r}")
        if targets not in TARGETS:
            raise SeqDataError(f"targets: expected one of {TARGETS}, found {targets!r}")
        self.iterator = iterator
        self.as_tuple = as_tuple
        self.rank = rank
        self.world_size = world_size
        self.targets = targets
        self.ignore_index = int(ignore_index)
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

    def _rank_iterator(self) -> Any:
        rank, world_size = self._distributed()
        return self.iterator if world_size == 1 else self.iterator.shard(rank, world_size)

    def __len__(self) -> int:
        """Minibatches per epoch of this rank (what ``len(DataLoader(...))`` reports)."""
        return len(self._rank_iterator())

    def __iter__(self) -> Iterator[dict[str, Any] | tuple[Any, ...]]:
        _refuse_a_second_batching(sys._getframe(1))
        return self._epoch_items()

    def _epoch_items(self) -> Iterator[dict[str, Any] | tuple[Any, ...]]:
        it = self._rank_iterator()
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        # NOTE [ Epochs of shards and worker copies ]
        # A shard, and the iterator copy a DataLoader worker unpickles, is new for each pass:
        # it cannot carry the epoch over from the last pass, so the epoch lives here and is
        # handed to it. In a worker that does not persist, advancing it below is harmless (the
        # copy is discarded); in a persistent one it keeps the worker's epochs moving.
        it.set_epoch(self._epoch)
        it.skip(worker)
        while it.has_next():
            yield self._item(it.next())
            it.skip(workers - 1)
        self._epoch += 1

    def _item(self, ds: DataSet) -> dict[str, Any] | tuple[Any, ...]:
        item = to_tensors(ds)
        assert isinstance(item, dict)
        if self.targets != "one_hot" and item["labels"] is not None:
            item["labels"] = class_indices(item["labels"], item["labels_mask"], self.targets,
                                           self.ignore_index)
        return tuple(item[name] for name in FIELDS) if self.as_tuple else item


# NOTE [ Refusing DataLoader's default batch_size ]
# DataLoader's default batch_size=1 would wrap every minibatch into a batch of one
# ([1, N, C, T]) or fail inside default_collate on a None mask, far from the cause. An
# IterableDataset cannot see the loader's options, but the loader's fetcher, which calls
# iter() on it, holds them: when the caller is torch's _IterableDatasetFetcher with
# auto_collation (any batch_size other than None), iter() raises with the fix. Any other
# caller (a plain for loop, a future torch) is left alone.
def _refuse_a_second_batching(caller: Any) -> None:
    fetcher = caller.f_locals.get("self")
    if type(fetcher).__name__ == "_IterableDatasetFetcher" \
            and caller.f_locals.get("auto_collation"):
        raise SeqDataError("SequenceIterableDataset yields whole minibatches (already padded "
                           "and masked): use DataLoader(dataset, batch_size=None)")
