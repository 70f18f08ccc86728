"""Exporting a store back to numbered CSV files (``seqdata export``).

>>> import os, tempfile
>>> from seqdata.readers.base import CollectionSequenceRecordReader
>>> from seqdata.store.convert import write_store
>>> root = tempfile.mkdtemp()
>>> write_store(CollectionSequenceRecordReader([[[1.5], [2.0]], [[0.25]]]),
...             os.path.join(root, "store"))
>>> paths = export(os.path.join(root, "store"), os.path.join(root, "csv"))
>>> [os.path.relpath(p, root) for p in paths]
['csv/features/seq_0.csv', 'csv/features/seq_1.csv']
>>> open(paths[0]).read()
'1.5\\n2\\n'
"""

from __future__ import annotations

import io
import os

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from seqdata.errors import SeqDataError
from seqdata.progress import Progress
from seqdata.splits import NumberPattern
from seqdata.store.atomic import os_errors
from seqdata.store.reader import SequenceStore

__all__ = ["export"]

_EXPORT_CHUNK = 4096  # sequences formatted per bulk CSV write: bounds memory on large stores


def _csv_blocks(values: np.ndarray, lengths: np.ndarray) -> list[bytes]:
    """One CSV text per sequence, formatted in bulk by Arrow.

    Arrow writes floats in their shortest form that parses back to the same float32, so the
    round trip is exact (``0.1``, not ``0.100000001``).
    """
    table = pa.table({str(c): pa.array(values[:, c]) for c in range(values.shape[1])})
    buf = io.BytesIO()
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, delimiter=","))
    text = buf.getvalue()
    ends = np.flatnonzero(np.frombuffer(text, dtype=np.uint8) == ord("\n")) + 1
    bounds = np.concatenate(([0], ends[np.cumsum(lengths) - 1]))
    return [text[bounds[i]:bounds[i + 1]] for i in range(len(lengths))]


def export(store: SequenceStore | str | os.PathLike[str], out_dir: str | os.PathLike[str],
           pattern: str = "seq_%d.csv", progress: bool = False) -> list[str]:
    """Write a store back to numbered CSV files; returns the paths written.

    Sequence ``i`` (store order, from 0) goes to ``OUT/features/<pattern % i>`` and, when the
    store has labels, its labels to ``OUT/labels/<pattern % i>``: the layout DL4J's examples
    read with two ``NumberedFileInputSplit``s. Existing files of those names are replaced.
    ``pattern`` is a file name following NumberedFileInputSplit's grammar (see
    NOTE [ The %d pattern grammar ] in :mod:`seqdata.splits`). ``progress`` reports each
    chunk of sequences written (:class:`~seqdata.progress.Progress`).
    """
    names = NumberPattern.parse(pattern, "pattern")
    if "/" in pattern:
        raise SeqDataError(f"pattern {pattern!r}: expected a file name with exactly one %d or "
                           "%0Nd token, found a path")
    store = store if isinstance(store, SequenceStore) else SequenceStore(store)
    written: list[str] = []
    for role in store.roles:
        directory = os.path.join(os.fspath(out_dir), role)
        with os_errors(directory, "create the export directory"):
            os.makedirs(directory, exist_ok=True)
        reader = store.reader(role)
        bar = Progress(len(reader), f"export {role}", "sequence", enabled=progress)
        for start in range(0, len(reader), _EXPORT_CHUNK):
            batch = reader.load_ragged(range(start, min(start + _EXPORT_CHUNK, len(reader))))
            for i, block in enumerate(_csv_blocks(batch.values, batch.lengths), start):
                path = os.path.join(directory, names.format(i))
                with os_errors(path, "write the file"), open(path, "wb") as f:
                    f.write(block)
                written.append(path)
            bar.update(len(batch.lengths))
    return written
