"""The catalogue of hostile inputs: every fault raises its own error class, naming where.

Each case states the exact exception class and the file, 1-based line and 1-based column the
error must carry (``ParseError.path/line/column``) and put at the start of its message as
``path:line:column: ...`` (SPEC section 1 and 3). A few inputs that look hostile but are valid
(a UTF-8 byte-order mark, CRLF line ends, very long lines, ``nan``/``inf``) must be accepted
with the right values. The same faults are then pushed through ``seqdata convert``, which must
exit with code 1, name file, line and column, and leave no output.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from seqdata.cli import main as seqdata_main
from seqdata.errors import (
    AlignmentError,
    LabelError,
    MissingFilesError,
    ParseError,
    SeqDataError,
)
from seqdata.iterator import AlignmentMode, SequenceRecordReaderDataSetIterator
from seqdata.readers.csv import CSVSequenceRecordReader
from seqdata.splits import ListSplit, NumberedFileInputSplit

WIDE = 100_000  # fields on a "very long line" (about 400 KB of text)


# --------------------------------------------------------------------------- helpers

def reader_of(path: Path, skip: int = 0, delimiter: str = ",") -> CSVSequenceRecordReader:
    """A CSV reader initialised on the one file ``path``."""
    reader = CSVSequenceRecordReader(skip_num_lines=skip, delimiter=delimiter)
    reader.initialize(ListSplit([str(path)]))
    return reader


def read_file(tmp_path: Path, data: bytes, skip: int = 0, delimiter: str = ",",
              name: str = "seq.csv") -> tuple[np.ndarray, str]:
    """Write ``data`` to one file and read it as one sequence; returns (values, path)."""
    path = tmp_path / name
    path.write_bytes(data)
    return reader_of(path, skip, delimiter).next_sequence().values, str(path)


def assert_where(error: BaseException, cls: type, path: str, line: int | None,
                 column: int | None, fragment: str) -> None:
    """``error`` is exactly ``cls``, carries path/line/column and starts its message with them."""
    assert type(error) is cls, f"expected {cls.__name__}, found {type(error).__name__}: {error}"
    assert (error.path, error.line, error.column) == (path, line, column), str(error)
    where = ":".join(str(p) for p in (path, line, column) if p is not None)
    message = str(error)
    assert message.startswith(where + ": "), message
    assert fragment in message, message


# --------------------------------------------------------------------------- file content

# (id, content, skip_num_lines, exception class, line, column, message fragment)
CONTENT_FAULTS = [
    ("ragged-more-columns", b"1,2\n3,4\n5,6,7\n", 0, ParseError, 3, 3,
     "ragged row: expected 2 fields (as on line 1), found 3"),
    ("ragged-fewer-columns", b"1,2,3\n4,5\n", 0, ParseError, 2, 3,
     "ragged row: expected 3 fields (as on line 1), found 2"),
    ("non-numeric-field", b"1,2\n3,abc\n", 0, ParseError, 2, 2, "expected a number, found 'abc'"),
    ("hex-is-not-a-number", b"1,2\n0x10,3\n", 0, ParseError, 2, 1,
     "expected a number, found '0x10'"),
    ("underscore-digits-are-not-a-number", b"1_000,2\n", 0, ParseError, 1, 1,
     "expected a number, found '1_000'"),
    ("quoted-number-is-not-a-number", b'1,"2"\n', 0, ParseError, 1, 2,
     "expected a number, found '\"2\"'"),
    ("empty-field-between-delimiters", b"1,,3\n", 0, ParseError, 1, 2, "empty field"),
    ("empty-first-field", b"1,2\n,2\n", 0, ParseError, 2, 1, "empty field"),
    ("trailing-delimiter-one-line", b"1,2\n3,4,\n", 0, ParseError, 2, 3,
     "(the last one empty: a trailing delimiter?)"),
    ("trailing-delimiter-every-line", b"1,2,\n3,4,\n", 0, ParseError, 1, 3, "empty field"),
    ("blank-line-inside-data", b"1,2\n\n3,4\n", 0, ParseError, 2, 1,
     "blank line inside the data (more data follows on line 3)"),
    ("whitespace-line-inside-data", b"1,2\n3,4\n \t \n5,6\n", 0, ParseError, 3, 1,
     "blank line inside the data (more data follows on line 4)"),
    ("blank-crlf-line-inside-data", b"1,2\r\n\r\n3,4\r\n", 0, ParseError, 2, 1,
     "blank line inside the data"),
    ("empty-file", b"", 0, ParseError, 1, None, "empty sequence"),
    ("only-blank-lines", b"\n \n\n", 0, ParseError, 1, None, "empty sequence"),
    ("header-only", b"time,value\n", 1, ParseError, 2, None,
     "expected at least one data line after skipping 1 lines, found none"),
    ("header-only-crlf-bom", b"\xef\xbb\xbftime,value\r\n", 1, ParseError, 2, None,
     "empty sequence"),
    ("lines-count-skipped-header", b"h1\nh2\n1,2\n3,x\n", 2, ParseError, 4, 2,
     "expected a number, found 'x'"),
    ("nul-byte-in-field", b"1,2\n3,\x004\n", 0, ParseError, 2, 2, "expected a number"),
    ("nul-bytes-only", b"\x00\x00\x00\x00", 0, ParseError, 1, 1, "expected a number"),
    ("binary-garbage-png-header", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 0, ParseError, 1, 1,
     "invalid UTF-8"),
    ("invalid-utf8-field", b"1,2\n3,\xff\xfe\n", 0, ParseError, 2, 2,
     "invalid UTF-8: expected text, found the bytes b'\\xff\\xfe'"),
    ("truncated-utf8-sequence", b"1,2\xc3\n", 0, ParseError, 1, 2, "invalid UTF-8"),
    ("valid-utf8-non-ascii", "1,2\n3,4\u00b0\n".encode(), 0, ParseError, 2, 2,
     "expected a number, found '4\u00b0'"),
]


@pytest.mark.parametrize("data, skip, cls, line, column, fragment",
                         [c[1:] for c in CONTENT_FAULTS], ids=[c[0] for c in CONTENT_FAULTS])
def test_malformed_content_names_file_line_and_column(tmp_path, data, skip, cls, line, column,
                                                      fragment):
    with pytest.raises(SeqDataError) as info:
        read_file(tmp_path, data, skip=skip)
    assert_where(info.value, cls, str(tmp_path / "seq.csv"), line, column, fragment)


def test_very_long_line_with_a_bad_field_names_its_column(tmp_path):
    fields = ["1.5"] * WIDE
    fields[70_000] = "1.5.5"
    data = (",".join(["0"] * WIDE) + "\n" + ",".join(fields) + "\n").encode()
    with pytest.raises(ParseError) as info:
        read_file(tmp_path, data)
    assert_where(info.value, ParseError, str(tmp_path / "seq.csv"), 2, 70_001,
                 "expected a number, found '1.5.5'")


def test_very_long_ragged_line_names_the_first_extra_column(tmp_path):
    data = (",".join(["0"] * WIDE) + "\n" + ",".join(["1"] * (WIDE + 1)) + "\n").encode()
    with pytest.raises(ParseError) as info:
        read_file(tmp_path, data)
    assert_where(info.value, ParseError, str(tmp_path / "seq.csv"), 2, WIDE + 1,
                 f"expected {WIDE} fields (as on line 1), found {WIDE + 1}")


def test_a_bad_file_deep_in_a_batch_is_named_not_its_neighbours(tmp_path):
    # 24 files are parsed in bulk (several parts, several threads); the fault in file 17 must
    # still be reported with its own path and line, not the batch's first file.
    paths = []
    for i in range(24):
        text = "".join(f"{i}.{t},{t}\n" for t in range(5 + i % 3))
        if i == 17:
            text = text.replace(".3,3\n", ".3,3;\n")           # line 4, column 2
        (tmp_path / f"{i}.csv").write_text(text)
        paths.append(str(tmp_path / f"{i}.csv"))
    reader = CSVSequenceRecordReader()
    reader.initialize(ListSplit(paths))
    with pytest.raises(ParseError) as info:
        reader.load_ragged(list(range(24)))
    assert_where(info.value, ParseError, paths[17], 4, 2, "expected a number, found '3;'")


# --------------------------------------------------------------------------- accepted input

def test_bom_and_crlf_are_accepted(tmp_path):
    values, _ = read_file(tmp_path, b"\xef\xbb\xbft,x\r\n0,1.5\r\n1,-2.5\r\n\r\n", skip=1)
    np.testing.assert_array_equal(values, [[0.0, 1.5], [1.0, -2.5]])
    assert values.dtype == np.float64


def test_bom_crlf_file_reads_like_its_plain_twin_in_one_batch(tmp_path):
    # Bulk and line-by-line parsing must agree: the BOM/CRLF file batched with plain ones.
    (tmp_path / "0.csv").write_bytes(b"1,2\n3,4\n")
    (tmp_path / "1.csv").write_bytes(b"\xef\xbb\xbf1,2\r\n3,4\r\n")
    reader = CSVSequenceRecordReader()
    reader.initialize(NumberedFileInputSplit(str(tmp_path / "%d.csv"), 0, 1))
    batch = reader.load_ragged([0, 1])
    np.testing.assert_array_equal(batch.values, [[1, 2], [3, 4], [1, 2], [3, 4]])
    assert batch.lengths.tolist() == [2, 2]


def test_a_very_long_line_is_accepted(tmp_path):
    row = np.arange(WIDE) / 8.0
    text = "\n".join(",".join(map(repr, (row + k).tolist())) for k in range(2)) + "\n"
    values, _ = read_file(tmp_path, text.encode())
    assert values.shape == (2, WIDE) and values.dtype == np.float64
    np.testing.assert_array_equal(values, np.stack([row, row + 1]))


def test_nan_and_infinity_are_numbers_for_the_reader(tmp_path):
    values, _ = read_file(tmp_path, b"nan,inf\n-inf,NaN\n1e308,-Infinity\n")
    assert np.isnan(values[0, 0]) and np.isnan(values[1, 1])
    assert values[0, 1] == np.inf and values[1, 0] == -np.inf and values[2, 1] == -np.inf
    assert values[2, 0] == 1e308


# --------------------------------------------------------------------------- missing, unreadable

def test_missing_files_are_listed_at_initialize(tmp_path):
    (tmp_path / "0.csv").write_text("1\n")
    reader = CSVSequenceRecordReader()
    with pytest.raises(MissingFilesError) as info:
        reader.initialize(NumberedFileInputSplit(str(tmp_path / "%d.csv"), 0, 2))
    message = str(info.value)
    assert type(info.value) is MissingFilesError
    assert "2 of 3 files" in message
    assert f"{tmp_path / '1.csv'} (missing)" in message and f"{tmp_path / '2.csv'}" in message


def test_a_directory_where_a_file_is_expected(tmp_path):
    (tmp_path / "0.csv").mkdir()
    with pytest.raises(MissingFilesError) as info:
        CSVSequenceRecordReader().initialize(ListSplit([str(tmp_path / "0.csv")]))
    assert type(info.value) is MissingFilesError
    assert f"{tmp_path / '0.csv'} (a directory)" in str(info.value)


def test_a_path_below_a_regular_file(tmp_path):
    (tmp_path / "data").write_text("1\n")
    path = str(tmp_path / "data" / "0.csv")       # open() would fail with ENOTDIR
    with pytest.raises(MissingFilesError) as info:
        CSVSequenceRecordReader().initialize(ListSplit([path]))
    assert type(info.value) is MissingFilesError and path in str(info.value)


def test_a_fifo_is_refused_at_initialize_instead_of_blocking(tmp_path):
    fifo = tmp_path / "0.csv"
    os.mkfifo(fifo)
    with pytest.raises(MissingFilesError) as info:
        CSVSequenceRecordReader().initialize(ListSplit([str(fifo)]))
    assert type(info.value) is MissingFilesError
    # Named for what it is, not called missing.
    assert f"{fifo} (not a regular file)" in str(info.value)
    assert "not regular files" in str(info.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="runs as root, where chmod 000 does not stop "
                    "reads; test_a_file_that_cannot_be_read_any_more covers the same path")
def test_a_file_without_read_permission(tmp_path):
    path = tmp_path / "0.csv"
    path.write_text("1,2\n")
    path.chmod(0)
    reader = reader_of(path)
    try:
        with pytest.raises(SeqDataError) as info:
            reader.next_sequence()
    finally:
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert type(info.value) is SeqDataError
    assert str(info.value).startswith(f"{path}: cannot read the file")


def test_a_file_that_cannot_be_read_any_more(tmp_path):
    # A file that turns into a directory after initialize cannot be opened for reading (as
    # root too): the read error is mapped, naming the file.
    path = tmp_path / "0.csv"
    path.write_text("1,2\n")
    reader = reader_of(path)
    path.unlink()
    path.mkdir()
    with pytest.raises(SeqDataError) as info:
        reader.next_sequence()
    assert type(info.value) is SeqDataError
    assert str(info.value).startswith(f"{path}: cannot read the file")


def test_a_file_deleted_after_initialize(tmp_path):
    path = tmp_path / "0.csv"
    path.write_text("1,2\n")
    reader = reader_of(path)
    path.unlink()
    with pytest.raises(MissingFilesError) as info:
        reader.next_sequence()
    assert type(info.value) is MissingFilesError and str(path) in str(info.value)


# --------------------------------------------------------------------------- labels

def two_reader_iterator(tmp_path: Path, features: list[str], labels: list[str],
                        num_classes: int = 3, label_skip: int = 0,
                        mode: AlignmentMode = AlignmentMode.ALIGN_END
                        ) -> SequenceRecordReaderDataSetIterator:
    for role, texts in (("f", features), ("l", labels)):
        (tmp_path / role).mkdir(exist_ok=True)
        for i, text in enumerate(texts):
            (tmp_path / role / f"{i}.csv").write_text(text)
    f = CSVSequenceRecordReader()
    f.initialize(NumberedFileInputSplit(str(tmp_path / "f" / "%d.csv"), 0, len(features) - 1))
    lab = CSVSequenceRecordReader(skip_num_lines=label_skip)
    lab.initialize(NumberedFileInputSplit(str(tmp_path / "l" / "%d.csv"), 0, len(labels) - 1))
    return SequenceRecordReaderDataSetIterator(f, lab, 2, num_classes, alignment_mode=mode)


FEATURES = ["1,2\n3,4\n", "5,6\n", "7,8\n9,0\n"]

# (id, label file texts, label skip, exception class, bad file, line, column, fragment); SPEC
# section 4: one-hot errors name file, line and value and contain the words "to one-hot".
LABEL_FAULTS = [
    ("out-of-range", ["0\n", "3\n", "1\n"], 0, LabelError, 1, 1, 1,
     "cannot convert label 3 to one-hot: expected an integer in [0, 3)"),
    ("negative", ["0\n", "1\n", "-1\n"], 0, LabelError, 2, 1, 1,
     "cannot convert label -1 to one-hot"),
    ("non-integral", ["0.5\n", "1\n", "2\n"], 0, LabelError, 0, 1, 1,
     "cannot convert label 0.5 to one-hot"),
    ("nan-label", ["0\n", "nan\n", "2\n"], 0, LabelError, 1, 1, 1,
     "cannot convert label nan to one-hot"),
    ("infinite-label", ["0\n", "1\n", "inf\n"], 0, LabelError, 2, 1, 1,
     "cannot convert label inf to one-hot"),
    ("second-step-of-a-label-sequence", ["class\n0\n", "class\n1\n", "class\n1\n7\n"], 1,
     LabelError, 2, 3, 1, "cannot convert label 7 to one-hot"),
    ("non-numeric-label", ["0\n", "cat\n", "2\n"], 0, LabelError, 1, 1, 1,
     "cannot convert the class label to one-hot: expected a number, found 'cat'"),
    ("two-columns-in-classification", ["0,1\n", "1,1\n", "2,0\n"], 0, LabelError, 0, 1, 2,
     "expected one label column"),
]


@pytest.mark.parametrize("labels, skip, cls, bad, line, column, fragment",
                         [c[1:] for c in LABEL_FAULTS], ids=[c[0] for c in LABEL_FAULTS])
def test_bad_class_labels_name_file_line_and_value(tmp_path, labels, skip, cls, bad, line,
                                                   column, fragment):
    it = two_reader_iterator(tmp_path, FEATURES, labels, label_skip=skip)
    with pytest.raises(SeqDataError) as info:
        list(it)
    assert_where(info.value, cls, str(tmp_path / "l" / f"{bad}.csv"), line, column, fragment)


def test_integral_float_labels_are_classes(tmp_path):
    it = two_reader_iterator(tmp_path, FEATURES, ["2.0\n", "0\n", "1.\n"])
    per_example = np.concatenate([ds.labels.sum(axis=2) for ds in it])   # [N, classes]
    assert per_example.tolist() == [[0, 0, 1], [1, 0, 0], [0, 1, 0]]


def test_one_reader_label_column_out_of_range_names_its_column(tmp_path):
    (tmp_path / "0.csv").write_text("0.1,0\n0.2,1\n")
    (tmp_path / "1.csv").write_text("0.3,2\n0.4,5\n")
    reader = CSVSequenceRecordReader()
    reader.initialize(NumberedFileInputSplit(str(tmp_path / "%d.csv"), 0, 1))
    it = SequenceRecordReaderDataSetIterator(reader, 2, 3, 1)
    with pytest.raises(LabelError) as info:
        it.next()
    assert_where(info.value, LabelError, str(tmp_path / "1.csv"), 2, 2,
                 "cannot convert label 5 to one-hot")


def test_equal_length_mismatch_names_the_file_and_the_remedy(tmp_path):
    it = two_reader_iterator(tmp_path, ["1,2\n3,4\n", "5,6\n7,8\n"], ["0\n1\n", "1\n"],
                             mode=AlignmentMode.EQUAL_LENGTH)
    with pytest.raises(AlignmentError) as info:
        it.next()
    message = str(info.value)
    assert type(info.value) is AlignmentError
    assert f"found 1 steps in {tmp_path / 'l' / '1.csv'} (sequence index 1)" in message
    assert "ALIGN_START or AlignmentMode.ALIGN_END" in message


def test_more_feature_files_than_label_files(tmp_path):
    with pytest.raises(AlignmentError) as info:
        two_reader_iterator(tmp_path, FEATURES, ["0\n", "1\n"])
    assert type(info.value) is AlignmentError
    assert "found 3 feature and 2 label sequences" in str(info.value)


# --------------------------------------------------------------------------- seqdata convert

def convert(tmp_path: Path, features: list[bytes], labels: list[bytes] | None = None,
            *options: str):
    for role, texts in (("features", features), ("labels", labels)):
        if texts is None:
            continue
        (tmp_path / role).mkdir()
        for i, data in enumerate(texts):
            path = tmp_path / role / f"{i}.csv"
            if data is None:
                continue                         # a missing file
            if isinstance(data, str):            # "<dir>": a directory in the file's place
                path.mkdir()
            else:
                path.write_bytes(data)
    args = ["convert", str(tmp_path / "features" / "%d.csv"), "--range", "0",
            str(len(features) - 1), "--out", str(tmp_path / "store"), "--workers", "2",
            *options]
    if labels is not None:
        args += ["--labels", str(tmp_path / "labels" / "%d.csv")]
    return CliRunner().invoke(seqdata_main, args)


GOOD = b"1,2\n3,4\n"

# (id, features, labels, options, named file, line, column, fragment)
CONVERT_FAULTS = [
    ("ragged-more", [GOOD, b"1,2\n3,4,5\n"], None, (), "features/1.csv", 2, 3, "ragged row"),
    ("ragged-fewer", [GOOD, GOOD, b"1,2\n3\n"], None, (), "features/2.csv", 2, 2, "ragged row"),
    ("non-numeric", [GOOD, b"1,2\nx,4\n"], None, (), "features/1.csv", 2, 1,
     "expected a number, found 'x'"),
    ("trailing-delimiter", [GOOD, b"1,2\n3,4,\n"], None, (), "features/1.csv", 2, 3,
     "trailing delimiter"),
    ("blank-line-inside", [GOOD, b"1,2\n\n3,4\n"], None, (), "features/1.csv", 2, 1,
     "blank line inside the data"),
    ("empty-file", [GOOD, b""], None, (), "features/1.csv", 1, None, "empty sequence"),
    ("header-only", [b"a,b\n1,2\n", b"a,b\n"], None, ("--skip-lines", "1"), "features/1.csv", 2,
     None, "empty sequence"),
    ("nul-byte", [GOOD, b"1,2\n\x00,4\n"], None, (), "features/1.csv", 2, 1,
     "expected a number"),
    ("invalid-utf8", [GOOD, b"1,2\n3,\xff\n"], None, (), "features/1.csv", 2, 2,
     "invalid UTF-8"),
    ("other-column-count", [GOOD, b"1,2,3\n"], None, (), "features/1.csv", 1, None,
     "expected 2 columns"),
    ("bad-label-value", [GOOD, GOOD], [b"0\n", b"one\n"], (), "labels/1.csv", 1, 1,
     "expected a number, found 'one'"),
    ("label-file-with-two-columns", [GOOD, GOOD], [b"0\n", b"0,1\n"], (), "labels/1.csv", 1,
     None, "expected 1 columns"),
]


@pytest.mark.parametrize("features, labels, options, named, line, column, fragment",
                         [c[1:] for c in CONVERT_FAULTS], ids=[c[0] for c in CONVERT_FAULTS])
def test_convert_exits_1_naming_file_and_line_and_writes_nothing(tmp_path, features, labels,
                                                                 options, named, line, column,
                                                                 fragment):
    result = convert(tmp_path, features, labels, *options)
    assert result.exit_code == 1, result.output
    where = ":".join(str(p) for p in (tmp_path / named, line, column) if p is not None)
    error_lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error: ")]
    assert len(error_lines) == 1, result.stderr
    assert error_lines[0].startswith(f"error: {where}: ") and fragment in error_lines[0]
    assert sorted(os.listdir(tmp_path)) == sorted(["features"] + (["labels"] if labels else []))


@pytest.mark.parametrize("hole", [None, "<dir>"], ids=["missing-file", "directory-for-a-file"])
def test_convert_refuses_missing_inputs_naming_them(tmp_path, hole):
    result = convert(tmp_path, [GOOD, hole, GOOD])
    assert result.exit_code == 1, result.output
    assert "error: 1 input file(s) do not exist" in result.stderr
    assert str(tmp_path / "features" / "1.csv") in result.stderr
    assert not (tmp_path / "store").exists()


def test_convert_accepts_bom_crlf_and_nan(tmp_path):
    result = convert(tmp_path, [GOOD, b"\xef\xbb\xbf1,nan\r\n-inf,4\r\n"])
    assert result.exit_code == 0, result.stderr
    from seqdata.store.reader import SequenceStore

    values = SequenceStore(tmp_path / "store").reader("features").load_sequences([1])[0].values
    assert np.isnan(values[0, 1]) and values[1, 0] == -np.inf and values.dtype == np.float32
