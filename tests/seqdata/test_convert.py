"""Conversion and export: exact round trip, atomic output, overwrite rules, skip policy."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import seqdata.store.convert as convert_module
from seqdata.errors import AlignmentError, MissingFilesError, ParseError, SeqDataError, StoreError
from seqdata.readers.base import CollectionSequenceRecordReader
from seqdata.readers.csv import CSVSequenceRecordReader
from seqdata.splits import ListSplit, NumberedFileInputSplit
from seqdata.store.convert import convert, write_store
from seqdata.store.export import export
from seqdata.store.reader import SequenceStore


def write_texts(directory, texts):
    os.makedirs(directory, exist_ok=True)
    for i, text in enumerate(texts):
        with open(os.path.join(directory, f"{i}.csv"), "w") as f:
            f.write(text)
    return [os.path.join(str(directory), f"{i}.csv") for i in range(len(texts))]


def read_all(paths, skip=0):
    r = CSVSequenceRecordReader(skip_num_lines=skip)
    r.initialize(ListSplit(paths))
    return [rec.values for rec in r]


def bits(a):
    return np.asarray(a, dtype=np.float32).view(np.uint32)


def test_round_trip_reproduces_every_value(tmp_path):
    rng = np.random.default_rng(0)
    special = np.array([[np.nan, np.inf, -np.inf], [-0.0, 1e-45, 3.4028235e38],
                        [0.1, 1 / 3, 16777217]], dtype=np.float64)
    arrays = [special] + [rng.standard_normal((rng.integers(1, 20), 3)) * 10.0 ** rng.integers(
        -30, 30) for _ in range(25)]
    fpaths = write_texts(tmp_path / "f", ["h1,h2,h3\n" + "\n".join(
        ",".join(repr(float(v)) for v in row) for row in a) + "\n" for a in arrays])
    lpaths = write_texts(tmp_path / "l", [f"{i % 3}\n" * (i % 4 + 1) for i in range(26)])
    store = convert(fpaths, tmp_path / "store", lpaths, skip_num_lines=1, label_skip_num_lines=0,
                    progress=False)
    written = export(store, tmp_path / "out", pattern="seq_%03d.csv")
    assert len(written) == 52
    back = read_all([str(tmp_path / "out" / "features" / f"seq_{i:03d}.csv") for i in range(26)])
    for original, exported in zip(read_all(fpaths, skip=1), back):
        np.testing.assert_array_equal(bits(exported), bits(original))
    back_labels = read_all([str(tmp_path / "out" / "labels" / f"seq_{i:03d}.csv")
                            for i in range(26)])
    for original, exported in zip(read_all(lpaths), back_labels):
        np.testing.assert_array_equal(exported, original)


@settings(max_examples=25, deadline=None)
@given(st.lists(hnp.arrays(np.float32, st.tuples(st.integers(1, 5), st.just(2)),
                           elements=st.floats(width=32)), min_size=1, max_size=4))
def test_export_writes_every_float32_exactly(tmp_path_factory, arrays):
    root = tmp_path_factory.mktemp("p")
    write_store(CollectionSequenceRecordReader([a.astype(np.float64) for a in arrays]),
                root / "store")
    written = export(root / "store", root / "csv")
    for original, exported in zip(arrays, read_all(written)):
        exported = exported.astype(np.float32)
        nan = np.isnan(original)
        np.testing.assert_array_equal(np.isnan(exported), nan)
        np.testing.assert_array_equal(bits(exported)[~nan], bits(original)[~nan])


def test_export_refuses_bad_patterns(tmp_path):
    store = convert(write_texts(tmp_path / "f", ["1\n"]), tmp_path / "s", progress=False)
    for pattern in ["seq.csv", "seq_%d_%d.csv", "seq_%5d.csv", "a/%d.csv", "%s.csv"]:
        with pytest.raises(SeqDataError, match="exactly one %d"):
            export(store, tmp_path / "out", pattern)


def test_overwrite_rules(tmp_path):
    paths = write_texts(tmp_path / "f", ["1,2\n", "3,4\n5,6\n"])
    out = tmp_path / "store"
    convert(paths[:1], out, progress=False)
    with pytest.raises(StoreError, match="already exists; pass --overwrite"):
        convert(paths, out, progress=False)
    assert len(SequenceStore(out)) == 1
    assert len(convert(paths, out, overwrite=True, progress=False)) == 2
    assert sorted(os.listdir(tmp_path)) == ["f", "store"]
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(StoreError, match="refusing to replace"):
        convert(paths, other, overwrite=True, progress=False)
    assert (other / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("workers", [1, 3])
def test_failed_conversion_leaves_nothing(tmp_path, monkeypatch, workers):
    monkeypatch.setattr(convert_module, "MIN_CHUNK_FILES", 8)
    paths = write_texts(tmp_path / "f", ["1,2\n"] * 40 + ["1,oops\n"])
    with pytest.raises(ParseError) as err:
        convert(paths, tmp_path / "store", progress=False, workers=workers)
    assert (err.value.path, err.value.line, err.value.column) == (paths[-1], 1, 2)
    assert sorted(os.listdir(tmp_path)) == ["f"]


def test_skip_lists_bad_files_in_the_manifest(tmp_path):
    texts = ["1,2\n", "1,x\n", "3,4\n", "1,2,3\n", "5,6\n"]
    fpaths = write_texts(tmp_path / "f", texts) + [str(tmp_path / "missing.csv")]
    lpaths = write_texts(tmp_path / "l", ["0\n", "1\n", "2\n", "0\n", "a\n", "1\n"])
    store = convert(fpaths, tmp_path / "store", lpaths, on_error="skip", progress=False)
    m = store.manifest
    assert [s["id"] for s in m["skipped"]] == [1, 3, 4, 5]
    reasons = {s["id"]: s["reason"] for s in m["skipped"]}
    assert reasons[1].startswith(f"{fpaths[1]}:1:2:")
    assert "expected 2 feature columns" in reasons[3]
    assert reasons[4].startswith(f"{lpaths[4]}:1:1:")
    assert "file not found" in reasons[5]
    assert m["num_sequences"] == 2
    assert pq.read_table(os.path.join(store.path, "data")).column("id").to_pylist() == [0, 2]
    assert [r.values.tolist() for r in store.reader("features")] == [[[1, 2]], [[3, 4]]]
    assert m["label_counts"] == {"0": 1, "2": 1}


def test_input_errors(tmp_path):
    paths = write_texts(tmp_path / "f", ["1\n", "2\n"])
    with pytest.raises(MissingFilesError, match="1 input file"):
        convert(paths + [str(tmp_path / "nope.csv")], tmp_path / "s", progress=False)
    with pytest.raises(AlignmentError, match="as many label files"):
        convert(paths, tmp_path / "s", paths[:1], progress=False)
    with pytest.raises(SeqDataError, match="on_error"):
        convert(paths, tmp_path / "s", on_error="ignore", progress=False)
    with pytest.raises(SeqDataError, match="at least one readable"):
        convert(write_texts(tmp_path / "bad", ["x\n"]), tmp_path / "s", on_error="skip",
                progress=False)
    assert sorted(os.listdir(tmp_path)) == ["bad", "f"]


def test_parallel_conversion_equals_serial(tmp_path, monkeypatch):
    monkeypatch.setattr(convert_module, "MIN_CHUNK_FILES", 16)
    rng = np.random.default_rng(1)
    texts = ["\n".join(",".join(f"{v:.5f}" for v in row) for row in rng.standard_normal(
        (rng.integers(1, 6), 2))) + "\n" for _ in range(70)]
    split = NumberedFileInputSplit(os.path.join(write_texts(tmp_path / "f", texts)[0][:-5],
                                                "%d.csv"), 0, 69)
    serial = convert(split, tmp_path / "a", workers=1, progress=False)
    parallel = convert(split, tmp_path / "b", workers=2, progress=False)
    assert len(parallel.manifest["parts"]) > 1
    assert parallel.table().equals(serial.table())
    assert parallel.manifest["sources"] == serial.manifest["sources"]


def test_stale_temporary_directory_is_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".store.tmp-{dead.pid}"
    (stale / "data").mkdir(parents=True)
    convert(write_texts(tmp_path / "f", ["1\n"]), tmp_path / "store", progress=False)
    assert sorted(os.listdir(tmp_path)) == ["f", "store"]
    manifest = json.loads((tmp_path / "store" / "_manifest.json").read_text())
    assert manifest["num_sequences"] == 1


def test_unusable_output_paths_raise_store_errors(tmp_path):
    paths = write_texts(tmp_path / "f", ["1,2\n"])
    (tmp_path / "afile").write_text("not a directory")
    with pytest.raises(StoreError, match=r"afile.*found a file"):
        convert(paths, tmp_path / "afile" / "st", progress=False)
    with pytest.raises(StoreError, match=r"afile.*found a file"):
        write_store(CollectionSequenceRecordReader([[[1.0]]]), tmp_path / "afile" / "st")
    store = convert(paths, tmp_path / "st", progress=False)
    (tmp_path / "dx").mkdir()
    (tmp_path / "dx" / "features").write_text("in the way")
    with pytest.raises(StoreError, match=r"dx/features.*found a file"):
        export(store, tmp_path / "dx")
    (tmp_path / "dy" / "features" / "seq_0.csv").mkdir(parents=True)
    with pytest.raises(StoreError, match=r"seq_0\.csv: cannot write"):
        export(store, tmp_path / "dy")


def test_each_file_is_read_once_and_its_checksum_describes_the_values(tmp_path, monkeypatch):
    """The checksum and the values come from one read: a file rewritten right after it was
    read leaves a store whose checksum matches the values it holds."""
    import hashlib

    paths = write_texts(tmp_path / "f", ["1,2\n", "3,4\n"])
    read_all = convert_module.read_all
    reads: list[str] = []

    def read_then_rewrite(files):
        data = read_all(files)
        for location, _ in files:
            reads.append(location)
            with open(location, "w") as f:
                f.write("9,9\n")
        return data

    monkeypatch.setattr(convert_module, "read_all", read_then_rewrite)
    store = convert(paths, tmp_path / "st", progress=False, workers=1)
    assert sorted(reads) == sorted(paths)            # once each
    table = store.table(["source_sha256", "features"])
    assert table.column("features").to_pylist() == [[[1.0, 2.0]], [[3.0, 4.0]]]
    assert table.column("source_sha256").to_pylist() == [
        hashlib.sha256(b"1,2\n").hexdigest(), hashlib.sha256(b"3,4\n").hexdigest()]


@pytest.mark.parametrize("block", [7, 64, 1 << 20])
def test_large_files_are_read_in_blocks_with_the_same_values_lines_and_checksums(
        tmp_path, monkeypatch, block):
    """Files above LARGE_FILE_BYTES are parsed block by block: the store, its checksums and
    every error (with its line) are those of the whole-file read."""
    import hashlib

    from seqdata.readers import csv as csv_module

    rng = np.random.default_rng(3)
    texts = ["a,b\n" + "".join(f"{x:.6g},{y:.6g}\n" for x, y in rng.normal(size=(n, 2)))
             + "\n \n" for n in (1, 40, 3, 97)]
    paths = write_texts(tmp_path / "f", texts)
    whole = convert(paths, tmp_path / "whole", skip_num_lines=1, progress=False)
    monkeypatch.setattr(convert_module, "LARGE_FILE_BYTES", 50)
    monkeypatch.setattr(csv_module, "STREAM_BLOCK_BYTES", block)
    streamed = convert(paths, tmp_path / "streamed", skip_num_lines=1, progress=False)
    columns = ["features", "length", "source_sha256"]
    assert streamed.table(columns).equals(whole.table(columns))
    assert streamed.table(["source_sha256"]).column(0).to_pylist()[1] == \
        hashlib.sha256(texts[1].encode()).hexdigest()
    bad = [texts[1].replace("\n", "\nx,1\n", 30), texts[1][:200] + "\n\n" + texts[1][200:],
           texts[1].replace("\n", "\n1,2,3\n", 25), "a,b\n\n\n"]
    for i, text in enumerate(bad):
        (tmp_path / "f" / "1.csv").write_text(text)
        with pytest.raises(ParseError) as big:
            convert(paths, tmp_path / f"b{i}", skip_num_lines=1, progress=False, workers=1)
        monkeypatch.setattr(convert_module, "LARGE_FILE_BYTES", 1 << 30)
        with pytest.raises(ParseError) as small:
            convert(paths, tmp_path / f"s{i}", skip_num_lines=1, progress=False, workers=1)
        monkeypatch.setattr(convert_module, "LARGE_FILE_BYTES", 50)
        assert (big.value.path, big.value.line) == (small.value.path, small.value.line), i
