"""Checking the arguments of the iterator: the messages say which argument, expected, found.

>>> positive_int(3, "mini_batch_size")
3
>>> positive_int(0, "mini_batch_size")
Traceback (most recent call last):
...
seqdata.errors.SeqDataError: mini_batch_size must be an integer >= 1, found 0
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqdata.alignment import AlignmentMode
from seqdata.errors import SeqDataError
from seqdata.readers.base import SequenceRecordReader

__all__ = ["alignment_mode", "bucket_window", "integer", "non_negative_int", "positive_int",
           "sequence_reader"]

# Windows of this many minibatches are sorted by length when ``bucket_by_length=True``.
DEFAULT_BUCKET_WINDOW = 50


def sequence_reader(value: Any, name: str) -> SequenceRecordReader:
    """``value`` if it reads sequences (has ``load_ragged``, ``load_sequences``, ``len()``)."""
    if not all(hasattr(value, m) for m in ("load_ragged", "load_sequences", "__len__")):
        raise SeqDataError(
            f"{name} must be a SequenceRecordReader (with load_ragged, load_sequences and "
            f"len()), found {type(value).__name__}")
    return value


def alignment_mode(value: Any) -> AlignmentMode:
    """An :class:`AlignmentMode`, from the member, an enum of the same names, or its name.

    >>> alignment_mode("ALIGN_END")
    <AlignmentMode.ALIGN_END: 'ALIGN_END'>
    """
    if isinstance(value, AlignmentMode):
        return value
    try:
        return AlignmentMode[str(getattr(value, "name", value))]
    except KeyError:
        raise SeqDataError(
            f"alignment_mode must be one of {[m.name for m in AlignmentMode]}, found "
            f"{value!r}") from None


def integer(value: Any, name: str) -> int:
    """``value`` as an ``int`` if it is one (numpy integers too, ``bool`` not)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise SeqDataError(f"{name} must be an integer, found {value!r}")
    return int(value)


def positive_int(value: Any, name: str) -> int:
    """``value`` as an ``int`` if it is an integer ``>= 1``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise SeqDataError(f"{name} must be an integer >= 1, found {value!r}")
    return int(value)


def non_negative_int(value: Any, name: str) -> int:
    """``value`` as an ``int`` if it is an integer ``>= 0``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise SeqDataError(f"{name} must be an integer >= 0, found {value!r}")
    return int(value)


def bucket_window(value: bool | int | None) -> int:
    """Minibatches per bucketing window: ``True`` is :data:`DEFAULT_BUCKET_WINDOW`, ``False``
    (or ``None``) is 0, no bucketing."""
    if value is True:
        return DEFAULT_BUCKET_WINDOW
    if value is False or value is None:
        return 0
    return positive_int(value, "bucket_by_length")
