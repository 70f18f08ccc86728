"""Which columns are features and which are labels: fixed once, from the first sequence.

DL4J's rules (SPEC section 4): with two readers every feature column is a feature and the
label file holds the labels (one class-index column, or any number of regression columns);
with one reader the label is column ``label_index`` (``-1``: the last) and, for regression with
``num_possible_labels > 1``, the columns after it; ``num_possible_labels < 0`` and
``label_index < 0`` mean features only.

>>> import numpy as np
>>> roles = infer_roles(4, num_possible_labels=3, regression=False, label_index=-1)
>>> roles.feature_columns.tolist(), roles.label_columns.tolist(), roles.n_outcomes
([0, 1, 2], [3], 3)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqdata.errors import LabelError, ParseError, SeqDataError
from seqdata.readers.base import SequenceRecord

__all__ = ["ColumnRoles", "check_role_arguments", "infer_roles", "label_file_roles"]


@dataclass(frozen=True)
class ColumnRoles:
    """Which columns are features and which are labels, fixed by the first sequence."""

    n_columns: int
    feature_columns: slice | np.ndarray
    n_features: int
    label_columns: slice | np.ndarray | None
    n_label_columns: int
    n_outcomes: int


def check_role_arguments(num_possible_labels: int, regression: bool, two_readers: bool,
                         label_index: int | None) -> None:
    """Refuse classification without classes, before any file is read.

    >>> check_role_arguments(0, False, True, None)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    seqdata.errors.SeqDataError: classification needs num_possible_labels >= 1, found 0; ...
    """
    features_only = (not two_readers and num_possible_labels < 0
                     and label_index is not None and label_index < 0)
    if features_only:
        return
    if not regression and num_possible_labels < 1:
        raise SeqDataError(
            f"classification needs num_possible_labels >= 1, found {num_possible_labels}; use "
            "regression=True for real-valued labels, or num_possible_labels=-1 and "
            "label_index=-1 for features only")


def label_file_roles(n_columns: int, label: SequenceRecord, n_label_columns: int,
                     num_possible_labels: int, regression: bool) -> ColumnRoles:
    """Roles with a label reader: ``label`` is its first sequence, of ``n_label_columns``."""
    if not regression and n_label_columns != 1:
        raise LabelError(
            f"expected one label column to convert to one-hot (num_possible_labels="
            f"{num_possible_labels}), found {n_label_columns} columns; use regression=True "
            "for multi-column labels", path=label.source, line=label.first_line, column=2)
    outcomes = n_label_columns if regression else num_possible_labels
    return ColumnRoles(n_columns, slice(None), n_columns, slice(None), n_label_columns,
                       outcomes)


def infer_roles(n_columns: int, num_possible_labels: int, regression: bool, label_index: int,
                source: str | None = None) -> ColumnRoles:
    """Roles with one reader, whose files have ``n_columns`` (``source`` names the first)."""
    npl = num_possible_labels
    if npl < 0 and label_index < 0:
        return ColumnRoles(n_columns, slice(None), n_columns, None, 0, 0)
    index = n_columns - 1 if label_index < 0 else label_index
    if index >= n_columns:
        raise ParseError(
            f"label_index {label_index} is out of range: expected a column in "
            f"[0, {n_columns}), the file has {n_columns} columns", path=source)
    if regression and npl > 1:
        width = n_columns - index
        if width != npl:
            raise ParseError(
                f"regression with num_possible_labels={npl} takes the label columns "
                f"label_index..last ({index}..{n_columns - 1}), expected {npl} columns, "
                f"found {width}", path=source)
    else:
        width = 1
    label_cols = np.arange(index, index + width)
    feature_cols = np.setdiff1d(np.arange(n_columns), label_cols)
    if feature_cols.size == 0:
        raise ParseError(
            f"expected at least one feature column besides the label column(s), found "
            f"{n_columns} column(s) in all", path=source)
    outcomes = width if regression else npl
    return ColumnRoles(n_columns, feature_cols, len(feature_cols), label_cols, width, outcomes)
