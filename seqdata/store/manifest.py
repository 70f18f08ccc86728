"""The store's ``_manifest.json``: what a store holds, summarised and checked without its data.

The manifest is written last, after every Parquet part, so a store with a manifest is
complete. Its name starts with ``_`` because Parquet readers (pyarrow, pandas, polars, DuckDB,
Spark) skip such files: the store directory itself opens as a plain Parquet dataset. Its
statistics are pure functions of the per-sequence lengths and label values, computed here so
that conversion, ``seqdata info`` and tests agree on them. :func:`loads` checks every key
before anything else reads it (NOTE [ What the manifest promises ]).

>>> import numpy as np
>>> length_stats(np.array([3, 1, 2, 10]))
{'count': 4, 'total': 16, 'min': 1, 'median': 2.5, 'mean': 4.0, 'max': 10}
>>> label_counts(np.array([[0.0], [2.0], [2.0]], dtype=np.float32))
{'0': 1, '2': 2}
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from seqdata.alignment import is_class_label
from seqdata.errors import StoreError

FORMAT = "seqdata-store"
FORMAT_VERSION = 2
MANIFEST_NAME = "_manifest.json"
# Format 1 kept its manifest as ``manifest.json`` beside ``data/``; recognised only to say how
# to convert again.
LEGACY_MANIFEST_NAME = "manifest.json"
DATA_DIR = "data"
# A manifest larger than this is not one seqdata wrote (a million parts take ~150 MB).
MAX_MANIFEST_BYTES = 256 << 20
# Every part is ``data/part-NNNNN.parquet``: a name that cannot leave the store directory.
PART_PATH = re.compile(r"data/part-(\d{5,9})\.parquet")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_STORE_ID = re.compile(r"[0-9a-f]{32}")
ROLES = ("features", "labels")


def length_stats(lengths: np.ndarray) -> dict[str, Any]:
    """Count, total, min, median, mean and max of sequence lengths (plain JSON numbers)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.size == 0:
        return {"count": 0, "total": 0, "min": None, "median": None, "mean": None, "max": None}
    return {"count": int(lengths.size), "total": int(lengths.sum()),
            "min": int(lengths.min()), "median": float(np.median(lengths)),
            "mean": float(lengths.mean()), "max": int(lengths.max())}


def label_counts(values: np.ndarray) -> dict[str, int] | None:
    """Occurrences of each class over all label steps, or ``None`` if not classification-like.

    Labels look like classes when there is one label column and every value is a class index
    (:func:`~seqdata.alignment.is_class_label`); otherwise (regression targets) there is
    nothing to count.
    """
    values = np.asarray(values)
    if values.ndim != 2 or values.shape[1] != 1:
        return None
    flat = values[:, 0]
    if not np.all(is_class_label(flat)):
        return None
    classes, counts = np.unique(flat.astype(np.int64), return_counts=True)
    return {str(int(c)): int(n) for c, n in zip(classes, counts)}


def merge_label_counts(parts: Iterable[dict[str, int] | None]) -> dict[str, int] | None:
    """Sum per-part label counts; ``None`` if any non-empty part was not classification-like."""
    total: Counter[str] = Counter()
    for part in parts:
        if part is None:
            return None
        total.update(part)
    return {k: total[k] for k in sorted(total, key=int)}


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def combined_digest(paths: Iterable[str], digests: Iterable[str]) -> str:
    """One sha256 over ``sha256sum``-style lines (``<digest>  <path>``), in corpus order.

    It changes when any file's content, name or position changes, and can be recomputed with
    ``sha256sum FILES | sha256sum`` when the paths are written the same way.
    """
    h = hashlib.sha256()
    for path, digest in zip(paths, digests):
        h.update(f"{digest}  {path}\n".encode())
    return h.hexdigest()


def dumps(manifest: Mapping[str, Any]) -> str:
    return json.dumps(manifest, indent=2, sort_keys=False) + "\n"


@dataclass(frozen=True)
class PartEntry:
    """One part as the manifest lists it: where, how many rows, how many bytes, its sha256."""

    index: int
    path: str
    rows: int
    bytes: int
    sha256: str


# NOTE [ What the manifest promises ]
# A store is checked in two steps. Here, before any data is read: every key the reader uses
# has the type and range it must have, the parts are ``data/part-NNNNN.parquet`` in strictly
# increasing order (so none escapes the store, none is listed twice and none is moved), and
# the counts add up. Then each part is checked against its entry when it is read
# (seqdata.store.integrity): size, sha256, Parquet page checksums, the schema the columns
# promise, row counts, ids in order and lengths equal to the list sizes. Keys the reader does
# not use to build minibatches ("created", "options", "skipped", "sources") are checked only
# for their type: editing them cannot change an epoch.
def loads(text: str | bytes, where: str) -> dict[str, Any]:
    """Parse and check a manifest; ``where`` names it in errors (which name the key)."""
    try:
        manifest = json.loads(text)
    except RecursionError:
        raise StoreError(f"{where}: expected a JSON manifest, found one nested too deeply") \
            from None
    except ValueError as e:
        raise StoreError(f"{where}: expected a JSON manifest, found invalid JSON ({e})") from None
    found = manifest.get("format") if isinstance(manifest, dict) else manifest
    if found != FORMAT:
        raise StoreError(f"{where}: expected a manifest with format {FORMAT!r}, found "
                         f"{_short(found)}")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise StoreError(f"{where}: key 'format_version': expected store format "
                         f"{FORMAT_VERSION}, found {_short(version)}; {reconvert_hint()}")
    _check(manifest, where)
    return manifest


def reconvert_hint(path: str = "STORE") -> str:
    return ("convert the CSV files again with this version: seqdata convert FEATURES "
            f"[--labels LABELS] --out {path} --overwrite")


def parts(manifest: Mapping[str, Any]) -> list[PartEntry]:
    """The part entries of a manifest that :func:`loads` accepted."""
    return [PartEntry(int(PART_PATH.fullmatch(p["path"]).group(1)),  # type: ignore[union-attr]
                      p["path"], p["rows"], p["bytes"], p["sha256"])
            for p in manifest["parts"]]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# Above these no store seqdata writes can go: Arrow's list widths are 32-bit, and counts
# beyond 2**53 lose precision in JSON readers.
MAX_COLUMNS = 2**31 - 1
MAX_COUNT = 2**53


def _is_int(value: Any, low: int = 0, high: int = MAX_COUNT) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _fail(where: str, key: str, expected: str, value: Any) -> StoreError:
    return StoreError(f"{where}: key {key!r}: expected {expected}, found {_short(value)}")


def _check(m: dict[str, Any], where: str) -> None:
    def need(key: str, ok: bool, expected: str, value: Any) -> None:
        if not ok:
            raise _fail(where, key, expected, value)

    for key, kind in (("created", str), ("columns", dict), ("channels", dict), ("roots", dict),
                      ("lengths", dict), ("sources", dict), ("parts", list),
                      ("options", dict), ("skipped", list)):
        need(key, isinstance(m.get(key), kind), f"a {kind.__name__}", m.get(key))
    need("store_id", isinstance(m.get("store_id"), str)
         and bool(_STORE_ID.fullmatch(m["store_id"])), "32 hex digits", m.get("store_id"))
    n = m.get("num_sequences")
    need("num_sequences", _is_int(n, 1), "an int in [1, 2**53]", n)
    columns = m["columns"]
    need("columns", set(columns) == set(ROLES), f"the keys {list(ROLES)}", columns)
    need("columns.features", _is_int(columns["features"], 1, MAX_COLUMNS),
         f"an int in [1, {MAX_COLUMNS}]", columns["features"])
    need("columns.labels", columns["labels"] is None
         or _is_int(columns["labels"], 1, MAX_COLUMNS),
         f"null or an int in [1, {MAX_COLUMNS}]", columns["labels"])
    roles = [r for r in ROLES if columns[r] is not None]
    for key in ("channels", "roots", "lengths"):
        need(key, set(m[key]) == set(ROLES), f"the keys {list(ROLES)}", m[key])
    for role in ROLES:
        present = role in roles
        names = m["channels"][role]
        need(f"channels.{role}", names is None or (
            present and isinstance(names, list) and len(names) == columns[role]
            and all(isinstance(x, str) for x in names)),
             f"null or {columns[role]} names", names)
        root = m["roots"][role]
        need(f"roots.{role}", root is None or (present and isinstance(root, str)),
             "null or a path", root)
        stats = m["lengths"][role]
        if not present:
            need(f"lengths.{role}", stats is None, "null (no such role)", stats)
            continue
        need(f"lengths.{role}", isinstance(stats, dict), "a dict", stats)
        for key in ("count", "total", "min", "max"):
            need(f"lengths.{role}.{key}", _is_int(stats.get(key), 1), "an int in [1, 2**53]",
                 stats.get(key))
        need(f"lengths.{role}.count", stats["count"] == n, f"num_sequences ({n})",
             stats["count"])
        need(f"lengths.{role}.total", n * stats["min"] <= stats["total"] <= n * stats["max"],
             "a total between count x min and count x max", stats["total"])
        need(f"lengths.{role}.min", stats["min"] <= stats["max"], "min <= max", stats["min"])
    counts = m.get("label_counts")
    need("label_counts", counts is None or (
        isinstance(counts, dict) and all(k.isdigit() and _is_int(v) for k, v in counts.items())),
         "null or class -> count", counts)
    previous, total = -1, 0
    for k, part in enumerate(m["parts"]):
        key = f"parts[{k}]"
        need(key, isinstance(part, dict) and set(part) == {"path", "rows", "bytes", "sha256"},
             "a dict with path, rows, bytes, sha256", part)
        match = PART_PATH.fullmatch(part["path"]) if isinstance(part["path"], str) else None
        need(f"{key}.path", match is not None,
             f"a path {DATA_DIR}/part-NNNNN.parquet inside the store", part["path"])
        assert match is not None
        need(f"{key}.path", int(match.group(1)) > previous,
             "parts in increasing order, each listed once", part["path"])
        previous = int(match.group(1))
        need(f"{key}.rows", _is_int(part["rows"], 1), "an int in [1, 2**53]", part["rows"])
        need(f"{key}.bytes", _is_int(part["bytes"], 1), "an int in [1, 2**53]", part["bytes"])
        need(f"{key}.sha256", isinstance(part["sha256"], str)
             and bool(_SHA256.fullmatch(part["sha256"])), "64 hex digits", part["sha256"])
        total += part["rows"]
    need("parts", bool(m["parts"]) and total == n,
         f"parts whose rows add up to num_sequences ({n})", f"{total} rows")
