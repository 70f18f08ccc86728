"""Writing a store's pieces: ragged batches as Parquet parts, and the manifest listing them.

One row per sequence. ``features`` (and ``labels``) are ``large_list<fixed_size_list<float32,
C>>``: in Arrow memory that is one flat float32 buffer of all steps plus one int64 offset per
sequence, which is exactly the layout :class:`~seqdata.readers.base.RaggedBatch` uses, so
reading back is a zero-copy view and gathering a minibatch is one numpy ``take``.

>>> import numpy as np
>>> from seqdata.readers.base import RaggedBatch
>>> batch = RaggedBatch(np.arange(6, dtype=np.float32).reshape(3, 2), np.array([2, 1]),
...                     ["a.csv", "b.csv"], np.array([1, 1]))
>>> table = sequences_table(np.array([0, 1]), batch)
>>> table.column_names
['id', 'source', 'first_line', 'length', 'features']
>>> table.column("features").to_pylist()[1]
[[4.0, 5.0]]
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from seqdata.readers.base import RaggedBatch
from seqdata.store import manifest as mf

__all__ = ["ROLE_PREFIX", "ROW_GROUP_BYTES", "Part", "nested_values", "sequences_table",
           "store_manifest", "write_manifest", "write_part"]

# NOTE [ Row group size ]
# A row group is the unit a streaming reader (Spark, DuckDB, pyarrow.dataset) decodes at a
# time. About 16 MiB of values keeps memory per reader thread bounded while staying large
# enough that Parquet's per-group overhead is negligible.
ROW_GROUP_BYTES = 16 * 1024 * 1024

# The column names of one role's data; ``""`` is the feature side, ``"label_"`` the labels.
ROLE_PREFIX = {"features": "", "labels": "label_"}


def nested_values(values: np.ndarray, lengths: np.ndarray) -> pa.LargeListArray:
    """``[sum(lengths), C]`` values -> one ``large_list<fixed_size_list<float32, C>>`` row each."""
    flat = np.ascontiguousarray(values, dtype=np.float32)
    width = flat.shape[1]
    rows = pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), width)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return pa.LargeListArray.from_arrays(pa.array(offsets), rows)


def sequences_table(ids: np.ndarray, features: RaggedBatch, labels: RaggedBatch | None = None,
                    checksums: Sequence[str] | None = None,
                    label_checksums: Sequence[str] | None = None) -> pa.Table:
    """The store rows for these sequences (features and, when given, their labels)."""
    columns: dict[str, pa.Array] = {"id": pa.array(np.asarray(ids, dtype=np.int64))}
    for role, batch, sums in (("features", features, checksums),
                              ("labels", labels, label_checksums)):
        if batch is None:
            continue
        prefix = ROLE_PREFIX[role]
        columns[prefix + "source"] = pa.array(list(batch.sources), pa.string())
        if sums is not None:
            columns[prefix + "source_sha256"] = pa.array(list(sums), pa.string())
        columns[prefix + "first_line"] = pa.array(np.asarray(batch.first_lines, np.int64))
        columns[prefix + "length"] = pa.array(np.asarray(batch.lengths, np.int64))
        columns[role] = nested_values(batch.values, batch.lengths)
    return pa.table(columns)


def write_part(table: pa.Table, path: str) -> None:
    """Write one Parquet part with row groups of about :data:`ROW_GROUP_BYTES`."""
    rows_per_group = max(1, int(ROW_GROUP_BYTES * table.num_rows / max(table.nbytes, 1)))
    pq.write_table(table, path, row_group_size=rows_per_group, compression="zstd",
                   use_dictionary=["source", "label_source"])


@dataclass
class Part:
    """What one written part holds (``name`` is ``None`` if every file of it was skipped):
    the statistics and checksums its share of the manifest is made of."""

    index: int
    name: str | None
    lengths: np.ndarray
    label_lengths: np.ndarray | None
    label_counts: dict[str, int] | None
    sources: list[str]
    digests: list[str]
    label_sources: list[str]
    label_digests: list[str]
    skipped: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, index: int, name: str | None, features: RaggedBatch,
           labels: RaggedBatch | None, digests: Sequence[str] = (),
           label_digests: Sequence[str] = (),
           skipped: Sequence[dict[str, Any]] = ()) -> Part:
        """The summary of a part written from ``features`` (and ``labels``)."""
        return cls(index, name, np.asarray(features.lengths, np.int64),
                   None if labels is None else np.asarray(labels.lengths, np.int64),
                   None if labels is None else mf.label_counts(labels.values),
                   list(features.sources), list(digests),
                   [] if labels is None else list(labels.sources), list(label_digests),
                   list(skipped))


def store_manifest(parts: Sequence[Part], columns: int, label_columns: int | None,
                   skipped: list[dict[str, Any]], options: dict[str, Any],
                   checksums: bool = True) -> dict[str, Any]:
    """The manifest of a store made of ``parts`` (``checksums=False``: not from files)."""
    lengths = np.concatenate([p.lengths for p in parts])
    has_labels = label_columns is not None
    label_lengths = (np.concatenate([p.label_lengths for p in parts
                                     if p.label_lengths is not None])
                     if has_labels else None)
    sources: dict[str, Any] = {"features": {
        "files": int(len(lengths)),
        "sha256": mf.combined_digest([s for p in parts for s in p.sources],
                                     [d for p in parts for d in p.digests])
        if checksums else None}}
    if has_labels:
        sources["labels"] = {
            "files": int(len(lengths)),
            "sha256": mf.combined_digest([s for p in parts for s in p.label_sources],
                                         [d for p in parts for d in p.label_digests])
            if checksums else None}
    return {
        "format": mf.FORMAT,
        "format_version": mf.FORMAT_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "num_sequences": int(len(lengths)),
        "columns": {"features": columns, "labels": label_columns},
        "lengths": {"features": mf.length_stats(lengths),
                    "labels": mf.length_stats(label_lengths)
                    if label_lengths is not None else None},
        "label_counts": mf.merge_label_counts(p.label_counts for p in parts)
        if has_labels else None,
        "sources": sources,
        "parts": [f"{mf.DATA_DIR}/{p.name}" for p in parts],
        "options": options,
        "skipped": skipped,
    }


def write_manifest(manifest: dict[str, Any], directory: str) -> None:
    """Write ``manifest.json`` into ``directory``: the last file of a store."""
    with open(os.path.join(directory, mf.MANIFEST_NAME), "w", encoding="utf-8") as f:
        f.write(mf.dumps(manifest))
