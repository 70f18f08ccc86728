"""Feature (and optional label) normalisers fitted on real steps only, as DL4J's.

Statistics are per channel over every real (unmasked) step of every example; padded steps
never count and stay 0 after transforming. Fitting streams: each minibatch is reduced to
float64 count / mean / sum of squared deviations / min / max and merged with Chan et al.'s
parallel update, so no corpus is ever held in memory. Normalisers are DataSet
pre-processors: ``iterator.set_pre_processor(normalizer)``.

>>> import numpy as np
>>> from seqdata.dataset import DataSet
>>> ds = DataSet(np.array([[[1., 3., 0.]]], np.float32), features_mask=np.array([[1., 1., 0.]]))
>>> norm = NormalizerStandardize()
>>> norm.fit(ds)
>>> norm.mean.tolist(), norm.std.tolist()
([2.0], [1.0])
>>> norm.transform(ds).features.tolist()
[[[-1.0, 1.0, 0.0]]]
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from seqdata.dataset import DataSet
from seqdata.errors import SeqDataError

_FORMAT = "seqdata-normalizer"
_VERSION = 1


@dataclass
class _Stats:
    """Running per-channel statistics of real steps (float64 accumulators)."""

    count: int
    mean: np.ndarray
    m2: np.ndarray
    min: np.ndarray
    max: np.ndarray

    @classmethod
    def of(cls, rows: np.ndarray) -> _Stats:
        rows = rows.astype(np.float64, copy=False)
        if len(rows) == 0:
            return cls(0, *(np.zeros(rows.shape[1]),) * 4)
        mean = rows.mean(axis=0)
        return cls(len(rows), mean, ((rows - mean) ** 2).sum(axis=0),
                   rows.min(axis=0), rows.max(axis=0))

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation per channel."""
        return np.sqrt(self.m2 / self.count)

    @property
    def span(self) -> np.ndarray:
        """``max - min`` per channel, 1 where the channel is constant (so dividing keeps it)."""
        return np.where(self.max > self.min, self.max - self.min, 1.0)

    def merge(self, other: _Stats) -> _Stats:
        """Chan, Golub & LeVeque's pairwise update: exact and numerically stable."""
        if other.count == 0:
            return self
        if self.count == 0:
            return other
        n = self.count + other.count
        delta = other.mean - self.mean
        return _Stats(n, self.mean + delta * (other.count / n),
                      self.m2 + other.m2 + delta ** 2 * (self.count * other.count / n),
                      np.minimum(self.min, other.min), np.maximum(self.max, other.max))

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "mean": self.mean.tolist(), "m2": self.m2.tolist(),
                "min": self.min.tolist(), "max": self.max.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> _Stats:
        return cls(int(d["count"]), *(np.asarray(d[k], dtype=np.float64)
                                      for k in ("mean", "m2", "min", "max")))


def _real_rows(data: Any, mask: Any) -> np.ndarray:
    """The real steps of ``[N, C, T]`` (or ``[N, C]``) data as ``[steps, C]`` rows."""
    data = np.asarray(data)
    if data.ndim == 2:
        return data
    if data.ndim != 3:
        raise SeqDataError(f"expected [N, C, T] or [N, C] data, found shape {data.shape}")
    rows = data.transpose(0, 2, 1)
    if mask is None:
        return rows.reshape(-1, data.shape[1])
    return rows[np.asarray(mask) > 0]


# NOTE [ Non-finite values refuse a fit ]
# One nan or inf makes every statistic of its channel nan or inf, and a normaliser fitted on
# it silently turns every later minibatch into nan. So fit stops at the first one and says
# where: the file (when the DataSet carries example_meta_data: collect_meta_data=True), the
# example, channel and 1-based real step (its line is skip_num_lines + step).
def _check_finite(rows: np.ndarray, ds: DataSet, role: str, batch: int) -> None:
    if np.isfinite(rows).all():
        return
    data = np.asarray(ds.features if role == "features" else ds.labels)
    mask = ds.features_mask if role == "features" else ds.labels_mask
    if data.ndim == 2:
        data = data[:, :, None]
    real = np.ones((data.shape[0], data.shape[2]), bool) if mask is None \
        else np.asarray(mask) > 0
    bad = ~np.isfinite(data) & real[:, None, :]
    example, channel, t = (int(v[0]) for v in np.nonzero(bad))
    step = int(real[example, :t + 1].sum())
    meta = (ds.example_meta_data or [None] * (example + 1))[example]
    source = getattr(meta, "features_source" if role == "features" else "labels_source", None)
    where = (f"{source}: step {step} (line {step} after skipped lines), column {channel + 1}"
             if source else
             f"minibatch {batch}, example {example}, channel {channel}, real step {step} "
             "(collect_meta_data=True names the file; seqdata validate lists every "
             "non-finite value)")
    raise SeqDataError(f"cannot fit a normaliser: expected finite {role}, found "
                       f"{data[example, channel, t]} at {where}")


def _check_stats(stats: _Stats, where: str) -> None:
    """Refuse statistics no fit can produce (a damaged or hand-edited file)."""
    arrays = {"mean": stats.mean, "m2": stats.m2, "min": stats.min, "max": stats.max}
    for name, values in arrays.items():
        if values.ndim != 1 or values.shape != stats.mean.shape or values.size == 0:
            raise SeqDataError(f"{where}.{name}: expected one value per channel "
                               f"({stats.mean.size}), found shape {values.shape}")
        if not np.isfinite(values).all():
            raise SeqDataError(f"{where}.{name}: expected finite values, found "
                               f"{values[~np.isfinite(values)][0]}")
    if stats.count < 1:
        raise SeqDataError(f"{where}.count: expected at least 1 step, found {stats.count}")
    if (stats.m2 < 0).any():
        raise SeqDataError(f"{where}.m2: expected >= 0 (a variance cannot be negative), "
                           f"found {stats.m2[stats.m2 < 0][0]}")
    if (stats.min > stats.max).any():
        c = int(np.flatnonzero(stats.min > stats.max)[0])
        raise SeqDataError(f"{where}: channel {c}: expected min <= max, found min "
                           f"{stats.min[c]} > max {stats.max[c]}")


class _Normalizer:
    """Shared machinery: streaming fit, array transforms, DataSet plumbing, JSON."""

    def __init__(self, fit_label: bool = False) -> None:
        self.fit_label = bool(fit_label)
        self._features: _Stats | None = None
        self._labels: _Stats | None = None

    # ---------------------------------------------------------------- subclass hooks

    def _forward(self, x: np.ndarray, stats: _Stats) -> np.ndarray:
        raise NotImplementedError

    def _backward(self, x: np.ndarray, stats: _Stats) -> np.ndarray:
        raise NotImplementedError

    def _extra(self) -> dict[str, Any]:
        return {}

    # ---------------------------------------------------------------- fitting

    def fit(self, data: DataSet | Iterable[DataSet]) -> None:
        """Compute statistics over the real steps of a DataSet or of every minibatch.

        An iterator is run for one whole epoch with its own pre-processor switched off (so
        fitting a normaliser that is already the pre-processor sees raw data), then reset,
        as DL4J does.
        """
        features = _Stats(0, *(np.zeros(0),) * 4)
        labels = _Stats(0, *(np.zeros(0),) * 4)
        seen = 0
        for ds in self._datasets(data):
            seen += 1
            rows = _real_rows(ds.features, ds.features_mask)
            _check_finite(rows, ds, "features", seen)
            features = features.merge(_Stats.of(rows))
            if self.fit_label:
                if ds.labels is None:
                    raise SeqDataError("fit_label=True needs labels, found a DataSet without")
                rows = _real_rows(ds.labels, ds.labels_mask)
                _check_finite(rows, ds, "labels", seen)
                labels = labels.merge(_Stats.of(rows))
        if seen == 0 or features.count == 0:
            raise SeqDataError("cannot fit a normaliser: expected real steps, found none")
        self._features = features
        self._labels = labels if self.fit_label else None

    @staticmethod
    def _datasets(data: DataSet | Iterable[DataSet]) -> Iterable[DataSet]:
        if isinstance(data, DataSet):
            yield data
            return
        if not hasattr(data, "set_pre_processor"):
            yield from data
            return
        iterator: Any = data  # a DataSetIterator: has a pre-processor and reset()
        saved = iterator.get_pre_processor()
        iterator.set_pre_processor(None)
        try:
            yield from iterator
        finally:
            iterator.set_pre_processor(saved)
            iterator.reset()

    @property
    def is_fitted(self) -> bool:
        return self._features is not None

    def _stats(self, labels: bool) -> _Stats:
        if self._features is None:
            raise SeqDataError(f"{type(self).__name__} is not fitted: call fit() first")
        if labels:
            if self._labels is None:
                raise SeqDataError(
                    f"{type(self).__name__} was not fitted with fit_label=True, so it has no "
                    "label statistics")
            return self._labels
        return self._features

    # ---------------------------------------------------------------- arrays

    def _apply(self, x: Any, mask: Any, labels: bool, forward: bool) -> np.ndarray:
        stats = self._stats(labels)
        x = np.asarray(x, dtype=np.float32)
        channels = x.shape[1] if x.ndim >= 2 else -1
        if channels != len(stats.mean):
            raise SeqDataError(
                f"expected {len(stats.mean)} {'label' if labels else 'feature'} channels (as "
                f"fitted), found data of shape {x.shape}")
        y = (self._forward if forward else self._backward)(x, stats).astype(np.float32)
        if mask is not None and x.ndim == 3:
            # where(), not a product: -0.0 and nan * 0 must not leak into padding.
            y = np.where(np.asarray(mask)[:, None, :] > 0, y, np.float32(0.0))
        return y

    def transform_features(self, features: Any, mask: Any = None) -> np.ndarray:
        """Normalised copy of ``[N, C, T]`` / ``[N, C]`` features (masked steps 0)."""
        return self._apply(features, mask, labels=False, forward=True)

    def revert_features(self, features: Any, mask: Any = None) -> np.ndarray:
        """Inverse of :meth:`transform_features`."""
        return self._apply(features, mask, labels=False, forward=False)

    def transform_labels(self, labels: Any, mask: Any = None) -> np.ndarray:
        """Normalised copy of labels (needs ``fit_label=True``)."""
        return self._apply(labels, mask, labels=True, forward=True)

    def revert_labels(self, labels: Any, mask: Any = None) -> np.ndarray:
        """Inverse of :meth:`transform_labels`, e.g. for a regression network's output."""
        return self._apply(labels, mask, labels=True, forward=False)

    # ---------------------------------------------------------------- DataSets

    def _convert(self, ds: DataSet, forward: bool) -> tuple[np.ndarray, Any]:
        features = self._apply(ds.features, ds.features_mask, labels=False, forward=forward)
        labels = ds.labels
        if self.fit_label and labels is not None:
            labels = self._apply(labels, ds.labels_mask, labels=True, forward=forward)
        return features, labels

    def transform(self, ds: DataSet) -> DataSet:
        """A normalised copy of ``ds`` (``ds`` itself is left unchanged)."""
        out = ds.copy()
        out.features, out.labels = self._convert(ds, forward=True)
        return out

    def pre_process(self, ds: DataSet) -> None:
        """Normalise ``ds`` in place (the DataSet pre-processor hook)."""
        ds.features, ds.labels = self._convert(ds, forward=True)

    def revert(self, ds: DataSet) -> DataSet:
        """A copy of ``ds`` with the normalisation undone (masked steps stay 0)."""
        out = ds.copy()
        out.features, out.labels = self._convert(ds, forward=False)
        return out

    # ---------------------------------------------------------------- persistence

    def to_dict(self) -> dict[str, Any]:
        """The fitted state as plain JSON-able data (see :func:`normalizer_from_dict`)."""
        return {"format": _FORMAT, "version": _VERSION, "type": type(self).__name__,
                "fit_label": self.fit_label, **self._extra(),
                "features": self._stats(False).to_dict(),
                "labels": None if self._labels is None else self._labels.to_dict()}

    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted state as JSON."""
        try:
            with open(path, "w", encoding="utf-8") as f:
                json.dump(self.to_dict(), f, indent=1)
        except OSError as e:
            raise SeqDataError(f"{path}: cannot write normaliser: {e.strerror}") from None

    @classmethod
    def load(cls, path: str | os.PathLike) -> _Normalizer:
        """Read a normaliser written by :meth:`save` (it must be of this class)."""
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        except OSError as e:
            raise SeqDataError(f"{path}: cannot read normaliser: {e.strerror}") from None
        except ValueError as e:
            raise SeqDataError(f"{path}: expected normaliser JSON, found invalid JSON: {e}") \
                from None
        norm = normalizer_from_dict(d, source=str(path))
        if not isinstance(norm, cls):
            raise SeqDataError(
                f"{path}: expected a {cls.__name__}, found a {type(norm).__name__}")
        return norm


class NormalizerStandardize(_Normalizer):
    """Zero mean, unit (population) standard deviation per channel, as DL4J's.

    A constant channel (min == max over the real steps) is centred but not divided.
    ``fit_label=True`` also standardises regression labels.
    """

    @property
    def mean(self) -> np.ndarray:
        return self._stats(False).mean

    @property
    def std(self) -> np.ndarray:
        return self._stats(False).std

    @property
    def label_mean(self) -> np.ndarray:
        return self._stats(True).mean

    @property
    def label_std(self) -> np.ndarray:
        return self._stats(True).std

    @staticmethod
    def _scale(stats: _Stats) -> np.ndarray:
        return np.where(stats.max > stats.min, stats.std, 1.0)

    def _forward(self, x: np.ndarray, stats: _Stats) -> np.ndarray:
        shape = _channel_shape(x)
        return ((x - stats.mean.reshape(shape)) / self._scale(stats).reshape(shape))

    def _backward(self, x: np.ndarray, stats: _Stats) -> np.ndarray:
        shape = _channel_shape(x)
        return x * self._scale(stats).reshape(shape) + stats.mean.reshape(shape)


class NormalizerMinMaxScaler(_Normalizer):
    """Scale each channel linearly from its [min, max] to [min_range, max_range] (default
    [0, 1]), as DL4J's. A constant channel maps to ``min_range``.
    """

    def __init__(self, min_range: float = 0.0, max_range: float = 1.0,
                 fit_label: bool = False) -> None:
        super().__init__(fit_label=fit_label)
        if not max_range > min_range:
            raise SeqDataError(
                f"expected min_range < max_range, found {min_range} and {max_range}")
        self.min_range = float(min_range)
        self.max_range = float(max_range)

    @property
    def min(self) -> np.ndarray:
        return self._stats(False).min

    @property
    def max(self) -> np.ndarray:
        return self._stats(False).max

    def _extra(self) -> dict[str, Any]:
        return {"min_range": self.min_range, "max_range": self.max_range}

    def _forward(self, x: np.ndarray, stats: _Stats) -> np.ndarray:
        shape = _channel_shape(x)
        unit = (x - stats.min.reshape(shape)) / stats.span.reshape(shape)
        return unit * (self.max_range - self.min_range) + self.min_range

    def _backward(self, x: np.ndarray, stats: _Stats) -> np.ndarray:
        shape = _channel_shape(x)
        unit = (x - self.min_range) / (self.max_range - self.min_range)
        return unit * stats.span.reshape(shape) + stats.min.reshape(shape)


def _channel_shape(x: np.ndarray) -> tuple[int, ...]:
    """Broadcast shape of per-channel statistics against ``[N, C, T]`` or ``[N, C]``."""
    return (1, -1, 1) if x.ndim == 3 else (1, -1)


_TYPES = {c.__name__: c for c in (NormalizerStandardize, NormalizerMinMaxScaler)}


def normalizer_from_dict(d: Any, source: str = "<dict>") -> _Normalizer:
    """Rebuild a normaliser from :meth:`to_dict` data (used by ``load`` and model files).

    >>> n = NormalizerMinMaxScaler(); n.fit(DataSet(np.array([[0., 1.], [2., 3.]], np.float32)))
    >>> normalizer_from_dict(n.to_dict()).max.tolist()
    [2.0, 3.0]
    """
    if not isinstance(d, dict) or d.get("format") != _FORMAT:
        raise SeqDataError(f"{source}: expected a {_FORMAT} document, found something else")
    if d.get("version") != _VERSION:
        raise SeqDataError(
            f"{source}: expected normaliser format version {_VERSION}, found {d.get('version')}")
    cls = _TYPES.get(str(d.get("type")))
    if cls is None:
        raise SeqDataError(
            f"{source}: expected a normaliser type in {sorted(_TYPES)}, found {d.get('type')!r}")
    try:
        extra = {k: d[k] for k in ("min_range", "max_range") if k in d}
        norm = cls(fit_label=bool(d["fit_label"]), **extra)
        norm._features = _Stats.from_dict(d["features"])
        norm._labels = None if d.get("labels") is None else _Stats.from_dict(d["labels"])
        _check_stats(norm._features, f"{source}: features")
        if norm._labels is not None:
            _check_stats(norm._labels, f"{source}: labels")
        for key in ("min_range", "max_range"):
            if key in d and not np.isfinite(float(d[key])):
                raise SeqDataError(f"{source}: {key}: expected a finite number, found {d[key]}")
    except SeqDataError:
        raise
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        raise SeqDataError(f"{source}: normaliser document is incomplete or malformed: {e!r}") \
            from None
    return norm
