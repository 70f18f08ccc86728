"""Checking a store's data against its manifest as it is read (NOTE [ What the manifest
promises ] in :mod:`seqdata.store.manifest`).

Every part is checked when read: it must lie inside the store (no symbolic link out of it),
have the size and sha256 the manifest lists, belong to the store the manifest describes (its
``store_id``), have the schema the manifest's widths promise and the rows it lists, and its
Parquet pages must pass their CRC checks. Rows must have ids in increasing order and values
whose list sizes equal the length columns. :func:`store_errors` is the one place where what
damaged data makes pyarrow, json or numpy raise becomes a :class:`~seqdata.errors.StoreError`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import posixpath
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from seqdata.errors import SeqDataError, StoreError
from seqdata.store import manifest as mf
from seqdata.store.writer import METADATA_KEY, ROLE_PREFIX, store_schema

__all__ = ["Expected", "open_part", "read_part", "store_errors", "verify_part_file"]

_HASH_CHUNK = 1 << 20
# What one row may take in a part besides its values (paths, checksums, counters): the
# allowance of NOTE [ Bounded memory for a hostile part ].
_ROW_ALLOWANCE = 8192


@contextlib.contextmanager
def store_errors(where: str) -> Iterator[None]:
    """Turn what damaged or hostile data makes the libraries raise into a StoreError.

    >>> with store_errors("s/data/part-00000.parquet"):
    ...     {}["id"]
    Traceback (most recent call last):
    ...
    seqdata.errors.StoreError: s/data/part-00000.parquet: damaged store: KeyError: 'id'
    """
    try:
        yield
    except SeqDataError:
        raise
    except (OSError, pa.ArrowException, TypeError, ValueError, KeyError, IndexError,
            RecursionError, OverflowError, AttributeError, EOFError) as e:
        detail = str(e)
        detail = detail if len(detail) <= 300 else detail[:297] + "..."
        raise StoreError(f"{where}: damaged store: {type(e).__name__}: {detail}") from None


@dataclass(frozen=True)
class Expected:
    """What the manifest promises about every part."""

    store: str            # the store's path, for messages
    store_id: str
    columns: int
    label_columns: int | None
    total_values_bytes: int   # float32 bytes of every role's steps, from the manifest

    @classmethod
    def of(cls, store: str, manifest: dict[str, Any]) -> Expected:
        cols = manifest["columns"]
        total = sum(manifest["lengths"][r]["total"] * cols[r] * 4
                    for r in mf.ROLES if cols[r] is not None)
        return cls(store, manifest["store_id"], cols["features"], cols["labels"], total)

    @functools.cached_property
    def schema(self) -> pa.Schema:
        return store_schema(self.columns, self.label_columns)

    def where(self, entry: mf.PartEntry) -> str:
        return f"{self.store}: part {entry.path}"


def _confined(fs: pafs.FileSystem, root: str, entry: mf.PartEntry, where: str) -> str:
    """The part's path within ``fs``, after checking that it stays inside the store."""
    path = posixpath.join(root, entry.path)
    if isinstance(fs, pafs.LocalFileSystem):
        real_root = os.path.realpath(root)
        real = os.path.realpath(path)
        if os.path.commonpath([real_root, real]) != real_root:
            raise StoreError(f"{where}: expected a file inside the store, found a link to "
                             f"{real}")
    return path


def _check_size(size: int, entry: mf.PartEntry, where: str) -> None:
    if size != entry.bytes:
        raise StoreError(f"{where}: expected {entry.bytes} bytes (as _manifest.json lists), "
                         f"found {size}; the part is damaged or the store changed")


def _check_sha(digest: str, entry: mf.PartEntry, where: str) -> None:
    if digest != entry.sha256:
        raise StoreError(f"{where}: checksum mismatch: expected sha256 {entry.sha256} (as "
                         f"_manifest.json lists), found {digest}; the part is damaged or the "
                         "store changed since it was opened")


def verify_part_file(fs: pafs.FileSystem, root: str, entry: mf.PartEntry,
                     expected: Expected) -> None:
    """Hash a part in chunks (bounded memory) and compare size and sha256 with the manifest."""
    where = expected.where(entry)
    with store_errors(where):
        path = _confined(fs, root, entry, where)
        h = hashlib.sha256()
        size = 0
        with fs.open_input_stream(path) as f:
            while chunk := f.read(_HASH_CHUNK):
                size += len(chunk)
                if size > entry.bytes:
                    break
                h.update(chunk)
        _check_size(size, entry, where)
        _check_sha(h.hexdigest(), entry, where)


# NOTE [ Bounded memory for a hostile part ]
# Parquet pages are compressed, so a small part can decode to gigabytes (a zstd page of
# zeros). Before anything is decoded, the footer's uncompressed sizes must fit what the
# manifest promises: the float32 values of every step it counts plus _ROW_ALLOWANCE bytes per
# row. A part that claims more is refused without decoding it; one whose pages then decode to
# more than their footer says fails pyarrow's own page-size checks.
def _check_footer(pf: pq.ParquetFile, entry: mf.PartEntry, expected: Expected,
                  where: str) -> None:
    meta = pf.metadata
    if meta.num_rows != entry.rows:
        raise StoreError(f"{where}: expected {entry.rows} rows (as _manifest.json lists), "
                         f"found {meta.num_rows}")
    found = [(f.name, f.type) for f in pf.schema_arrow]
    promised = [(f.name, f.type) for f in expected.schema]
    if found != promised:
        raise StoreError(f"{where}: expected the columns {_names(promised)} (as "
                         f"_manifest.json's columns promise), found {_names(found)}")
    raw = (meta.metadata or {}).get(METADATA_KEY)
    description = json.loads(raw) if raw is not None else None
    if not isinstance(description, dict) or description.get("store_id") != expected.store_id:
        found_id = description.get("store_id") if isinstance(description, dict) else None
        raise StoreError(f"{where}: expected a part of store {expected.store_id}, found one of "
                         f"{found_id!r}: the store changed since it was opened, or parts of "
                         "another store were copied in")
    index = int(mf.PART_PATH.fullmatch(entry.path).group(1))  # type: ignore[union-attr]
    if description.get("part") != index:
        raise StoreError(f"{where}: expected part {index}, found part "
                         f"{description.get('part')!r}: parts were renamed or moved")
    decoded = sum(meta.row_group(g).total_byte_size for g in range(meta.num_row_groups))
    allowed = expected.total_values_bytes + _ROW_ALLOWANCE * entry.rows
    if decoded > allowed:
        raise StoreError(f"{where}: expected at most {allowed} bytes once decoded (what "
                         f"_manifest.json's lengths allow), found a part that decodes to "
                         f"{decoded}")


def _names(fields: Sequence[tuple[str, pa.DataType]]) -> str:
    return "[" + ", ".join(f"{n}: {t}" for n, t in fields) + "]"


def read_part(fs: pafs.FileSystem, root: str, entry: mf.PartEntry, expected: Expected,
              columns: Sequence[str], whole: bool = True) -> pa.Table:
    """Read ``columns`` of one part, checked. ``whole``: the part is read into memory once,
    so the bytes hashed are the bytes decoded; otherwise (a part too large to hold) it is
    decoded from the file with its page checksums and store id checked, and the caller
    checks its sha256 with :func:`verify_part_file` (once)."""
    where = expected.where(entry)
    if not whole:
        pf, f = open_part(fs, root, entry, expected)
        with f, store_errors(where):
            table = pf.read(columns=list(columns))
    else:
        with store_errors(where):
            path = _confined(fs, root, entry, where)
            with fs.open_input_file(path) as f:
                _check_size(f.size(), entry, where)
                data = f.read(entry.bytes)
            _check_sha(hashlib.sha256(data).hexdigest(), entry, where)
            pf = pq.ParquetFile(pa.BufferReader(data), page_checksum_verification=True)
            _check_footer(pf, entry, expected, where)
            table = pf.read(columns=list(columns))
    with store_errors(where):
        check_rows(table, expected, where)
    return table


def open_part(fs: pafs.FileSystem, root: str, entry: mf.PartEntry,
              expected: Expected) -> tuple[pq.ParquetFile, Any]:
    """A part opened for reading row groups (streaming), footer checked; close the second
    value when done. Its sha256 is checked once with :func:`verify_part_file`."""
    where = expected.where(entry)
    with store_errors(where):
        f = fs.open_input_file(_confined(fs, root, entry, where))
        try:
            _check_size(f.size(), entry, where)
            pf = pq.ParquetFile(f, page_checksum_verification=True)
            _check_footer(pf, entry, expected, where)
        except BaseException:
            f.close()
            raise
        return pf, f


def check_rows(table: pa.Table, expected: Expected, where: str) -> None:
    """The rows agree with themselves: no nulls where there must be values, ids increasing,
    lengths >= 1 and equal to the list sizes of the values read."""
    names = set(table.column_names)
    for name in names:
        if name not in ("label", "source_sha256", "label_source_sha256") \
                and table.column(name).null_count:
            raise StoreError(f"{where}: column {name!r}: expected no missing values, found "
                             f"{table.column(name).null_count}")
    if "id" in names:
        ids = table.column("id").to_numpy()
        if ids.size > 1 and not np.all(np.diff(ids) > 0):
            raise StoreError(f"{where}: column 'id': expected increasing ids, found "
                             f"{ids[np.flatnonzero(np.diff(ids) <= 0)[0] + 1]} after a larger "
                             "or equal one")
    for role in mf.ROLES:
        prefix = ROLE_PREFIX[role]
        for counter in (prefix + "length", prefix + "first_line"):
            if counter in names:
                values = table.column(counter).to_numpy()
                if values.size and values.min() < 1:
                    raise StoreError(f"{where}: column {counter!r}: expected values >= 1, "
                                     f"found {values.min()}")
        if role in names:
            column = table.column(role).combine_chunks()
            if column.values.null_count or column.values.values.null_count:
                raise StoreError(f"{where}: column {role!r}: expected no missing values")
            if prefix + "length" in names:
                sizes = np.diff(column.offsets.to_numpy())
                lengths = table.column(prefix + "length").to_numpy()
                if not np.array_equal(sizes, lengths):
                    row = int(np.flatnonzero(sizes != lengths)[0])
                    raise StoreError(f"{where}: row {row}: column {prefix + 'length'!r} says "
                                     f"{lengths[row]} steps, column {role!r} holds "
                                     f"{sizes[row]}")
