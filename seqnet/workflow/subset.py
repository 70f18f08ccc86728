"""A reader over some sequences of another reader (a range of a store, a carved split)."""

from __future__ import annotations

from collections.abc import Sequence

from seqdata.readers.base import Indices, RaggedBatch, SequenceRecord, SequenceRecordReader


class SubsetReader(SequenceRecordReader):
    """The sequences ``indices`` of another reader, in that order (a range of a store).

    >>> from seqdata.readers.base import CollectionSequenceRecordReader
    >>> r = SubsetReader(CollectionSequenceRecordReader([[1], [2], [3]]), [2, 0])
    >>> r.initialize(); [rec.values.tolist() for rec in r]
    [[[3.0]], [[1.0]]]
    """

    def __init__(self, inner: SequenceRecordReader, indices: Sequence[int]) -> None:
        self._inner = inner
        self._indices = list(indices)

    def initialize(self, split: object = None) -> None:
        self._inner.initialize()
        self.reset()

    def __len__(self) -> int:
        return len(self._indices)

    def load_sequences(self, indices: Indices) -> list[SequenceRecord]:
        return self._inner.load_sequences([self._indices[i] for i in indices])

    def load_ragged(self, indices: Indices) -> RaggedBatch:
        return self._inner.load_ragged([self._indices[i] for i in indices])
