"""CSVSequenceRecordReader: the format rules of SPEC section 3, exact error positions, bulk
reading equal to the line-by-line reference, and hypothesis round trips."""

import contextlib
import io
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqdata.errors import MissingFilesError, ParseError, SeqDataError, SplitError
from seqdata.readers import csv as csv_module
from seqdata.readers.base import SequenceRecordReader
from seqdata.readers.csv import (
    CSVSequenceRecordReader,
    _data_body,
    _make_dialect,
    _parse_bulk,
    _parse_precise,
)
from seqdata.splits import ListSplit, NumberedFileInputSplit


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return str(path)


def reader_for(paths, **kwargs):
    reader = CSVSequenceRecordReader(**kwargs)
    reader.initialize(ListSplit(paths))
    return reader


def read_one(tmp_path, content, **kwargs):
    return reader_for([write(tmp_path, "s.csv", content)], **kwargs).load_sequence(0)


def test_values_shape_dtype_source(tmp_path):
    path = write(tmp_path, "a.csv", "1,2.5,-3\n4,5e-1,6\n")
    reader = reader_for([path])
    assert isinstance(reader, SequenceRecordReader) and len(reader) == 1
    record = reader.next_sequence()
    assert record.values.dtype == np.float64
    assert record.values.tolist() == [[1.0, 2.5, -3.0], [4.0, 0.5, 6.0]]
    assert record.source == path and record.first_line == 1


def test_skip_lines_and_first_line(tmp_path):
    record = read_one(tmp_path, "time,x\nunits,m\n0,1\n1,2\n", skip_num_lines=2)
    assert record.values.tolist() == [[0.0, 1.0], [1.0, 2.0]]
    assert record.first_line == 3


@pytest.mark.parametrize("content", [
    "1,2\r\n3,4\r\n",
    "\ufeff1,2\n3,4\n",
    b"\xef\xbb\xbf1,2\r\n3,4",
    "1,2\n3,4",
    "1,2\n3,4\n\n\n",
    "1,2\r\n3,4\r\n\r\n  \r\n\t\n",
    " 1 , 2\n\t3,\t4 \n",
])
def test_line_ends_bom_whitespace_trailing_blank_lines(tmp_path, content):
    assert read_one(tmp_path, content).values.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_bom_then_header(tmp_path):
    record = read_one(tmp_path, "\ufeffa,b\r\n1,2\r\n", skip_num_lines=1)
    assert record.values.tolist() == [[1.0, 2.0]]


@pytest.mark.parametrize("delimiter,content", [
    ("\t", "1\t2\n3\t4\n"),
    (";", "1;2\n3;4\n"),
    (" ", "1 2\n3 4\n"),
    (r"\s+", "  1   2\n\t3 \t 4  \n"),
    ("::", "1::2\n3::4\n"),
    ("[;|]", "1;2\n3|4\n"),
    ("§", "1§2\n3§4\n"),
])
def test_delimiters(tmp_path, delimiter, content):
    assert read_one(tmp_path, content, delimiter=delimiter).values.tolist() == \
        [[1.0, 2.0], [3.0, 4.0]]


def test_nan_and_inf_parse(tmp_path):
    values = read_one(tmp_path, "nan,inf,-inf\nNaN,Infinity,+1e400\n").values
    assert np.isnan(values[:, 0]).all()
    assert values[0, 1] == math.inf and values[0, 2] == -math.inf
    assert values[1, 1] == math.inf and values[1, 2] == math.inf


def test_number_spellings(tmp_path):
    values = read_one(tmp_path, ".5,5.,+2,-0.25e1,1E+2,007\n").values
    assert values.tolist() == [[0.5, 5.0, 2.0, -2.5, 100.0, 7.0]]


def test_single_column(tmp_path):
    assert read_one(tmp_path, "1\n2\n3\n").values.tolist() == [[1.0], [2.0], [3.0]]


def test_agrees_with_pandas(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(20):
        frame = pd.DataFrame(rng.standard_normal((int(rng.integers(1, 30)), 4)))
        frame.columns = ["a", "b", "c", "d"]
        paths.append(str(tmp_path / f"{i}.csv"))
        frame.to_csv(paths[-1], index=False)
    batch = reader_for(paths, skip_num_lines=1).load_ragged(range(20))
    expected = [pd.read_csv(p).to_numpy() for p in paths]
    np.testing.assert_array_equal(batch.values, np.concatenate(expected))
    assert batch.lengths.tolist() == [len(e) for e in expected]


# (content, reader options, line, column, message fragment)
ERRORS = [
    ("1,2\n3\n", {}, 2, 2, "ragged row: expected 2 fields (as on line 1), found 1"),
    ("1,2\n3,4,5\n", {}, 2, 3, "ragged row: expected 2 fields"),
    ("1,2\n3,abc\n", {}, 2, 2, "expected a number, found 'abc'"),
    ("1,,3\n", {}, 1, 2, "empty field"),
    ("1,2,\n3,4,\n", {}, 1, 3, "empty field"),
    ("1,2\n3,4,\n", {}, 2, 3, "trailing delimiter"),
    ("1,2\n\n3,4\n", {}, 2, 1, "blank line inside the data (more data follows on line 3)"),
    ("1,2\n  \n\n3,4\n", {}, 2, 1, "blank line inside the data"),
    ("1,2\r\n\r\n3,4\r\n", {}, 2, 1, "blank line"),
    ("", {}, 1, None, "empty sequence"),
    ("\n\n \n", {}, 1, None, "empty sequence"),
    ("a,b\n", {"skip_num_lines": 1}, 2, None, "after skipping 1 lines"),
    ("a,b\n", {"skip_num_lines": 3}, 4, None, "empty sequence"),
    ("h\nh\n1,2\n3,x\n", {"skip_num_lines": 2}, 4, 2, "found 'x'"),
    ("1,2\r\n3,x\r\n", {}, 2, 2, "found 'x'"),
    (b"1,2\n3,\xff\xfe\n", {}, 2, 2, "invalid UTF-8"),
    (b"1,2\n\x00,4\n", {}, 2, 1, "expected a number"),
    (b"1,2\n3,4\x00\n", {}, 2, 2, "expected a number"),
    ("1\t2\t\n", {"delimiter": "\t"}, 1, 3, "empty field"),
    ("\t1\t2\n", {"delimiter": "\t"}, 1, 1, "empty field"),
    ('"1",2\n', {}, 1, 1, "expected a number, found '\"1\"'"),
    ("1 2\n3\n", {"delimiter": r"\s+"}, 2, 2, "ragged row"),
    ("1;;2\n", {"delimiter": ";+|,"}, None, None, None),  # valid: ";;" is one delimiter
    ("1,,2\n", {"delimiter": ";|,"}, 1, 2, "empty field"),
    ("1,5 2\n3,5 4\n", {"delimiter": r"\s+"}, 1, 1, "found '1,5'"),
    ("1,2\r3,4\n", {}, 1, 2, "found '2\\r3'"),
    ("1_000,2\n", {}, 1, 1, "found '1_000'"),
    ("0x10,2\n", {}, 1, 1, "found '0x10'"),
    ("\u0663,2\n", {}, 1, 1, "expected a number"),
    ("1,2\n3,4\n5;6\n", {}, 3, 1, "found '5;6'"),
]


@pytest.mark.parametrize("content,options,line,column,fragment", ERRORS)
def test_errors_name_file_line_column(tmp_path, content, options, line, column, fragment):
    path = write(tmp_path, "bad.csv", content)
    reader = reader_for([path], **options)
    if fragment is None:
        assert reader.load_sequence(0).values.tolist() == [[1.0, 2.0]]
        return
    for load in (reader.load_sequences, reader.load_ragged):
        with pytest.raises(ParseError) as info:
            load([0])
        error = info.value
        assert (error.path, error.line, error.column) == (path, line, column)
        where = ":".join(str(p) for p in (path, line, column) if p is not None)
        assert str(error).startswith(where + ": ")
        assert fragment in str(error)


def test_bad_file_among_many_is_named(tmp_path):
    paths = [write(tmp_path, f"{i}.csv", "1,2\n3,4\n") for i in range(40)]
    bad = write(tmp_path, "25.csv", "1,2\n3,4\n5\n")
    reader = reader_for(paths)
    with pytest.raises(ParseError) as info:
        reader.load_ragged(range(40))
    assert (info.value.path, info.value.line, info.value.column) == (bad, 3, 2)
    assert reader.load_ragged(range(25)).lengths.tolist() == [2] * 25


def test_different_widths_across_files(tmp_path):
    a = write(tmp_path, "a.csv", "1,2\n")
    b = write(tmp_path, "b.csv", "1,2,3\n4,5,6\n")
    reader = reader_for([a, b])
    records = reader.load_sequences([0, 1])
    assert [r.values.shape for r in records] == [(1, 2), (2, 3)]
    with pytest.raises(ParseError, match=r"expected 2 columns .* found 3") as info:
        reader.load_ragged([0, 1])
    assert info.value.path == b


def test_load_ragged_matches_load_sequences(tmp_path):
    rng = np.random.default_rng(1)
    paths = []
    for i in range(30):
        rows = rng.integers(1, 6)
        text = "\n".join(",".join(repr(float(v)) for v in rng.standard_normal(3))
                         for _ in range(rows))
        paths.append(write(tmp_path, f"{i}.csv", "x,y,z\n" + text + "\n"))
    reader = reader_for(paths, skip_num_lines=1)
    order = [29, 3, 3, 0, 17, 8, 21, 5, 6, 7, 11, 12, 13, 14, 15, 16, 1, 2]
    batch = reader.load_ragged(order)
    records = reader.load_sequences(order)
    np.testing.assert_array_equal(batch.values, np.concatenate([r.values for r in records]))
    assert batch.lengths.tolist() == [len(r.values) for r in records]
    assert batch.sources == [paths[i] for i in order] == [r.source for r in records]
    assert batch.first_lines.tolist() == [2] * len(order)
    assert batch.values.flags.c_contiguous and batch.values.flags.writeable


def test_cursor_api(tmp_path):
    paths = [write(tmp_path, f"{i}.csv", f"{i}\n") for i in range(3)]
    reader = CSVSequenceRecordReader()
    reader.initialize(NumberedFileInputSplit(str(tmp_path / "%d.csv"), 0, 2))
    seen = []
    while reader.has_next():
        seen.append(reader.next_sequence().values.item())
    assert seen == [0.0, 1.0, 2.0]
    with pytest.raises(SeqDataError, match="reset"):
        reader.next_sequence()
    reader.reset()
    assert reader.next_sequence().source == paths[0]
    assert [r.values.item() for r in reader] == [0.0, 1.0, 2.0]


def test_missing_files_listed_at_initialize(tmp_path):
    write(tmp_path, "0.csv", "1\n")
    (tmp_path / "3.csv").mkdir()
    reader = CSVSequenceRecordReader()
    with pytest.raises(MissingFilesError) as info:
        reader.initialize(NumberedFileInputSplit(str(tmp_path / "%d.csv"), 0, 9))
    message = str(info.value)
    assert "9 of 10 files" in message
    assert str(tmp_path / "1.csv") in message and str(tmp_path / "3.csv") + " (a directory)" \
        in message
    assert "and 4 more" in message and str(tmp_path / "9.csv") not in message
    assert isinstance(info.value, FileNotFoundError)


def test_file_url_is_local(tmp_path):
    path = write(tmp_path, "a b.csv", "1,2\n")
    url = "file://" + path.replace(" ", "%20")
    record = reader_for([url]).load_sequence(0)
    assert record.values.tolist() == [[1.0, 2.0]] and record.source == url
    with pytest.raises(MissingFilesError):
        reader_for(["file://" + str(tmp_path / "nope.csv")])


def test_remote_checked_at_first_read(tmp_path):
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    fs.pipe("/seqdl-test/0.csv", b"1,2\n3,4\n")
    reader = reader_for(["memory://seqdl-test/0.csv", "memory://seqdl-test/1.csv"])
    assert len(reader) == 2
    assert reader.load_sequence(0).values.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    with pytest.raises(MissingFilesError, match="memory://seqdl-test/1.csv"):
        reader.load_sequence(1)


def test_usage_errors(tmp_path):
    with pytest.raises(SeqDataError, match="initialize"):
        len(CSVSequenceRecordReader())
    with pytest.raises(SplitError, match="InputSplit"):
        CSVSequenceRecordReader().initialize(str(tmp_path))
    with pytest.raises(SplitError, match="at least one"):
        CSVSequenceRecordReader().initialize(ListSplit([]))
    reader = reader_for([write(tmp_path, "a.csv", "1\n")])
    with pytest.raises(SeqDataError, match="out of range"):
        reader.load_sequences([1])
    with pytest.raises(SeqDataError, match="zero sequences"):
        reader.load_ragged([])
    for bad in (-1, 1.5, True):
        with pytest.raises(SeqDataError, match="skip_num_lines"):
            CSVSequenceRecordReader(skip_num_lines=bad)
    for bad in ("", "\n", "((", "x*"):
        with pytest.raises(SeqDataError, match="delimiter"):
            CSVSequenceRecordReader(delimiter=bad)


# --- property tests -----------------------------------------------------------------------

finite_or_special = st.one_of(
    st.floats(allow_nan=False, width=64),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1e-310]))


def formatted(value, style):
    if math.isnan(value):
        return ["nan", "NaN", "-nan"][style % 3]
    if math.isinf(value):
        return ("inf" if value > 0 else "-inf") if style % 2 else ("Infinity" if value > 0
                                                                   else "-Infinity")
    return [repr(value), f"{value:.17g}", f"{value:.17e}", f" {value!r} "][style % 4]


@st.composite
def corpora(draw):
    delimiter = draw(st.sampled_from([",", "\t", ";", r"\s+", "|"]))
    skip = draw(st.integers(0, 2))
    n_cols = draw(st.integers(1, 5))
    n_files = draw(st.integers(1, 20))
    files = []
    for _ in range(n_files):
        rows = draw(st.integers(1, 8))
        values = np.array(draw(st.lists(finite_or_special, min_size=rows * n_cols,
                                        max_size=rows * n_cols)), dtype=np.float64)
        files.append(values.reshape(rows, n_cols))
    return delimiter, skip, files, draw(st.data())


def render(values, delimiter, skip, data):
    sep = " " if delimiter == r"\s+" else delimiter
    newline = data.draw(st.sampled_from(["\n", "\r\n"]))
    lines = [f"header {i}" for i in range(skip)]
    for row in values.tolist():
        lines.append(sep.join(formatted(v, data.draw(st.integers(0, 11))) for v in row))
    text = newline.join(lines) + newline * data.draw(st.integers(0, 3))
    prefix = "\ufeff" if data.draw(st.booleans()) else ""
    return (prefix + text).encode("utf-8")


@settings(max_examples=60, deadline=None)
@given(corpora())
def test_valid_corpora_read_back_exactly(tmp_path_factory, corpus):
    delimiter, skip, files, data = corpus
    directory = tmp_path_factory.mktemp("corpus")
    paths = []
    for i, values in enumerate(files):
        paths.append(str(directory / f"{i}.csv"))
        with open(paths[-1], "wb") as f:
            f.write(render(values, delimiter, skip, data))
    reader = reader_for(paths, skip_num_lines=skip, delimiter=delimiter)
    order = data.draw(st.lists(st.integers(0, len(files) - 1), min_size=1, max_size=24))
    batch = reader.load_ragged(order)
    expected = np.concatenate([files[i] for i in order])
    np.testing.assert_array_equal(batch.values, expected)
    assert batch.lengths.tolist() == [len(files[i]) for i in order]
    for i, record in zip(order, reader.load_sequences(order)):
        np.testing.assert_array_equal(record.values, files[i])
        assert record.first_line == skip + 1


NASTY = [b",", b"\n", b"\r", b"\r\n", b" ", b"\t", b"\x00", b"\xff", b"\xef\xbb\xbf", b".", b"e",
         b"-", b"+", b"n", b"a", b"i", b"f", b"\"", b"1", b"0", b";", b"\xc3", b"nan", b"inf",
         b"_", b"\x0b", b"\x0c", b"\x1c", b"\xa0", b"\xc2\xa0", "\u0663".encode("utf-8")]


@st.composite
def mutated(draw):
    rows = draw(st.integers(1, 4))
    cols = draw(st.integers(1, 3))
    values = draw(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=rows * cols,
                           max_size=rows * cols))
    text = bytearray("\n".join(",".join(repr(v) for v in values[r * cols:(r + 1) * cols])
                               for r in range(rows)).encode() + b"\n")
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "replace", "delete"]))
        piece = draw(st.one_of(st.sampled_from(NASTY), st.binary(min_size=1, max_size=3)))
        if action == "insert":
            text[position:position] = piece
        elif action == "replace":
            text[position:position + len(piece)] = piece
        else:
            del text[position:position + draw(st.integers(1, 3))]
    return bytes(text), draw(st.integers(0, 1)), draw(st.sampled_from([",", "\t", r"\s+"]))


@contextlib.contextmanager
def smallest_blocks(small=True):
    """Make the bulk parse use the smallest blocks it ever may: one line of the longest file
    fits, so many rows straddle a block boundary and pyarrow must cut the buffer between them."""
    with pytest.MonkeyPatch.context() as patch:
        if small:
            patch.setattr(csv_module, "_block_size", lambda n_bytes, longest_line: longest_line + 1)
        yield


@settings(max_examples=60, deadline=None)
@given(corpora())
def test_bulk_parse_in_small_blocks_equals_reference(corpus):
    delimiter, skip, files, data = corpus
    dialect = _make_dialect(delimiter)
    contents = [render(values, delimiter, skip, data) for values in files]
    bodies = [_data_body(content, skip, dialect) for content in contents]
    with smallest_blocks():
        parsed = _parse_bulk(bodies, dialect)
    assert parsed is not None, "the bulk parse rejected a valid corpus"
    values, counts = parsed
    reference = [_parse_precise(content, "f.csv", skip, dialect) for content in contents]
    np.testing.assert_array_equal(values, np.concatenate(reference))
    assert counts == [len(r) for r in reference]


@settings(max_examples=300, deadline=None)
@given(mutated(), st.booleans())
def test_mutated_files_fail_cleanly_and_bulk_equals_reference(tmp_path_factory, case, small):
    """Two copies of a mutated file in one batch: the bulk parse, in blocks of any size, reads
    what the reference reads, and the error is the reference's, naming the first copy."""
    content, skip, delimiter = case
    directory = tmp_path_factory.mktemp("mutated")
    paths = [str(directory / "m.csv"), str(directory / "copy.csv")]
    for path in paths:
        with open(path, "wb") as f:
            f.write(content)
    reader = reader_for(paths, skip_num_lines=skip, delimiter=delimiter)
    try:
        reference = _parse_precise(content, paths[0], skip, _make_dialect(delimiter))
    except ParseError as e:
        reference = e
    try:
        with smallest_blocks(small):
            values = reader.load_ragged([0, 1]).values
    except SeqDataError as e:
        assert isinstance(e, ParseError) and isinstance(reference, ParseError)
        assert (e.path, e.line, e.column, str(e)) == \
            (reference.path, reference.line, reference.column, str(reference))
        return
    assert not isinstance(reference, ParseError), f"bulk accepted what the reference rejects: " \
                                                  f"{reference}"
    assert values.dtype == np.float64 and values.ndim == 2
    np.testing.assert_array_equal(values, np.concatenate([reference, reference]))


def test_regex_whitespace_matches_pandas(tmp_path):
    text = "  1.5   2\n3\t\t4.25 \n"
    expected = pd.read_csv(io.StringIO(text), sep=r"\s+", header=None).to_numpy()
    np.testing.assert_array_equal(read_one(tmp_path, text, delimiter=r"\s+").values, expected)
