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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from seqdata.errors import SeqDataError, StoreError
from seqdata.locations import open_filesystem
from seqdata.readers.base import Indices, RaggedBatch, SequenceRecord, SequenceRecordReader
from seqdata.store import manifest as mf
from seqdata.store.writer import ROLE_PREFIX


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


# A role whose float32 values take more than this is streamed row group by row group instead
# of decoded whole (see NOTE [ How the store is read ]): a quarter of the physical memory.
DECODE_ALL_BYTES = (_physical_memory() or 16 << 30) // 4
# Decoded row groups kept per role while streaming (unshuffled iteration needs one or two).
STREAM_CACHE_GROUPS = 2


class SequenceStore:
    """A packed store written by :func:`seqdata.store.convert.convert` (``seqdata convert``).

    ``manifest`` is the parsed ``manifest.json``; :meth:`reader` gives a sequence record reader
    per role that plugs into :class:`~seqdata.iterator.SequenceRecordReaderDataSetIterator`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        try:
            self._fs, self._root = open_filesystem(self.path)
        except SeqDataError as e:
            raise StoreError(str(e)) from None
        where = posixpath.join(self.path, mf.MANIFEST_NAME)
        try:
            with self._fs.open_input_stream(posixpath.join(self._root, mf.MANIFEST_NAME)) as f:
                text = f.read().decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise StoreError(f"{self.path}: expected a seqdata store (a directory with "
                             f"{mf.MANIFEST_NAME}), found none ({e})") from None
        self.manifest: dict[str, Any] = mf.loads(text, where)
        self._cache: dict[str, _Decoded | _Streamed] = {}
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

    def reader(self, role: str = "features") -> StoreSequenceRecordReader:
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
    # per value. A role larger than DECODE_ALL_BYTES (a corpus larger than memory) is streamed
    # instead: only the small per-sequence columns are kept, and a minibatch decodes the row
    # groups holding its sequences (the last STREAM_CACHE_GROUPS stay cached), so memory stays
    # bounded by a few row groups; unshuffled iteration decodes each row group once per epoch,
    # shuffled iteration one per sequence of the minibatch at worst.
    def _decoded(self, role: str) -> _Decoded | _Streamed:
        with self._lock:
            if role not in self._cache:
                prefix = ROLE_PREFIX[role]
                names = [prefix + "source", prefix + "first_line", prefix + "length"]
                if self._role_bytes(role) > DECODE_ALL_BYTES:
                    table = self.table(names)
                    self._cache[role] = _Streamed(
                        self, role, *_index_columns(table, names), self._row_groups())
                else:
                    table = self.table([role] + names)
                    self._cache[role] = _Decoded(_step_values(table, role, self.columns(role)),
                                                 *_index_columns(table, names))
            return self._cache[role]

    def _role_bytes(self, role: str) -> int:
        """Bytes of ``role``'s float32 values once decoded (from the manifest's step total)."""
        total = (self.manifest.get("lengths") or {}).get(role, {}).get("total")
        if total is None:
            total = int(self.sequence_lengths(role).sum())
        return int(total) * self.columns(role) * 4

    def _row_groups(self) -> list[tuple[str, int, int]]:
        """``(part path, row group, rows)`` of every row group, in sequence order."""
        groups = []
        try:
            for path in self.data_files:
                with self._fs.open_input_file(path) as f:
                    meta = pq.ParquetFile(f).metadata
                groups += [(path, g, meta.row_group(g).num_rows)
                           for g in range(meta.num_row_groups)]
        except (OSError, pa.ArrowException) as e:
            raise StoreError(f"{self.path}: cannot read the store's Parquet data ({e})") from None
        return groups

    def _read_row_group(self, path: str, group: int, role: str) -> np.ndarray:
        """One row group's values of ``role`` as a flat ``[steps, C]`` float32 array."""
        try:
            with self._fs.open_input_file(path) as f:
                table = pq.ParquetFile(f).read_row_group(group, columns=[role])
        except (OSError, pa.ArrowException) as e:
            raise StoreError(f"{self.path}: cannot read the store's Parquet data ({e})") from None
        return _step_values(table, role, self.columns(role))

    def _check_role(self, role: str) -> None:
        if role not in self.roles:
            raise StoreError(f"{self.path}: expected a role in {self.roles}, found {role!r}")


def _step_values(table: pa.Table, role: str, columns: int) -> np.ndarray:
    """The steps of a role's column as one ``[steps, columns]`` float32 array, without a copy.

    The one conversion from the store's Arrow layout to numpy (see NOTE [ How the store is
    read ]): a ``large_list<fixed_size_list<float32, C>>`` column is one flat buffer.
    """
    flat = table.column(role).combine_chunks().flatten().flatten()
    return flat.to_numpy(zero_copy_only=True).reshape(-1, columns)


def _index_columns(table: pa.Table, names: list[str]
                   ) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """Offsets, lengths, sources and first lines from a table of the per-sequence columns."""
    lengths = table.column(names[2]).to_numpy().astype(np.int64)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return (offsets, lengths, table.column(names[0]).to_pylist(),
            table.column(names[1]).to_numpy().astype(np.int64))


def _rows(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The row numbers ``starts[i] : starts[i] + lengths[i]`` for every ``i``, concatenated."""
    # Step r of the batch comes from row starts[i] + (r - batch_offsets[i]).
    batch_offsets = np.cumsum(lengths) - lengths
    return np.arange(lengths.sum()) + np.repeat(starts - batch_offsets, lengths)


@dataclass(frozen=True)
class _Decoded:
    """One role's data as flat arrays: sequence ``i`` is ``values[offsets[i]:offsets[i+1]]``."""

    values: np.ndarray
    offsets: np.ndarray
    lengths: np.ndarray
    sources: list[str]
    first_lines: np.ndarray

    def gather(self, idx: np.ndarray) -> np.ndarray:
        lengths = self.lengths[idx]
        starts = self.offsets[idx]
        if idx.size and np.all(np.diff(idx) == 1):
            return self.values[starts[0]:starts[0] + lengths.sum()]
        return np.take(self.values, _rows(starts, lengths), axis=0)  # 2-3x faster than [rows]


class _Streamed:
    """One role read row group by row group: only the per-sequence columns stay in memory."""

    def __init__(self, store: SequenceStore, role: str, offsets: np.ndarray,
                 lengths: np.ndarray, sources: list[str], first_lines: np.ndarray,
                 groups: list[tuple[str, int, int]]) -> None:
        self.store, self.role = store, role
        self.offsets, self.lengths = offsets, lengths
        self.sources, self.first_lines = sources, first_lines
        self.groups = groups
        self.first_rows = np.concatenate(([0], np.cumsum([g[2] for g in groups])))
        self._blocks: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def _block(self, g: int) -> np.ndarray:
        with self._lock:
            block = self._blocks.pop(g, None)
            if block is None:
                path, group, _ = self.groups[g]
                block = self.store._read_row_group(path, group, self.role)
            self._blocks[g] = block                     # most recently used last
            while len(self._blocks) > STREAM_CACHE_GROUPS:
                del self._blocks[next(iter(self._blocks))]
            return block

    def gather(self, idx: np.ndarray) -> np.ndarray:
        lengths = self.lengths[idx]
        out = np.empty((int(lengths.sum()), self.store.columns(self.role)), dtype=np.float32)
        out_starts = np.cumsum(lengths) - lengths
        group_of = np.searchsorted(self.first_rows, idx, side="right") - 1
        for g in dict.fromkeys(group_of.tolist()):      # in order of first use
            sel = np.flatnonzero(group_of == g)
            block = self._block(g)
            local_starts = self.offsets[idx[sel]] - self.offsets[self.first_rows[g]]
            out[_rows(out_starts[sel], lengths[sel])] = np.take(
                block, _rows(local_starts, lengths[sel]), axis=0)
        return out


class StoreSequenceRecordReader(SequenceRecordReader):
    """Sequences of one role of a :class:`SequenceStore`, held as flat Arrow buffers (or
    streamed by row group when the role is larger than ``DECODE_ALL_BYTES``).

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

    def _indices(self, indices: Indices) -> tuple[_Decoded | _Streamed, np.ndarray]:
        data = self.store._decoded(self.role)
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(data.lengths)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            bad = idx[(idx < -n) | (idx >= n)][0]
            raise StoreError(f"{self.store.path}: expected sequence indices in [0, {n}), "
                             f"found {int(bad)}")
        return data, idx % n

    def load_sequences(self, indices: Indices) -> list[SequenceRecord]:
        """The requested sequences (read-only views, no copy, unless the store is streamed)."""
        data, idx = self._indices(indices)
        return [SequenceRecord(data.gather(np.array([i])), data.sources[i],
                               int(data.first_lines[i])) for i in idx]

    def load_ragged(self, indices: Indices) -> RaggedBatch:
        """The requested sequences stacked along time, by one vectorised gather."""
        data, idx = self._indices(indices)
        return RaggedBatch(values=data.gather(idx), lengths=data.lengths[idx],
                           sources=[data.sources[i] for i in idx.tolist()],
                           first_lines=data.first_lines[idx])
