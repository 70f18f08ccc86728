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
from typing import Iterable, Iterator, Sequence

from seqdata.errors import SplitError

__all__ = ["FileSplit", "InputSplit", "ListSplit", "NumberedFileInputSplit"]


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


# Every printf-style integer token, with whatever flags and width: used to reject the forms we
# do not accept instead of silently treating them as text.
_INT_TOKEN = re.compile(r"%[-+ #0-9]*d")
_ACCEPTED_TOKEN = re.compile(r"%(?:0([1-9]))?d")
_ACCEPTED_FORMS = "exactly one '%d' or '%0Nd' (N a single digit 1-9, e.g. '%03d')"


class NumberedFileInputSplit(InputSplit):
    """Files named by one integer pattern, indices ``min_idx..max_idx`` (both inclusive).

    The pattern holds exactly one ``%d`` or ``%0Nd`` (zero-padded to N digits, N in 1-9), as in
    DataVec. Other text, including URL escapes such as ``%20``, is kept verbatim.

    >>> NumberedFileInputSplit("seq_%02d.csv", 9, 11).locations()
    ['seq_09.csv', 'seq_10.csv', 'seq_11.csv']
    """

    def __init__(self, base_string: str | os.PathLike[str], min_idx: int, max_idx: int) -> None:
        base = os.fspath(base_string)
        tokens = list(_INT_TOKEN.finditer(base))
        if len(tokens) != 1 or not _ACCEPTED_TOKEN.fullmatch(tokens[0].group()):
            found = ", ".join(repr(t.group()) for t in tokens) or "no integer token"
            raise SplitError(
                f"NumberedFileInputSplit pattern {base!r}: expected {_ACCEPTED_FORMS}, "
                f"found {found}")
        for name, value in (("min_idx", min_idx), ("max_idx", max_idx)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise SplitError(
                    f"NumberedFileInputSplit: {name} must be an int, found {value!r}")
        if min_idx > max_idx:
            raise SplitError(
                f"NumberedFileInputSplit: expected min_idx <= max_idx, found "
                f"min_idx={min_idx} > max_idx={max_idx}")
        token = tokens[0]
        width = _ACCEPTED_TOKEN.fullmatch(token.group()).group(1)
        number = f"%0{width}d" if width else "%d"
        head, tail = base[:token.start()], base[token.end():]
        super().__init__(head + number % i + tail for i in range(min_idx, max_idx + 1))
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
    found = []
    for dirpath, _dirnames, filenames in os.walk(root):
        found.extend(p for p in (os.path.join(dirpath, f) for f in filenames)
                     if os.path.isfile(p))
    return found
