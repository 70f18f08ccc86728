"""Where data lives: local paths and URLs, opening them, reading them, and reading in parallel.

The one place that decides what a URL is, which file system opens a location, how a file's
bytes are read, how many threads read and parse, and how they are shared. Every reader, the
store, conversion, validation and the ``seqdata`` command use it; it imports nothing else of
seqdata but its errors.

>>> is_url("s3://bucket/a.csv"), is_url("file:///data/a.csv"), is_url("data/a.csv")
(True, True, False)
>>> local_path("file:///data/a%20b.csv"), local_path("s3://bucket/a.csv"), local_path("x.csv")
('/data/a b.csv', None, 'x.csv')
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.fs as pafs

from seqdata.errors import MissingFilesError, SeqDataError

__all__ = ["check_files", "default_workers", "is_url", "local_path", "open_filesystem",
           "parallel_map", "read_all", "read_bytes"]

T = TypeVar("T")

# NOTE [ What a URL is ]
# A scheme of at least two characters followed by "://", at the start of the location (RFC
# 3986's scheme grammar). Two characters, so that a Windows drive ("C://data") stays a path;
# at the start, so that a local path with "://" inside it is not taken for a URL.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+://")
_MAX_LISTED = 5
# Bytes asked of each os.read: a small file in one call, without a large allocation to trim.
_READ_SIZE = 1 << 16
_THREAD_PREFIX = "seqdata-read"


def is_url(location: str | os.PathLike[str]) -> bool:
    """Whether ``location`` is a URL (``s3://``, ``file://``, ``memory://``...), not a path.

    >>> is_url("C://data/x.csv"), is_url("data/x://y.csv")
    (False, False)
    """
    return _URL.match(os.fspath(location)) is not None


def local_path(location: str) -> str | None:
    """The local path of a location (``file://`` URLs included), ``None`` for a remote URL."""
    if location.startswith("file://"):
        return unquote(urlparse(location).path)
    return None if is_url(location) else location


def check_files(locations: Sequence[str]) -> None:
    """Check that every local location is a regular file; URLs are left for the first read.

    All problems are collected into one :class:`~seqdata.errors.MissingFilesError` that says
    how many there are and lists the first few.

    >>> check_files(["/nowhere/a.csv", "s3://bucket/b.csv"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    seqdata.errors.MissingFilesError: 1 of 2 files are missing or ...: /nowhere/a.csv (missing)
    """
    problems = []
    for location in locations:
        path = local_path(location)
        if path is None or os.path.isfile(path):
            continue
        what = ("a directory" if os.path.isdir(path)
                else "not a regular file" if os.path.exists(path) else "missing")
        problems.append(f"{location} ({what})")
    if problems:
        listed = ", ".join(problems[:_MAX_LISTED])
        more = f", and {len(problems) - _MAX_LISTED} more" \
            if len(problems) > _MAX_LISTED else ""
        raise MissingFilesError(f"{len(problems)} of {len(locations)} files are missing or not "
                                f"regular files: {listed}{more}")


def open_filesystem(location: str) -> tuple[pafs.FileSystem, str]:
    """A pyarrow file system and the path within it, for a local path or a URL.

    URLs pyarrow knows (``file://``, ``s3://``, ``gs://``, ``hdfs://``) use pyarrow's own file
    systems; any other scheme goes through fsspec when it is installed.

    >>> fs, path = open_filesystem("data/x.csv")
    >>> fs.type_name, os.path.isabs(path)
    ('local', True)
    """
    if not is_url(location):
        return pafs.LocalFileSystem(), os.path.abspath(location)
    try:
        return pafs.FileSystem.from_uri(location)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as arrow_error:
        try:
            import fsspec
        except ImportError:
            raise SeqDataError(f"{location}: no file system for this URL ({arrow_error}); "
                               "installing fsspec may add one") from None
        try:
            fs, inner = fsspec.core.url_to_fs(location)
        except (ValueError, ImportError) as e:  # unknown protocol, or its driver is missing
            raise SeqDataError(f"{location}: no file system for this URL ({e})") from None
        return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), inner


def read_bytes(location: str, path: str | None = None) -> bytes:
    """The bytes of a file; ``path`` is its local path when known (:func:`local_path`).

    A missing file raises :class:`~seqdata.errors.MissingFilesError`, any other failure a
    :class:`~seqdata.errors.SeqDataError` naming the location.
    """
    path = local_path(location) if path is None else path
    try:
        return _read_local(path) if path is not None else _read_remote(location)
    except FileNotFoundError:
        raise MissingFilesError(f"1 file is missing: {location}") from None
    except (OSError, pa.ArrowException) as e:
        raise SeqDataError(f"{location}: cannot read the file: {e}") from None


def read_all(files: Sequence[tuple[str, str | None]]) -> list[bytes]:
    """The bytes of each ``(location, local path)``, in order.

    Local files are read one after another: a small file takes a few microseconds, less than
    handing it to a thread. URLs wait on the network, so they are read concurrently.
    """
    if all(path is not None for _, path in files):
        return [read_bytes(location, path) for location, path in files]
    return parallel_map(read_bytes, *zip(*files))


def _read_local(path: str) -> bytes:
    # Plain os.read calls until end of file: about 15% faster on small files than a file
    # object, which also asks for the size and sets up buffering.
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, _READ_SIZE):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _read_remote(location: str) -> bytes:
    fs, path = open_filesystem(location)
    if fs.get_file_info(path).type == pafs.FileType.NotFound:
        raise FileNotFoundError(location)
    with fs.open_input_stream(path) as f:
        return f.read()


def default_workers() -> int:
    """Threads for reading, parsing and converting: the cores this process may use, at most 8.

    The cores come from the CPU affinity where the platform has it (a container or ``taskset``
    limits them), else from ``os.cpu_count()``.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(8, cores or 1))


def parallel_map(function: Callable[..., T], *iterables: Iterable[Any]) -> list[T]:
    """``list(map(function, *iterables))``, run on the shared reader threads.

    Runs inline for a single item, and when called from one of those threads (a reader used
    inside another reader's work), where waiting on the pool could deadlock it.

    >>> parallel_map(pow, [2, 3, 4], [2, 2, 2])
    [4, 9, 16]
    """
    calls = list(zip(*iterables))
    if len(calls) <= 1 or threading.current_thread().name.startswith(_THREAD_PREFIX):
        return [function(*args) for args in calls]
    # The calling thread takes the first call itself instead of idling until the pool is done.
    futures = [_thread_pool().submit(function, *args) for args in calls[1:]]
    try:
        first = function(*calls[0])
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    return [first] + [future.result() for future in futures]


_pool_lock = threading.Lock()
_pool_instance: ThreadPoolExecutor | None = None


def _thread_pool() -> ThreadPoolExecutor:
    """One thread pool for every reader of the process, created on first use."""
    global _pool_instance
    with _pool_lock:
        if _pool_instance is None:
            _pool_instance = ThreadPoolExecutor(default_workers(),
                                                thread_name_prefix=_THREAD_PREFIX)
        return _pool_instance


def _forget_pool_after_fork() -> None:
    # A forked child (e.g. a DataLoader worker) inherits the pool object but not its threads.
    global _pool_instance, _pool_lock
    _pool_instance = None
    _pool_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_after_fork)
