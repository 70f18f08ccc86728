"""Bounded zip reading: bombs, lying headers, traversal, duplicates; atomic writing."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest

from seqnet.archive import write_zip
from seqnet.dl4j.archive import is_zip, open_model_zip, read_entries
from seqnet.errors import ModelFileError
from tests.seqnet.dl4j._files import LSTM_071


def _zip(entries, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as z:
        for name, data in entries:
            z.writestr(name, data)
    return buffer.getvalue()


def test_a_dl4j_zip_reads_whole():
    entries = read_entries(LSTM_071)
    assert sorted(entries) == ["coefficients.bin", "configuration.json", "updaterState.bin"]
    assert len(entries["configuration.json"]) == 5737


def test_a_zip_bomb_is_refused_from_its_declared_size():
    bomb = _zip([("configuration.json", b"\0" * 5_000_000)])
    assert len(bomb) < 10_000
    with pytest.raises(ModelFileError, match="zip bomb"):
        read_entries(bomb, max_total_bytes=1_000_000)


def test_a_size_header_that_lies_cannot_make_more_come_out():
    data = _zip([("coefficients.bin", b"\1" * 100_000)])
    # Shrink the declared uncompressed size in the central directory to 10 bytes.
    central = data.rindex(b"PK\x01\x02")
    patched = bytearray(data)
    patched[central + 24:central + 28] = struct.pack("<I", 10)
    # Reading stops at the declared size; the short entry then fails its CRC.
    with pytest.raises(ModelFileError, match="'coefficients.bin' is damaged"):
        read_entries(bytes(patched), max_total_bytes=50_000)


def test_an_entry_is_refused_from_its_declared_size_before_reading():
    with open_model_zip(_zip([("coefficients.bin", b"\0" * 5000)])) as archive:
        assert archive.names == ["coefficients.bin"] and "coefficients.bin" in archive
        with pytest.raises(ModelFileError, match="declares 5000 bytes, expected at most 100"):
            archive.read("coefficients.bin", max_bytes=100)
        with pytest.raises(ModelFileError, match="expected a x.bin entry"):
            archive.read("x.bin")


@pytest.mark.parametrize("name", ["../evil.json", "/etc/passwd", "a/../../b", "..\\x.bin",
                                  "C:/x.bin"])
def test_entries_pointing_outside_the_archive_are_refused(name):
    with pytest.raises(ModelFileError, match="path traversal"):
        read_entries(_zip([(name, b"x")]))


def test_duplicate_entry_names_are_refused():
    with pytest.warns(UserWarning, match="Duplicate"):
        data = _zip([("configuration.json", b"{}"), ("configuration.json", b"[]")])
    with pytest.raises(ModelFileError, match="duplicate zip entry 'configuration.json'"):
        read_entries(data)


def test_too_many_entries_are_refused():
    with pytest.raises(ModelFileError, match="at most 3 zip entries"):
        read_entries(_zip([(f"{i}.bin", b"") for i in range(4)]), max_entries=3)


def test_foreign_and_missing_files_are_refused(tmp_path):
    with pytest.raises(ModelFileError, match="expected a zip archive"):
        read_entries(b"not a zip at all")
    with pytest.raises(ModelFileError, match="cannot read"):
        read_entries(tmp_path / "missing.zip")
    with pytest.raises(ModelFileError, match="zip"):
        read_entries(LSTM_071.read_bytes()[:2000])


def test_write_then_read_and_detection(tmp_path):
    path = tmp_path / "m.zip"
    write_zip(path, {"configuration.json": b"{}", "coefficients.bin": b"\1\2"})
    assert is_zip(path) and is_zip(path.read_bytes()) and not is_zip(b"NORMALIZER")
    assert read_entries(path) == {"configuration.json": b"{}", "coefficients.bin": b"\1\2"}
    assert [p.name for p in tmp_path.iterdir()] == ["m.zip"]      # no temporary file left


def test_a_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(ModelFileError, match="cannot write"):
        write_zip(tmp_path / "no" / "such" / "dir" / "m.zip", {"a": b""})
