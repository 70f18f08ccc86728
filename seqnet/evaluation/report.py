"""The text reports: DL4J's ``Evaluation.stats()`` layout and the regression table.

Pure formatting: the evaluators compute the numbers and pass them in.

>>> print(regression_table(["price"], [("MSE", np.array([0.25]))]).splitlines()[1])
price     2.50000e-01
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Confusion matrices with more classes than this are left out of ``stats()`` unless asked
#: for (DL4J's ``CONFUSION_PRINT_MAX_CLASSES``).
CONFUSION_PRINT_MAX_CLASSES = 20

_RULE = "=================================================================="


def classification_report(num_classes: int, accuracy: float, macro: dict[str, float],
                          excluded: dict[str, list[int]], confusion: np.ndarray | None,
                          labels: Sequence[str], suppress_warnings: bool = False,
                          include_confusion: bool | None = None) -> str:
    """DL4J's report: metrics, exclusion warnings and the confusion matrix.

    ``macro`` and ``excluded`` hold the macro averages and the excluded classes of
    ``"precision"``, ``"recall"`` and ``"f1"``; ``confusion`` is ``None`` before any data.
    ``include_confusion`` defaults to True up to :data:`CONFUSION_PRINT_MAX_CLASSES` classes.
    """
    n = num_classes
    lines = ["", "========================Evaluation Metrics========================",
             f" # of classes:    {n}",
             f" Accuracy:        {accuracy:.4f}"]
    for label, metric in (("Precision:", "precision"), ("Recall:", "recall"),
                          ("F1 Score:", "f1")):
        line = f" {label:<16} {macro[metric]:.4f}"
        k = len(excluded[metric])
        if k:
            line += f"\t({k} {_plural(k, 'class', 'classes')} excluded from average)"
        lines.append(line)
    lines.append(f"Precision, recall & F1: macro-averaged (equally weighted avg. of {n} "
                 f"classes)")
    if not suppress_warnings:
        lines.extend(_warnings(excluded))
    if include_confusion is None:
        include_confusion = n <= CONFUSION_PRINT_MAX_CLASSES
        if not include_confusion:
            lines.extend(["", f"Note: Confusion matrix not generated due to space "
                              f"requirements for {n} classes.",
                          "Use stats(include_confusion=True) to generate anyway"])
    if include_confusion:
        lines.extend(["", "=========================Confusion Matrix========================="])
        lines.extend(_confusion_text(confusion, labels))
    lines.append(_RULE)
    return "\n".join(lines)


def _warnings(excluded: dict[str, list[int]]) -> list[str]:
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
        classes = excluded[metric]
        if classes:
            k = len(classes)
            name = "F1" if metric == "f1" else metric
            out.extend(["", f"Warning: {k} {_plural(k, 'class', 'classes')} "
                            f"{_plural(k, one, many)} excluded from average {name}",
                        f"Classes excluded from average {name}: {classes}"])
    return out


def _confusion_text(cm: np.ndarray | None, labels: Sequence[str]) -> list[str]:
    # NOTE [ Confusion matrix column width ]
    # DL4J sizes columns from ceil(log10(max count)), which glues a count that is a power
    # of ten to its neighbour; the width here is the number of digits of the largest count
    # or class index, which matches DL4J's output everywhere else.
    if cm is None:
        return ["Confusion matrix: <no data>"]
    n = cm.shape[0]
    digits = len(str(max(int(cm.max(initial=0)), n - 1, 1)))
    cell = digits + 1
    rows = ["".join(f"{i:>{cell}d}" for i in range(n)), "-" * (cell * n + 1)]
    for actual, name in enumerate(labels):
        counts = "".join(f"{int(v):>{cell}d}" for v in cm[actual])
        rows.append(f"{counts} | {actual} = {name}")
    rows.extend(["", "Confusion matrix format: Actual (rowClass) predicted as "
                     "(columnClass) N times"])
    return rows


def regression_table(names: Sequence[str], columns: Sequence[tuple[str, np.ndarray]]) -> str:
    """A table, one row per named column, one column per ``(heading, values)``, and a
    footnote defining RSE, R^2 and Pearson r."""
    width = max([len("Column")] + [len(n) for n in names]) + 4
    header = f"{'Column':<{width}}" + "".join(f"{short:<15}" for short, _ in columns)
    lines = [header.rstrip()]
    for i, col in enumerate(names):
        row = f"{col:<{width}}" + "".join(f"{v[i]:<15.5e}" for _, v in columns)
        lines.append(row.rstrip())
    lines.append("RSE = SSE / SST; R^2 = 1 - SSE / SST (coefficient of determination); "
                 "Pearson r = correlation of labels and predictions")
    return "\n".join(lines)


def _plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many
