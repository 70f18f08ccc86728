"""Pure, vectorised batch arithmetic: alignment offsets, padding, masks and one-hot.

Every reader (CSV, ``.npy``, the packed store) hands the iterator a
:class:`~seqdata.readers.base.RaggedBatch`: the sequences of a minibatch stacked along time,
``values [sum(lengths), C]``. The functions here turn that into the padded ``[N, C, T]``
float32 arrays and ``[N, T]`` masks of SPEC section 4. They place every value with one fancy
index assignment (no Python loop per value or per step), and accept any array-like ``values``
(numpy arrays, memory-mapped Arrow buffers), so the CSV path and the store path share them.

>>> import numpy as np
>>> values = np.array([[1.], [2.], [3.], [4.], [5.]])      # sequences of 3 and 2 steps
>>> lengths = np.array([3, 2])
>>> f_starts, l_starts, T = align_starts(lengths, np.array([1, 1]), AlignmentMode.ALIGN_END)
>>> pad_sequences(values, lengths, f_starts, T)[:, 0, :].tolist()
[[1.0, 2.0, 3.0], [4.0, 5.0, 0.0]]
>>> sequence_mask(np.array([1, 1]), l_starts, T).tolist()
[[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

import numpy as np

from seqdata.errors import AlignmentError, LabelError, SeqDataError


class AlignmentMode(enum.Enum):
    """How feature and label sequences of different lengths are placed in a minibatch.

    ``EQUAL_LENGTH``: all sequences of a minibatch have one length (checked).
    ``ALIGN_START``: everything starts at step 0 and is zero-padded at the end.
    ``ALIGN_END``: per example, the shorter of features and labels is shifted right so that
    both end together; the example is then padded at the end to the minibatch length.
    """

    EQUAL_LENGTH = "EQUAL_LENGTH"
    ALIGN_START = "ALIGN_START"
    ALIGN_END = "ALIGN_END"


def sequence_offsets(lengths: np.ndarray) -> np.ndarray:
    """Row where each sequence starts in the stacked ``values``.

    >>> sequence_offsets(np.array([3, 1, 2])).tolist()
    [0, 3, 4]
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    offsets = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    return offsets


def align_starts(feature_lengths: np.ndarray, label_lengths: np.ndarray | None,
                 mode: AlignmentMode) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Per-example start steps of features and labels, and the minibatch length ``T``.

    ``label_lengths`` is ``None`` for features-only data. ``EQUAL_LENGTH`` places like
    ``ALIGN_START``; call :func:`check_equal_length` first to enforce it.

    >>> f, l, T = align_starts(np.array([3, 5, 2]), np.array([1, 1, 4]), AlignmentMode.ALIGN_END)
    >>> f.tolist(), l.tolist(), T
    ([0, 0, 2], [2, 4, 0], 5)
    """
    f_len = np.asarray(feature_lengths, dtype=np.int64)
    if label_lengths is None:
        return np.zeros_like(f_len), None, int(f_len.max())
    l_len = np.asarray(label_lengths, dtype=np.int64)
    if f_len.shape != l_len.shape:
        raise AlignmentError(
            f"expected as many label sequences as feature sequences, found {len(l_len)} "
            f"label and {len(f_len)} feature sequences")
    longest = np.maximum(f_len, l_len)
    T = int(longest.max())
    if mode is AlignmentMode.ALIGN_END:
        return longest - f_len, longest - l_len, T
    return np.zeros_like(f_len), np.zeros_like(l_len), T


def check_equal_length(feature_lengths: np.ndarray, label_lengths: np.ndarray | None,
                       feature_sources: Sequence[str], label_sources: Sequence[str] | None,
                       indices: Sequence[int] | np.ndarray) -> None:
    """Raise :class:`AlignmentError` unless every sequence of the minibatch has one length.

    The message names the first offending file and its sequence index, and says to use
    ALIGN_START or ALIGN_END.

    >>> check_equal_length(np.array([3, 3]), np.array([3, 2]), ["f0", "f1"], ["l0", "l1"],
    ...                    [0, 1])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    seqdata.errors.AlignmentError: EQUAL_LENGTH needs ...: expected 3 steps (as f0), found 2 \
steps in l1 (sequence index 1); use AlignmentMode.ALIGN_START or AlignmentMode.ALIGN_END ...
    """
    f_len = np.asarray(feature_lengths, dtype=np.int64)
    expected = int(f_len[0])
    candidates: list[tuple[np.ndarray, Sequence[str]]] = [(f_len, feature_sources)]
    if label_lengths is not None:
        candidates.append((np.asarray(label_lengths, dtype=np.int64),
                           feature_sources if label_sources is None else label_sources))
    for lengths, sources in candidates:
        bad = np.flatnonzero(lengths != expected)
        if bad.size:
            i = int(bad[0])
            raise AlignmentError(
                "EQUAL_LENGTH needs every feature and label sequence of a minibatch to have the "
                f"same length: expected {expected} steps (as {feature_sources[0]}), found "
                f"{int(lengths[i])} steps in {sources[i]} (sequence index {indices[i]}); use "
                "AlignmentMode.ALIGN_START or AlignmentMode.ALIGN_END for sequences of "
                "different lengths (in a run file: alignment = \"ALIGN_END\" under [data])")


def as_rows(values: object, total_steps: int) -> np.ndarray:
    """``values`` as a 2-D ``[sum(lengths), C]`` array without copying when possible.

    Trailing dimensions (``[T, H, W]`` image sequences) are flattened in C order, so a file
    holding ``[T, channels, H, W]`` gives DL4J's per-step layout for ``CnnToRnnPreProcessor``.

    >>> as_rows(np.zeros((4, 2, 3)), 4).shape
    (4, 6)
    """
    arr = np.asarray(values)
    if arr.ndim == 1:
        arr = arr[:, None]
    elif arr.ndim > 2:
        arr = arr.reshape(arr.shape[0], -1)
    if arr.shape[0] != total_steps:
        raise SeqDataError(
            f"ragged batch is inconsistent: expected {total_steps} rows (the sum of the "
            f"lengths), found {arr.shape[0]}")
    return arr


def _positions(lengths: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Example index and time step of every stacked row, placed at ``starts``."""
    lengths = np.asarray(lengths, dtype=np.int64)
    shift = np.asarray(starts, dtype=np.int64) - sequence_offsets(lengths)
    total = int(lengths.sum())
    example = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    step = np.arange(total, dtype=np.int64) + np.repeat(shift, lengths)
    return example, step


def pad_sequences(values: object, lengths: np.ndarray, starts: np.ndarray, T: int,
                  columns: slice | np.ndarray | Sequence[int] | None = None) -> np.ndarray:
    """Scatter stacked sequences into a zero-padded ``[N, C, T]`` float32 array.

    Sequence ``i`` (rows ``offsets[i] : offsets[i] + lengths[i]`` of ``values``) lands at
    steps ``starts[i] : starts[i] + lengths[i]``; ``columns`` selects the channels.

    >>> pad_sequences(np.array([[1, 9], [2, 9], [3, 9]]), np.array([2, 1]), np.array([0, 1]), 2,
    ...               columns=[0])[:, 0, :].tolist()
    [[1.0, 2.0], [0.0, 3.0]]
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    rows = as_rows(values, int(lengths.sum()))
    if columns is not None:
        rows = rows[:, columns]
    out = np.zeros((len(lengths), rows.shape[1], T), dtype=np.float32)
    example, step = _positions(lengths, starts)
    _check_fits(step, T)
    out[example, :, step] = rows
    return out


def sequence_mask(lengths: np.ndarray, starts: np.ndarray, T: int) -> np.ndarray:
    """``[N, T]`` float32 mask: 1.0 at steps ``starts[i] : starts[i] + lengths[i]``, else 0.

    >>> sequence_mask(np.array([2, 1]), np.array([0, 2]), 3).tolist()
    [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    starts = np.asarray(starts, dtype=np.int64)[:, None]
    ends = starts + np.asarray(lengths, dtype=np.int64)[:, None]
    t = np.arange(T, dtype=np.int64)[None, :]
    return ((t >= starts) & (t < ends)).astype(np.float32)


def needs_mask(lengths: np.ndarray, starts: np.ndarray, T: int) -> bool:
    """Whether any sequence leaves a step of ``[0, T)`` unfilled (so a mask is required).

    >>> needs_mask(np.array([3, 3]), np.array([0, 0]), 3)
    False
    >>> needs_mask(np.array([1]), np.array([2]), 3)
    True
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    return bool(np.any(lengths != T) or np.any(np.asarray(starts) != 0))


def is_class_label(values: object, num_possible_labels: int | None = None) -> np.ndarray:
    """Which label values are class indices: finite whole numbers, ``>= 0`` and, when
    ``num_possible_labels`` is given, below it. The one rule for one-hot conversion, corpus
    validation and the store's label counts.

    >>> is_class_label(np.array([0., 2., 2.5, -1., np.nan, 3.]), 3).tolist()
    [True, True, False, False, False, False]
    >>> is_class_label(np.array([0., 7.])).tolist()
    [True, True]
    """
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(v) & (v >= 0) & (v == np.floor(v))
        if num_possible_labels is not None:
            ok &= v < num_possible_labels
    return ok


def one_hot_classes(values: object, lengths: np.ndarray, num_possible_labels: int,
                    sources: Sequence[str], first_lines: np.ndarray,
                    column: int | None = None) -> np.ndarray:
    """Check that label values are class indices (:func:`is_class_label`) and return them as
    int64.

    ``values`` is the stacked label column ``[sum(lengths)]``. ``"2"`` and ``"2.0"`` are fine;
    a negative, fractional, non-finite or too large value raises :class:`LabelError` naming the
    file, the 1-based line (``first_lines[i]`` + step) and the value.

    >>> one_hot_classes(np.array([0., 2.]), np.array([2]), 3, ["a.csv"], np.array([1])).tolist()
    [0, 2]
    >>> one_hot_classes(np.array([0., 2.5]), np.array([2]), 3, ["a.csv"], np.array([2]), 1)
    Traceback (most recent call last):
    ...
    seqdata.errors.LabelError: a.csv:3:1: cannot convert label 2.5 to one-hot: expected an \
integer in [0, 3) (num_possible_labels=3)
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    col = np.asarray(values, dtype=np.float64).reshape(-1)
    bad = np.flatnonzero(~is_class_label(col, num_possible_labels))
    if bad.size:
        row = int(bad[0])
        example = int(np.searchsorted(np.cumsum(lengths), row, side="right"))
        step = row - int(sequence_offsets(lengths)[example])
        line = int(np.asarray(first_lines)[example]) + step
        raise LabelError(
            f"cannot convert label {col[row]:g} to one-hot: expected an integer in "
            f"[0, {num_possible_labels}) (num_possible_labels={num_possible_labels})",
            path=sources[example], line=line, column=column)
    return col.astype(np.int64)


def pad_one_hot(classes: np.ndarray, lengths: np.ndarray, starts: np.ndarray, T: int,
                num_possible_labels: int) -> np.ndarray:
    """One-hot ``[N, num_possible_labels, T]`` float32 labels placed like :func:`pad_sequences`.

    Padded steps are all-zero vectors.

    >>> pad_one_hot(np.array([1, 0]), np.array([1, 1]), np.array([1, 0]), 2, 2)[0].tolist()
    [[0.0, 0.0], [0.0, 1.0]]
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    out = np.zeros((len(lengths), num_possible_labels, T), dtype=np.float32)
    example, step = _positions(lengths, starts)
    _check_fits(step, T)
    out[example, np.asarray(classes, dtype=np.int64), step] = 1.0
    return out


def _check_fits(step: np.ndarray, T: int) -> None:
    if step.size and (int(step.min()) < 0 or int(step.max()) >= T):
        raise SeqDataError(
            f"sequences do not fit the minibatch: steps must lie in [0, {T}), found "
            f"[{int(step.min())}, {int(step.max())}]")
