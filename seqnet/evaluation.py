"""Classification and regression evaluation with DL4J's names, averaging rules and layout.

Both evaluators accumulate counts (or float64 moments) batch by batch, so any number of
minibatches can be evaluated and two evaluators can be merged (distributed evaluation).
Inputs are numpy arrays or torch tensors; torch is never imported here.

>>> import numpy as np
>>> ev = Evaluation()
>>> ev.eval(np.eye(3)[[0, 1, 2, 2]], np.eye(3)[[0, 2, 2, 2]])
>>> ev.accuracy()
0.75
>>> ev.confusion_matrix()
array([[1, 0, 0],
       [0, 0, 1],
       [0, 0, 2]])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from seqnet.errors import SeqNetError

__all__ = ["Evaluation", "EvaluationError", "RegressionEvaluation"]


class EvaluationError(SeqNetError, ValueError):
    """Evaluation inputs do not fit (shapes, class count, mask values, merge partners)."""


# --------------------------------------------------------------------------- input helpers


def _to_numpy(x: Any, what: str) -> np.ndarray:
    """Return ``x`` as a numpy array; torch tensors are detached and copied to the CPU."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as e:
        raise EvaluationError(f"{what}: expected a numeric array, found {type(x).__name__}") from e
    if arr.dtype == bool:
        arr = arr.astype(np.float64)
    if not np.issubdtype(arr.dtype, np.number):
        raise EvaluationError(f"{what}: expected a numeric array, found dtype {arr.dtype}")
    return arr


def _checked_mask(mask: Any, allowed: dict[tuple[int, ...], str], where: str) -> np.ndarray:
    """Convert ``mask`` and check that its shape is one of ``allowed`` and its values 0 or 1."""
    m = _to_numpy(mask, f"{where} mask")
    if m.shape not in allowed:
        expected = " or ".join(f"{list(s)} ({name})" for s, name in allowed.items())
        raise EvaluationError(f"{where}: mask shape expected {expected}, found {list(m.shape)}")
    bad = ~((m == 0) | (m == 1))
    if bad.any():
        pos = tuple(int(i) for i in np.argwhere(bad)[0])
        raise EvaluationError(
            f"{where}: mask values expected 0 or 1, found {m[pos].item()!r} at index {list(pos)}")
    return m.astype(bool)


def _pair(labels: Any, predicted: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    y = _to_numpy(labels, f"{where} labels")
    p = _to_numpy(predicted, f"{where} predicted")
    if y.shape != p.shape:
        raise EvaluationError(f"{where}: labels and predicted must have the same shape, "
                              f"found labels {list(y.shape)} and predicted {list(p.shape)}")
    return y, p


def _time_series_rows(labels: Any, predicted: Any, mask: Any,
                      where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Reshape ``[N, C, T]`` data to time-major rows ``[N*T, C]``, with the mask alongside.

    The mask may be ``[N, T]`` (per step) or ``[N, C, T]`` (per output); it comes back as
    ``[N*T]`` or ``[N*T, C]`` booleans, or ``None`` when none was given.
    """
    y, p = _pair(labels, predicted, where)
    if y.ndim != 3:
        raise EvaluationError(f"{where}: expected 3-D [N, C, T] labels and predicted, "
                              f"found shape {list(y.shape)}")
    n, c, t = y.shape
    y2 = y.transpose(0, 2, 1).reshape(n * t, c)
    p2 = p.transpose(0, 2, 1).reshape(n * t, c)
    if mask is None:
        return y2, p2, None
    m = _checked_mask(mask, {(n, t): "[N, T]", (n, c, t): "[N, C, T]"}, where)
    m2 = m.reshape(n * t) if m.ndim == 2 else m.transpose(0, 2, 1).reshape(n * t, c)
    return y2, p2, m2


def _rate(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` per class, NaN where ``den`` is 0 (the metric is undefined there)."""
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


# --------------------------------------------------------------------------- classification

# NOTE [ Averaging and exclusions ]
# As in DL4J, precision/recall/F1/false-positive-rate without a class are macro averages over
# the classes where the metric is defined: precision needs at least one prediction of the
# class (TP + FP > 0), recall at least one actual example (TP + FN > 0), F1 both, FPR at least
# one actual negative (FP + TN > 0). A per-class value that is undefined is reported as 0.0
# (DL4J's default edge value); a macro average with no defined class at all is NaN.
# DL4J reports only class 1 for two-class problems by default; here every class count uses
# the macro average, so the numbers do not change meaning with the number of classes.

# Confusion matrices with more classes than this are left out of stats() unless asked for
# (DL4J's CONFUSION_PRINT_MAX_CLASSES).
_CONFUSION_PRINT_MAX_CLASSES = 20


class Evaluation:
    """Accumulating evaluation of a classifier: accuracy, precision, recall, F1, confusion.

    >>> import numpy as np
    >>> ev = Evaluation(labels=["a", "b"])
    >>> y = np.zeros((1, 2, 3)); y[0, 0, :] = 1                     # [N, C, T], class a
    >>> out = np.zeros((1, 2, 3)); out[0, 1, :] = 1                 # predicts b everywhere
    >>> ev.eval_time_series(y, out, np.array([[1, 1, 0]]))          # last step is padding
    >>> ev.confusion_matrix().tolist()
    [[0, 2], [0, 0]]

    Parameters
    ----------
    num_classes:
        Number of classes; inferred from the first ``eval`` when not given.
    labels:
        Optional class names, used by ``stats()``; fixes ``num_classes`` to ``len(labels)``.

    A single output column (sigmoid) is read as a binary problem with threshold 0.5, as DL4J
    does: two classes, class 1 where the value is above 0.5.
    """

    def __init__(self, num_classes: int | None = None,
                 labels: Sequence[str] | None = None) -> None:
        if labels is not None:
            labels = [str(name) for name in labels]
            if num_classes is not None and num_classes != len(labels):
                raise EvaluationError(f"Evaluation: num_classes={num_classes} but {len(labels)} "
                                      f"label names given: {labels}")
            num_classes = len(labels)
        if num_classes is not None and (not isinstance(num_classes, (int, np.integer))
                                        or num_classes < 1):
            raise EvaluationError(f"Evaluation: num_classes expected a positive integer, "
                                  f"found {num_classes!r}")
        self._labels = labels
        self._num_classes = None if num_classes is None else int(num_classes)
        self._confusion: np.ndarray | None = None
        if self._num_classes is not None:
            self._confusion = np.zeros((self._num_classes, self._num_classes), dtype=np.int64)

    # ------------------------------------------------------------------ accumulation

    def eval(self, labels: Any, predicted: Any, mask: Any = None) -> None:
        """Count a minibatch: one-hot ``labels`` and ``predicted`` probabilities ``[N, C]``.

        3-D ``[N, C, T]`` input is passed on to :meth:`eval_time_series`. For 2-D input a
        mask of shape ``[N]`` or ``[N, 1]`` leaves out the examples where it is 0.
        """
        y, p = _pair(labels, predicted, "Evaluation.eval")
        if y.ndim == 3:
            self.eval_time_series(y, p, mask)
            return
        if y.ndim != 2:
            raise EvaluationError(f"Evaluation.eval: expected 2-D [N, C] or 3-D [N, C, T] "
                                  f"labels and predicted, found shape {list(y.shape)}")
        keep = None
        if mask is not None:
            n = y.shape[0]
            keep = _checked_mask(mask, {(n,): "[N]", (n, 1): "[N, 1]"},
                                 "Evaluation.eval").reshape(n)
        self._count(y, p, keep, "Evaluation.eval")

    def eval_time_series(self, labels: Any, predicted: Any, output_mask: Any = None) -> None:
        """Count every time step of ``[N, C, T]`` data where ``output_mask`` ``[N, T]`` is 1.

        Without a mask every step counts, and a step whose label row is all zeros counts as
        class 0 (DL4J's argmax), so pass the label mask for padded minibatches.
        """
        where = "Evaluation.eval_time_series"
        y, p, m = _time_series_rows(labels, predicted, output_mask, where)
        if m is not None and m.ndim == 2:
            raise EvaluationError(f"{where}: a per-output mask [N, C, T] is not supported for "
                                  f"classification, expected [N, T]")
        self._count(y, p, m, where)

    def _count(self, y: np.ndarray, p: np.ndarray, keep: np.ndarray | None, where: str) -> None:
        width = y.shape[1]
        classes = 2 if width == 1 else width
        if self._num_classes is None:
            self._num_classes = classes
            self._confusion = np.zeros((classes, classes), dtype=np.int64)
        elif classes != self._num_classes:
            raise EvaluationError(f"{where}: expected {self._num_classes} classes (columns), "
                                  f"found {width} columns in shape {list(y.shape)}")
        if keep is not None:
            y, p = y[keep], p[keep]
        if width == 1:
            actual = (y[:, 0] > 0.5).astype(np.int64)
            guess = (p[:, 0] > 0.5).astype(np.int64)
        else:
            actual = np.argmax(y, axis=1)
            guess = np.argmax(p, axis=1)
        c = self._num_classes
        assert self._confusion is not None
        self._confusion += np.bincount(actual * c + guess, minlength=c * c).reshape(c, c)

    def merge(self, other: Evaluation) -> None:
        """Add the counts of ``other`` into this evaluation (e.g. from another worker)."""
        if not isinstance(other, Evaluation):
            raise EvaluationError(f"Evaluation.merge: expected an Evaluation, "
                                  f"found {type(other).__name__}")
        if other._confusion is None:
            return
        if self._confusion is None:
            self._num_classes = other._num_classes
            self._confusion = np.zeros_like(other._confusion)
        elif other._num_classes != self._num_classes:
            raise EvaluationError(f"Evaluation.merge: expected {self._num_classes} classes, "
                                  f"found {other._num_classes} in the evaluation to merge")
        if self._labels is not None and other._labels is not None \
                and self._labels != other._labels:
            raise EvaluationError(f"Evaluation.merge: label names differ: {self._labels} "
                                  f"vs {other._labels}")
        if self._labels is None:
            self._labels = other._labels
        self._confusion += other._confusion

    # ------------------------------------------------------------------ counts

    @property
    def num_classes(self) -> int | None:
        """Number of classes, ``None`` before the first ``eval`` when not given."""
        return self._num_classes

    @property
    def labels_list(self) -> list[str]:
        """Class names: the ones given, else ``"0"``, ``"1"``, ..."""
        if self._labels is not None:
            return list(self._labels)
        return [str(i) for i in range(self._num_classes or 0)]

    def confusion_matrix(self) -> np.ndarray:
        """Counts ``[C, C]`` (int64): row = actual class, column = predicted class."""
        if self._confusion is None:
            return np.zeros((0, 0), dtype=np.int64)
        return self._confusion.copy()

    def num_row_counter(self) -> int:
        """Number of counted rows: examples, or time steps for time series."""
        return int(self.confusion_matrix().sum())

    def class_count(self, c: int) -> int:
        """Number of counted rows whose actual class is ``c``."""
        return int(self.confusion_matrix()[self._class_index(c)].sum())

    def true_positives(self) -> np.ndarray:
        """Per class: rows of the class predicted as it."""
        return np.diag(self.confusion_matrix()).copy()

    def false_positives(self) -> np.ndarray:
        """Per class: rows of other classes predicted as it."""
        cm = self.confusion_matrix()
        return cm.sum(axis=0) - np.diag(cm)

    def false_negatives(self) -> np.ndarray:
        """Per class: rows of the class predicted as something else."""
        cm = self.confusion_matrix()
        return cm.sum(axis=1) - np.diag(cm)

    def true_negatives(self) -> np.ndarray:
        """Per class: rows of other classes not predicted as it."""
        cm = self.confusion_matrix()
        return cm.sum() - cm.sum(axis=0) - cm.sum(axis=1) + np.diag(cm)

    # ------------------------------------------------------------------ metrics

    def accuracy(self) -> float:
        """Fraction of counted rows predicted correctly (NaN before anything was counted)."""
        cm = self.confusion_matrix()
        total = cm.sum()
        return float(np.trace(cm) / total) if total else math.nan

    def _per_class(self) -> dict[str, np.ndarray]:
        """Each metric per class, NaN where undefined (see NOTE [ Averaging and exclusions ])."""
        tp, fp = self.true_positives(), self.false_positives()
        fn, tn = self.false_negatives(), self.true_negatives()
        precision = _rate(tp, tp + fp)
        recall = _rate(tp, tp + fn)
        both = precision + recall
        f1 = np.where(both > 0, 2 * precision * recall / np.where(both > 0, both, 1), 0.0)
        f1[np.isnan(both)] = np.nan
        return {"precision": precision, "recall": recall, "f1": f1,
                "false_positive_rate": _rate(fp, fp + tn),
                "false_negative_rate": _rate(fn, fn + tp)}

    def _metric(self, name: str, c: int | None) -> float:
        values = self._per_class()[name]
        if c is not None:
            v = values[self._class_index(c)]
            return 0.0 if np.isnan(v) else float(v)
        defined = values[~np.isnan(values)]
        return float(defined.mean()) if defined.size else math.nan

    def excluded_classes(self, metric: str) -> list[int]:
        """Classes left out of the macro average of ``metric`` because it is undefined there.

        ``metric`` is ``"precision"``, ``"recall"``, ``"f1"``, ``"false_positive_rate"`` or
        ``"false_negative_rate"``.
        """
        per_class = self._per_class()
        if metric not in per_class:
            raise EvaluationError(f"Evaluation.excluded_classes: metric expected one of "
                                  f"{sorted(per_class)}, found {metric!r}")
        return [int(i) for i in np.flatnonzero(np.isnan(per_class[metric]))]

    def precision(self, c: int | None = None) -> float:
        """Precision TP / (TP + FP) of class ``c``, or the macro average over defined classes."""
        return self._metric("precision", c)

    def recall(self, c: int | None = None) -> float:
        """Recall TP / (TP + FN) of class ``c``, or the macro average over defined classes."""
        return self._metric("recall", c)

    def f1(self, c: int | None = None) -> float:
        """F1 = 2PR / (P + R) of class ``c`` (0 if P or R is 0), or the macro average."""
        return self._metric("f1", c)

    def false_positive_rate(self, c: int | None = None) -> float:
        """FP / (FP + TN) of class ``c``, or the macro average over defined classes."""
        return self._metric("false_positive_rate", c)

    def false_negative_rate(self, c: int | None = None) -> float:
        """FN / (FN + TP) of class ``c``, or the macro average over defined classes."""
        return self._metric("false_negative_rate", c)

    def _class_index(self, c: int) -> int:
        n = self._num_classes or 0
        if not isinstance(c, (int, np.integer)) or not 0 <= c < n:
            raise EvaluationError(f"Evaluation: class index expected an integer in [0, {n}), "
                                  f"found {c!r}")
        return int(c)

    # ------------------------------------------------------------------ reporting

    def to_dict(self) -> dict[str, float]:
        """Flat metrics for logging: macro values, then ``"<metric>/<class name>"`` per class."""
        out = {"accuracy": self.accuracy(), "precision": self.precision(),
               "recall": self.recall(), "f1": self.f1(),
               "num_row_counter": float(self.num_row_counter())}
        for i, name in enumerate(self.labels_list):
            for metric in ("precision", "recall", "f1"):
                out[f"{metric}/{name}"] = self._metric(metric, i)
        return out

    def stats(self, suppress_warnings: bool = False,
              include_confusion: bool | None = None) -> str:
        """The DL4J report: metrics, exclusion warnings and the confusion matrix.

        ``include_confusion`` defaults to True up to 20 classes, as in DL4J.
        """
        n = self._num_classes or 0
        lines = ["", "========================Evaluation Metrics========================",
                 f" # of classes:    {n}",
                 f" Accuracy:        {self.accuracy():.4f}"]
        for label, metric in (("Precision:", "precision"), ("Recall:", "recall"),
                              ("F1 Score:", "f1")):
            line = f" {label:<16} {self._metric(metric, None):.4f}"
            k = len(self.excluded_classes(metric))
            if k:
                line += f"\t({k} {_plural(k, 'class', 'classes')} excluded from average)"
            lines.append(line)
        lines.append(f"Precision, recall & F1: macro-averaged (equally weighted avg. of {n} "
                     f"classes)")
        if not suppress_warnings:
            lines.extend(self._warnings())
        if include_confusion is None:
            include_confusion = n <= _CONFUSION_PRINT_MAX_CLASSES
            if not include_confusion:
                lines.extend(["", f"Note: Confusion matrix not generated due to space "
                                  f"requirements for {n} classes.",
                              "Use stats(include_confusion=True) to generate anyway"])
        if include_confusion:
            lines.extend(["", "=========================Confusion Matrix========================="])
            lines.extend(self._confusion_text())
        lines.append("==================================================================")
        return "\n".join(lines)

    def _warnings(self) -> list[str]:
        # NOTE [ Why each exclusion warning gives its own reason ]
        # DL4J prints "never predicted by the model" for recall too, which is not why recall
        # is undefined; the precision wording is DL4J's, the others say the real cause.
        reasons = {"precision": ("was never predicted by the model and was",
                                 "were never predicted by the model and were"),
                   "recall": ("never appeared in the labels and was",
                              "never appeared in the labels and were"),
                   "f1": ("had undefined precision or recall and was",
                          "had undefined precision or recall and were")}
        out = []
        for metric, (one, many) in reasons.items():
            excluded = self.excluded_classes(metric)
            if excluded:
                k = len(excluded)
                name = "F1" if metric == "f1" else metric
                out.extend(["", f"Warning: {k} {_plural(k, 'class', 'classes')} "
                                f"{_plural(k, one, many)} excluded from average {name}",
                            f"Classes excluded from average {name}: {excluded}"])
        return out

    def _confusion_text(self) -> list[str]:
        # NOTE [ Confusion matrix column width ]
        # DL4J sizes columns from ceil(log10(max count)), which glues a count that is a power
        # of ten to its neighbour; the width here is the number of digits of the largest count
        # or class index, which matches DL4J's output everywhere else.
        if self._num_classes is None:
            return ["Confusion matrix: <no data>"]
        cm = self.confusion_matrix()
        n = cm.shape[0]
        digits = len(str(max(int(cm.max(initial=0)), n - 1, 1)))
        cell = digits + 1
        rows = ["".join(f"{i:>{cell}d}" for i in range(n)), "-" * (cell * n + 1)]
        for actual, name in enumerate(self.labels_list):
            counts = "".join(f"{int(v):>{cell}d}" for v in cm[actual])
            rows.append(f"{counts} | {actual} = {name}")
        rows.extend(["", "Confusion matrix format: Actual (rowClass) predicted as "
                         "(columnClass) N times"])
        return rows

    def __str__(self) -> str:
        return self.stats()

    def __repr__(self) -> str:
        return (f"Evaluation(num_classes={self._num_classes}, "
                f"rows={self.num_row_counter()}, accuracy={self.accuracy():.4f})")


# --------------------------------------------------------------------------- regression

# NOTE [ Streaming moments ]
# Per column, RegressionEvaluation keeps in float64: the count, the sums of squared and of
# absolute errors, the means of labels and predictions and their centred second moments and
# co-moment. Each batch is reduced exactly (two-pass) and folded in with Chan et al.'s pairwise
# update, which is also what merge() does; this equals the plain sums-of-squares formulas but
# does not lose the variance to cancellation when the labels have a large mean.
_MOMENTS = ("n", "sse", "sae", "mean_y", "mean_p", "m2_y", "m2_p", "c_yp")

_REGRESSION_METRICS = (("mean_squared_error", "MSE"), ("mean_absolute_error", "MAE"),
                       ("root_mean_squared_error", "RMSE"),
                       ("relative_squared_error", "RSE"),
                       ("pearson_correlation", "Pearson r"), ("r_squared", "R^2"))


class RegressionEvaluation:
    """Accumulating per-column regression metrics: MSE, MAE, RMSE, RSE, Pearson r and R^2.

    ``r_squared`` is the coefficient of determination ``1 - SSE / SST`` (not the square of
    Pearson's r); ``relative_squared_error`` is ``SSE / SST``, with
    ``SST = sum((y - mean(y))**2)`` over all counted values of the column.

    >>> import numpy as np
    >>> ev = RegressionEvaluation(["price"])
    >>> ev.eval(np.array([[1.0], [2.0], [3.0]]), np.array([[1.5], [2.0], [2.5]]))
    >>> round(ev.mean_squared_error("price"), 4), round(ev.r_squared(0), 4)
    (0.1667, 0.75)

    Parameters
    ----------
    columns:
        ``None`` (count inferred from the first batch, named ``col_0``, ...), a column count,
        or a list of column names.

    Undefined values (no data, or a constant column for RSE, R^2 and Pearson r) are NaN, and
    the ``average_*`` methods are plain means over columns, so a NaN column makes them NaN.
    """

    def __init__(self, columns: int | Sequence[str] | None = None) -> None:
        self._names: list[str] | None = None
        if isinstance(columns, (int, np.integer)) and not isinstance(columns, bool):
            if columns < 1:
                raise EvaluationError(f"RegressionEvaluation: columns expected a positive count, "
                                      f"found {columns}")
            self._names = [f"col_{i}" for i in range(int(columns))]
        elif columns is not None:
            if isinstance(columns, str) or not isinstance(columns, Sequence) or not columns:
                raise EvaluationError(f"RegressionEvaluation: columns expected None, a count or "
                                      f"a list of names, found {columns!r}")
            self._names = [str(c) for c in columns]
        self._m: dict[str, np.ndarray] | None = None
        if self._names is not None:
            self._m = _zero_moments(len(self._names))

    # ------------------------------------------------------------------ accumulation

    def eval(self, labels: Any, predicted: Any, mask: Any = None) -> None:
        """Accumulate ``[N, C]`` labels and predictions (3-D goes to ``eval_time_series``).

        ``mask`` may be ``[N]``, ``[N, 1]`` (per example) or ``[N, C]`` (per value).
        """
        y, p = _pair(labels, predicted, "RegressionEvaluation.eval")
        if y.ndim == 3:
            self.eval_time_series(y, p, mask)
            return
        if y.ndim != 2:
            raise EvaluationError(f"RegressionEvaluation.eval: expected 2-D [N, C] or 3-D "
                                  f"[N, C, T] labels and predicted, found shape {list(y.shape)}")
        keep = None
        if mask is not None:
            n, c = y.shape
            keep = _checked_mask(mask, {(n,): "[N]", (n, 1): "[N, 1]", (n, c): "[N, C]"},
                                 "RegressionEvaluation.eval")
            if keep.ndim == 1:
                keep = keep[:, None]
        self._accumulate(y, p, keep, "RegressionEvaluation.eval")

    def eval_time_series(self, labels: Any, predicted: Any, output_mask: Any = None) -> None:
        """Accumulate ``[N, C, T]`` data, counting only steps where ``output_mask`` is 1.

        ``output_mask`` is ``[N, T]`` (per step) or ``[N, C, T]`` (per value).
        """
        where = "RegressionEvaluation.eval_time_series"
        y, p, m = _time_series_rows(labels, predicted, output_mask, where)
        if m is not None and m.ndim == 1:
            m = m[:, None]
        self._accumulate(y, p, m, where)

    def _accumulate(self, y: np.ndarray, p: np.ndarray, keep: np.ndarray | None,
                    where: str) -> None:
        width = y.shape[1]
        if self._names is None:
            self._names = [f"col_{i}" for i in range(width)]
            self._m = _zero_moments(width)
        elif width != len(self._names):
            raise EvaluationError(f"{where}: expected {len(self._names)} columns, found "
                                  f"{width} in shape {list(y.shape)}")
        y = y.astype(np.float64)
        p = p.astype(np.float64)
        w = np.ones(y.shape) if keep is None else np.broadcast_to(keep, y.shape).astype(np.float64)
        assert self._m is not None
        self._m = _combine(self._m, _batch_moments(y, p, w))

    def merge(self, other: RegressionEvaluation) -> None:
        """Add everything ``other`` has seen into this evaluation."""
        if not isinstance(other, RegressionEvaluation):
            raise EvaluationError(f"RegressionEvaluation.merge: expected a RegressionEvaluation, "
                                  f"found {type(other).__name__}")
        if other._m is None or other._names is None:
            return
        if self._m is None or self._names is None:
            self._names = list(other._names)
            self._m = {k: v.copy() for k, v in other._m.items()}
            return
        if len(other._names) != len(self._names):
            raise EvaluationError(f"RegressionEvaluation.merge: expected {len(self._names)} "
                                  f"columns, found {len(other._names)}")
        self._m = _combine(self._m, other._m)

    # ------------------------------------------------------------------ metrics

    @property
    def column_names(self) -> list[str]:
        """Column names (``col_0``, ... unless given)."""
        return list(self._names or [])

    def num_columns(self) -> int:
        """Number of columns (0 before the first ``eval`` when not given)."""
        return len(self._names or [])

    def _col(self, col: int | str) -> int:
        names = self._names or []
        if isinstance(col, str):
            if col not in names:
                raise EvaluationError(f"RegressionEvaluation: column name expected one of "
                                      f"{names}, found {col!r}")
            return names.index(col)
        if not isinstance(col, (int, np.integer)) or not 0 <= col < len(names):
            raise EvaluationError(f"RegressionEvaluation: column index expected an integer in "
                                  f"[0, {len(names)}), found {col!r}")
        return int(col)

    def _all(self, name: str) -> np.ndarray:
        """Metric ``name`` for every column (NaN where undefined)."""
        if self._m is None:
            return np.zeros(0)
        m = self._m
        with np.errstate(divide="ignore", invalid="ignore"):
            n = np.where(m["n"] > 0, m["n"], np.nan)
            sst = np.where(m["m2_y"] > 0, m["m2_y"], np.nan)
            values = {
                "mean_squared_error": m["sse"] / n,
                "mean_absolute_error": m["sae"] / n,
                "root_mean_squared_error": np.sqrt(m["sse"] / n),
                "relative_squared_error": m["sse"] / sst,
                "r_squared": 1.0 - m["sse"] / sst,
                "pearson_correlation": m["c_yp"] / np.sqrt(sst * np.where(
                    m["m2_p"] > 0, m["m2_p"], np.nan)),
            }
        return values[name]

    def _one(self, name: str, col: int | str) -> float:
        return float(self._all(name)[self._col(col)])

    def _average(self, name: str) -> float:
        values = self._all(name)
        return float(values.mean()) if values.size else math.nan

    def count(self, col: int | str) -> int:
        """Number of values counted in column ``col``."""
        index = self._col(col)
        return int(self._m["n"][index]) if self._m is not None else 0

    def mean_squared_error(self, col: int | str) -> float:
        """MSE: mean of (y - p)^2 over the column's counted values."""
        return self._one("mean_squared_error", col)

    def mean_absolute_error(self, col: int | str) -> float:
        """MAE: mean of |y - p|."""
        return self._one("mean_absolute_error", col)

    def root_mean_squared_error(self, col: int | str) -> float:
        """RMSE: square root of the MSE."""
        return self._one("root_mean_squared_error", col)

    def relative_squared_error(self, col: int | str) -> float:
        """RSE: sum((y - p)^2) / sum((y - mean y)^2)."""
        return self._one("relative_squared_error", col)

    def pearson_correlation(self, col: int | str) -> float:
        """Pearson correlation coefficient r between labels and predictions."""
        return self._one("pearson_correlation", col)

    def r_squared(self, col: int | str) -> float:
        """Coefficient of determination R^2 = 1 - SSE / SST."""
        return self._one("r_squared", col)

    def average_mean_squared_error(self) -> float:
        """MSE averaged over columns."""
        return self._average("mean_squared_error")

    def average_mean_absolute_error(self) -> float:
        """MAE averaged over columns."""
        return self._average("mean_absolute_error")

    def average_root_mean_squared_error(self) -> float:
        """RMSE averaged over columns."""
        return self._average("root_mean_squared_error")

    def average_relative_squared_error(self) -> float:
        """RSE averaged over columns."""
        return self._average("relative_squared_error")

    def average_pearson_correlation(self) -> float:
        """Pearson r averaged over columns."""
        return self._average("pearson_correlation")

    def average_r_squared(self) -> float:
        """R^2 averaged over columns."""
        return self._average("r_squared")

    # ------------------------------------------------------------------ reporting

    def to_dict(self) -> dict[str, float]:
        """Flat metrics for logging: ``"average_<metric>"`` and ``"<metric>/<column>"``."""
        out: dict[str, float] = {}
        for name, _ in _REGRESSION_METRICS:
            out[f"average_{name}"] = self._average(name)
        for name, _ in _REGRESSION_METRICS:
            for i, col in enumerate(self.column_names):
                out[f"{name}/{col}"] = float(self._all(name)[i])
        return out

    def stats(self) -> str:
        """A table, one row per column, headed MSE, MAE, RMSE, RSE, Pearson r, R^2."""
        names = self.column_names
        width = max([len("Column")] + [len(n) for n in names]) + 4
        header = f"{'Column':<{width}}" + "".join(f"{short:<15}" for _, short in
                                                   _REGRESSION_METRICS)
        lines = [header.rstrip()]
        table = [self._all(name) for name, _ in _REGRESSION_METRICS]
        for i, col in enumerate(names):
            row = f"{col:<{width}}" + "".join(f"{v[i]:<15.5e}" for v in table)
            lines.append(row.rstrip())
        lines.append("RSE = SSE / SST; R^2 = 1 - SSE / SST (coefficient of determination); "
                     "Pearson r = correlation of labels and predictions")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.stats()

    def __repr__(self) -> str:
        return f"RegressionEvaluation(columns={self.column_names})"


def _zero_moments(c: int) -> dict[str, np.ndarray]:
    return {k: np.zeros(c) for k in _MOMENTS}


def _batch_moments(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
    """Exact per-column moments of one batch, counting only values with weight ``w`` = 1."""
    n = w.sum(axis=0)
    safe = np.where(n > 0, n, 1.0)
    mean_y = (w * y).sum(axis=0) / safe
    mean_p = (w * p).sum(axis=0) / safe
    dy = np.where(w > 0, y - mean_y, 0.0)
    dp = np.where(w > 0, p - mean_p, 0.0)
    err = np.where(w > 0, y - p, 0.0)
    return {"n": n, "sse": (err ** 2).sum(axis=0), "sae": np.abs(err).sum(axis=0),
            "mean_y": mean_y, "mean_p": mean_p, "m2_y": (dy ** 2).sum(axis=0),
            "m2_p": (dp ** 2).sum(axis=0), "c_yp": (dy * dp).sum(axis=0)}


def _combine(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Moments of the union of two disjoint sets of values (Chan et al.'s pairwise update)."""
    n = a["n"] + b["n"]
    safe = np.where(n > 0, n, 1.0)
    frac = b["n"] / safe
    weight = a["n"] * b["n"] / safe
    d_y = b["mean_y"] - a["mean_y"]
    d_p = b["mean_p"] - a["mean_p"]
    return {"n": n, "sse": a["sse"] + b["sse"], "sae": a["sae"] + b["sae"],
            "mean_y": a["mean_y"] + d_y * frac, "mean_p": a["mean_p"] + d_p * frac,
            "m2_y": a["m2_y"] + b["m2_y"] + d_y ** 2 * weight,
            "m2_p": a["m2_p"] + b["m2_p"] + d_p ** 2 * weight,
            "c_yp": a["c_yp"] + b["c_yp"] + d_y * d_p * weight}
