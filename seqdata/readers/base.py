"""The sequence record reader protocol every source implements.

A reader holds an ordered collection of sequences, each a ``[T, C]`` array (``[T, ...]`` for
image sequences). Readers give random access by index (``load_sequences``) so that iterators
can shuffle, bucket, shard and rebuild from meta data; the DL4J cursor API
(``has_next`` / ``next_sequence`` / ``reset``) is built on top of it here, once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np

from seqdata.errors import ParseError, SeqDataError

# Sequence indices, as a list or as the numpy array an iterator's epoch plan holds.
Indices: TypeAlias = "Sequence[int] | np.ndarray"


@dataclass(frozen=True)
class SequenceRecord:
    """One sequence: ``values`` is ``[T, C]`` (time-major), ``source`` where it came from.

    ``first_line`` is the 1-based line of the source file that holds step 0 (it counts
    skipped header lines), so that errors found later can still name the line.
    """

    values: np.ndarray
    source: str
    first_line: int = 1


@dataclass(frozen=True)
class RaggedBatch:
    """Several sequences stacked along time: the form batch assembly works on.

    ``values`` is ``[sum(lengths), ...]``: sequence ``i`` occupies the ``lengths[i]`` rows after
    those of sequences ``0 .. i-1`` (:func:`seqdata.alignment.sequence_offsets`).
    ``first_lines[i]`` is the 1-based source line of
    sequence ``i``'s step 0 (for error messages).
    """

    values: np.ndarray
    lengths: np.ndarray
    sources: list[str]
    first_lines: np.ndarray

    @classmethod
    def from_records(cls, records: Sequence[SequenceRecord]) -> RaggedBatch:
        if not records:
            raise SeqDataError("cannot build a batch from zero sequences")
        shape = records[0].values.shape[1:]
        for r in records[1:]:
            if r.values.shape[1:] != shape:
                raise ParseError(
                    f"expected every sequence of a batch to have step shape {shape} "
                    f"(as {records[0].source}), found {r.values.shape[1:]}", path=r.source)
        values = np.concatenate([r.values for r in records], axis=0)
        return cls(values=values,
                   lengths=np.array([len(r.values) for r in records], dtype=np.int64),
                   sources=[r.source for r in records],
                   first_lines=np.array([r.first_line for r in records], dtype=np.int64))


class SequenceRecordReader(ABC):
    """Random-access reader of sequences with DL4J's cursor methods on top.

    Subclasses implement :meth:`initialize`, :meth:`__len__` and :meth:`load_sequences`.
    """

    _cursor: int = 0

    @abstractmethod
    def initialize(self, split: object = None) -> None:
        """Bind the reader to its input (a split, for file readers) and check it exists."""

    @abstractmethod
    def __len__(self) -> int:
        """Number of sequences."""

    @abstractmethod
    def load_sequences(self, indices: Indices) -> list[SequenceRecord]:
        """Load the sequences at ``indices`` (in that order); readers may do it concurrently."""

    def load_ragged(self, indices: Indices) -> RaggedBatch:
        """Load the sequences at ``indices`` stacked along time.

        Iterators assemble minibatches from this. Readers that hold their data packed (the
        store) override it with a vectorised gather; the default stacks ``load_sequences``.
        """
        return RaggedBatch.from_records(self.load_sequences(indices))

    def load_sequence(self, index: int) -> SequenceRecord:
        """Load one sequence by index without moving the cursor."""
        return self.load_sequences([index])[0]

    def has_next(self) -> bool:
        return self._cursor < len(self)

    def next_sequence(self) -> SequenceRecord:
        if not self.has_next():
            raise SeqDataError(
                f"no more sequences: all {len(self)} were read; call reset() to start over")
        record = self.load_sequence(self._cursor)
        self._cursor += 1
        return record

    def reset(self) -> None:
        self._cursor = 0

    def __iter__(self) -> Iterator[SequenceRecord]:
        self.reset()
        while self.has_next():
            yield self.next_sequence()


class CollectionSequenceRecordReader(SequenceRecordReader):
    """Sequences held in memory, as DL4J's ``CollectionSequenceRecordReader``.

    >>> r = CollectionSequenceRecordReader([[[1, 2], [3, 4]], [[5, 6]]])
    >>> r.initialize()
    >>> len(r), r.next_sequence().values.shape
    (2, (2, 2))
    """

    def __init__(self, sequences: Sequence[object]) -> None:
        self._records = []
        for i, seq in enumerate(sequences):
            try:
                arr = np.asarray(seq, dtype=np.float64)
            except (ValueError, TypeError) as e:
                raise SeqDataError(f"sequence {i}: expected a [T, C] array of numbers with "
                                   f"rows of one length, found {type(seq).__name__} ({e})"
                                   ) from None
            if arr.ndim == 1:
                arr = arr[:, None]
            if arr.ndim < 2 or arr.shape[0] == 0:
                raise SeqDataError(
                    f"sequence {i}: expected a non-empty [T, C] array, found shape {arr.shape}")
            self._records.append(SequenceRecord(arr, f"<collection>[{i}]"))

    def initialize(self, split: object = None) -> None:
        self.reset()

    def __len__(self) -> int:
        return len(self._records)

    def load_sequences(self, indices: Indices) -> list[SequenceRecord]:
        n = len(self._records)
        for i in indices:
            if not -n <= i < n:
                raise SeqDataError(f"sequence index {i} out of range: the reader holds {n} "
                                   "sequences")
        return [self._records[i] for i in indices]
