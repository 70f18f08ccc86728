"""The exception hierarchy of seqdata.

Every error a user can cause derives from :class:`SeqDataError`. Subclasses exist where a
caller needs to tell cases apart; they also derive from the matching builtin so that
``except ValueError`` keeps working for people who expect it.
"""

from __future__ import annotations


class SeqDataError(Exception):
    """Root of every error seqdata raises on purpose."""


class SplitError(SeqDataError, ValueError):
    """An input split was given arguments it cannot use (bad pattern, bad range, bad root)."""


class SplitArgumentError(SplitError):
    """A path-or-pattern argument and its index range do not fit together: a ``%d`` pattern
    without a range, or a range without a pattern (the commands report it as a usage error)."""


class MissingFilesError(SeqDataError, FileNotFoundError):
    """One or more files named by a split do not exist (listed at ``initialize``)."""


class ParseError(SeqDataError, ValueError):
    """A sequence file's content is malformed.

    ``path``, ``line`` (1-based, counting skipped lines) and ``column`` (1-based) say where;
    any of them may be ``None`` when it does not apply (an empty file has no column).
    """

    def __init__(self, message: str, path: str | None = None, line: int | None = None,
                 column: int | None = None) -> None:
        where = _where(path, line, column)
        super().__init__(f"{where}: {message}" if where else message)
        self.reason = message
        self.path = path
        self.line = line
        self.column = column


class LabelError(ParseError):
    """A label value cannot be converted to one-hot (negative, fractional, out of range)."""


class AlignmentError(SeqDataError, ValueError):
    """Sequence lengths or counts do not fit the requested alignment or reader pairing."""


class StoreError(SeqDataError):
    """A packed store is missing, corrupt, or would be overwritten."""


def _where(path: str | None, line: int | None, column: int | None) -> str:
    parts = [p for p in (path, line, column) if p is not None]
    return ":".join(str(p) for p in parts)
