"""``.npy`` sequence files: one ``[T, ...]`` array per file (image sequences, video frames).

>>> import os, tempfile
>>> import numpy as np
>>> from seqdata.splits import ListSplit
>>> d = tempfile.mkdtemp()
>>> np.save(os.path.join(d, "clip.npy"), np.zeros((5, 8, 8), dtype=np.uint8))
>>> reader = NpySequenceRecordReader()
>>> reader.initialize(ListSplit([os.path.join(d, "clip.npy")]))
>>> record = reader.next_sequence()
>>> record.values.shape, record.values.dtype
((5, 8, 8), dtype('float32'))
"""

from __future__ import annotations

import io
from typing import Sequence

import numpy as np

from seqdata.errors import ParseError, SeqDataError
from seqdata.readers.base import RaggedBatch, SequenceRecord, SequenceRecordReader
from seqdata.readers._files import checked_locations, local_path, parallel_map, read_bytes

__all__ = ["NpySequenceRecordReader"]


class NpySequenceRecordReader(SequenceRecordReader):
    """Reads one sequence per ``.npy`` file; ``values`` is the stored ``[T, ...]`` array.

    ``float64`` arrays stay ``float64``; every other real numeric dtype (``uint8`` frames,
    ``float16``, integers, booleans) becomes ``float32``, the dtype models train in. Files are
    loaded with ``allow_pickle=False``: an object array is an error, never code to run. A scalar,
    an empty sequence (``T == 0``), a non-numeric dtype or a corrupt file raise
    :class:`~seqdata.errors.ParseError` naming the file. Missing local files are reported at
    :meth:`initialize`, URLs at first read.
    """

    def __init__(self) -> None:
        self._locations: list[str] | None = None
        self._local_paths: list[str | None] = []

    def initialize(self, split: object = None) -> None:
        """Bind to ``split`` (an :class:`~seqdata.splits.InputSplit`) and check local files."""
        self._locations = checked_locations(split)
        self._local_paths = [local_path(location) for location in self._locations]
        self.reset()

    def __len__(self) -> int:
        return len(self._require_locations())

    def locations(self) -> list[str]:
        """The files this reader reads, in index order."""
        return list(self._require_locations())

    def load_sequences(self, indices: Sequence[int]) -> list[SequenceRecord]:
        locations = self._require_locations()
        n = len(locations)
        for i in indices:
            if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)) \
                    or not -n <= i < n:
                raise SeqDataError(
                    f"sequence index {i!r} out of range: the reader holds {n} sequences")
        files = [(locations[i], self._local_paths[i]) for i in indices]
        loaded = parallel_map(_load_file, files)
        return [SequenceRecord(values, location) for values, (location, _) in zip(loaded, files)]

    def load_ragged(self, indices: Sequence[int]) -> RaggedBatch:
        records = self.load_sequences(indices)
        if not records:
            raise SeqDataError("cannot load zero sequences: indices is empty")
        step_shape = records[0].values.shape[1:]
        for record in records[1:]:
            if record.values.shape[1:] != step_shape:
                raise ParseError(
                    f"expected steps of shape {step_shape} (as in {records[0].source}), found "
                    f"{record.values.shape[1:]}; all sequences of a batch must share it",
                    record.source)
        return RaggedBatch.from_records(records)

    def _require_locations(self) -> list[str]:
        if self._locations is None:
            raise SeqDataError("this reader is not initialised: call initialize(split) first")
        return self._locations


def _load_file(file: tuple[str, str | None]) -> np.ndarray:
    location, path = file
    data = read_bytes(location, path)
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    # A corrupt header reaches numpy's tokenizer and literal parser, which raise whatever they
    # raise (TokenError, SyntaxError, KeyError, ...): any failure here means an unreadable file.
    except Exception as e:
        raise ParseError(f"not a readable .npy array file: {e}", location) from None
    if not isinstance(array, np.ndarray):
        raise ParseError(f"expected one .npy array, found {type(array).__name__} (an .npz "
                         "archive?)", location)
    if array.ndim == 0 or array.shape[0] == 0:
        raise ParseError(f"expected a [T, ...] array with T >= 1, found shape {array.shape}",
                         location)
    if array.dtype == np.float64:
        return array
    if array.dtype.kind not in "biuf":
        raise ParseError(f"expected a real numeric array, found dtype {array.dtype}", location)
    return array.astype(np.float32)
