"""Classification evaluation with DL4J's names, averaging rules and layout.

Counts accumulate batch by batch in a confusion matrix, so any number of minibatches can be
evaluated and two evaluations can be merged (distributed evaluation).

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

from seqnet.evaluation.arrays import checked_mask, pair, time_series_rows
from seqnet.evaluation.errors import EvaluationError
from seqnet.evaluation.report import classification_report

# NOTE [ Averaging and exclusions ]
# As in DL4J, precision/recall/F1/false-positive-rate without a class are macro averages over
# the classes where the metric is defined: precision needs at least one prediction of the
# class (TP + FP > 0), recall at least one actual example (TP + FN > 0), F1 both, FPR at least
# one actual negative (FP + TN > 0). A per-class value that is undefined is reported as 0.0
# (DL4J's default edge value); a macro average with no defined class at all is NaN.
# DL4J reports only class 1 for two-class problems by default; here every class count uses
# the macro average, so the numbers do not change meaning with the number of classes.


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
        y, p = pair(labels, predicted, "Evaluation.eval")
        if y.ndim == 3:
            self.eval_time_series(y, p, mask)
            return
        if y.ndim != 2:
            raise EvaluationError(f"Evaluation.eval: expected 2-D [N, C] or 3-D [N, C, T] "
                                  f"labels and predicted, found shape {list(y.shape)}")
        keep = None
        if mask is not None:
            n = y.shape[0]
            keep = checked_mask(mask, {(n,): "[N]", (n, 1): "[N, 1]"},
                                 "Evaluation.eval").reshape(n)
        self._count(y, p, keep, "Evaluation.eval")

    def eval_time_series(self, labels: Any, predicted: Any, output_mask: Any = None) -> None:
        """Count every time step of ``[N, C, T]`` data where ``output_mask`` ``[N, T]`` is 1.

        Without a mask every step counts, and a step whose label row is all zeros counts as
        class 0 (DL4J's argmax), so pass the label mask for padded minibatches.
        """
        where = "Evaluation.eval_time_series"
        y, p, m = time_series_rows(labels, predicted, output_mask, where)
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
        metrics = ("precision", "recall", "f1")
        confusion = None if self._confusion is None else self.confusion_matrix()
        return classification_report(
            self._num_classes or 0, self.accuracy(),
            {m: self._metric(m, None) for m in metrics},
            {m: self.excluded_classes(m) for m in metrics}, confusion, self.labels_list,
            suppress_warnings, include_confusion)

    def __str__(self) -> str:
        return self.stats()

    def __repr__(self) -> str:
        return (f"Evaluation(num_classes={self._num_classes}, "
                f"rows={self.num_row_counter()}, accuracy={self.accuracy():.4f})")


def _rate(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` per class, NaN where ``den`` is 0 (the metric is undefined there)."""
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out
