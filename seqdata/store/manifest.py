"""The store's ``manifest.json``: what a store holds, summarised without reading its data.

The manifest is written last, after every Parquet part, so a store with a manifest is
complete. Its statistics are pure functions of the per-sequence lengths and label values,
computed here so that conversion, ``seqdata info`` and tests agree on them.

>>> import numpy as np
>>> length_stats(np.array([3, 1, 2, 10]))
{'count': 4, 'total': 16, 'min': 1, 'median': 2.5, 'mean': 4.0, 'max': 10}
>>> label_counts(np.array([[0.0], [2.0], [2.0]], dtype=np.float32))
{'0': 1, '2': 2}
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from seqdata.alignment import is_class_label
from seqdata.errors import StoreError

FORMAT = "seqdata-store"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
DATA_DIR = "data"


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


def loads(text: str, where: str) -> dict[str, Any]:
    """Parse and check a manifest; ``where`` names it in errors."""
    try:
        manifest = json.loads(text)
    except ValueError as e:
        raise StoreError(f"{where}: expected a JSON manifest, found invalid JSON ({e})") from None
    found = manifest.get("format") if isinstance(manifest, dict) else manifest
    if found != FORMAT:
        raise StoreError(f"{where}: expected a manifest with format {FORMAT!r}, found {found!r}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise StoreError(f"{where}: expected store format version {FORMAT_VERSION}, "
                         f"found {manifest.get('format_version')!r}")
    for key, kind in (("num_sequences", int), ("columns", dict), ("parts", list),
                      ("skipped", list)):
        if not isinstance(manifest.get(key), kind):
            raise StoreError(f"{where}: expected key {key!r} holding a {kind.__name__}, "
                             f"found {manifest.get(key)!r}")
    return manifest
