"""Opening a packed store and reading its sequences as a :class:`SequenceRecordReader`.

A store is a directory (local, or any URL pyarrow or fsspec understand)::

    PATH/_manifest.json             what is inside (written last: its presence means complete)
    PATH/data/part-00000.parquet    one row per sequence, in corpus order
    PATH/data/part-00001.parquet    ...

``PATH`` itself is a plain Parquet dataset (readers skip files that start with ``_``):
``pandas.read_parquet("PATH")``, ``pyarrow.dataset.dataset("PATH")``,
``polars.scan_parquet("PATH/**/*.parquet")``, DuckDB's ``'PATH/**/*.parquet'`` and
``spark.read.parquet("PATH")`` all open it. Every part is checked against the manifest when
it is read (:mod:`seqdata.store.integrity`).

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

import contextlib
import json
import os
import posixpath
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs

from seqdata.alignment import is_class_label
from seqdata.errors import SeqDataError, StoreError
from seqdata.locations import open_filesystem
from seqdata.readers.base import Indices, RaggedBatch, SequenceRecord, SequenceRecordReader
from seqdata.store import manifest as mf
from seqdata.store.integrity import (
    Expected,
    check_rows,
    open_part,
    read_part,
    store_errors,
    verify_part_file,
)
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

    ``manifest`` is the parsed, checked ``_manifest.json``; :meth:`reader` gives a sequence
    record reader per role that plugs into
    :class:`~seqdata.iterator.SequenceRecordReaderDataSetIterator`. Any damage, found when the
    store is opened or when a part is read, is a :class:`~seqdata.errors.StoreError` naming the
    part or the manifest key.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        try:
            self._fs, self._root = open_filesystem(self.path)
        except SeqDataError as e:
            raise StoreError(str(e)) from None
        self.manifest: dict[str, Any] = self._read_manifest()
        self._parts = mf.parts(self.manifest)
        self._expected = Expected.of(self.path, self.manifest)
        self._cache: dict[str, _Decoded | _Streamed] = {}
        self._index: dict[str, _Index] = {}
        self._verified: set[int] = set()
        self._lock = threading.RLock()

    def _read_manifest(self) -> dict[str, Any]:
        where = posixpath.join(self.path, mf.MANIFEST_NAME)
        text = self._read_small(mf.MANIFEST_NAME)
        if text is None:
            if self._read_small(mf.LEGACY_MANIFEST_NAME) is not None:
                raise StoreError(f"{self.path}: a store of format 1 (manifest.json), which this "
                                 f"version no longer reads; {mf.reconvert_hint(self.path)}")
            raise StoreError(f"{self.path}: expected a seqdata store (a directory with "
                             f"{mf.MANIFEST_NAME}), found none")
        if len(text) > mf.MAX_MANIFEST_BYTES:
            raise StoreError(f"{where}: expected a manifest of at most "
                             f"{mf.MAX_MANIFEST_BYTES} bytes, found a larger file")
        with store_errors(where):
            return mf.loads(text, where)

    def _read_small(self, name: str) -> bytes | None:
        """A file of the store's top level (at most MAX_MANIFEST_BYTES + 1 bytes read), or
        ``None`` if it does not exist."""
        path = posixpath.join(self._root, name)
        try:
            if self._fs.get_file_info(path).type == pafs.FileType.NotFound:
                return None
            chunks, size = [], 0
            with self._fs.open_input_stream(path) as f:
                # In chunks: read(limit) would allocate the whole limit up front.
                while size <= mf.MAX_MANIFEST_BYTES and (chunk := f.read(1 << 20)):
                    chunks.append(chunk)
                    size += len(chunk)
            return b"".join(chunks)
        except (OSError, pa.ArrowException) as e:
            raise StoreError(f"{posixpath.join(self.path, name)}: cannot read it ({e})") \
                from None

    def __getstate__(self) -> dict[str, Any]:
        # Sent to another process (a DataLoader worker): the decoded data is rebuilt there.
        state = self.__dict__.copy()
        state["_cache"], state["_index"], state["_verified"], state["_lock"] = {}, {}, set(), None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

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

    def channel_names(self, role: str = "features") -> list[str] | None:
        """The channel names of ``role`` (from the CSV header), or ``None`` if it had none."""
        self._check_role(role)
        names = self.manifest["channels"][role]
        return None if names is None else list(names)

    @property
    def data_files(self) -> list[str]:
        """Paths of the Parquet parts within the store's filesystem, in sequence order."""
        return [posixpath.join(self._root, p.path) for p in self._parts]

    def table(self, columns: Sequence[str] | None = None) -> pa.Table:
        """The store's rows as one Arrow table (all columns unless ``columns`` is given),
        every part checked (:func:`~seqdata.store.integrity.read_part`)."""
        names = list(columns) if columns is not None else list(self._expected.schema.names)
        unknown = [c for c in names if c not in self._expected.schema.names]
        if unknown:
            raise StoreError(f"{self.path}: expected columns among "
                             f"{self._expected.schema.names}, found {unknown}")
        # The checks need the ids and, for values, their lengths: read them along.
        extra = ["id"] + [ROLE_PREFIX[r] + "length" for r in mf.ROLES if r in names]
        read = names + [c for c in dict.fromkeys(extra) if c not in names]
        tables, last_id = [], None
        for entry in self._parts:
            whole = entry.bytes <= DECODE_ALL_BYTES // 4
            with self._replacement_named():
                if not whole:
                    self._verify(entry)
                table = read_part(self._fs, self._root, entry, self._expected, read, whole)
            ids = table.column("id")
            if last_id is not None and ids[0].as_py() <= last_id:
                raise StoreError(f"{self._expected.where(entry)}: column 'id': expected ids "
                                 f"after {last_id} (the previous part's last), found "
                                 f"{ids[0].as_py()}: parts are out of order")
            last_id = ids[-1].as_py()
            tables.append(table.select(names))
        with store_errors(self.path):
            return pa.concat_tables(tables)

    def sequence_lengths(self, role: str = "features") -> np.ndarray:
        """Length of every sequence of ``role`` (reads only the per-sequence columns)."""
        self._check_role(role)
        return self._index_of(role)[1]

    def ids(self) -> np.ndarray:
        """The id of every sequence: the ``%d`` number of its file (or its corpus position)."""
        return self._index_of("features")[4]

    # NOTE [ No negative store ranges ]
    # Readers take Python's negative indices (-1 is the last sequence), but a range of a store
    # given as [-5, 9] would then wrap around and overlap [0, 9]: train and test sets would
    # silently share sequences. A range is therefore checked here, and only here.
    def index_range(self, low: int, high: int) -> range:
        """The sequence positions ``low .. high`` (both inclusive) of this store, checked:
        ``0 <= low <= high < len(store)``.

        >>> import os, tempfile
        >>> from seqdata.readers.base import CollectionSequenceRecordReader
        >>> from seqdata.store.convert import write_store
        >>> out = os.path.join(tempfile.mkdtemp(), "store")
        >>> write_store(CollectionSequenceRecordReader([[[1]], [[2]], [[3]]]), out)
        >>> SequenceStore(out).index_range(-1, 2)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        seqdata.errors.StoreError: ...: range [-1, 2]: expected 0 <= MIN <= MAX < 3 ...
        """
        n = len(self)
        for value in (low, high):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise StoreError(f"{self.path}: range [{low!r}, {high!r}]: expected integers")
        if not 0 <= low <= high < n:
            raise StoreError(f"{self.path}: range [{low}, {high}]: expected 0 <= MIN <= MAX < "
                             f"{n} (the store's sequences; negative positions are not "
                             "counted from the end)")
        return range(int(low), int(high) + 1)

    def verify(self, num_possible_labels: int | None = None) -> None:
        """Read and check every part (``seqdata validate STORE``): sizes, checksums, page
        CRCs, schema, ids, lengths against list sizes and against the manifest's statistics,
        label counts; with ``num_possible_labels``, that labels are class indices below it.
        Raises :class:`~seqdata.errors.StoreError` at the first problem."""
        for role in self.roles:
            prefix = ROLE_PREFIX[role]
            self._check_index(role, self.table([role, prefix + "source", prefix + "first_line",
                                                prefix + "length", "id"]))
        if "labels" not in self.roles:
            if num_possible_labels is not None:
                raise StoreError(f"{self.path}: --num-classes checks labels, and this store "
                                 "has none")
            return
        values = _step_values(self.table(["labels"]), "labels", self.columns("labels"))
        found = mf.label_counts(values)
        if found != self.manifest["label_counts"]:
            raise StoreError(f"{self.path}: _manifest.json key 'label_counts': expected "
                             f"{found} (the data), found {self.manifest['label_counts']}")
        if num_possible_labels is not None:
            bad = np.flatnonzero(~is_class_label(values[:, 0], num_possible_labels)) \
                if values.shape[1] == 1 else np.array([0])
            if bad.size:
                raise StoreError(f"{self.path}: cannot convert label {values[bad[0], 0]:g} to "
                                 f"one-hot: expected one label column of integers in "
                                 f"[0, {num_possible_labels})")

    def reader(self, role: str = "features") -> StoreSequenceRecordReader:
        """A sequence record reader of ``"features"`` or ``"labels"``."""
        self._check_role(role)
        return StoreSequenceRecordReader(self, role)

    def _index_of(self, role: str) -> _Index:
        """Offsets, lengths, sources, first lines and ids of ``role``, read once, checked."""
        with self._lock:
            if role not in self._index:
                prefix = ROLE_PREFIX[role]
                names = [prefix + "source", prefix + "first_line", prefix + "length", "id"]
                self._check_index(role, self.table(names))
            return self._index[role]

    def _check_index(self, role: str, table: pa.Table) -> None:
        prefix = ROLE_PREFIX[role]
        names = [prefix + "source", prefix + "first_line", prefix + "length"]
        offsets, lengths, sources, first_lines = _index_columns(table, names)
        stats = mf.length_stats(lengths)
        promised = self.manifest["lengths"][role]
        for key in ("count", "total", "min", "max"):
            if stats[key] != promised[key]:
                raise StoreError(f"{self.path}: _manifest.json key 'lengths.{role}.{key}': "
                                 f"expected {stats[key]} (the data), found {promised[key]}")
        root = self.manifest["roots"][role]
        if root is not None:
            sources = [os.path.join(root, s) for s in sources]
        self._index[role] = _Index(offsets, lengths, sources, first_lines,
                                   table.column("id").to_numpy().astype(np.int64))

    # NOTE [ How the store is read ]
    # Parquet is an encoded format: it cannot be mapped into memory and indexed as is. A
    # role's columns are decoded once, on first use, into one contiguous float32 buffer plus
    # per-sequence offsets (the Arrow layout of large_list<fixed_size_list<float32, C>>),
    # shared by every reader of the store; each part is read whole, hashed and decoded from
    # the same bytes. Every minibatch is then one numpy take over that buffer, or a
    # zero-copy slice when the requested sequences are consecutive (unshuffled iteration): no
    # Python work per step or per value. A role larger than DECODE_ALL_BYTES (a corpus larger
    # than memory) is streamed instead: only the small per-sequence columns are kept, each
    # part's sha256 is checked once by reading it in chunks, and a minibatch decodes the row
    # groups holding its sequences (page CRCs and the footer's store id checked on every
    # read; the last STREAM_CACHE_GROUPS stay cached), so memory stays bounded by a few row
    # groups; unshuffled iteration decodes each row group once per epoch, shuffled iteration
    # one per sequence of the minibatch at worst.
    def _decoded(self, role: str) -> _Decoded | _Streamed:
        with self._lock:
            if role not in self._cache:
                if self._role_bytes(role) > DECODE_ALL_BYTES:
                    index = self._index_of(role)
                    self._cache[role] = _Streamed(self, role, index.offsets, index.lengths,
                                                  index.sources, index.first_lines,
                                                  self._row_groups())
                else:
                    prefix = ROLE_PREFIX[role]
                    table = self.table([role, prefix + "source", prefix + "first_line",
                                        prefix + "length", "id"])
                    if role not in self._index:
                        self._check_index(role, table)
                    index = self._index[role]
                    self._cache[role] = _Decoded(_step_values(table, role, self.columns(role)),
                                                 index.offsets, index.lengths, index.sources,
                                                 index.first_lines)
            return self._cache[role]

    def _role_bytes(self, role: str) -> int:
        """Bytes of ``role``'s float32 values once decoded (from the manifest's step total)."""
        return int(self.manifest["lengths"][role]["total"]) * self.columns(role) * 4

    def _row_groups(self) -> list[tuple[int, int, int]]:
        """``(part, row group, rows)`` of every row group, in sequence order."""
        groups = []
        for k, entry in enumerate(self._parts):
            with self._replacement_named():
                pf, f = open_part(self._fs, self._root, entry, self._expected)
            with f:
                meta = pf.metadata
                groups += [(k, g, meta.row_group(g).num_rows) for g in range(meta.num_row_groups)]
        return groups

    def _read_row_group(self, part: int, group: int, role: str) -> np.ndarray:
        """One row group's values of ``role`` as a flat ``[steps, C]`` float32 array."""
        entry = self._parts[part]
        with self._replacement_named():
            self._verify(entry)
            pf, f = open_part(self._fs, self._root, entry, self._expected)
        where = self._expected.where(entry)
        with f, store_errors(where):
            table = pf.read_row_group(group, columns=[role, ROLE_PREFIX[role] + "length"])
            check_rows(table, self._expected, f"{where}: row group {group}")
            return _step_values(table, role, self.columns(role))

    # NOTE [ A store replaced while open ]
    # `seqdata convert --overwrite` of the same path replaces every part and the manifest. A
    # SequenceStore opened before keeps the old manifest, so the new parts fail its checks
    # (size, sha256, store id) and nothing of the new store is ever read under the old
    # lengths. The error then says what happened when the manifest on disk has a new id.
    @contextlib.contextmanager
    def _replacement_named(self) -> Iterator[None]:
        try:
            yield
        except StoreError as e:
            try:
                now = json.loads(self._read_small(mf.MANIFEST_NAME) or b"{}").get("store_id")
            except (ValueError, AttributeError, StoreError):
                now = None
            if now is not None and now != self.manifest["store_id"]:
                raise StoreError(f"{self.path}: the store changed since it was opened (it was "
                                 f"store {self.manifest['store_id']}, it is now {now}): open "
                                 f"it again; {e}") from None
            raise

    def _verify(self, entry: mf.PartEntry) -> None:
        """Check a part's size and sha256 in chunks, once per opened store (streaming)."""
        with self._lock:
            if entry.index not in self._verified:
                verify_part_file(self._fs, self._root, entry, self._expected)
                self._verified.add(entry.index)

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


class _Index(NamedTuple):
    """The per-sequence columns of one role, checked against the manifest."""

    offsets: np.ndarray
    lengths: np.ndarray
    sources: list[str]
    first_lines: np.ndarray
    ids: np.ndarray


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
                 groups: list[tuple[int, int, int]]) -> None:
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
                part, group, _ = self.groups[g]
                block = self.store._read_row_group(part, group, self.role)
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
