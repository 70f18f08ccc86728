"""Input splits: which files a reader reads, in which order (DataVec's ``InputSplit``).

>>> split = NumberedFileInputSplit("/data/features/%d.csv", 0, 2)
>>> split.locations()
['/data/features/0.csv', '/data/features/1.csv', '/data/features/2.csv']
>>> len(NumberedFileInputSplit("s3://bucket/seq_%03d.csv", 8, 10)), \\
...     NumberedFileInputSplit("s3://bucket/seq_%03d.csv", 8, 10).locations()[-1]
(3, 's3://bucket/seq_010.csv')

A split only names locations; whether they exist is checked by the reader's ``initialize``
(local files) or at first read (URLs), so that a split can describe remote data.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from seqdata.errors import SplitArgumentError, SplitError

__all__ = ["FileSplit", "InputSplit", "ListSplit", "NumberPattern", "NumberedFileInputSplit",
           "is_pattern", "split_from_argument"]


class InputSplit:
    """An ordered list of locations (local paths or URLs), one sequence per location."""

    def __init__(self, locations: Iterable[str]) -> None:
        self._locations = [str(loc) for loc in locations]

    def locations(self) -> list[str]:
        """The locations in reading order (a copy: changing it does not change the split)."""
        return list(self._locations)

    def __len__(self) -> int:
        return len(self._locations)

    def __iter__(self) -> Iterator[str]:
        return iter(self._locations)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} locations)"


class ListSplit(InputSplit):
    """An explicit list of paths or URLs, kept in the order given.

    >>> ListSplit(["b.csv", "a.csv"]).locations()
    ['b.csv', 'a.csv']
    """

    def __init__(self, paths: Sequence[str | os.PathLike[str]]) -> None:
        if isinstance(paths, (str, bytes, os.PathLike)):
            raise SplitError(
                f"ListSplit expects a list of paths, found a single path {paths!r}; "
                "wrap it in a list")
        super().__init__(os.fspath(p) for p in paths)


# NOTE [ The %d pattern grammar ]
# A pattern holds exactly one '%d' or '%0Nd' (N one digit, 1-9), as DataVec's. Every other
# printf-style integer token ('%5d', '%-3d', a second '%d') is an error rather than text, so
# a typo never silently names files that do not exist; any other '%' (a URL escape such as
# '%20') is text and kept verbatim. NumberedFileInputSplit, `seqdata export` and the
# path-or-pattern arguments of both commands all read patterns through NumberPattern.
_INT_TOKEN = re.compile(r"%[-+ #0-9]*d")
_ACCEPTED_TOKEN = re.compile(r"%(?:0([1-9]))?d")
_ACCEPTED_FORMS = "exactly one %d token: '%d' or '%0Nd' (N a single digit 1-9, e.g. '%03d')"


def is_pattern(text: str | os.PathLike[str]) -> bool:
    """Whether ``text`` is meant as a ``%d`` pattern: it holds a printf integer token.

    >>> is_pattern("seq_%03d.csv"), is_pattern("seq_%5d.csv"), is_pattern("my%20files/")
    (True, True, False)
    """
    return _INT_TOKEN.search(os.fspath(text)) is not None


@dataclass(frozen=True)
class NumberPattern:
    """A parsed ``%d`` pattern: the text before and after its one integer token, and its width.

    >>> p = NumberPattern.parse("s3://bucket/my%20files/part_%02d.csv")
    >>> p.format(7)
    's3://bucket/my%20files/part_07.csv'
    >>> NumberPattern.parse("seq_%d_%d.csv")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    seqdata.errors.SplitError: pattern 'seq_%d_%d.csv': expected exactly one %d token: ...
    """

    head: str
    number: str
    tail: str

    @classmethod
    def parse(cls, pattern: str | os.PathLike[str], what: str = "pattern") -> NumberPattern:
        """Check ``pattern`` against the grammar; ``what`` names it in the error."""
        text = os.fspath(pattern)
        tokens = list(_INT_TOKEN.finditer(text))
        accepted = _ACCEPTED_TOKEN.fullmatch(tokens[0].group()) if len(tokens) == 1 else None
        if accepted is None:
            found = ", ".join(repr(t.group()) for t in tokens) or "no integer token"
            raise SplitError(f"{what} {text!r}: expected {_ACCEPTED_FORMS}, found {found}")
        width = accepted.group(1)
        return cls(text[:tokens[0].start()], f"%0{width}d" if width else "%d",
                   text[tokens[0].end():])

    def format(self, index: int) -> str:
        """The location of number ``index``."""
        return self.head + self.number % index + self.tail


class NumberedFileInputSplit(InputSplit):
    """Files named by one integer pattern, indices ``min_idx..max_idx`` (both inclusive).

    The pattern holds exactly one ``%d`` or ``%0Nd`` (zero-padded to N digits, N in 1-9), as in
    DataVec. Other text, including URL escapes such as ``%20``, is kept verbatim.

    >>> NumberedFileInputSplit("seq_%02d.csv", 9, 11).locations()
    ['seq_09.csv', 'seq_10.csv', 'seq_11.csv']
    """

    def __init__(self, base_string: str | os.PathLike[str], min_idx: int, max_idx: int) -> None:
        base = os.fspath(base_string)
        pattern = NumberPattern.parse(base, "NumberedFileInputSplit pattern")
        for name, value in (("min_idx", min_idx), ("max_idx", max_idx)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise SplitError(
                    f"NumberedFileInputSplit: {name} must be an int, found {value!r}")
        if min_idx > max_idx:
            raise SplitError(
                f"NumberedFileInputSplit: expected min_idx <= max_idx, found "
                f"min_idx={min_idx} > max_idx={max_idx}")
        super().__init__(pattern.format(i) for i in range(min_idx, max_idx + 1))
        self.base_string = base
        self.min_idx = min_idx
        self.max_idx = max_idx


class FileSplit(InputSplit):
    """The regular files under a local directory (or one file), sorted by path.

    ``allow_formats`` keeps only names ending in ``.<ext>`` (``"csv"`` or ``".csv"``, or a list
    of them; case-sensitive, so ``"csv"`` matches ``x.csv`` but neither ``xcsv`` nor ``x.CSV``).
    ``recursive`` descends into subdirectories. With ``seed`` the sorted list is shuffled
    reproducibly (``random.Random(seed)``); without it the order is the sorted order.

    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> for name in ("b.csv", "a.csv", "notes.txt", "xcsv"):
    ...     open(os.path.join(d, name), "w").close()
    >>> [os.path.basename(p) for p in FileSplit(d, allow_formats="csv").locations()]
    ['a.csv', 'b.csv']
    """

    def __init__(self, root: str | os.PathLike[str],
                 allow_formats: str | Sequence[str] | None = None, recursive: bool = True,
                 seed: int | None = None) -> None:
        root = os.fspath(root)
        suffixes = _suffixes(allow_formats)
        if os.path.isfile(root):
            found = [root]
        elif os.path.isdir(root):
            found = _list_files(root, recursive)
        else:
            raise SplitError(f"FileSplit root {root!r}: expected a directory or a file, "
                             "found nothing at that path")
        if suffixes is not None:
            found = [p for p in found if p.endswith(suffixes)]
        # NOTE [ Sorted, then shuffled ]: sorting first makes the shuffled order depend only on
        # the seed and the set of files, not on the order the file system lists them in.
        found.sort()
        if seed is not None:
            random.Random(seed).shuffle(found)
        super().__init__(found)
        self.root = root


def _suffixes(allow_formats: str | Sequence[str] | None) -> tuple[str, ...] | None:
    if allow_formats is None:
        return None
    formats = [allow_formats] if isinstance(allow_formats, str) else list(allow_formats)
    suffixes = []
    for fmt in formats:
        if not isinstance(fmt, str) or not fmt.lstrip("."):
            raise SplitError(f"FileSplit allow_formats: expected extensions such as 'csv' or "
                             f"'.csv', found {fmt!r}")
        suffixes.append("." + fmt.lstrip("."))
    return tuple(suffixes)


def _list_files(root: str, recursive: bool) -> list[str]:
    if not recursive:
        with os.scandir(root) as entries:
            return [e.path for e in entries if e.is_file()]
    found: list[str] = []
    for dirpath, _dirnames, filenames in os.walk(root):
        found.extend(p for p in (os.path.join(dirpath, f) for f in filenames)
                     if os.path.isfile(p))
    return found


# NOTE [ One reading of a path-or-pattern argument ]
# `seqdata convert/info/validate`, `seqnet predict` and a run file's splits all name their
# files the same way, so they share this one reading: a %d pattern needs its range and a
# range needs a pattern (both SplitArgumentError, which the commands report as usage errors),
# a directory means every file below it, and a single file is a one-sequence corpus.
def split_from_argument(argument: str | os.PathLike[str],
                        index_range: Sequence[int] | None = None, *, name: str = "PATH",
                        allow_formats: str | Sequence[str] | None = None) -> InputSplit:
    """The split a command-line argument names: a ``%d`` pattern over ``index_range`` (both
    ends inclusive), a directory (its files, sorted; ``allow_formats`` as :class:`FileSplit`'s)
    or one file. ``name`` names the argument in errors.

    >>> split_from_argument("data/%d.csv", (0, 1)).locations()
    ['data/0.csv', 'data/1.csv']
    >>> split_from_argument("data/%d.csv", name="FEATURES")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    seqdata.errors.SplitArgumentError: FEATURES 'data/%d.csv' is a %d pattern: give its range ...
    """
    text = os.fspath(argument)
    if is_pattern(text):
        if index_range is None:
            raise SplitArgumentError(
                f"{name} {text!r} is a %d pattern: give its range (--range MIN MAX)")
        low, high = index_range
        return NumberedFileInputSplit(text, low, high)
    if index_range is not None:
        raise SplitArgumentError(
            f"a range (--range) applies to %d patterns only, but {name} {text!r} is not one")
    if os.path.isdir(text):
        return FileSplit(text, allow_formats=allow_formats)
    if os.path.isfile(text):
        return ListSplit([text])
    raise SplitError(f"{name}: expected a directory, a file or a %d pattern, found {text!r} "
                     "(nothing at that path)")
