"""Where a reader's bytes come from: local paths, ``file://`` and remote URLs.

Shared by the file readers: their base class (binding to a split, length, index checks),
the missing-files check at ``initialize``, reading files whole (pyarrow's file systems,
else fsspec's, for URLs) and the thread pool that reads URLs and loads files concurrently.

>>> local_path("file:///data/a%20b.csv"), local_path("s3://bucket/a.csv"), local_path("x.csv")
('/data/a b.csv', None, 'x.csv')
"""

from __future__ import annotations

import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable, Sequence, TypeVar
from urllib.parse import unquote, urlparse

import numpy as np
import pyarrow as pa

from seqdata.errors import MissingFilesError, SeqDataError, SplitError
from seqdata.readers.base import SequenceRecordReader

_MAX_LISTED = 5
# Bytes asked of each os.read: a small file in one call, without a large allocation to trim.
_READ_SIZE = 1 << 16
T = TypeVar("T")


def _is_url(location: str) -> bool:
    return re.match(r"[A-Za-z][A-Za-z0-9+.-]+://", location) is not None


def local_path(location: str) -> str | None:
    """The local path of a location, ``None`` for a remote URL."""
    if location.startswith("file://"):
        return unquote(urlparse(location).path)
    return None if _is_url(location) else location


def checked_locations(split: object) -> list[str]:
    """The locations of ``split``, after checking that every local one is a regular file.

    All problems are collected into one :class:`~seqdata.errors.MissingFilesError` that says
    how many there are and lists the first few; URLs are left for the first read.
    """
    locations_of = getattr(split, "locations", None)
    if not callable(locations_of):
        raise SplitError(f"initialize: expected an InputSplit (NumberedFileInputSplit, FileSplit,"
                         f" ListSplit), found {type(split).__name__}")
    locations = [str(loc) for loc in locations_of()]
    if not locations:
        raise SplitError("initialize: expected a split naming at least one file, found none")
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
    return locations


class FileSequenceRecordReader(SequenceRecordReader):
    """A reader of one sequence per file: binds to a split, checks indices; subclasses parse.

    Subclasses implement :meth:`load_sequences`, taking each index's ``(location, local
    path)`` from :meth:`_files`.
    """

    def __init__(self) -> None:
        self._locations: list[str] | None = None
        self._local_paths: list[str | None] = []

    def initialize(self, split: object = None) -> None:
        """Bind to ``split`` (an :class:`~seqdata.splits.InputSplit`) and check local files.

        Every local file must exist and be a regular file; otherwise one
        :class:`~seqdata.errors.MissingFilesError` says how many are not and lists the first
        few. URLs (``s3://``...) are checked when first read.
        """
        self._locations = checked_locations(split)
        self._local_paths = [local_path(location) for location in self._locations]
        self.reset()

    def __len__(self) -> int:
        return len(self._require_locations())

    def locations(self) -> list[str]:
        """The files this reader reads, in index order."""
        return list(self._require_locations())

    def _require_locations(self) -> list[str]:
        if self._locations is None:
            raise SeqDataError("this reader is not initialised: call initialize(split) first")
        return self._locations

    def _files(self, indices: Sequence[int]) -> list[tuple[str, str | None]]:
        """``(location, local path)`` of each index, in order, after checking it is in range."""
        locations = self._require_locations()
        n = len(locations)
        for i in indices:
            if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)) \
                    or not -n <= i < n:
                raise SeqDataError(
                    f"sequence index {i!r} out of range: the reader holds {n} sequences")
        return [(locations[i], self._local_paths[i]) for i in indices]


def read_bytes(location: str, path: str | None) -> bytes:
    """The bytes of a file; ``path`` is its local path, ``None`` for a URL."""
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
    """Read a URL through pyarrow's file systems, else fsspec's (when installed)."""
    import pyarrow.fs as pa_fs
    try:
        fs, path = pa_fs.FileSystem.from_uri(location)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as arrow_error:
        try:
            import fsspec
        except ImportError:
            raise SeqDataError(f"{location}: no file system for this URL "
                               f"({arrow_error}); installing fsspec may add one") from None
        try:
            with fsspec.open(location, "rb") as f:
                return f.read()
        except (ValueError, ImportError) as e:  # unknown protocol, or its driver is missing
            raise SeqDataError(f"{location}: no file system for this URL ({e})") from None
    info = fs.get_file_info(path)
    if info.type == pa_fs.FileType.NotFound:
        raise FileNotFoundError(location)
    with fs.open_input_stream(path) as f:
        return f.read()


_pool_lock = threading.Lock()
_pool_instance: ThreadPoolExecutor | None = None
_THREAD_PREFIX = "seqdata-read"


def workers() -> int:
    """Threads for reading and parsing: the usable cores, at most 8."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(8, cores or 1))


def parallel_map(function: Callable[..., T], *iterables: Iterable[Any]) -> list[T]:
    """``list(map(function, *iterables))``, run on the shared reader threads.

    Runs inline for a single item, and when called from one of those threads (a reader used
    inside another reader's work), where waiting on the pool could deadlock it.
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


def _thread_pool() -> ThreadPoolExecutor:
    """One thread pool for every file reader of the process, created on first use."""
    global _pool_instance
    with _pool_lock:
        if _pool_instance is None:
            _pool_instance = ThreadPoolExecutor(workers(), thread_name_prefix=_THREAD_PREFIX)
        return _pool_instance


def _forget_pool_after_fork() -> None:
    # A forked child (e.g. a DataLoader worker) inherits the pool object but not its threads.
    global _pool_instance, _pool_lock
    _pool_instance = None
    _pool_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_after_fork)
