"""ND4J's ``NormalizerSerializer`` files (``normalizer.bin``, 0.8.0+) as seqdata normalisers.

Layout (``FORMAT.md`` section 3.4): ``UTF "NORMALIZER"``, ``i32`` version 1, ``UTF`` type; then
STANDARDIZE: ``bool fitLabel``, mean, std (+ label mean, std); MIN_MAX: ``bool fitLabel``,
``f64 targetMin``, ``f64 targetMax``, min, max (+ label min, max); arrays as ``Nd4j.write``.

>>> import numpy as np
>>> from seqdata.normalizers import NormalizerStandardize
>>> data = encode_normalizer_standardize(np.array([1.0, 2.0]), np.array([0.5, 4.0]))
>>> norm = restore_normalizer(data)
>>> isinstance(norm, NormalizerStandardize), norm.mean.tolist(), norm.std.tolist()
(True, [1.0, 2.0], [0.5, 4.0])
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from seqdata.errors import SeqDataError
from seqdata.normalizers import (
    NormalizerMinMaxScaler,
    NormalizerStandardize,
    normalizer_from_dict,
)
from seqnet.dl4j.archive import is_zip, read_entries
from seqnet.dl4j.nd4j import ByteReader, encode_nd4j_array, read_array
from seqnet.errors import ModelFileError

HEADER = "NORMALIZER"
ENTRY = "normalizer.bin"
_JAVA_SERIALIZED = b"\xac\xed"
_SEQDATA_FORMAT = "seqdata-normalizer"
_SUPPORTED = ("STANDARDIZE", "MIN_MAX")
_KNOWN = _SUPPORTED + ("IMAGE_MIN_MAX", "IMAGE_VGG16", "MULTI_STANDARDIZE", "MULTI_MIN_MAX",
                       "MULTI_HYBRID", "CUSTOM")


def _utf(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack(">H", len(raw)) + raw


def _vector(r: ByteReader, what: str, channels: int | None) -> np.ndarray:
    start = r.offset
    array = read_array(r, expected_length=channels)
    if array.dtype.kind != "f":
        raise r.error(f"expected a floating-point {what} array, found {array.dtype}", start)
    if array.ndim > 2 or (array.ndim == 2 and array.shape[0] != 1):
        raise r.error(f"expected a [1, C] {what} row vector, found shape {list(array.shape)}",
                      start)
    return array.reshape(-1).astype(np.float64)


def normalizer_bytes(source: str | os.PathLike[str] | bytes) -> bytes:
    """The ``normalizer.bin`` bytes of a model zip, or of a file that is one."""
    if is_zip(source):
        entries = read_entries(source)
        if ENTRY not in entries:
            raise ModelFileError(f"{source if not isinstance(source, bytes) else '<bytes>'}: "
                                 f"expected a {ENTRY} entry, found {sorted(entries)}")
        return entries[ENTRY]
    if isinstance(source, (bytes, bytearray)):
        return bytes(source)
    try:
        return Path(source).read_bytes()
    except OSError as e:
        raise ModelFileError(f"{source}: cannot read: {e.strerror}") from None


def restore_normalizer(source: str | os.PathLike[str] | bytes) -> Any:
    """A seqdata normaliser from DL4J's ``normalizer.bin`` (alone, or inside a model zip).

    STANDARDIZE gives a :class:`~seqdata.normalizers.NormalizerStandardize`, MIN_MAX a
    :class:`~seqdata.normalizers.NormalizerMinMaxScaler` (``fit_label`` and label statistics
    when the file has them). A Java-serialised normaliser (DL4J 0.7.2) and the other strategies
    are refused with :class:`~seqnet.errors.ModelFileError`.
    """
    data = normalizer_bytes(source)
    name = "normalizer.bin" if is_zip(source) or isinstance(source, bytes) else str(source)
    if data[:2] == _JAVA_SERIALIZED:
        raise ModelFileError(f"{name}: a Java-serialised normaliser (DL4J 0.7.2); refusing "
                             f"it: Java serialisation can run code and is never read")
    r = ByteReader(data, name)
    header = r.utf("the header 'NORMALIZER'")
    if header != HEADER:
        raise r.error(f"expected the header {HEADER!r}, found {header[:40]!r}", 0)
    at = r.offset
    version = int(r.unpack(">i", "the int32 format version"))
    if version != 1:
        raise r.error(f"expected format version 1, found {version}", at)
    at = r.offset
    kind = r.utf("the normaliser type")
    if kind not in _SUPPORTED:
        what = "unsupported" if kind in _KNOWN else "unknown"
        raise r.error(f"{what} normaliser type {kind[:40]!r} (seqdata has "
                      f"{', '.join(_SUPPORTED)})", at)
    fit_label = bool(r.unpack(">?", "the fitLabel flag"))
    extra: dict[str, Any] = {}
    if kind == "MIN_MAX":
        extra = {"min_range": float(r.unpack(">d", "targetMin")),
                 "max_range": float(r.unpack(">d", "targetMax"))}
    first = _vector(r, "feature statistics", None)
    stats = [(first, _vector(r, "feature statistics", first.size))]
    if fit_label:
        label = _vector(r, "label statistics", None)
        stats.append((label, _vector(r, "label statistics", label.size)))
    if r.remaining:
        raise r.error(f"expected the end of the normaliser, found {r.remaining} more bytes")
    convert = _standardize_stats if kind == "STANDARDIZE" else _min_max_stats
    document = {"format": _SEQDATA_FORMAT, "version": 1,
                "type": ("NormalizerStandardize" if kind == "STANDARDIZE"
                         else "NormalizerMinMaxScaler"),
                "fit_label": fit_label, **extra,
                "features": convert(*stats[0]),
                "labels": convert(*stats[1]) if fit_label else None}
    try:
        return normalizer_from_dict(document, source=name)
    except SeqDataError as e:
        raise ModelFileError(f"{name}: {e}") from None


# NOTE [ DL4J statistics as seqdata's ]
# seqdata keeps count / mean / m2 / min / max; DL4J files keep only what the transform needs.
# With count 1, m2 = std**2 gives back std exactly (sqrt of a correctly rounded square). A
# standardiser's file has no min / max: seqdata only compares them to tell a constant channel
# (max == min, then not divided), so mean -/+ std stand in, which differ wherever DL4J divides
# (DL4J floors a stored std at Nd4j.EPS_THRESHOLD, so it is never 0). A MIN_MAX file has no
# mean / std, which its transform never reads: the midpoint of [min, max] and m2 = 0 stand in.
# Both keep every statistic finite, as normalizer_from_dict requires.
def _standardize_stats(mean: np.ndarray, std: np.ndarray) -> dict[str, Any]:
    return {"count": 1, "mean": mean.tolist(), "m2": (std ** 2).tolist(),
            "min": (mean - std).tolist(), "max": (mean + std).tolist()}


def _min_max_stats(low: np.ndarray, high: np.ndarray) -> dict[str, Any]:
    return {"count": 1, "mean": ((low + high) / 2).tolist(), "m2": [0.0] * low.size,
            "min": low.tolist(), "max": high.tolist()}


def encode_normalizer_standardize(mean: np.ndarray, std: np.ndarray,
                                  label_mean: np.ndarray | None = None,
                                  label_std: np.ndarray | None = None) -> bytes:
    """The ``normalizer.bin`` bytes ND4J writes for a fitted ``NormalizerStandardize``."""
    out = _utf(HEADER) + struct.pack(">i", 1) + _utf("STANDARDIZE")
    out += struct.pack(">?", label_mean is not None)
    arrays = [mean, std] + ([label_mean, label_std] if label_mean is not None else [])
    return out + b"".join(_row(a) for a in arrays)


def encode_normalizer_min_max(low: np.ndarray, high: np.ndarray, target_min: float = 0.0,
                              target_max: float = 1.0, label_min: np.ndarray | None = None,
                              label_max: np.ndarray | None = None) -> bytes:
    """The ``normalizer.bin`` bytes ND4J writes for a fitted ``NormalizerMinMaxScaler``."""
    out = _utf(HEADER) + struct.pack(">i", 1) + _utf("MIN_MAX")
    out += struct.pack(">?", label_min is not None) + struct.pack(">dd", target_min, target_max)
    arrays = [low, high] + ([label_min, label_max] if label_min is not None else [])
    return out + b"".join(_row(a) for a in arrays)


def _row(values: Any) -> bytes:
    return encode_nd4j_array(np.asarray(values, dtype=np.float32).reshape(1, -1))


def encode_normalizer(norm: Any) -> bytes:
    """``normalizer.bin`` for a fitted seqdata normaliser (as float32 arrays, as ND4J keeps
    them)."""
    if isinstance(norm, NormalizerStandardize):
        labels = (norm.label_mean, norm.label_std) if norm.fit_label else (None, None)
        return encode_normalizer_standardize(norm.mean, norm.std, *labels)
    if isinstance(norm, NormalizerMinMaxScaler):
        data = norm.to_dict()
        labels = ((np.asarray(data["labels"]["min"]), np.asarray(data["labels"]["max"]))
                  if norm.fit_label else (None, None))
        return encode_normalizer_min_max(norm.min, norm.max, norm.min_range, norm.max_range,
                                         *labels)
    raise ModelFileError(f"no DL4J normaliser for {type(norm).__name__}")
