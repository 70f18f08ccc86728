"""Reading and writing ModelSerializer zips with every size bounded before it is read.

>>> import io
>>> buffer = io.BytesIO()
>>> write_entries(buffer, {"configuration.json": b"{}"})
>>> read_entries(buffer.getvalue())
{'configuration.json': b'{}'}
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import IO

from seqnet.errors import ModelFileError

# DL4J's newest ModelSerializer caps the decompressed total against zip bombs; these caps are
# far above any model this project trains (the 1.0.0-alpha char model is 4.5 MB unpacked).
MAX_TOTAL_BYTES = 2 * 1024**3
MAX_ENTRIES = 64
_CHUNK = 1 << 20

Source = str | os.PathLike[str] | bytes | IO[bytes]


def _name(source: Source) -> str:
    if isinstance(source, (bytes, bytearray)):
        return "<bytes>"
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return str(getattr(source, "name", "<stream>"))


def is_zip(source: Source) -> bool:
    """Whether ``source`` starts like a zip archive (a path, bytes or a seekable stream)."""
    if isinstance(source, (bytes, bytearray)):
        return bytes(source[:4]) == b"PK\x03\x04"
    if isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as f:
                return f.read(4) == b"PK\x03\x04"
        except OSError as e:
            raise ModelFileError(f"{source}: cannot read: {e.strerror}") from None
    position = source.tell()
    head = source.read(4)
    source.seek(position)
    return head == b"PK\x03\x04"


def _check_name(name: str, where: str) -> None:
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
        raise ModelFileError(f"{where}: refusing the entry {name!r}: it points outside the "
                             f"archive (path traversal)")


class ModelZip:
    """A zip opened for bounded reading: the entry list is checked when it opens, and every
    entry is read against a byte limit checked before reading (declared size) and while
    reading (actual size).

    Refused with :class:`~seqnet.errors.ModelFileError`: a file that is not a zip, more than
    ``max_entries`` entries, duplicate names, names that point outside the archive, and a
    declared or actual uncompressed total above ``max_total_bytes``.
    """

    def __init__(self, source: Source, max_total_bytes: int = MAX_TOTAL_BYTES,
                 max_entries: int = MAX_ENTRIES) -> None:
        self.where = _name(source)
        self._budget = max_total_bytes
        try:
            if isinstance(source, (bytes, bytearray)):
                self._stream: IO[bytes] = io.BytesIO(source)
            elif isinstance(source, (str, os.PathLike)):
                self._stream = open(source, "rb")  # noqa: SIM115 - closed by close()
            else:
                self._stream = source
        except OSError as e:
            raise ModelFileError(f"{self.where}: cannot read: {e.strerror}") from None
        self._owned = self._stream is not source
        try:
            self._archive = zipfile.ZipFile(self._stream)
            self._infos = self._check(self._archive.infolist(), max_total_bytes, max_entries)
        except zipfile.BadZipFile as e:
            self.close()
            raise ModelFileError(f"{self.where}: expected a zip archive (DL4J model file), "
                                 f"found a damaged or foreign file: {e}") from None
        except BaseException:
            self.close()
            raise

    def _check(self, infos: list[zipfile.ZipInfo], max_total: int,
               max_entries: int) -> dict[str, zipfile.ZipInfo]:
        if len(infos) > max_entries:
            raise ModelFileError(f"{self.where}: expected at most {max_entries} zip entries, "
                                 f"found {len(infos)}")
        names = [info.filename for info in infos]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ModelFileError(f"{self.where}: duplicate zip entry {duplicates[0]!r}; "
                                 f"refusing an ambiguous archive")
        for name in names:
            _check_name(name, self.where)
        declared = sum(info.file_size for info in infos)
        if declared > max_total:
            raise ModelFileError(f"{self.where}: the entries declare {declared} uncompressed "
                                 f"bytes, above the limit of {max_total} (zip bomb?)")
        return {info.filename: info for info in infos if not info.is_dir()}

    @property
    def names(self) -> list[str]:
        """The file entries, in archive order."""
        return list(self._infos)

    def __contains__(self, name: object) -> bool:
        return name in self._infos

    def read(self, name: str, max_bytes: int | None = None) -> bytes:
        """Entry ``name``, refused when it declares or yields more than ``max_bytes`` (or
        than what is left of the archive's total)."""
        info = self._infos.get(name)
        if info is None:
            raise ModelFileError(f"{self.where}: expected a {name} entry, found "
                                 f"{sorted(self._infos)}")
        limit = self._budget if max_bytes is None else min(max_bytes, self._budget)
        if info.file_size > limit:
            raise ModelFileError(f"{self.where}: entry {name!r} declares {info.file_size} "
                                 f"bytes, expected at most {limit}")
        try:
            data = _read_bounded(self._archive, info, limit, self.where)
        except zipfile.BadZipFile as e:
            raise ModelFileError(f"{self.where}: entry {name!r} is damaged: {e}") from None
        except (EOFError, OSError, NotImplementedError, ValueError) as e:
            raise ModelFileError(f"{self.where}: cannot read entry {name!r}: {e}") from None
        self._budget -= len(data)
        return data

    def close(self) -> None:
        archive = getattr(self, "_archive", None)
        if archive is not None:
            archive.close()
        if self._owned:
            self._stream.close()

    def __enter__(self) -> ModelZip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_entries(source: Source, max_total_bytes: int = MAX_TOTAL_BYTES,
                 max_entries: int = MAX_ENTRIES) -> dict[str, bytes]:
    """Every entry of a zip as bytes, with :class:`ModelZip`'s checks and bounds."""
    with ModelZip(source, max_total_bytes, max_entries) as archive:
        return {name: archive.read(name) for name in archive.names}


def _read_bounded(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int,
                  where: str) -> bytes:
    parts: list[bytes] = []
    size = 0
    with archive.open(info) as f:
        while True:
            chunk = f.read(min(_CHUNK, budget - size + 1))
            if not chunk:
                break
            size += len(chunk)
            if size > budget or size > info.file_size:
                raise ModelFileError(
                    f"{where}: entry {info.filename!r} decompresses to more than its declared "
                    f"{info.file_size} bytes or the limit of {budget} (zip bomb?)")
            parts.append(chunk)
    return b"".join(parts)


def write_entries(target: str | os.PathLike[str] | IO[bytes], entries: dict[str, bytes]) -> None:
    """Write ``entries`` (name -> bytes, in order) as a deflated zip, as ModelSerializer does.

    A path is written to a temporary file beside it first and renamed, so a failed write
    never leaves a half-written model in place.
    """
    if isinstance(target, (str, os.PathLike)):
        path = Path(target)
        partial = path.with_name(path.name + ".partial")
        try:
            with open(partial, "wb") as f:
                _write(f, entries)
            os.replace(partial, path)
        except OSError as e:
            partial.unlink(missing_ok=True)
            raise ModelFileError(f"{path}: cannot write: {e.strerror}") from None
    else:
        _write(target, entries)


def _write(stream: IO[bytes], entries: dict[str, bytes]) -> None:
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
