"""SequenceRecordReaderDataSetIterator: padded, masked minibatches from sequence readers.

The iterator decides which sequences go into which minibatch (order, shuffling, bucketing,
sharding), loads each minibatch with ``reader.load_ragged(indices)`` and hands the stacked
sequences to the pure functions of :mod:`seqdata.alignment`. It holds only the index plan of
an epoch and at most ``1 + prefetch`` minibatches at a time.

>>> from seqdata.readers.base import CollectionSequenceRecordReader
>>> features = CollectionSequenceRecordReader([[[1], [2], [3]], [[4], [5]]])
>>> labels = CollectionSequenceRecordReader([[[0]], [[1]]])
>>> it = SequenceRecordReaderDataSetIterator(features, labels, 2, 2,
...     alignment_mode=SequenceRecordReaderDataSetIterator.AlignmentMode.ALIGN_END)
>>> ds = it.next()
>>> ds.labels_mask.tolist()
[[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
>>> len(it), it.has_next()
(1, False)
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias, cast, overload

import numpy as np

from seqdata import arguments
from seqdata.alignment import (
    AlignmentMode,
    align_starts,
    as_rows,
    check_equal_length,
    needs_mask,
    one_hot_classes,
    pad_one_hot,
    pad_sequences,
    sequence_mask,
)
from seqdata.dataset import DataSet
from seqdata.dataset_iterator import DataSetIterator
from seqdata.errors import AlignmentError, LabelError, ParseError, SeqDataError
from seqdata.prefetch import Prefetcher
from seqdata.readers.base import RaggedBatch, SequenceRecordReader
from seqdata.roles import ColumnRoles, check_role_arguments, infer_roles, label_file_roles
from seqdata.sampling import epoch_plan, num_batches

# Inside the class, AlignmentMode names the class attribute (DL4J's nested access path, SPEC
# section 4); its annotations use this alias of the one enum.
_Mode: TypeAlias = AlignmentMode

__all__ = ["AlignmentMode", "DataSetPreProcessor", "ExampleMetaData",
           "SequenceRecordReaderDataSetIterator"]

class DataSetPreProcessor(Protocol):
    """Anything with ``pre_process(ds)`` that changes a DataSet in place (normalisers do)."""

    def pre_process(self, ds: DataSet) -> None: ...


@dataclass(frozen=True)
class ExampleMetaData:
    """Where one example of a DataSet came from: the sequence index in the reader(s) and the
    sources (file paths) of its features and labels (``None`` with one reader)."""

    index: int
    features_source: str
    labels_source: str | None = None


def _two_readers(features_reader, labels_reader, mini_batch_size, num_possible_labels,
                 regression=False, alignment_mode=AlignmentMode.EQUAL_LENGTH):
    """Signature of DL4J's two-reader constructor (used to bind arguments)."""


def _one_reader(reader, mini_batch_size, num_possible_labels, label_index, regression=False):
    """Signature of DL4J's one-reader constructor (used to bind arguments)."""


class SequenceRecordReaderDataSetIterator(DataSetIterator):
    """DL4J's ``SequenceRecordReaderDataSetIterator``, with both constructor forms.

    Two readers (features and labels in separate files)::

        SequenceRecordReaderDataSetIterator(features_reader, labels_reader, mini_batch_size,
            num_possible_labels, regression=False, alignment_mode=AlignmentMode.EQUAL_LENGTH)

    One reader (labels are column(s) of the feature file; always ALIGN_START)::

        SequenceRecordReaderDataSetIterator(reader, mini_batch_size, num_possible_labels,
            label_index, regression=False)

    Keyword-only options beyond DL4J, all off by default:

    - ``collect_meta_data=True``: each DataSet carries ``example_meta_data`` (a list of
      :class:`ExampleMetaData`), and :meth:`load_from_meta_data` rebuilds it.
    - ``shuffle=True`` with ``seed``: a new order every epoch; epoch ``e`` (counting from 0)
      uses ``numpy.random.default_rng(seed + e)``, so runs with the same seed repeat exactly.
      Without a seed one is drawn once at construction.
    - ``bucket_by_length``: ``True`` or a number of minibatches ``w`` (``True`` means
      :data:`seqdata.arguments.DEFAULT_BUCKET_WINDOW`). The epoch order is cut into windows
      of ``w`` minibatches; each window is sorted by sequence length and then batched, so a
      minibatch holds sequences of similar length and needs less padding. With ``shuffle``
      the order of the minibatches is shuffled too. :attr:`padding_fraction` reports the
      fraction of padded feature steps of the current (or last finished) epoch. Lengths come
      from ``reader.sequence_lengths()`` when the reader has it, otherwise from one pass over the
      data (done once, minibatch by minibatch).
    - ``prefetch=N``: a background thread assembles up to ``N`` minibatches ahead; an error
      there is raised in the consumer at the minibatch that caused it.
    - :meth:`shard` gives rank ``r`` of ``W`` its own iterator over a disjoint part of the
      sequences with the same number of minibatches on every rank; :meth:`set_epoch` lets
      copies that cannot see each other's resets agree on an epoch's shuffle.

    Epochs: ``for ds in it`` always runs one whole epoch from the start (it calls
    :meth:`reset` first); :meth:`has_next`, :meth:`next` and :meth:`reset` behave as in DL4J
    with no implicit reset. A :meth:`reset` after at least one minibatch starts a new epoch.
    """

    AlignmentMode = AlignmentMode
    applies_pre_processor = True

    @overload
    def __init__(self, features_reader: SequenceRecordReader,
                 labels_reader: SequenceRecordReader, mini_batch_size: int,
                 num_possible_labels: int, regression: bool = False,
                 alignment_mode: _Mode = AlignmentMode.EQUAL_LENGTH, *,
                 collect_meta_data: bool = False, shuffle: bool = False, seed: int | None = None,
                 bucket_by_length: bool | int = False, prefetch: int = 0) -> None: ...

    @overload
    def __init__(self, reader: SequenceRecordReader, mini_batch_size: int,
                 num_possible_labels: int, label_index: int, regression: bool = False, *,
                 collect_meta_data: bool = False, shuffle: bool = False, seed: int | None = None,
                 bucket_by_length: bool | int = False, prefetch: int = 0) -> None: ...

    def __init__(self, *args: Any, collect_meta_data: bool = False, shuffle: bool = False,
                 seed: int | None = None, bucket_by_length: bool | int = False,
                 prefetch: int = 0, **kwargs: Any) -> None:
        two = ("features_reader" in kwargs or "labels_reader" in kwargs
               or (len(args) >= 2 and hasattr(args[1], "load_ragged")))
        form = _two_readers if two else _one_reader
        try:
            bound = inspect.signature(form).bind(*args, **kwargs)
        except TypeError as e:
            raise SeqDataError(
                f"SequenceRecordReaderDataSetIterator{inspect.signature(form)}: {e}") from None
        bound.apply_defaults()
        a = bound.arguments
        self._features_reader = arguments.sequence_reader(
            a["features_reader"] if two else a["reader"], "features_reader" if two else "reader")
        self._labels_reader = (arguments.sequence_reader(a["labels_reader"], "labels_reader")
                               if two else None)
        self._batch_size = arguments.positive_int(a["mini_batch_size"], "mini_batch_size")
        self._num_possible_labels = arguments.integer(a["num_possible_labels"],
                                                      "num_possible_labels")
        self._regression = bool(a["regression"])
        self._label_index = None if two else arguments.integer(a["label_index"], "label_index")
        self._mode = (arguments.alignment_mode(a["alignment_mode"]) if two
                      else AlignmentMode.ALIGN_START)
        self._collect_meta_data = bool(collect_meta_data)
        self._shuffle = bool(shuffle)
        self._seed = (int(seed) if seed is not None
                      else cast(int, np.random.SeedSequence().entropy) % (2 ** 63))
        self._bucket_window = arguments.bucket_window(bucket_by_length)
        self._prefetch = arguments.non_negative_int(prefetch, "prefetch")
        self._rank, self._world_size = 0, 1
        check_role_arguments(self._num_possible_labels, self._regression, two,
                             self._label_index)

        self._num_sequences = len(self._features_reader)
        if self._labels_reader is not None and len(self._labels_reader) != self._num_sequences:
            raise AlignmentError(
                "expected the feature and label readers to hold the same number of sequences, "
                f"found {self._num_sequences} feature and {len(self._labels_reader)} label "
                "sequences")
        self._pre_processor: DataSetPreProcessor | None = None
        self._roles_cache: ColumnRoles | None = None
        self._lengths_cache: np.ndarray | None = None
        self._lock = threading.Lock()
        self._epoch = 0
        self._epoch_started = False
        self._plan: list[np.ndarray] | None = None
        self._position = 0
        self._prefetcher: Prefetcher | None = None
        self._real_steps = 0
        self._total_steps = 0

    # ------------------------------------------------------------------ DL4J surface

    def has_next(self) -> bool:
        """Whether the current epoch has another minibatch (no implicit reset)."""
        return self._position < len(self)

    def next(self, num: int | None = None) -> DataSet:
        """The next minibatch of the current epoch, with the pre-processor applied."""
        if num is not None and num != self._batch_size:
            raise SeqDataError(f"next(num): expected num = mini_batch_size "
                               f"({self._batch_size}) or None, found {num}")
        if not self.has_next():
            raise SeqDataError(
                f"no more minibatches: all {len(self)} of this epoch were returned; call "
                "reset() to start a new epoch")
        plan = self._epoch_plan()
        self._epoch_started = True
        if self._prefetch:
            if self._prefetcher is None:
                self._prefetcher = Prefetcher(self._assemble, plan[self._position:],
                                              self._prefetch)
            try:
                ds = self._prefetcher.get()
            except BaseException:
                # The thread stopped at this minibatch; the next call retries from here.
                self._close_prefetcher()
                raise
        else:
            ds = self._assemble(plan[self._position])
        self._position += 1
        if self._pre_processor is not None:
            self._pre_processor.pre_process(ds)
        self._count_padding(ds)
        return ds

    def skip(self, count: int) -> None:
        """Pass over the next ``count`` minibatches of the epoch without reading them (a
        DataLoader worker takes every W-th minibatch this way)."""
        count = arguments.non_negative_int(count, "count")
        if count:
            self._close_prefetcher()
            self._epoch_started = True
            self._position = min(len(self), self._position + count)

    def __next__(self) -> DataSet:
        if not self.has_next():
            raise StopIteration
        return self.next()

    def __iter__(self) -> Iterator[DataSet]:
        self.reset()
        while self.has_next():
            yield self.next()

    def reset(self) -> None:
        """Start over; after at least one minibatch this begins a new epoch (new shuffle)."""
        self._close_prefetcher()
        if self._epoch_started:
            self._epoch += 1
        self._epoch_started = False
        self._plan = None
        self._position = 0
        self._real_steps = self._total_steps = 0
        self._features_reader.reset()
        if self._labels_reader is not None:
            self._labels_reader.reset()

    def __len__(self) -> int:
        """Number of minibatches per epoch (of this shard)."""
        return num_batches(self._num_sequences, self._batch_size, self._world_size)

    @property
    def rank(self) -> int:
        """Which shard this iterator is (0 when it is not a shard)."""
        return self._rank

    @property
    def world_size(self) -> int:
        """How many shards the data was split into (1 when it is not a shard)."""
        return self._world_size

    def batch(self) -> int:
        """The minibatch size (the last minibatch of an epoch may be smaller)."""
        return self._batch_size

    def input_columns(self) -> int:
        """Number of feature channels ``C`` (reads one sequence, never consumes a batch)."""
        return self._roles().n_features

    def total_outcomes(self) -> int:
        """Number of label channels (0 for features-only data); never consumes a batch."""
        return self._roles().n_outcomes

    def reset_supported(self) -> bool:
        return True

    def async_supported(self) -> bool:
        return True

    def set_pre_processor(self, pre_processor: DataSetPreProcessor | None) -> None:
        """Apply ``pre_processor.pre_process(ds)`` (in place) once to every minibatch."""
        self._pre_processor = pre_processor

    def get_pre_processor(self) -> DataSetPreProcessor | None:
        return self._pre_processor

    @property
    def epoch(self) -> int:
        """The current epoch number, counting from 0 (it picks the shuffle order)."""
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Start over at epoch ``epoch`` (as ``DistributedSampler.set_epoch``).

        Copies of an iterator (DataLoader workers, ranks) that cannot see each other's
        resets use this to agree on the shuffle order of an epoch.
        """
        self.reset()
        self._epoch = arguments.non_negative_int(epoch, "epoch")

    @property
    def padding_fraction(self) -> float:
        """Fraction of feature steps that are padding, over the minibatches returned in the
        current epoch (after a full pass: that epoch). 0.0 before the first minibatch."""
        if self._total_steps == 0:
            return 0.0
        return 1.0 - self._real_steps / self._total_steps

    def load_from_meta_data(self, meta: Sequence[ExampleMetaData] | ExampleMetaData) -> DataSet:
        """Rebuild the DataSet of the given examples (the pre-processor is applied, as DL4J).

        Passing a DataSet's ``example_meta_data`` gives a DataSet identical to it.
        """
        records = [meta] if isinstance(meta, ExampleMetaData) else list(meta)
        if not records:
            raise SeqDataError("load_from_meta_data needs at least one record, found none")
        indices = np.array([m.index for m in records], dtype=np.int64)
        if indices.min() < 0 or indices.max() >= self._num_sequences:
            raise SeqDataError(
                f"meta data names sequence index {int(indices.max())}, expected indices in "
                f"[0, {self._num_sequences})")
        ds = self._assemble(indices, meta=True)
        for rec, got in zip(records, ds.example_meta_data or []):
            if (rec.features_source, rec.labels_source) != (got.features_source,
                                                            got.labels_source):
                raise SeqDataError(
                    f"sequence index {rec.index}: meta data says {rec.features_source!r} / "
                    f"{rec.labels_source!r} but the readers now hold {got.features_source!r} / "
                    f"{got.labels_source!r}")
        if self._pre_processor is not None:
            self._pre_processor.pre_process(ds)
        return ds

    # NOTE [ How shards stay exact and equal ]
    # Rank r of W takes every W-th sequence of the epoch order, starting at r, so the shards
    # are disjoint, cover every sequence, and their sizes differ by at most one. Every rank
    # makes the same number of minibatches, k = ceil(ceil(n / W) / batch): a rank fills its
    # minibatches greedily up to `batch` but leaves at least one sequence for each minibatch
    # still to come, so a rank with one sequence fewer ends with a smaller minibatch instead
    # of one minibatch fewer (no sequence is repeated or dropped). That needs every rank to
    # have at least k sequences; when it cannot hold (e.g. batch 1 and n not a multiple of W)
    # shard() says so. With shuffle, every rank must use the same seed: the global order is
    # shuffled first and then dealt out.
    def shard(self, rank: int, world_size: int) -> SequenceRecordReaderDataSetIterator:
        """A new iterator over the sequences of shard ``rank`` of ``world_size``.

        Shards are disjoint, cover every sequence exactly once per epoch, and give every rank
        the same number of minibatches (see NOTE [ How shards stay exact and equal ]). The
        shard starts at this iterator's current epoch and keeps its pre-processor and options.
        """
        world_size = arguments.positive_int(world_size, "world_size")
        rank = arguments.integer(rank, "rank")
        if not 0 <= rank < world_size:
            raise SeqDataError(f"shard rank must be in [0, {world_size}), found {rank}")
        if self._world_size != 1:
            raise SeqDataError(
                f"this iterator is already shard {self._rank} of {self._world_size}; shard the "
                "unsharded iterator instead")
        n, b = self._num_sequences, self._batch_size
        batches = num_batches(n, b, world_size)
        if world_size > 1 and batches > n // world_size:
            raise SeqDataError(
                f"cannot split {n} sequences into {world_size} shards with the same number of "
                f"minibatches of at most {b}: every rank needs {batches} minibatches but some "
                f"rank has only {n // world_size} sequences; use a larger mini_batch_size, a "
                "number of sequences divisible by world_size, or fewer ranks")
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._rank, clone._world_size = rank, world_size
        clone._lock = threading.Lock()
        clone._epoch_started = False           # the shard starts at the parent's epoch
        clone._plan, clone._position, clone._prefetcher = None, 0, None
        clone._real_steps = clone._total_steps = 0
        return clone

    def close(self) -> None:
        """Stop the prefetch thread, if any (also done by reset() and garbage collection)."""
        self._close_prefetcher()

    def __getstate__(self) -> dict[str, Any]:
        # A copy (pickled into a DataLoader worker, say) starts its epoch afresh: locks and
        # the prefetch thread belong to this process.
        state = dict(self.__dict__)
        state.update(_lock=None, _prefetcher=None, _plan=None, _position=0)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __del__(self) -> None:
        prefetcher = self.__dict__.get("_prefetcher")
        if prefetcher is not None:
            prefetcher.stop()

    def __repr__(self) -> str:
        return (f"SequenceRecordReaderDataSetIterator(sequences={self._num_sequences}, "
                f"batch={self._batch_size}, minibatches={len(self)}, mode={self._mode.name}, "
                f"shard={self._rank}/{self._world_size})")

    # ------------------------------------------------------------------ epoch plan

    def _epoch_plan(self) -> list[np.ndarray]:
        if self._plan is None:
            self._plan = self._make_plan(self._epoch)
        return self._plan

    def _make_plan(self, epoch: int) -> list[np.ndarray]:
        """The sequence indices of every minibatch of ``epoch`` (of this shard)."""
        lengths = self._sequence_lengths() if self._bucket_window else None
        return epoch_plan(self._num_sequences, self._batch_size, len(self),
                          rank=self._rank, world_size=self._world_size,
                          seed=self._seed + epoch if self._shuffle else None,
                          lengths=lengths, bucket_window=self._bucket_window)

    def _sequence_lengths(self) -> np.ndarray:
        """Per-sequence length (the longer of features and labels), computed once."""
        with self._lock:
            if self._lengths_cache is None:
                readers = [r for r in (self._features_reader, self._labels_reader)
                           if r is not None]
                per_reader = [_reader_lengths(r, self._num_sequences, self._batch_size)
                              for r in readers]
                self._lengths_cache = np.maximum.reduce(per_reader)
            return self._lengths_cache

    def _count_padding(self, ds: DataSet) -> None:
        features = ds.features
        if getattr(features, "ndim", 0) != 3:
            return
        total = features.shape[0] * features.shape[2]
        mask = ds.features_mask
        self._real_steps += total if mask is None else int(np.count_nonzero(mask))
        self._total_steps += total

    def _close_prefetcher(self) -> None:
        if self._prefetcher is not None:
            self._prefetcher.stop()
            self._prefetcher = None

    # ------------------------------------------------------------------ batch assembly

    def _roles(self) -> ColumnRoles:
        """Column roles, fixed from the first sequence of each reader (read once)."""
        with self._lock:
            if self._roles_cache is None:
                self._roles_cache = self._compute_roles()
            return self._roles_cache

    def _compute_roles(self) -> ColumnRoles:
        if self._num_sequences == 0:
            raise SeqDataError("the reader holds no sequences, so it has no columns")
        first = self._features_reader.load_sequences([0])[0]
        n_cols = as_rows(first.values, len(first.values)).shape[1]
        if self._labels_reader is not None:
            label = self._labels_reader.load_sequences([0])[0]
            n_label_cols = as_rows(label.values, len(label.values)).shape[1]
            return label_file_roles(n_cols, label, n_label_cols, self._num_possible_labels,
                                    self._regression)
        assert self._label_index is not None  # one reader: set by __init__
        return infer_roles(n_cols, self._num_possible_labels, self._regression,
                           self._label_index, first.source)

    def _assemble(self, indices: np.ndarray, meta: bool = False) -> DataSet:
        """Load the sequences at ``indices`` and build their padded, masked DataSet."""
        indices = np.asarray(indices, dtype=np.int64)
        roles = self._roles()
        try:
            fb = _load(self._features_reader, indices)
        except LabelError:
            raise
        except ParseError as e:
            # One reader, classification: a bad field in the label column is a label error.
            if self._labels_reader is None and not self._regression \
                    and roles.label_columns is not None and e.column is not None \
                    and e.column - 1 in np.arange(roles.n_columns)[roles.label_columns]:
                raise LabelError(f"cannot convert the class label to one-hot: {e.reason}",
                                 e.path, e.line, e.column) from None
            raise
        f_rows = as_rows(fb.values, int(np.sum(fb.lengths)))
        _check_width(f_rows, roles.n_columns, fb, self._features_reader, "feature")
        if self._labels_reader is not None:
            try:
                lb = _load(self._labels_reader, indices)
            except LabelError:
                raise
            except ParseError as e:
                if self._regression:
                    raise
                raise LabelError(f"cannot convert the class label to one-hot: {e.reason}",
                                 e.path, e.line, e.column) from None
            l_rows = as_rows(lb.values, int(np.sum(lb.lengths)))
            _check_width(l_rows, roles.n_label_columns, lb, self._labels_reader, "label")
            label_column = 1
        else:
            lb, l_rows, label_column = fb, f_rows, None
        if self._mode is AlignmentMode.EQUAL_LENGTH:
            check_equal_length(fb.lengths, lb.lengths, fb.sources, lb.sources, indices)
        with_labels = roles.label_columns is not None
        f_starts, l_starts, T = align_starts(fb.lengths, lb.lengths if with_labels else None,
                                             self._mode)
        features = pad_sequences(f_rows, fb.lengths, f_starts, T, roles.feature_columns)
        labels = labels_mask = None
        if l_starts is not None:  # with labels: align_starts placed them
            if self._regression:
                labels = pad_sequences(l_rows, lb.lengths, l_starts, T, roles.label_columns)
            else:
                col = int(np.arange(l_rows.shape[1])[roles.label_columns][0])
                classes = one_hot_classes(l_rows[:, col], lb.lengths, self._num_possible_labels,
                                          lb.sources, lb.first_lines,
                                          column=label_column or col + 1)
                labels = pad_one_hot(classes, lb.lengths, l_starts, T, self._num_possible_labels)
            if needs_mask(lb.lengths, l_starts, T):
                labels_mask = sequence_mask(lb.lengths, l_starts, T)
        features_mask = (sequence_mask(fb.lengths, f_starts, T)
                         if needs_mask(fb.lengths, f_starts, T) else None)
        ds = DataSet(features, labels, features_mask, labels_mask)
        if self._collect_meta_data or meta:
            label_sources = (lb.sources if self._labels_reader is not None
                             else [None] * len(indices))
            ds.example_meta_data = [ExampleMetaData(int(i), f, lab) for i, f, lab in
                                    zip(indices, fb.sources, label_sources)]
        return ds


def _load(reader: SequenceRecordReader, indices: np.ndarray) -> RaggedBatch:
    """``reader.load_ragged`` with sequences of different widths reported by file."""
    try:
        return reader.load_ragged(indices)
    except SeqDataError:
        raise
    except ValueError as e:
        records = reader.load_sequences(indices)
        widths = [as_rows(r.values, len(r.values)).shape[1] for r in records]
        for r, w in zip(records, widths):
            if w != widths[0]:
                raise ParseError(
                    f"expected {widths[0]} columns (as in {records[0].source}), found {w}",
                    path=r.source) from None
        raise SeqDataError(f"could not stack sequences {indices.tolist()}: {e}") from e


def _check_width(rows: np.ndarray, expected: int, batch: RaggedBatch,
                 reader: SequenceRecordReader, what: str) -> None:
    if rows.shape[1] != expected:
        first = reader.load_sequences([0])[0].source
        raise ParseError(f"expected {expected} {what} columns (as in {first}), found "
                         f"{rows.shape[1]}", path=batch.sources[0])


def _reader_lengths(reader: SequenceRecordReader, n: int, chunk: int) -> np.ndarray:
    """Every sequence's length: ``reader.sequence_lengths()`` if offered, else one pass."""
    if hasattr(reader, "sequence_lengths"):
        return np.asarray(reader.sequence_lengths(), dtype=np.int64)
    parts = [np.asarray(reader.load_ragged(np.arange(s, min(s + chunk, n))).lengths)
             for s in range(0, n, chunk)]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
