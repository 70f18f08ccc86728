"""Reading untrusted zips, JSON and npy arrays with bounded memory: nothing is read that was
not asked for, nothing larger than its cap, no array allocated before its header is checked.

:mod:`seqnet.serialization` reads model zips through this module; an importer of other zip
formats (DL4J's) can use the same pieces.

>>> import io, zipfile
>>> raw = io.BytesIO()
>>> with zipfile.ZipFile(raw, "w") as zf:
...     zf.writestr("a.json", '{"x": [1, 2]}')
>>> with BoundedZip(raw, "demo.zip") as archive:
...     archive.names, loads_json(archive.read("a.json", 100), "demo.zip:a.json")
(['a.json'], {'x': [1, 2]})
>>> loads_json("[" * 100 + "]" * 100, "deep.json")
Traceback (most recent call last):
...
seqnet.archive.ArchiveError: deep.json: expected JSON nested at most 32 deep, found 100 levels

Limits (the callers pass the per-entry byte caps):

- an entry whose declared size (``ZipInfo.file_size``) exceeds its cap is refused unread, and
  the read itself stops one byte past the cap, since the declared size can lie;
- a zip naming one entry twice, with an absolute or ``..`` entry name, or with more than
  ``max_entries`` entries, is refused;
- JSON nested deeper than :data:`MAX_JSON_DEPTH` is refused before it is parsed, and JSON
  with ``NaN``, ``Infinity`` or a number that overflows to infinity is refused;
- an npy array is read only after its header (dtype, shape) has been checked against the
  shapes the caller expects and against the bytes the entry actually holds.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import IO, Any

import numpy as np

from seqnet.errors import ModelFileError

__all__ = ["MAX_ENTRIES", "MAX_JSON_DEPTH", "ArchiveError", "BoundedZip", "json_depth",
           "loads_json", "read_npz", "write_zip"]

#: The deepest nesting of arrays and objects accepted in a JSON entry.
MAX_JSON_DEPTH = 32
#: The most entries a zip may list (its central directory is read whole when it is opened).
MAX_ENTRIES = 4096

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


class ArchiveError(ModelFileError):
    """An archive (or an entry in it) is malformed, unsafe, or larger than its cap."""


Source = str | os.PathLike | bytes | IO[bytes]


class BoundedZip:
    """A zip opened for reading named entries under byte caps (see the module docstring).

    ``max_total_bytes`` (optional) also caps what the entries declare together and what all
    reads return together, against zip bombs, as DL4J's ModelSerializer does.
    """

    def __init__(self, source: Source, where: str | os.PathLike | None = None,
                 kind: str = "zip file", max_entries: int = MAX_ENTRIES,
                 max_total_bytes: int | None = None) -> None:
        self.where = str(where) if where is not None else _name(source)
        self._budget = max_total_bytes
        try:
            opened = (io.BytesIO(source) if isinstance(source, (bytes, bytearray))
                      else Path(source) if isinstance(source, (str, os.PathLike)) else source)
            self._zip = zipfile.ZipFile(opened)
        except FileNotFoundError:
            raise ArchiveError(f"{self.where}: cannot read: no such {kind}") from None
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
            raise ArchiveError(f"{self.where}: expected a {kind}, found an unreadable file "
                               f"({e})") from None
        try:
            self._infos = self._check_names(max_entries)
        except BaseException:
            self._zip.close()
            raise

    def _check_names(self, max_entries: int) -> dict[str, zipfile.ZipInfo]:
        infos = self._zip.infolist()
        if len(infos) > max_entries:
            raise ArchiveError(f"{self.where}: expected at most {max_entries} zip entries, "
                               f"found {len(infos)}")
        seen: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = info.filename
            pure = PurePosixPath(name.replace("\\", "/"))
            if pure.is_absolute() or ".." in pure.parts or ":" in name:
                raise ArchiveError(f"{self.where}: refused, the entry {name!r} is an absolute "
                                   f"path or leaves the archive with '..' (path traversal)")
            if name in seen:
                raise ArchiveError(f"{self.where}: refused, duplicate zip entry {name!r} (it "
                                   f"appears twice)")
            seen[name] = info
        declared = sum(info.file_size for info in infos)
        if self._budget is not None and declared > self._budget:
            raise ArchiveError(f"{self.where}: the entries declare {declared} uncompressed "
                               f"bytes, above the limit of {self._budget} (zip bomb?)")
        return {name: info for name, info in seen.items() if not info.is_dir()}

    @property
    def names(self) -> list[str]:
        """Every file entry's name, in the order of the zip's directory."""
        return list(self._infos)

    def __contains__(self, name: object) -> bool:
        return name in self._infos

    def size(self, name: str) -> int:
        """The uncompressed size ``name`` declares (not trusted by :meth:`read`)."""
        return self._infos[name].file_size

    def read(self, name: str, max_bytes: int | None = None) -> bytes:
        """The bytes of entry ``name``: at most ``max_bytes`` of them (and of what is left of
        ``max_total_bytes``), or an :class:`ArchiveError`."""
        info = self._infos.get(name)
        if info is None:
            raise ArchiveError(f"{self.where}: expected a {name} entry, found "
                               f"{sorted(self._infos)}")
        limits = [v for v in (max_bytes, self._budget) if v is not None]
        if not limits:
            raise ValueError("BoundedZip.read: give max_bytes or open with max_total_bytes")
        limit = min(limits)
        where = f"{self.where}: {name}"
        if info.file_size > limit:
            raise ArchiveError(f"{where}: the entry declares {info.file_size} bytes, expected "
                               f"at most {limit}")
        try:
            with self._zip.open(info) as f:
                data = f.read(limit + 1)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError,
                RuntimeError) as e:
            raise ArchiveError(f"{where}: unreadable entry, {name!r} is damaged ({e})") \
                from None
        if len(data) > limit:
            raise ArchiveError(f"{where}: expected at most {limit} bytes, found more than the "
                               f"{info.file_size} the entry declares (zip bomb?)")
        if self._budget is not None:
            self._budget -= len(data)
        return data

    def open(self, name: str) -> zipfile.ZipExtFile:
        """A stream over entry ``name``, for a caller that checks what it reads itself."""
        stream = self._zip.open(self._infos[name])
        assert isinstance(stream, zipfile.ZipExtFile)     # opened for reading
        return stream

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> BoundedZip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_zip(target: str | os.PathLike | IO[bytes], entries: Mapping[str, bytes]) -> None:
    """Write ``entries`` (name -> bytes, in order) as a deflated zip.

    A path is written to ``.NAME.XXXX.tmp`` beside it first and renamed, so a failed or
    interrupted write leaves the old file (or none) and no partial file; the result gets the
    permissions of any new file. Write errors are :class:`ArchiveError` naming the path.
    """
    if not isinstance(target, (str, os.PathLike)):
        _write_entries(target, entries)
        return
    path = Path(target)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise ArchiveError(f"{path}: cannot write: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as raw:
            _write_entries(raw, entries)
        # mkstemp makes the file 0600; a written file gets the permissions of any new file.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)
        os.replace(tmp_name, path)
    except OSError as e:
        Path(tmp_name).unlink(missing_ok=True)
        raise ArchiveError(f"{path}: cannot write: {e.strerror}") from None
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _write_entries(stream: IO[bytes], entries: Mapping[str, bytes]) -> None:
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


def _name(source: Source) -> str:
    if isinstance(source, (bytes, bytearray)):
        return "<bytes>"
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return str(getattr(source, "name", "<stream>"))


def json_depth(data: bytes | str) -> int:
    """How deep arrays and objects nest in JSON text (strings are skipped).

    >>> json_depth(b'{"a": [1, {"b": "[[["}]}')
    3
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    bare = np.frombuffer(_STRING.sub(b'""', raw), dtype=np.uint8)
    step = (np.isin(bare, (ord("["), ord("{"))).astype(np.int64)
            - np.isin(bare, (ord("]"), ord("}"))).astype(np.int64))
    return int(np.cumsum(step).max(initial=0))


def loads_json(data: bytes | str, where: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` after checking the nesting depth; errors name ``where``."""
    depth = json_depth(data)
    if depth > max_depth:
        raise ArchiveError(f"{where}: expected JSON nested at most {max_depth} deep, found "
                           f"{depth} levels")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except _NonFinite as e:
        raise ArchiveError(f"{where}: expected finite numbers, found {e}") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ArchiveError(f"{where}: expected JSON ({e})") from None


class _NonFinite(ValueError):
    pass


def _no_constant(name: str) -> float:
    raise _NonFinite(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NonFinite(text)
    return value


def read_npz(data: bytes, where: str, shapes: Mapping[str, tuple[int, ...]],
             dtype: Any) -> dict[str, Any]:
    """The arrays of an npz file whose keys and shapes must be exactly ``shapes``, each of
    ``dtype``.

    Every header is read and checked (the dtype, the expected shape, as many bytes as the
    shape needs) before any array is allocated, so a header claiming a huge shape costs
    nothing; arrays go through numpy without pickle.
    """
    with BoundedZip(io.BytesIO(data), where) as npz:
        keys = {name.removesuffix(".npy"): name for name in npz.names}
        if len(keys) != len(npz.names) or set(keys) != set(shapes):
            missing = sorted(set(shapes) - set(keys))
            extra = sorted(set(npz.names) - {f"{k}.npy" for k in shapes})
            raise ArchiveError(f"{where}: expected the arrays {sorted(shapes)}, found"
                               f"{' missing ' + str(missing) if missing else ''}"
                               f"{' unexpected ' + str(extra) if extra else ''}")
        out: dict[str, Any] = {}
        for key, name in keys.items():
            expected = tuple(shapes[key])
            entry = f"{where}: {key}"
            # The header is small; the array is read only once it is known to fit.
            with npz.open(name) as f:
                try:
                    version = np.lib.format.read_magic(f)
                    header = (np.lib.format.read_array_header_1_0 if version == (1, 0) else
                              np.lib.format.read_array_header_2_0)
                    shape, fortran, found = header(f)
                except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
                    raise ArchiveError(f"{entry}: expected an npy array header ({e})") from None
                if found != np.dtype(dtype):
                    raise ArchiveError(f"{entry}: expected a {np.dtype(dtype)} array, found "
                                       f"dtype {found}")
                if tuple(shape) != expected:
                    raise ArchiveError(f"{entry}: expected shape {list(expected)} (from the "
                                       f"configuration), found {list(shape)}")
                nbytes = math.prod(shape) * found.itemsize
                if npz.size(name) - f.tell() != nbytes:
                    raise ArchiveError(f"{entry}: expected {nbytes} bytes of data for shape "
                                       f"{list(shape)}, found {npz.size(name) - f.tell()}")
                raw = bytearray(nbytes)
                try:
                    got = f.readinto(raw)
                    trailing = f.read(1)
                except (OSError, EOFError, zipfile.BadZipFile) as e:
                    raise ArchiveError(f"{entry}: unreadable array data ({e})") from None
            if got != nbytes or trailing:
                raise ArchiveError(f"{entry}: expected {nbytes} bytes of data, found "
                                   f"{'more' if trailing else got}")
            array = np.frombuffer(raw, dtype=found)
            out[key] = array.reshape(shape[::-1]).T if fortran else array.reshape(shape)
        return out
