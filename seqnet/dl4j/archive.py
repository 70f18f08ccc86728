"""Reading ModelSerializer zips with DL4J's bounds (writing is :func:`seqnet.archive.write_zip`).

>>> import io
>>> from seqnet.archive import write_zip
>>> buffer = io.BytesIO()
>>> write_zip(buffer, {"configuration.json": b"{}"})
>>> read_entries(buffer.getvalue())
{'configuration.json': b'{}'}
"""

from __future__ import annotations

import os

from seqnet.archive import BoundedZip, Source
from seqnet.errors import ModelFileError

# DL4J's newest ModelSerializer caps the decompressed total against zip bombs; these caps are
# far above any model this project trains (the 1.0.0-alpha char model is 4.5 MB unpacked).
MAX_TOTAL_BYTES = 2 * 1024**3
MAX_ENTRIES = 64


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


def open_model_zip(source: Source, max_total_bytes: int = MAX_TOTAL_BYTES,
                   max_entries: int = MAX_ENTRIES) -> BoundedZip:
    """A DL4J model zip opened for bounded reading (:class:`seqnet.archive.BoundedZip`, with
    DL4J's caps on the entry count and the total uncompressed size)."""
    return BoundedZip(source, kind="zip archive (DL4J model file)", max_entries=max_entries,
                      max_total_bytes=max_total_bytes)


def read_entries(source: Source, max_total_bytes: int = MAX_TOTAL_BYTES,
                 max_entries: int = MAX_ENTRIES) -> dict[str, bytes]:
    """Every entry of a zip as bytes, with :func:`open_model_zip`'s checks and bounds."""
    with open_model_zip(source, max_total_bytes, max_entries) as archive:
        return {name: archive.read(name) for name in archive.names}
