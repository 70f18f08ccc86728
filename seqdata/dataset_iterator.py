"""DL4J's ``DataSetIterator``: the base of every minibatch source, and small ones built on it.

A custom iterator implements ``has_next``, ``next`` and ``reset`` (and, when it knows them,
``input_columns``, ``total_outcomes``, ``batch`` and ``__len__``); the base adds Python
iteration (``for ds in it`` is one whole epoch from the start), the pre-processor (applied
once to every DataSet ``next`` returns), epochs and sharding, so ``net.fit``,
``net.evaluate``, the normalisers, :class:`AsyncDataSetIterator` and ``torch.distributed``
training accept it like seqdata's own iterator.

>>> import numpy as np
>>> from seqdata import DataSet
>>> class Ramp(DataSetIterator):
...     def __init__(self, n):
...         super().__init__(); self.n, self.i = n, 0
...     def has_next(self): return self.i < self.n
...     def next(self, num=None):
...         self.i += 1
...         x = np.full((1, 1, 3), self.i, np.float32)
...         return DataSet(x, x)
...     def reset(self): self.i = 0
>>> [float(ds.features[0, 0, 0]) for ds in Ramp(3)]
[1.0, 2.0, 3.0]
>>> it = ListDataSetIterator([DataSet(np.ones((1, 2, 4), np.float32))] * 5, batch=2)
>>> [ds.num_examples() for ds in it], it.input_columns()
([2, 2, 1], 2)
"""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from seqdata.dataset import DataSet
from seqdata.errors import SeqDataError

__all__ = ["AsyncDataSetIterator", "DataSetIterator", "ListDataSetIterator",
           "ShardedDataSetIterator"]


def _applying_pre_processor(next_fn: Callable[..., DataSet]) -> Callable[..., DataSet]:
    @functools.wraps(next_fn)
    def next(self: DataSetIterator, num: int | None = None) -> DataSet:
        ds = next_fn(self) if num is None else next_fn(self, num)
        pre = self.get_pre_processor()
        if pre is not None:
            pre.pre_process(ds)
        return ds

    next._applies_pre_processor = True  # type: ignore[attr-defined]
    return next


class DataSetIterator:
    """Base of minibatch iterators (DL4J's ``DataSetIterator`` interface).

    Subclasses implement :meth:`has_next`, :meth:`next` and :meth:`reset`. A subclass's
    ``next`` is wrapped so the pre-processor set with :meth:`set_pre_processor` is applied
    exactly once to what it returns; a class whose ``next`` applies it itself sets
    ``applies_pre_processor = True``.
    """

    applies_pre_processor = False

    def __init__(self) -> None:
        self._pre_processor: Any = None
        self._epoch = 0
        self._epoch_started = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("next")
        if own is not None and not cls.__dict__.get("applies_pre_processor", False) and \
                not getattr(own, "_applies_pre_processor", False):
            cls.next = _applying_pre_processor(own)  # type: ignore[method-assign]

    # ------------------------------------------------------------------ to implement

    def has_next(self) -> bool:
        """Whether the current epoch has another minibatch (no implicit reset)."""
        raise NotImplementedError(f"{type(self).__name__}.has_next")

    def next(self, num: int | None = None) -> DataSet:
        """The next minibatch (``num`` examples where the iterator supports it)."""
        raise NotImplementedError(f"{type(self).__name__}.next")

    def reset(self) -> None:
        """Start the data over from the beginning."""
        raise NotImplementedError(f"{type(self).__name__}.reset")

    def input_columns(self) -> int:
        """Number of feature channels; by default read from the first minibatch."""
        return int(self._peek().features.shape[1])

    def total_outcomes(self) -> int:
        """Number of label channels (0 without labels); by default from the first minibatch."""
        labels = self._peek().labels
        return 0 if labels is None else int(labels.shape[1])

    def batch(self) -> int:
        """The minibatch size; by default that of the first minibatch."""
        return int(self._peek().features.shape[0])

    def _peek(self) -> DataSet:
        self.reset()
        if not self.has_next():
            raise SeqDataError(f"{type(self).__name__}: expected at least one minibatch, "
                               "found none")
        ds = self.next()
        self.reset()
        return ds

    # ------------------------------------------------------------------ provided

    def reset_supported(self) -> bool:
        return True

    def async_supported(self) -> bool:
        return True

    def set_pre_processor(self, pre_processor: Any) -> None:
        """Apply ``pre_processor.pre_process(ds)`` (in place) to every minibatch (a
        normaliser, DL4J's ``DataSetPreProcessor``); ``None`` removes it."""
        self._pre_processor = pre_processor

    def get_pre_processor(self) -> Any:
        return getattr(self, "_pre_processor", None)

    def __iter__(self) -> Iterator[DataSet]:
        """One whole epoch from the start (resets first)."""
        self.reset()
        self._mark_epoch()
        while self.has_next():
            yield self.next()

    def __next__(self) -> DataSet:
        if not self.has_next():
            raise StopIteration
        return self.next()

    def _mark_epoch(self) -> None:
        if getattr(self, "_epoch_started", False):
            self._epoch = getattr(self, "_epoch", 0) + 1
        self._epoch_started = True

    @property
    def epoch(self) -> int:
        """How many epochs ``for ds in it`` has started before the current one."""
        return getattr(self, "_epoch", 0)

    def set_epoch(self, epoch: int) -> None:
        """Start over at epoch ``epoch`` (for iterators whose order depends on it)."""
        self.reset()
        self._epoch, self._epoch_started = epoch, False

    @property
    def world_size(self) -> int:
        return 1

    def shard(self, rank: int, world_size: int) -> DataSetIterator:
        """This rank's minibatches (see :class:`ShardedDataSetIterator`)."""
        return ShardedDataSetIterator(self, rank, world_size)


class ListDataSetIterator(DataSetIterator):
    """Minibatches of ``batch`` DataSets at a time from a list (DL4J's
    ``ListDataSetIterator``), merged with :meth:`DataSet.merge` (padding at the end)."""

    def __init__(self, datasets: Sequence[DataSet], batch: int = 10) -> None:
        super().__init__()
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise SeqDataError(f"ListDataSetIterator: expected batch >= 1, found {batch!r}")
        self._datasets = list(datasets)
        for i, ds in enumerate(self._datasets):
            if not isinstance(ds, DataSet):
                raise SeqDataError(f"ListDataSetIterator: expected DataSet objects, found "
                                   f"{type(ds).__name__} at index {i}")
        self._batch = batch
        self._position = 0

    def __len__(self) -> int:
        return -(-len(self._datasets) // self._batch)

    def has_next(self) -> bool:
        return self._position < len(self._datasets)

    def next(self, num: int | None = None) -> DataSet:
        if not self.has_next():
            raise SeqDataError("ListDataSetIterator: no more minibatches; call reset()")
        take = self._batch if num is None else num
        part = self._datasets[self._position:self._position + take]
        self._position += len(part)
        return DataSet.merge(part)

    def reset(self) -> None:
        self._position = 0

    def batch(self) -> int:
        return self._batch


class ShardedDataSetIterator(DataSetIterator):
    """Minibatch ``i`` of every epoch of ``inner`` goes to rank ``i % world_size``.

    Lock-step training needs the same number of minibatches on every rank, and nothing may be
    dropped silently, so ``len(inner)`` must be a multiple of ``world_size`` (otherwise a
    :class:`SeqDataError` says so; evaluation then runs all of the data on every rank).
    seqdata's own iterator shards by sequence instead and fits any count.
    """

    def __init__(self, inner: DataSetIterator, rank: int, world_size: int) -> None:
        super().__init__()
        if not 0 <= rank < world_size:
            raise SeqDataError(f"shard: expected 0 <= rank < world_size, found rank {rank} of "
                               f"{world_size}")
        try:
            total = len(inner)  # type: ignore[arg-type]
        except TypeError:
            raise SeqDataError(f"shard: {type(inner).__name__} must define __len__ (the "
                               "number of minibatches) to be split into equal shards") from None
        self._inner, self._rank, self._world = inner, rank, world_size
        self._count = total // world_size
        if self._count == 0 or total % world_size:
            raise SeqDataError(
                f"shard: expected a number of minibatches divisible by the {world_size} ranks, "
                f"found {total} in {type(inner).__name__}; give it a multiple of "
                f"{world_size} minibatches or its own shard(rank, world_size)")
        self._taken = 0

    @property
    def world_size(self) -> int:
        return self._world

    def __len__(self) -> int:
        return self._count

    def has_next(self) -> bool:
        return self._taken < self._count

    def next(self, num: int | None = None) -> DataSet:
        if not self.has_next():
            raise SeqDataError("shard: no more minibatches; call reset()")
        skip = self._rank if self._taken == 0 else self._world - 1
        for _ in range(skip):
            self._inner.next()
        self._taken += 1
        return self._inner.next()

    def reset(self) -> None:
        self._inner.reset()
        self._taken = 0

    def set_epoch(self, epoch: int) -> None:
        self._inner.set_epoch(epoch)
        self._taken = 0

    def input_columns(self) -> int:
        return self._inner.input_columns()

    def total_outcomes(self) -> int:
        return self._inner.total_outcomes()

    def batch(self) -> int:
        return self._inner.batch()

    # The inner iterator applies its own pre-processor.
    applies_pre_processor = True


class AsyncDataSetIterator(DataSetIterator):
    """Minibatches of ``inner`` prepared ahead by a background thread (DL4J's
    ``AsyncDataSetIterator``), at most ``queue_size`` waiting."""

    applies_pre_processor = True

    def __init__(self, inner: DataSetIterator, queue_size: int = 2) -> None:
        super().__init__()
        if queue_size < 1:
            raise SeqDataError(f"AsyncDataSetIterator: expected queue_size >= 1, found "
                               f"{queue_size}")
        self._inner, self._size = inner, queue_size
        self._queue: queue.Queue | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._head: Any = None

    def _start(self) -> None:
        self._stop = threading.Event()
        q: queue.Queue = queue.Queue(maxsize=self._size)
        stop = self._stop

        def run() -> None:
            try:
                while not stop.is_set() and self._inner.has_next():
                    q.put((self._inner.next(), None))
            except BaseException as e:  # re-raised in the consumer
                q.put((None, e))
            q.put((None, StopIteration()))

        self._queue = q
        self._thread = threading.Thread(target=run, name="seqdata-async", daemon=True)
        self._thread.start()
        self._head = None

    def _fill(self) -> None:
        if self._queue is None:
            self._start()
        if self._head is None:
            assert self._queue is not None
            self._head = self._queue.get()

    def has_next(self) -> bool:
        self._fill()
        return not isinstance(self._head[1], StopIteration)

    def next(self, num: int | None = None) -> DataSet:
        self._fill()
        ds, error = self._head
        if isinstance(error, StopIteration):
            raise SeqDataError("AsyncDataSetIterator: no more minibatches; call reset()")
        if error is not None:
            self._head = (None, StopIteration())
            raise error
        self._head = None
        pre = self.get_pre_processor()
        if pre is not None:
            pre.pre_process(ds)
        return ds

    def reset(self) -> None:
        self._stop.set()
        if self._queue is not None and self._thread is not None:
            while self._thread.is_alive():   # unblock the thread so that it sees the stop
                try:
                    self._queue.get(timeout=0.01)
                except queue.Empty:
                    pass
        self._queue = None
        self._head = None
        self._inner.reset()

    def __len__(self) -> int:
        return len(self._inner)  # type: ignore[arg-type]

    def input_columns(self) -> int:
        return self._inner.input_columns()

    def total_outcomes(self) -> int:
        return self._inner.total_outcomes()

    def batch(self) -> int:
        return self._inner.batch()
