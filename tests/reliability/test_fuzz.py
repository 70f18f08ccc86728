"""Byte-level fuzzing of the CSV reader and the iterator (hypothesis).

Valid corpora (random widths, lengths, number spellings, headers, BOM, CRLF, padding, four
dialects) are damaged by random byte mutations (insertions of delimiters, line breaks, NULs,
invalid UTF-8, number fragments and random bytes; deletions; duplications; truncation). The
properties:

- nothing but a :class:`~seqdata.errors.SeqDataError` (or subclass) ever escapes;
- when reading succeeds, ``values`` is ``[T >= 1, C >= 1]`` float64, the batch read in bulk
  equals the files read one by one (so the fast path and the exact path agree), and the batch
  fails exactly when a file fails alone or the files disagree on the column count;
- files the mutations did not touch read back as written;
- through the iterator, every DataSet has float32 ``[N, C, T]`` features, one-hot
  ``[N, K, T]`` labels and ``[N, T]`` 0/1 masks (or ``None``), and covers every sequence once.

CI runs 220 + 120 examples; ``--fuzz-long`` (see conftest.py) runs 20 times as many.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqdata.errors import SeqDataError
from seqdata.iterator import AlignmentMode, SequenceRecordReaderDataSetIterator
from seqdata.readers.csv import CSVSequenceRecordReader
from seqdata.splits import ListSplit

READER_EXAMPLES = 220
ITERATOR_EXAMPLES = 120

_SETTINGS = dict(deadline=None, derandomize=False, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Bytes that change how a line splits or a field parses, plus plain hostile bytes.
TOKENS = [b",", b";", b"\t", b" ", b"\n", b"\r", b"\r\n", b"\n\n", b"\x00", b"\xff", b"\xc3",
          b"\xef\xbb\xbf", b"nan", b"-inf", b"1e", b"e5", b".", b"-", b"+", b"0", b"9", b'"',
          b"x", b"\x0b", b"\x0c", b"\\s+", b"1,2", b"\n1\n"]

DIALECTS = [",", ";", "\t", r"\s+"]


def _number(draw: st.DrawFn) -> str:
    """A number in one of the spellings the reader must accept."""
    kind = draw(st.sampled_from(["int", "float", "exp", "special", "short"]))
    if kind == "int":
        return str(draw(st.integers(-10**6, 10**6)))
    if kind == "float":
        return repr(draw(st.floats(-1e6, 1e6, allow_nan=False, width=32)))
    if kind == "exp":
        return f"{draw(st.floats(-9.99, 9.99)):.3f}e{draw(st.integers(-30, 30))}"
    if kind == "short":
        return draw(st.sampled_from(["1.", ".5", "-.25", "+3", "0"]))
    return draw(st.sampled_from(["nan", "NaN", "inf", "-inf", "Infinity", "+inf"]))


@st.composite
def corpora(draw: st.DrawFn, max_files: int = 4) -> dict:
    """A valid corpus: files (bytes), dialect, skipped header lines, and the expected values."""
    delimiter = draw(st.sampled_from(DIALECTS))
    width = draw(st.integers(1, 4))
    skip = draw(st.integers(0, 1))
    files, expected = [], []
    for _ in range(draw(st.integers(1, max_files))):
        rows = [[_number(draw) for _ in range(width)] for _ in range(draw(st.integers(1, 5)))]
        joiner = " " if delimiter == r"\s+" else delimiter
        pad = "" if delimiter != "," else draw(st.sampled_from(["", " "]))
        lines = [joiner.join(pad + f + pad for f in row) for row in rows]
        if skip:
            lines.insert(0, "header")
        end = draw(st.sampled_from(["\n", "\r\n"]))
        text = end.join(lines) + draw(st.sampled_from(["", end, end + end]))
        data = text.encode()
        if draw(st.booleans()):
            data = b"\xef\xbb\xbf" + data
        files.append(data)
        expected.append(np.array([[float(f) for f in row] for row in rows], dtype=np.float64))
    return {"delimiter": delimiter, "skip": skip, "files": files, "expected": expected}


@st.composite
def mutations(draw: st.DrawFn, n_files: int) -> list[tuple]:
    """0-4 edits, each ``(file index, kind, position fraction, argument)``."""
    edits = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["insert", "insert", "random", "delete", "replace",
                                     "duplicate", "truncate"]))
        where = draw(st.floats(0, 1))
        if kind == "insert":
            arg = draw(st.sampled_from(TOKENS))
        elif kind in ("random", "replace"):
            arg = draw(st.binary(min_size=1, max_size=4))
        else:
            arg = draw(st.integers(1, 12))
        edits.append((draw(st.integers(0, n_files - 1)), kind, where, arg))
    return edits


def mutate(data: bytes, kind: str, where: float, arg) -> bytes:
    pos = int(where * len(data))
    if kind in ("insert", "random"):
        return data[:pos] + arg + data[pos:]
    if kind == "replace":
        return data[:pos] + arg + data[pos + len(arg):]
    if kind == "delete":
        return data[:pos] + data[pos + arg:]
    if kind == "duplicate":
        return data[:pos] + data[pos:pos + arg] + data[pos:]
    return data[:pos]


def damaged(draw: st.DrawFn, corpus: dict) -> tuple[list[bytes], set[int]]:
    files = list(corpus["files"])
    touched = set()
    for index, kind, where, arg in draw(mutations(len(files))):
        new = mutate(files[index], kind, where, arg)
        if new != files[index]:
            touched.add(index)
        files[index] = new
    return files, touched


def write(directory: str, prefix: str, files: list[bytes]) -> list[str]:
    paths = []
    for i, data in enumerate(files):
        path = os.path.join(directory, f"{prefix}{i}.csv")
        with open(path, "wb") as f:
            f.write(data)
        paths.append(path)
    return paths


def reader_for(paths: list[str], corpus: dict, skip: int | None = None) -> CSVSequenceRecordReader:
    reader = CSVSequenceRecordReader(skip_num_lines=corpus["skip"] if skip is None else skip,
                                     delimiter=corpus["delimiter"])
    reader.initialize(ListSplit(paths))
    return reader


def assert_same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_array_equal(a, b)        # NaN equals NaN here


# --------------------------------------------------------------------------- the reader

def check_reader(corpus: dict, files: list[bytes], touched: set[int]) -> None:
    with tempfile.TemporaryDirectory() as d:
        paths = write(d, "", files)
        reader = reader_for(paths, corpus)
        alone: list[np.ndarray | None] = []
        for i in range(len(paths)):
            try:
                record = reader.load_sequences([i])[0]
            except SeqDataError:
                alone.append(None)
                continue
            values = record.values
            assert isinstance(values, np.ndarray) and values.dtype == np.float64
            assert values.ndim == 2 and values.shape[0] >= 1 and values.shape[1] >= 1
            assert record.source == paths[i]
            alone.append(values)
        for i in set(range(len(paths))) - touched:
            assert alone[i] is not None, f"untouched file {i} did not read"
            assert_same(alone[i], corpus["expected"][i])
        try:
            batch = reader.load_ragged(list(range(len(paths))))
        except SeqDataError:
            widths = {a.shape[1] for a in alone if a is not None}
            failed = any(a is None for a in alone)
            assert failed or len(widths) > 1, "the batch failed but every file reads"
            return
        assert all(a is not None for a in alone), "the batch read a file that fails alone"
        assert batch.values.dtype == np.float64 and batch.values.ndim == 2
        assert batch.lengths.tolist() == [len(a) for a in alone]
        assert batch.sources == paths
        assert_same(batch.values, np.concatenate(alone))
        # The DL4J cursor gives the same sequences again.
        again = [r.values for r in reader]
        for a, b in zip(again, alone):
            assert_same(a, b)


def test_mutated_files_raise_only_seqdata_errors_and_read_consistently(fuzz_examples):
    @settings(max_examples=fuzz_examples(READER_EXAMPLES), **_SETTINGS)
    @given(st.data())
    def run(data):
        corpus = data.draw(corpora())
        files, touched = damaged(data.draw, corpus)
        check_reader(corpus, files, touched)

    run()


# --------------------------------------------------------------------------- the iterator

def check_iterator(corpus: dict, features: list[bytes], labels: list[bytes], classes: int,
                   batch: int, mode: AlignmentMode, prefetch: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        f_paths, l_paths = write(d, "f", features), write(d, "l", labels)
        try:
            f_reader = reader_for(f_paths, corpus)
            l_reader = reader_for(l_paths, corpus, skip=0)
            it = SequenceRecordReaderDataSetIterator(f_reader, l_reader, batch, classes,
                                                     alignment_mode=mode, prefetch=prefetch)
            datasets = list(it)
        except SeqDataError:
            return
        n = len(features)
        assert sum(ds.num_examples() for ds in datasets) == n
        assert len(datasets) == len(it) == -(-n // batch)
        for ds in datasets:
            x, y = ds.features, ds.labels
            assert x.dtype == np.float32 and x.ndim == 3 and y.dtype == np.float32
            nb, _, steps = x.shape
            assert x.shape[1] == it.input_columns() and y.shape == (nb, classes, steps)
            assert set(np.unique(y).tolist()) <= {0.0, 1.0}
            assert np.all(y.sum(axis=1) <= 1.0)
            for mask in (ds.features_mask, ds.labels_mask):
                assert mask is None or (mask.dtype == np.float32 and mask.shape == (nb, steps)
                                        and set(np.unique(mask).tolist()) <= {0.0, 1.0})
            label_steps = y.sum(axis=1)
            expected = np.ones((nb, steps)) if ds.labels_mask is None else ds.labels_mask
            np.testing.assert_array_equal(label_steps, expected)
            if ds.features_mask is not None:
                assert np.all(x[np.broadcast_to(ds.features_mask[:, None, :] == 0, x.shape)] == 0)


def test_mutated_corpora_through_the_iterator_give_errors_or_well_formed_batches(fuzz_examples):
    @settings(max_examples=fuzz_examples(ITERATOR_EXAMPLES), **_SETTINGS)
    @given(st.data())
    def run(data):
        corpus = data.draw(corpora())
        features, _ = damaged(data.draw, corpus)
        classes = data.draw(st.integers(1, 4))
        label_files = []
        for expected in corpus["expected"]:
            steps = data.draw(st.sampled_from([1, len(expected)]))
            values = data.draw(st.lists(st.integers(0, classes - 1), min_size=steps,
                                        max_size=steps))
            label_files.append("".join(f"{v}\n" for v in values).encode())
        label_corpus = {**corpus, "files": label_files}
        labels, _ = damaged(data.draw, label_corpus)
        check_iterator(corpus, features, labels, classes, data.draw(st.integers(1, 3)),
                       data.draw(st.sampled_from(list(AlignmentMode))),
                       data.draw(st.sampled_from([0, 0, 1])))

    run()
