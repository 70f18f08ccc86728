"""Atomic output: a store appears at its path complete, or not at all.

Everything is written into a hidden sibling directory ``.<name>.tmp-<pid>`` that is renamed
to the output path only when complete, so a failed or killed conversion never leaves a partial
store at the output path (the next conversion removes the leftover).

>>> import os, tempfile
>>> out = os.path.join(tempfile.mkdtemp(), "store")
>>> with atomic_directory(out) as tmp:
...     os.path.basename(tmp).startswith(".store.tmp-"), os.path.exists(out)
(True, False)
>>> os.path.isdir(out)
True
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
from collections.abc import Iterator

from seqdata.errors import StoreError
from seqdata.locations import is_url
from seqdata.store import manifest as mf

__all__ = ["atomic_directory", "os_errors"]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(parent: str, name: str) -> None:
    """Remove temporary siblings left by conversions that were killed (their pid is gone)."""
    for path in glob.glob(os.path.join(glob.escape(parent), f".{glob.escape(name)}.*-*")):
        match = re.fullmatch(r"\.(?:tmp|old)-(\d+)", os.path.basename(path)[len(name) + 1:])
        if match and not _pid_alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)


def _is_store(path: str) -> bool:
    """A store of this format or of format 1 (which ``--overwrite`` may replace)."""
    return any(os.path.isfile(os.path.join(path, name))
               for name in (mf.MANIFEST_NAME, mf.LEGACY_MANIFEST_NAME))


@contextlib.contextmanager
def os_errors(path: str, action: str) -> Iterator[None]:
    """Map an ``OSError`` of the body to a :class:`StoreError` naming ``path`` and the cause.

    >>> with os_errors("/x/st", "create it"):
    ...     raise PermissionError(13, "Permission denied", "/x")
    Traceback (most recent call last):
    ...
    seqdata.errors.StoreError: /x/st: cannot create it: Permission denied: '/x'
    """
    try:
        yield
    except OSError as e:
        if isinstance(e, (FileExistsError, NotADirectoryError)) and e.filename is not None \
                and os.path.lexists(e.filename) and not os.path.isdir(e.filename):
            cause = f"expected a directory at {e.filename}, found a file"
        elif e.strerror and e.filename is not None:
            cause = f"{e.strerror}: {e.filename!r}"
        else:
            cause = str(e)
        raise StoreError(f"{path}: cannot {action}: {cause}") from None


@contextlib.contextmanager
def atomic_directory(out: str, overwrite: bool = False) -> Iterator[str]:
    """Yield a fresh temporary sibling of ``out``; rename it to ``out`` if the body succeeds.

    ``out`` may be replaced only with ``overwrite`` and only if it is a store or an empty
    directory, so a mistyped path never deletes unrelated data.
    """
    if is_url(out):
        raise StoreError(f"{out}: expected a local output path, found a URL")
    out = os.path.abspath(out)
    parent, name = os.path.split(out)

    def check() -> None:
        if not os.path.lexists(out):
            return
        if not overwrite:
            raise StoreError(f"{out}: already exists; pass --overwrite (overwrite=True) "
                             "to replace it")
        if not (_is_store(out) or (os.path.isdir(out) and not os.listdir(out))):
            raise StoreError(f"{out}: refusing to replace it: expected a seqdata store or an "
                             "empty directory, found other content")

    check()
    tmp = os.path.join(parent, f".{name}.tmp-{os.getpid()}")
    with os_errors(out, "create its temporary directory"):
        os.makedirs(parent, exist_ok=True)
        _remove_stale(parent, name)
        shutil.rmtree(tmp, ignore_errors=True)
        os.mkdir(tmp)
    try:
        yield tmp
        check()
        with os_errors(out, "move the finished store into place"):
            if os.path.lexists(out):
                # NOTE [ Replacing a store ]
                # A directory cannot be renamed over a non-empty one, so the old store is
                # moved aside first. Between the two renames the output path is briefly
                # absent, never partial.
                old = os.path.join(parent, f".{name}.old-{os.getpid()}")
                os.rename(out, old)
                os.rename(tmp, out)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
