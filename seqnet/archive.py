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
- a zip naming one entry twice, or with an absolute or ``..`` entry name, is refused;
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
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import IO, Any

import numpy as np

from seqnet.errors import ModelFileError

__all__ = ["MAX_ENTRIES", "MAX_JSON_DEPTH", "ArchiveError", "BoundedZip", "json_depth",
           "loads_json", "read_npz"]

#: The deepest nesting of arrays and objects accepted in a JSON entry.
MAX_JSON_DEPTH = 32
#: The most entries a zip may list (its central directory is read whole when it is opened).
MAX_ENTRIES = 4096

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


class ArchiveError(ModelFileError):
    """An archive (or an entry in it) is malformed, unsafe, or larger than its cap."""


class BoundedZip:
    """A zip opened for reading named entries under byte caps (see the module docstring)."""

    def __init__(self, source: str | os.PathLike | IO[bytes], where: str | os.PathLike,
                 kind: str = "zip file") -> None:
        self.where = str(where)
        try:
            self._zip = zipfile.ZipFile(source if not isinstance(source, (str, os.PathLike))
                                        else Path(source))
        except FileNotFoundError:
            raise ArchiveError(f"{self.where}: no such {kind}") from None
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
            raise ArchiveError(f"{self.where}: expected a {kind}, found an unreadable file "
                               f"({e})") from None
        try:
            self._infos = self._check_names()
        except BaseException:
            self._zip.close()
            raise

    def _check_names(self) -> dict[str, zipfile.ZipInfo]:
        infos = self._zip.infolist()
        if len(infos) > MAX_ENTRIES:
            raise ArchiveError(f"{self.where}: expected at most {MAX_ENTRIES} entries, found "
                               f"{len(infos)}")
        seen: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = info.filename
            pure = PurePosixPath(name.replace("\\", "/"))
            if pure.is_absolute() or ".." in pure.parts or ":" in name:
                raise ArchiveError(f"{self.where}: refused, the entry {name!r} is an absolute "
                                   f"path or leaves the archive with '..'")
            if name in seen:
                raise ArchiveError(f"{self.where}: refused, the entry {name!r} appears twice")
            seen[name] = info
        return seen

    @property
    def names(self) -> list[str]:
        """Every entry name, in the order of the zip's directory."""
        return list(self._infos)

    def size(self, name: str) -> int:
        """The uncompressed size ``name`` declares (not trusted by :meth:`read`)."""
        return self._infos[name].file_size

    def read(self, name: str, limit: int) -> bytes:
        """The bytes of entry ``name``: at most ``limit`` of them, or an :class:`ArchiveError`."""
        info = self._infos[name]
        where = f"{self.where}: {name}"
        if info.file_size > limit:
            raise ArchiveError(f"{where}: expected at most {limit} bytes, found an entry of "
                               f"{info.file_size} bytes")
        try:
            with self._zip.open(info) as f:
                data = f.read(limit + 1)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError,
                RuntimeError) as e:
            raise ArchiveError(f"{where}: unreadable entry ({e})") from None
        if len(data) > limit:
            raise ArchiveError(f"{where}: expected at most {limit} bytes, found more than the "
                               f"{info.file_size} the entry declares")
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
