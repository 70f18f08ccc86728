"""Opening a packed store and reading its sequences as a :class:`SequenceRecordReader`.

A store is a directory (local, or any URL pyarrow or fsspec understand)::

    PATH/manifest.json              what is inside (written last: its presence means complete)
    PATH/data/part-00000.parquet    one row per sequence, in corpus order
    PATH/data/part-00001.parquet    ...

``PATH/data`` is a plain Parquet dataset: ``pandas.read_parquet("PATH/data")``,
``polars.read_parquet("PATH/data/*.parquet")``, DuckDB's ``read_parquet('PATH/data/*.parquet')``
and ``spark.read.parquet("PATH/data")`` all open it.

>>> import numpy as np, tempfile, os
>>> from seqdata.readers.base import CollectionSequenceRecordReader
>>> from seqdata.store.convert import write_store
>>> out = os.path.join(tempfile.mkdtemp(), "store")
>>> write_store(CollectionSequenceRecordReader([[[1, 2], [3, 4]], [[5, 6]]]), out)
>>> store = SequenceStore(out)
>>> len(store), store.columns("features")
(2, 2)
>>> store.reader("features").load_ragged([1, 0]).values.tolist()
[[5.0, 6.0], [1.0, 2.0], [3.0, 4.0]]
"""

from __future__ import annotations

import os
import posixpath
import threading
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from seqdata.errors import StoreError
from seqdata.readers.base import RaggedBatch, SequenceRecord, SequenceRecordReader
from seqdata.store import manifest as mf
from seqdata.store.writer import ROLE_PREFIX


def resolve(path: str) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem and the path within it for a local path or a URL.

    URLs pyarrow knows (``file://``, ``s3://``, ``gs://``, ``hdfs://``) use pyarrow's own
    filesystems; any other scheme goes through fsspec when it is installed.
    """
    if "://" not in path:
        return pafs.LocalFileSystem(), os.path.abspath(path)
    try:
        return pafs.FileSystem.from_uri(path)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as arrow_error:
        try:
            import fsspec
        except ImportError:
            raise StoreError(f"{path}: pyarrow cannot open this URL ({arrow_error}) and fsspec "
                             "is not installed") from None
        try:
            fs, inner = fsspec.core.url_to_fs(path)
        except (ValueError, ImportError) as e:
            raise StoreError(f"{path}: no filesystem understands this URL ({e})") from None
        return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), inner


class SequenceStore:
    """A packed store written by :func:`seqdata.store.convert.convert` (``seqdata convert``).

    ``manifest`` is the parsed ``manifest.json``; :meth:`reader` gives a sequence record reader
    per role that plugs into :class:`~seqdata.iterator.SequenceRecordReaderDataSetIterator`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._fs, self._root = resolve(self.path)
        where = posixpath.join(self.path, mf.MANIFEST_NAME)
        try:
            with self._fs.open_input_stream(posixpath.join(self._root, mf.MANIFEST_NAME)) as f:
                text = f.read().decode("utf-8")
        except (FileNotFoundError, OSError) as e:
            raise StoreError(f"{self.path}: expected a seqdata store (a directory with "
                             f"{mf.MANIFEST_NAME}), found none ({e})") from None
        self.manifest: dict[str, Any] = mf.loads(text, where)
        self._cache: dict[str, _Decoded] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        # Sent to another process (a DataLoader worker): the decoded data is rebuilt there.
        state = self.__dict__.copy()
        state["_cache"], state["_lock"] = {}, None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return int(self.manifest["num_sequences"])

    def __repr__(self) -> str:
        return f"SequenceStore({self.path!r}, sequences={len(self)})"

    @property
    def roles(self) -> list[str]:
        """``["features"]`` or ``["features", "labels"]``."""
        return [r for r in ("features", "labels") if self.manifest["columns"].get(r) is not None]

    def columns(self, role: str = "features") -> int:
        """Number of columns (values per step) of ``role``."""
        self._check_role(role)
        return int(self.manifest["columns"][role])

    @property
    def data_files(self) -> list[str]:
        """Paths of the Parquet parts within the store's filesystem, in sequence order."""
        return [posixpath.join(self._root, name) for name in self.manifest["parts"]]

    def table(self, columns: Sequence[str] | None = None) -> pa.Table:
        """The store's rows as one Arrow table (all columns unless ``columns`` is given)."""
        try:
            tables = [pq.read_table(p, columns=columns, filesystem=self._fs, memory_map=True)
                      for p in self.data_files]
        except (OSError, pa.ArrowException) as e:
            raise StoreError(f"{self.path}: cannot read the store's Parquet data ({e})") from None
        return pa.concat_tables(tables)

    def sequence_lengths(self, role: str = "features") -> np.ndarray:
        """Length of every sequence of ``role`` (reads only the length column)."""
        self._check_role(role)
        if role in self._cache:
            return self._cache[role].lengths
        column = ROLE_PREFIX[role] + "length"
        return self.table([column]).column(column).to_numpy().astype(np.int64)

    def reader(self, role: str = "features") -> "StoreSequenceRecordReader":
        """A sequence record reader of ``"features"`` or ``"labels"``."""
        self._check_role(role)
        return StoreSequenceRecordReader(self, role)

    # NOTE [ How the store is read ]
    # Parquet is an encoded format: it cannot be mapped into memory and indexed as is. The
    # parts are opened with memory_map=True and a role's columns are decoded once, on first
    # use, into one contiguous float32 buffer plus per-sequence offsets (the Arrow layout of
    # large_list<fixed_size_list<float32, C>>), shared by every reader of the store. Every
    # minibatch is then one numpy take over that buffer, or a zero-copy slice when the
    # requested sequences are consecutive (unshuffled iteration): no Python work per step or
    # per value.
    def _decoded(self, role: str) -> "_Decoded":
        with self._lock:
            if role not in self._cache:
                prefix = ROLE_PREFIX[role]
                names = [role, prefix + "source", prefix + "first_line", prefix + "length"]
                table = self.table(names)
                flat = table.column(role).combine_chunks().flatten().flatten()
                lengths = table.column(names[3]).to_numpy().astype(np.int64)
                offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
                np.cumsum(lengths, out=offsets[1:])
                self._cache[role] = _Decoded(
                    values=flat.to_numpy(zero_copy_only=True).reshape(-1, self.columns(role)),
                    offsets=offsets, lengths=lengths,
                    sources=table.column(names[1]).to_pylist(),
                    first_lines=table.column(names[2]).to_numpy().astype(np.int64))
            return self._cache[role]

    def _check_role(self, role: str) -> None:
        if role not in self.roles:
            raise StoreError(f"{self.path}: expected a role in {self.roles}, found {role!r}")


@dataclass(frozen=True)
class _Decoded:
    """One role's data as flat arrays: sequence ``i`` is ``values[offsets[i]:offsets[i+1]]``."""

    values: np.ndarray
    offsets: np.ndarray
    lengths: np.ndarray
    sources: list[str]
    first_lines: np.ndarray


class StoreSequenceRecordReader(SequenceRecordReader):
    """Sequences of one role of a :class:`SequenceStore`, held as flat Arrow buffers.

    Records keep the ``source`` path and ``first_line`` of the original file, so errors found
    while batching (a bad label) still name the original file and line. Readers of one store
    share its decoded data; each has its own cursor.
    """

    def __init__(self, store: SequenceStore, role: str) -> None:
        self.store = store
        self.role = role
        self.reset()

    def initialize(self, split: object = None) -> None:
        """Start over; a store reader is bound to its store, so there is no split to give."""
        if split is not None:
            raise StoreError(f"{self.store.path}: a store reader reads its store; expected "
                             f"initialize() without a split, found {split!r}")
        self.reset()

    def __len__(self) -> int:
        return len(self.store)

    def sequence_lengths(self) -> np.ndarray:
        """Length of every sequence, without decoding values (the iterator buckets with it)."""
        return self.store.sequence_lengths(self.role)

    def _indices(self, indices: Sequence[int]) -> tuple[_Decoded, np.ndarray]:
        data = self.store._decoded(self.role)
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(data.lengths)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            bad = idx[(idx < -n) | (idx >= n)][0]
            raise StoreError(f"{self.store.path}: expected sequence indices in [0, {n}), "
                             f"found {int(bad)}")
        return data, idx % n

    def load_sequences(self, indices: Sequence[int]) -> list[SequenceRecord]:
        """Read-only views of the requested sequences (no copy)."""
        data, idx = self._indices(indices)
        return [SequenceRecord(data.values[data.offsets[i]:data.offsets[i + 1]],
                               data.sources[i], int(data.first_lines[i])) for i in idx]

    def load_ragged(self, indices: Sequence[int]) -> RaggedBatch:
        """The requested sequences stacked along time, by one vectorised gather."""
        data, idx = self._indices(indices)
        lengths = data.lengths[idx]
        starts = data.offsets[idx]
        if idx.size and np.all(np.diff(idx) == 1):
            values = data.values[starts[0]:starts[0] + lengths.sum()]
        else:
            # Step r of the batch comes from flat row starts[i] + (r - batch_offsets[i]).
            batch_offsets = np.cumsum(lengths) - lengths
            rows = np.arange(lengths.sum()) + np.repeat(starts - batch_offsets, lengths)
            values = np.take(data.values, rows, axis=0)  # 2-3x faster than values[rows]
        return RaggedBatch(values=values, lengths=lengths,
                           sources=[data.sources[i] for i in idx.tolist()],
                           first_lines=data.first_lines[idx])
