"""The packed store: reader == the sequences written, store batches == CSV batches, plain
Parquet for pandas/pyarrow/polars/duckdb, and a manifest that matches the corpus."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqdata.errors import LabelError, StoreError
from seqdata.iterator import AlignmentMode, SequenceRecordReaderDataSetIterator
from seqdata.readers.base import CollectionSequenceRecordReader
from seqdata.readers.csv import CSVSequenceRecordReader
from seqdata.splits import NumberedFileInputSplit
from seqdata.store.convert import convert, write_store
from seqdata.store.reader import SequenceStore


def write_csvs(directory, arrays, header=None):
    """One CSV file per array (``%.9g``: every float32 value exactly); returns the pattern."""
    os.makedirs(directory, exist_ok=True)
    for i, a in enumerate(arrays):
        with open(os.path.join(directory, f"{i}.csv"), "w") as f:
            if header:
                f.write(header + "\n")
            for row in np.atleast_2d(a):
                f.write(",".join(f"{v:.9g}" for v in row) + "\n")
    return os.path.join(str(directory), "%d.csv")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """37 sequences of 1-9 steps x 3 columns, class labels 0-3 per step or one per sequence,
    with a header line in every file; converted once."""
    root = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(7)
    lengths = rng.integers(1, 10, size=37)
    features = [rng.standard_normal((n, 3)).astype(np.float32) for n in lengths]
    per_step = [rng.integers(0, 4, size=(n, 1)).astype(np.float32) for n in lengths]
    last = [rng.integers(0, 4, size=(1, 1)).astype(np.float32) for _ in lengths]
    fpat = write_csvs(root / "features", features, header="a,b,c")
    spat = write_csvs(root / "step_labels", per_step, header="y")
    lpat = write_csvs(root / "last_labels", last, header="y")
    joined = write_csvs(root / "joined", [np.hstack([f, y]) for f, y in zip(features, per_step)])
    n = len(lengths)
    split = lambda p: NumberedFileInputSplit(p, 0, n - 1)  # noqa: E731
    stores = {
        "step": convert(split(fpat), root / "s_step", split(spat), skip_num_lines=1,
                        label_skip_num_lines=1, workers=1, progress=False),
        "last": convert(split(fpat), root / "s_last", split(lpat), skip_num_lines=1,
                        label_skip_num_lines=1, workers=1, progress=False),
        "joined": convert(split(joined), root / "s_joined", workers=1, progress=False),
    }
    return dict(root=root, n=n, features=features, per_step=per_step, last=last, fpat=fpat,
                spat=spat, lpat=lpat, joined=joined, stores=stores, split=split)


def csv_reader(pattern, n, skip=0):
    r = CSVSequenceRecordReader(skip_num_lines=skip)
    r.initialize(NumberedFileInputSplit(pattern, 0, n - 1))
    return r


def assert_same_batches(a, b):
    a, b = list(a), list(b)
    assert len(a) == len(b) > 0
    for x, y in zip(a, b):
        for name in ("features", "labels", "features_mask", "labels_mask"):
            u, v = getattr(x, name), getattr(y, name)
            assert (u is None) == (v is None), name
            if u is not None:
                assert u.dtype == v.dtype and u.shape == v.shape, name
                np.testing.assert_array_equal(u, v, err_msg=name)


@pytest.mark.parametrize("mode", [AlignmentMode.ALIGN_START, AlignmentMode.ALIGN_END])
@pytest.mark.parametrize("labels", ["step", "last"])
@pytest.mark.parametrize("options", [{}, {"shuffle": True, "seed": 3},
                                     {"bucket_by_length": 2, "shuffle": True, "seed": 1}])
def test_two_reader_batches_equal_csv(corpus, mode, labels, options):
    n, store = corpus["n"], corpus["stores"][labels]
    lpat = corpus["spat"] if labels == "step" else corpus["lpat"]
    via_csv = SequenceRecordReaderDataSetIterator(
        csv_reader(corpus["fpat"], n, 1), csv_reader(lpat, n, 1), 5, 4, alignment_mode=mode,
        collect_meta_data=True, **options)
    via_store = SequenceRecordReaderDataSetIterator(
        store.reader("features"), store.reader("labels"), 5, 4, alignment_mode=mode,
        collect_meta_data=True, **options)
    a, b = list(via_csv), list(via_store)
    assert_same_batches(a, b)
    assert [d.example_meta_data for d in a] == [d.example_meta_data for d in b]


@pytest.mark.parametrize("regression", [False, True])
def test_one_reader_batches_equal_csv(corpus, regression):
    n, store = corpus["n"], corpus["stores"]["joined"]
    npl = 1 if regression else 4
    a = SequenceRecordReaderDataSetIterator(csv_reader(corpus["joined"], n), 4, npl, -1,
                                            regression)
    b = SequenceRecordReaderDataSetIterator(store.reader("features"), 4, npl, -1, regression)
    assert_same_batches(a, b)


def test_store_holds_the_corpus_values_sources_and_lines(corpus):
    store = corpus["stores"]["step"]
    records = list(store.reader("features"))
    assert len(records) == corpus["n"]
    for i, rec in enumerate(records):
        np.testing.assert_array_equal(rec.values, corpus["features"][i])
        assert rec.source == corpus["fpat"] % i
        assert rec.first_line == 2  # after the header
    labels = store.reader("labels").load_sequences([3, 0])
    np.testing.assert_array_equal(labels[0].values, corpus["per_step"][3])
    assert labels[1].source == corpus["spat"] % 0


def test_label_error_names_the_original_file_and_line(tmp_path):
    fpat = write_csvs(tmp_path / "f", [np.ones((2, 1)), np.ones((3, 1))], header="x")
    lpat = write_csvs(tmp_path / "l", [[[0], [1]], [[1], [2], [9]]], header="y")
    split = lambda p: NumberedFileInputSplit(p, 0, 1)  # noqa: E731
    store = convert(split(fpat), tmp_path / "s", split(lpat), skip_num_lines=1,
                    label_skip_num_lines=1, progress=False)
    it = SequenceRecordReaderDataSetIterator(store.reader("features"), store.reader("labels"),
                                             2, 3, alignment_mode=AlignmentMode.ALIGN_START)
    with pytest.raises(LabelError) as err:
        it.next()
    assert (err.value.path, err.value.line) == (lpat % 1, 4)
    assert "to one-hot" in str(err.value)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=12), st.integers(1, 4),
       st.data())
def test_gather_equals_the_sequences_written(tmp_path_factory, lengths, width, data):
    rng = np.random.default_rng(len(lengths) * 10 + width)
    seqs = [rng.standard_normal((n, width)) for n in lengths]
    out = tmp_path_factory.mktemp("h") / "s"
    write_store(CollectionSequenceRecordReader(seqs), out)
    reader = SequenceStore(out).reader("features")
    idx = data.draw(st.lists(st.integers(0, len(seqs) - 1), min_size=1, max_size=20))
    batch = reader.load_ragged(idx)
    expected = np.concatenate([seqs[i] for i in idx]).astype(np.float32)
    assert batch.values.dtype == np.float32
    np.testing.assert_array_equal(batch.values, expected)
    assert batch.lengths.tolist() == [lengths[i] for i in idx]
    assert batch.sources == [f"<collection>[{i}]" for i in idx]
    np.testing.assert_array_equal(reader.sequence_lengths(), lengths)


def test_plain_parquet_readers_open_the_store_path_itself(corpus):
    import json

    import duckdb
    import pandas as pd
    import polars as pl
    import pyarrow.dataset as pads
    import pyarrow.parquet as pq

    store = corpus["stores"]["step"]
    path = store.path
    expected = [f.tolist() for f in corpus["features"]]
    n = corpus["n"]
    assert sorted(os.listdir(path)) == ["_manifest.json", "data"]
    df = pd.read_parquet(path)
    assert df["id"].tolist() == list(range(n))
    assert [[list(r) for r in x] for x in df["features"]] == expected
    table = pads.dataset(path).to_table()
    assert table.column("features").to_pylist() == expected
    assert table.column("length").to_pylist() == [len(f) for f in expected]
    pdf = pl.scan_parquet(str(path) + "/**/*.parquet").collect()
    assert pdf["source"].to_list() == [f"{i}.csv" for i in range(n)]       # relative
    assert [[list(r) for r in x] for x in pdf["features"].to_list()] == expected
    rows = duckdb.sql(f"select id, features, labels from '{path}/**/*.parquet' "
                      "order by id").fetchall()
    assert [[list(r) for r in row[1]] for row in rows] == expected
    assert [[list(r) for r in row[2]] for row in rows] == [y.tolist() for y in corpus["per_step"]]
    # The parts describe themselves: channel names from the header, every column explained.
    schema = pq.read_schema(os.path.join(path, "data", "part-00000.parquet"))
    assert json.loads(schema.field("features").metadata[b"channels"]) == ["a", "b", "c"]
    description = json.loads(schema.metadata[b"seqdata"])
    assert description["store_id"] == store.manifest["store_id"]
    assert set(description["columns"]) == set(schema.names)
    assert store.channel_names("features") == ["a", "b", "c"]
    assert store.channel_names("labels") == ["y"]


def test_class_labels_are_an_integer_column_for_sql(corpus):
    import duckdb

    path = corpus["stores"]["last"].path
    counts = dict(duckdb.sql(f"select label, count(*) from '{path}/**/*.parquet' "
                             "group by label").fetchall())
    classes, k = np.unique(np.concatenate(corpus["last"]).astype(int), return_counts=True)
    assert counts == dict(zip(classes.tolist(), k.tolist()))
    # Classes that change along a sequence have no single class: null.
    step = duckdb.sql(f"select label, labels from '{corpus['stores']['step'].path}/**/*.parquet'"
                      ).fetchall()
    assert all((label is None) == (len({r[0] for r in labels}) > 1) for label, labels in step)


def test_ids_are_the_numbers_of_the_files(tmp_path):
    fpat = write_csvs(tmp_path / "f", [np.ones((1, 1))] * 8)
    store = convert(NumberedFileInputSplit(fpat, 3, 7), tmp_path / "s", progress=False)
    assert store.ids().tolist() == [3, 4, 5, 6, 7]
    assert store.reader().load_sequences([0])[0].source == fpat % 3


def test_manifest_summarises_the_corpus(corpus):
    m = corpus["stores"]["step"].manifest
    lengths = np.array([len(f) for f in corpus["features"]])
    assert m["num_sequences"] == corpus["n"]
    assert m["columns"] == {"features": 3, "labels": 1}
    assert m["lengths"]["features"]["min"] == lengths.min()
    assert m["lengths"]["features"]["max"] == lengths.max()
    assert m["lengths"]["features"]["median"] == np.median(lengths)
    assert m["lengths"]["features"]["total"] == lengths.sum()
    classes, counts = np.unique(np.concatenate(corpus["per_step"]), return_counts=True)
    assert m["label_counts"] == {str(int(c)): int(k) for c, k in zip(classes, counts)}
    listing = "".join(
        f"{hashlib.sha256(open(corpus['fpat'] % i, 'rb').read()).hexdigest()}  "
        f"{corpus['fpat'] % i}\n" for i in range(corpus["n"]))
    assert m["sources"]["features"]["sha256"] == hashlib.sha256(listing.encode()).hexdigest()
    assert m["options"]["skip_lines"] == 1 and m["skipped"] == []


def test_regression_labels_have_no_label_counts(tmp_path):
    lpat = write_csvs(tmp_path / "l", [[[0.5]], [[1.0]]])
    fpat = write_csvs(tmp_path / "f", [[[1.0]], [[2.0]]])
    split = lambda p: NumberedFileInputSplit(p, 0, 1)  # noqa: E731
    store = convert(split(fpat), tmp_path / "s", split(lpat), progress=False)
    assert store.manifest["label_counts"] is None


def test_store_opens_through_a_file_url(corpus):
    store = corpus["stores"]["last"]
    remote = SequenceStore("file://" + os.path.abspath(store.path))
    a = remote.reader("labels").load_ragged([4, 2])
    b = store.reader("labels").load_ragged([4, 2])
    np.testing.assert_array_equal(a.values, b.values)


def test_readers_pickle_and_keep_their_own_cursor(corpus):
    import pickle

    store = corpus["stores"]["step"]
    a, b = store.reader("features"), store.reader("features")
    a.next_sequence()
    np.testing.assert_array_equal(b.next_sequence().values, corpus["features"][0])
    np.testing.assert_array_equal(a.next_sequence().values, corpus["features"][1])
    copy = pickle.loads(pickle.dumps(store.reader("labels")))
    np.testing.assert_array_equal(copy.load_ragged([5]).values, corpus["per_step"][5])


def test_store_opens_through_fsspec(corpus):
    fsspec = pytest.importorskip("fsspec")
    memory = fsspec.filesystem("memory")
    memory.put(corpus["stores"]["step"].path, "/seqdl-test-store", recursive=True)
    try:
        store = SequenceStore("memory://seqdl-test-store")
        np.testing.assert_array_equal(store.reader("labels").load_ragged([2]).values,
                                      corpus["per_step"][2])
    finally:
        memory.rm("/seqdl-test-store", recursive=True)


def test_errors(tmp_path, corpus):
    with pytest.raises(StoreError, match="expected a seqdata store"):
        SequenceStore(tmp_path)
    (tmp_path / "_manifest.json").write_text("{not json")
    with pytest.raises(StoreError, match="invalid JSON"):
        SequenceStore(tmp_path)
    store = corpus["stores"]["joined"]
    with pytest.raises(StoreError, match="expected a role"):
        store.reader("labels")
    with pytest.raises(StoreError, match=r"indices in \[0, 37\), found 37"):
        store.reader("features").load_ragged([0, 37])
    with pytest.raises(StoreError, match="local output path"):
        convert([corpus["fpat"] % 0], "s3://bucket/store", progress=False)
    with pytest.raises(StoreError, match="without a split"):
        store.reader("features").initialize(NumberedFileInputSplit(corpus["fpat"], 0, 1))
