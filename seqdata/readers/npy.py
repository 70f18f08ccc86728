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

import numpy as np

from seqdata.errors import ParseError
from seqdata.locations import parallel_map, read_bytes
from seqdata.readers.base import Indices, SequenceRecord
from seqdata.readers.files import FileSequenceRecordReader

__all__ = ["NpySequenceRecordReader"]


class NpySequenceRecordReader(FileSequenceRecordReader):
    """Reads one sequence per ``.npy`` file; ``values`` is the stored ``[T, ...]`` array.

    ``float64`` arrays stay ``float64``; every other real numeric dtype (``uint8`` frames,
    ``float16``, integers, booleans) becomes ``float32``, the dtype models train in. Files are
    loaded with ``allow_pickle=False``: an object array is an error, never code to run. A scalar,
    an empty sequence (``T == 0``), a non-numeric dtype or a corrupt file raise
    :class:`~seqdata.errors.ParseError` naming the file. Missing local files are reported at
    :meth:`initialize`, URLs at first read.
    """

    def load_sequences(self, indices: Indices) -> list[SequenceRecord]:
        files = self._files(indices)
        loaded = parallel_map(_load_file, files)
        return [SequenceRecord(values, location) for values, (location, _) in zip(loaded, files)]


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
