"""Writing a store's pieces: ragged batches as Parquet parts, and the manifest listing them.

One row per sequence. ``features`` (and ``labels``) are ``large_list<fixed_size_list<float32,
C>>``: in Arrow memory that is one flat float32 buffer of all steps plus one int64 offset per
sequence, which is exactly the layout :class:`~seqdata.readers.base.RaggedBatch` uses, so
reading back is a zero-copy view and gathering a minibatch is one numpy ``take``. Every part
has the same schema (:func:`store_schema`) and carries, as Parquet key-value metadata under
``seqdata``, the store it belongs to, its index and a description of every column.

>>> import numpy as np
>>> from seqdata.readers.base import RaggedBatch
>>> batch = RaggedBatch(np.arange(6, dtype=np.float32).reshape(3, 2), np.array([2, 1]),
...                     ["a.csv", "b.csv"], np.array([1, 1]))
>>> table = sequences_table(np.array([0, 1]), batch)
>>> table.column_names
['id', 'source', 'source_sha256', 'first_line', 'length', 'features']
>>> table.column("features").to_pylist()[1]
[[4.0, 5.0]]
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from seqdata.alignment import is_class_label
from seqdata.readers.base import RaggedBatch
from seqdata.store import manifest as mf
from seqdata.store.atomic import os_errors

__all__ = ["COLUMN_DESCRIPTIONS", "METADATA_KEY", "ROLE_PREFIX", "ROW_GROUP_BYTES", "Part",
           "class_per_sequence", "nested_values", "sequences_table", "store_manifest",
           "store_schema", "write_manifest", "write_part"]

# NOTE [ Row group size ]
# A row group is the unit a streaming reader (Spark, DuckDB, pyarrow.dataset) decodes at a
# time. About 16 MiB of values keeps memory per reader thread bounded while staying large
# enough that Parquet's per-group overhead is negligible.
ROW_GROUP_BYTES = 16 * 1024 * 1024

# The column names of one role's data; ``""`` is the feature side, ``"label_"`` the labels.
ROLE_PREFIX = {"features": "", "labels": "label_"}
# The Parquet key-value metadata key of a part's description (JSON).
METADATA_KEY = b"seqdata"
COLUMN_DESCRIPTIONS = {
    "id": "the sequence's number: the %d of its file name, or its position in the corpus",
    "source": "the feature file, relative to roots.features in _manifest.json",
    "source_sha256": "sha256 of the feature file's bytes as converted (null if not from a file)",
    "first_line": "1-based line of the file's first data step (after skipped lines)",
    "length": "number of steps (rows) of the feature sequence",
    "features": "the feature steps: one list of C float32 channel values per step",
    "label_source": "the label file, relative to roots.labels in _manifest.json",
    "label_source_sha256": "sha256 of the label file's bytes as converted",
    "label_first_line": "1-based line of the label file's first data step",
    "label_length": "number of steps of the label sequence",
    "labels": "the label steps: one list of float32 values per step",
    "label": "the class index when every label step of the sequence holds the same class "
             "(classification with one label column), else null",
}


def nested_values(values: np.ndarray, lengths: np.ndarray) -> pa.LargeListArray:
    """``[sum(lengths), C]`` values -> one ``large_list<fixed_size_list<float32, C>>`` row each."""
    flat = np.ascontiguousarray(values, dtype=np.float32)
    width = flat.shape[1]
    rows = pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), width)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return pa.LargeListArray.from_arrays(pa.array(offsets), rows)


def store_schema(columns: int, label_columns: int | None,
                 channels: dict[str, list[str] | None] | None = None) -> pa.Schema:
    """The schema of every part of a store with these widths (and channel names)."""
    channels = channels or {}
    fields = []
    for role, width in (("features", columns), ("labels", label_columns)):
        if width is None:
            continue
        prefix = ROLE_PREFIX[role]
        names = channels.get(role)
        fields += [pa.field(prefix + "source", pa.string()),
                   pa.field(prefix + "source_sha256", pa.string()),
                   pa.field(prefix + "first_line", pa.int64()),
                   pa.field(prefix + "length", pa.int64()),
                   pa.field(role, pa.large_list(pa.list_(pa.float32(), width)),
                            metadata=None if names is None
                            else {b"channels": json.dumps(names).encode()})]
    if label_columns == 1:
        fields.append(pa.field("label", pa.int64()))
    return pa.schema([pa.field("id", pa.int64()), *fields])


# NOTE [ The integer label column ]
# ``label`` is there for tools (``select label, count(*) ... group by label``): one class per
# sequence. It exists whenever there is one label column, so every part has the same schema,
# and holds the class when all the sequence's label steps hold the same class index
# (many-to-one, or a constant class per step), null otherwise (regression values, or classes
# that change along the sequence). seqdata itself always reads ``labels``.
def class_per_sequence(batch: RaggedBatch) -> pa.Array:
    """The ``label`` column: the one class of each label sequence, or null."""
    values = np.asarray(batch.values, dtype=np.float64)[:, 0]
    lengths = np.asarray(batch.lengths, dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    first = values[starts]
    ok = is_class_label(values)
    same = (values == np.repeat(first, lengths)) & ok
    whole = np.add.reduceat(same.astype(np.int64), starts) == lengths
    return pa.array(first.astype(np.int64), pa.int64(), mask=~whole)


def sequences_table(ids: np.ndarray, features: RaggedBatch, labels: RaggedBatch | None = None,
                    checksums: Sequence[str] | None = None,
                    label_checksums: Sequence[str] | None = None,
                    sources: dict[str, list[str]] | None = None,
                    channels: dict[str, list[str] | None] | None = None) -> pa.Table:
    """The store rows for these sequences (features and, when given, their labels).

    ``sources`` replaces the batches' source paths (with paths relative to the corpus root).
    """
    columns: dict[str, pa.Array] = {"id": pa.array(np.asarray(ids, dtype=np.int64))}
    for role, batch, sums in (("features", features, checksums),
                              ("labels", labels, label_checksums)):
        if batch is None:
            continue
        prefix = ROLE_PREFIX[role]
        names = (sources or {}).get(role, list(batch.sources))
        columns[prefix + "source"] = pa.array(names, pa.string())
        columns[prefix + "source_sha256"] = pa.array(
            list(sums) if sums is not None else [None] * len(names), pa.string())
        columns[prefix + "first_line"] = pa.array(np.asarray(batch.first_lines, np.int64))
        columns[prefix + "length"] = pa.array(np.asarray(batch.lengths, np.int64))
        columns[role] = nested_values(batch.values, batch.lengths)
    if labels is not None and labels.values.shape[1] == 1:
        columns["label"] = class_per_sequence(labels)
    schema = store_schema(int(features.values.shape[1]),
                          None if labels is None else int(labels.values.shape[1]), channels)
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)


def write_part(table: pa.Table, path: str, store_id: str, index: int) -> tuple[int, str]:
    """Write one Parquet part (row groups of about :data:`ROW_GROUP_BYTES`, page checksums);
    returns its size and sha256 (of the bytes written, hashed before they reach the disk)."""
    rows_per_group = max(1, int(ROW_GROUP_BYTES * table.num_rows / max(table.nbytes, 1)))
    description = {"format": mf.FORMAT, "format_version": mf.FORMAT_VERSION,
                   "store_id": store_id, "part": index,
                   "columns": {name: COLUMN_DESCRIPTIONS[name] for name in table.column_names}}
    table = table.replace_schema_metadata({METADATA_KEY: json.dumps(description).encode()})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=rows_per_group, compression="zstd",
                   use_dictionary=["source", "label_source"], write_page_checksum=True)
    data = sink.getvalue()
    with os_errors(path, "write the Parquet part"), open(path, "wb") as f:
        f.write(data)
    return data.size, mf.file_sha256(data)


@dataclass
class Part:
    """What one written part holds (``name`` is ``None`` if every file of it was skipped):
    its file's size and sha256, and the statistics and source checksums its share of the
    manifest is made of."""

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
    bytes: int = 0
    sha256: str = ""

    @classmethod
    def of(cls, index: int, name: str | None, features: RaggedBatch,
           labels: RaggedBatch | None, digests: Sequence[str] = (),
           label_digests: Sequence[str] = (),
           skipped: Sequence[dict[str, Any]] = (), written: tuple[int, str] = (0, "")) -> Part:
        """The summary of a part written from ``features`` (and ``labels``); ``written`` is
        what :func:`write_part` returned."""
        return cls(index, name, np.asarray(features.lengths, np.int64),
                   None if labels is None else np.asarray(labels.lengths, np.int64),
                   None if labels is None else mf.label_counts(labels.values),
                   list(features.sources), list(digests),
                   [] if labels is None else list(labels.sources), list(label_digests),
                   list(skipped), *written)


def store_manifest(parts: Sequence[Part], columns: int, label_columns: int | None,
                   skipped: list[dict[str, Any]], options: dict[str, Any], store_id: str,
                   checksums: bool = True,
                   channels: dict[str, list[str] | None] | None = None,
                   roots: dict[str, str | None] | None = None) -> dict[str, Any]:
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
    channels = channels or {}
    roots = roots or {}
    return {
        "format": mf.FORMAT,
        "format_version": mf.FORMAT_VERSION,
        "store_id": store_id,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "num_sequences": int(len(lengths)),
        "columns": {"features": columns, "labels": label_columns},
        "channels": {"features": channels.get("features"),
                     "labels": channels.get("labels") if has_labels else None},
        "roots": {"features": roots.get("features"),
                  "labels": roots.get("labels") if has_labels else None},
        "lengths": {"features": mf.length_stats(lengths),
                    "labels": mf.length_stats(label_lengths)
                    if label_lengths is not None else None},
        "label_counts": mf.merge_label_counts(p.label_counts for p in parts)
        if has_labels else None,
        "sources": sources,
        "parts": [{"path": f"{mf.DATA_DIR}/{p.name}", "rows": int(len(p.lengths)),
                   "bytes": p.bytes, "sha256": p.sha256} for p in parts],
        "options": options,
        "skipped": skipped,
    }


def write_manifest(manifest: dict[str, Any], directory: str) -> None:
    """Write ``_manifest.json`` into ``directory``: the last file of a store."""
    path = os.path.join(directory, mf.MANIFEST_NAME)
    with os_errors(path, "write the manifest"), open(path, "w", encoding="utf-8") as f:
        f.write(mf.dumps(manifest))
