"""CSV sequence files: one file per sequence, one line per time step (DataVec's reader).

>>> import os, tempfile
>>> from seqdata.splits import NumberedFileInputSplit
>>> d = tempfile.mkdtemp()
>>> for i, text in enumerate(["t,x\\n0,1.5\\n1,2.5\\n", "t,x\\n0,-1\\n"]):
...     with open(os.path.join(d, f"{i}.csv"), "w") as f:
...         _ = f.write(text)
>>> reader = CSVSequenceRecordReader(skip_num_lines=1)
>>> reader.initialize(NumberedFileInputSplit(os.path.join(d, "%d.csv"), 0, 1))
>>> reader.next_sequence().values.tolist()
[[0.0, 1.5], [1.0, 2.5]]
>>> batch = reader.load_ragged([1, 0])
>>> batch.lengths.tolist(), batch.values.shape, batch.first_lines.tolist()
([1, 2], (3, 2), [2, 2])

How a batch is read (``load_ragged`` / ``load_sequences``): the files are read (local ones one
after another, URLs concurrently), their data lines are joined into one buffer and parsed by one
call of pyarrow's CSV parser on its own threads, then split per file by line counts. Only when
that fast parse fails, or its row count disagrees with the line breaks, does
:func:`_parse_precise` go through the batch's files line by line: it defines the format exactly
and names file, line and column of the first problem.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from seqdata.errors import ParseError, SeqDataError
from seqdata.locations import read_all
from seqdata.readers.base import Indices, RaggedBatch, SequenceRecord
from seqdata.readers.files import FileSequenceRecordReader
from seqdata.splits import ListSplit

__all__ = ["STREAM_BLOCK_BYTES", "CSVSequenceRecordReader", "header_fields", "parse_csv_bytes",
           "read_csv_batch", "read_csv_blocks"]

_BOM = b"\xef\xbb\xbf"
# What a number looks like, exactly: pyarrow's float parser accepts the same spellings (the
# property tests compare the two), and Python's float() converts them identically.
_NUMBER = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
                     r"|nan|inf|infinity)", re.IGNORECASE | re.ASCII)
# Below this, a block's fixed cost in pyarrow outweighs parsing it on one more thread.
_MIN_BLOCK_SIZE = 1 << 16
_MAX_BLOCK_SIZE = 1 << 30
_WHITESPACE_RUNS = r"\s+"
# Text on a file's first line is most often a header read as data.
_HEADER_HINT = ("; a header line? skip it: use --skip-lines 1 (--label-skip-lines 1 for "
                "label files; skip_num_lines=1 in Python, skip_lines = 1 in a run file)")
# Around fields of a regex dialect: what bytes.split() and pandas' whitespace separator skip.
_ASCII_WHITESPACE = " \t\r\x0b\x0c"


@dataclass(frozen=True)
class _Dialect:
    """How lines split into fields: a literal one-byte delimiter (pyarrow parses it directly)
    or a regular expression (fields are re-joined with commas before the bulk parse)."""

    delimiter: str
    regex: re.Pattern[str] | None
    # Stripped from both ends of every line and field: spaces, tabs and stray carriage
    # returns, except the delimiter itself (a trailing tab is an empty field in a TSV file);
    # for a regex also vertical tabs and form feeds.
    whitespace: str

    @property
    def bulk_delimiter(self) -> str:
        return "," if self.regex is not None else self.delimiter

    def split(self, line: str) -> list[str]:
        if self.regex is None:
            return line.split(self.delimiter)
        fields, start = [], 0
        for match in self.regex.finditer(line):
            fields.append(line[start:match.start()])
            start = match.end()
        fields.append(line[start:])
        return fields


def _make_dialect(delimiter: str) -> _Dialect:
    if not isinstance(delimiter, str) or not delimiter:
        raise SeqDataError(f"delimiter: expected a non-empty string, found {delimiter!r}")
    if delimiter in ("\n", "\r", "\r\n"):
        raise SeqDataError(f"delimiter: line breaks separate time steps, found {delimiter!r}")
    # NOTE [ One character is literal, longer is a regex ]: as pandas' ``sep``. A one-character
    # delimiter that is not one ASCII byte (e.g. "§") cannot go to pyarrow's byte-level parser,
    # so it takes the regex route with the character escaped; the result is the same.
    if len(delimiter) == 1 and delimiter.isascii():
        return _Dialect(delimiter, None, " \t\r".replace(delimiter, ""))
    source = re.escape(delimiter) if len(delimiter) == 1 else delimiter
    try:
        pattern = re.compile(source)
    except re.error as e:
        raise SeqDataError(
            f"delimiter {delimiter!r}: a delimiter longer than one character is a regular "
            f"expression, and this one does not compile: {e}") from None
    if pattern.fullmatch(""):
        raise SeqDataError(
            f"delimiter {delimiter!r}: expected a regular expression that matches at least one "
            "character, found one that matches the empty string")
    return _Dialect(delimiter, pattern, _ASCII_WHITESPACE)


class CSVSequenceRecordReader(FileSequenceRecordReader):
    """Reads one sequence per delimited text file: ``values`` is ``[T, C]`` float64.

    Parameters
    ----------
    skip_num_lines:
        Lines skipped at the top of every file (headers). Line numbers in errors count them.
    delimiter:
        One character is literal (``","``, ``"\\t"``, ``";"``); a longer string is a regular
        expression, as pandas' ``sep`` (``r"\\s+"``).

    Format (see SPEC section 3): CRLF line ends and a UTF-8 byte-order mark are accepted;
    spaces and tabs around a field are ignored and never make an empty first field; blank lines
    at the end of a file are ignored. Ragged rows, non-numbers, empty fields (also one made by
    a trailing delimiter), blank lines followed by more data, empty files and bytes that are not
    UTF-8 raise :class:`~seqdata.errors.ParseError` naming file, 1-based line and column.
    ``nan`` and ``inf`` are numbers. Quotes are not special: a quoted number is not a number.
    """

    def __init__(self, skip_num_lines: int = 0, delimiter: str = ",") -> None:
        if isinstance(skip_num_lines, bool) or not isinstance(skip_num_lines, int) \
                or skip_num_lines < 0:
            raise SeqDataError(
                f"skip_num_lines: expected an int >= 0, found {skip_num_lines!r}")
        self.skip_num_lines = skip_num_lines
        self.delimiter = delimiter
        self._dialect = _make_dialect(delimiter)
        super().__init__()

    def load_sequences(self, indices: Indices) -> list[SequenceRecord]:
        sources, blocks, lengths = self._load(indices)
        arrays = _split_rows(blocks[0], lengths) if len(blocks) == 1 else blocks
        first_line = self.skip_num_lines + 1
        return [SequenceRecord(values, source, first_line)
                for values, source in zip(arrays, sources)]

    def load_ragged(self, indices: Indices) -> RaggedBatch:
        sources, blocks, lengths = self._load(indices)
        if len(blocks) == 1:
            values = blocks[0]
        else:
            width = blocks[0].shape[1]
            for block, source in zip(blocks, sources):
                if block.shape[1] != width:
                    raise ParseError(
                        f"expected {width} columns (as in {sources[0]}), found "
                        f"{block.shape[1]}; all files of one reader must have the same number "
                        "of columns", source, self.skip_num_lines + 1, None)
            values = np.concatenate(blocks, axis=0)
        return RaggedBatch(values=values,
                           lengths=np.array(lengths, dtype=np.int64),
                           sources=sources,
                           first_lines=np.full(len(sources), self.skip_num_lines + 1,
                                               dtype=np.int64))

    def _load(self, indices: Indices) -> tuple[list[str], list[np.ndarray], list[int]]:
        """The files' locations, their rows and the sequence lengths: the rows are one block
        for all files (bulk parse) or one block per file (precise parse)."""
        files = self._files(indices)
        if not files:
            raise SeqDataError("cannot load zero sequences: indices is empty")
        sources = [location for location, _ in files]
        blocks, lengths = _parse_files(read_all(files), sources, self.skip_num_lines,
                                       self._dialect)
        return sources, blocks, lengths


def _parse_files(raw: Sequence[bytes], sources: Sequence[str], skip: int, dialect: _Dialect
                 ) -> tuple[list[np.ndarray], list[int]]:
    """Parse files' bytes: one block for all (bulk parse) or one per file (precise parse)."""
    bodies = [_data_body(data, skip, dialect) for data in raw]
    present = [body for body in bodies if body is not None]
    if len(present) == len(bodies):
        parsed = _parse_bulk(present, dialect)
        if parsed is not None:
            values, lengths = parsed
            return [values], lengths
    arrays = [_parse_precise(data, location, skip, dialect)
              for data, location in zip(raw, sources)]
    return arrays, [len(a) for a in arrays]


def parse_csv_bytes(raw: Sequence[bytes], sources: Sequence[str], skip_num_lines: int = 0,
                    delimiter: str = ",") -> RaggedBatch:
    """Parse files already read (``raw[i]`` is the content of ``sources[i]``) into one ragged
    batch, exactly as :func:`read_csv_batch` would read them: what conversion uses so that the
    bytes it hashes are the bytes it parses.

    >>> parse_csv_bytes([b"x\\n1,2\\n", b"x\\n3,4\\n5,6\\n"], ["a", "b"], 1).lengths.tolist()
    [1, 2]
    """
    reader = CSVSequenceRecordReader(skip_num_lines=skip_num_lines, delimiter=delimiter)
    if not raw:
        raise SeqDataError("cannot load zero sequences: no files given")
    blocks, lengths = _parse_files(raw, sources, skip_num_lines, reader._dialect)
    for block, source in zip(blocks, sources):
        if block.shape[1] != blocks[0].shape[1]:
            raise ParseError(f"expected {blocks[0].shape[1]} columns (as in {sources[0]}), "
                             f"found {block.shape[1]}; all files of one reader must have the "
                             "same number of columns", source, skip_num_lines + 1, None)
    return RaggedBatch(values=np.concatenate(blocks, axis=0) if len(blocks) > 1 else blocks[0],
                       lengths=np.array(lengths, dtype=np.int64), sources=list(sources),
                       first_lines=np.full(len(sources), skip_num_lines + 1, dtype=np.int64))


def header_fields(data: bytes, skip_num_lines: int, delimiter: str = ",") -> list[str] | None:
    """The fields of the last skipped line (a header), or ``None`` without skipped lines.

    >>> header_fields(b"time, x\\n0,1\\n", 1)
    ['time', 'x']
    """
    if skip_num_lines < 1:
        return None
    dialect = _make_dialect(delimiter)
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    lines = data.split(b"\n", skip_num_lines)
    if len(lines) < skip_num_lines:
        return None
    line = lines[skip_num_lines - 1].decode("utf-8", "replace").strip(dialect.whitespace)
    return [f.strip(dialect.whitespace) for f in dialect.split(line)]


# NOTE [ Reading a large file in blocks ]
# A file read whole costs its size in bytes, then the joined copy and pyarrow's table: about
# three times its size before the first value is checked. read_csv_blocks reads it in blocks
# of STREAM_BLOCK_BYTES, cut at line breaks, and parses each as it comes, so memory holds one
# block of text plus the float32 values parsed so far, and an error on line 2 is found after
# one block. Blank lines at the end of a block are carried into the next one, so "blank line
# inside the data" and "blank lines at the end are ignored" mean what they mean for a whole
# file; line numbers count from the top of the file.
STREAM_BLOCK_BYTES = 16 << 20


def read_csv_blocks(path: str, skip_num_lines: int = 0, delimiter: str = ",",
                    consume: Callable[[bytes], object] | None = None) -> RaggedBatch:
    """Parse one local CSV sequence file block by block (NOTE [ Reading a large file in
    blocks ]): the same values (as float32) and errors as :func:`read_csv_batch`, in bounded
    memory. ``consume`` sees every byte read, in order (conversion hashes the file with it).
    """
    dialect = _make_dialect(delimiter)
    pieces: list[np.ndarray] = []
    first_width: tuple[int, int] | None = None
    carry, line_offset, skip = b"", 0, skip_num_lines
    try:
        f = open(path, "rb")
    except OSError as e:
        raise SeqDataError(f"{path}: cannot read the file: {e}") from None
    with f:
        while True:
            try:
                block = f.read(STREAM_BLOCK_BYTES)
            except OSError as e:
                raise SeqDataError(f"{path}: cannot read the file: {e}") from None
            if consume is not None and block:
                consume(block)
            data, at_end = carry + block, not block
            if at_end:
                piece, carry = data, b""
            else:
                cut = data.rfind(b"\n") + 1
                if skip and data.count(b"\n", 0, cut) <= skip:
                    carry = data                  # the first piece needs its skipped lines
                    continue
                content = data[:cut].rstrip((dialect.whitespace + "\n").encode())
                keep = data.find(b"\n", len(content)) + 1 if content else 0
                piece, carry = data[:keep], data[keep:]
            if piece.strip((dialect.whitespace + "\n").encode()) or (at_end and not pieces):
                values = _parse_piece(piece, path, skip, dialect, line_offset)
                if first_width is None:
                    first_width = (values.shape[1], line_offset + skip + 1)
                elif values.shape[1] != first_width[0]:
                    raise ParseError(f"ragged row: expected {first_width[0]} fields (as on line "
                                     f"{first_width[1]}), found {values.shape[1]}", path,
                                     line_offset + 1, None)
                pieces.append(values)
                line_offset += piece.count(b"\n")
                skip = 0
            if at_end:
                break
    values = np.concatenate(pieces) if len(pieces) > 1 else pieces[0]
    return RaggedBatch(values=values, lengths=np.array([len(values)], dtype=np.int64),
                       sources=[path],
                       first_lines=np.array([skip_num_lines + 1], dtype=np.int64))


def _parse_piece(piece: bytes, path: str, skip: int, dialect: _Dialect,
                 line_offset: int) -> np.ndarray:
    """One block's lines as float32 rows; errors name lines counted from the file's top."""
    try:
        blocks, _ = _parse_files([piece], [path], skip, dialect)
    except ParseError as e:
        if not line_offset or e.line is None:
            raise
        raise ParseError(e.reason, path, e.line + line_offset, e.column) from None
    return blocks[0].astype(np.float32)


def read_csv_batch(paths: Sequence[str], skip_num_lines: int = 0,
                   delimiter: str = ",") -> RaggedBatch:
    """Parse CSV sequence files, one sequence each, into one ragged batch (a bulk read).

    What conversion and validation read a corpus with, chunk by chunk.
    """
    reader = CSVSequenceRecordReader(skip_num_lines=skip_num_lines, delimiter=delimiter)
    reader.initialize(ListSplit(list(paths)))
    return reader.load_ragged(range(len(paths)))


def _split_rows(block: np.ndarray, lengths: list[int]) -> list[np.ndarray]:
    return np.split(block, np.cumsum(lengths)[:-1]) if len(lengths) > 1 else [block]


def _data_body(data: bytes, skip: int, dialect: _Dialect) -> bytes | None:
    """The data lines of one file: no BOM, no skipped lines, no blank lines at the end.

    For the regex dialect the fields are re-joined with commas, so that one literal-comma bulk
    parse serves both. ``None`` when nothing is left or a field holds a comma: the precise parse
    then decides.
    """
    start = len(_BOM) if data.startswith(_BOM) else 0
    for _ in range(skip):
        start = data.find(b"\n", start) + 1
        if start == 0:
            return None
    body = data[start:].rstrip((dialect.whitespace + "\n").encode())
    if not body:
        return None
    if dialect.regex is None:
        return body
    if dialect.delimiter == _WHITESPACE_RUNS:
        # bytes.split() splits on runs of ASCII whitespace and drops it at both ends, which is
        # exactly this dialect for ASCII text; other text fails the bulk parse.
        if b"," in body:
            return None
        return b"\n".join(b",".join(line.split()) for line in body.split(b"\n"))
    # surrogateescape keeps undecodable bytes as they are: the bulk parse then rejects them,
    # and the precise parse names their line and column.
    text = body.decode("utf-8", "surrogateescape")
    lines = []
    for line in text.split("\n"):
        joined, n_delimiters = dialect.regex.subn(",", line.strip(dialect.whitespace))
        if joined.count(",") != n_delimiters:
            return None  # a comma inside a field would pass for a delimiter
        lines.append(joined)
    return "\n".join(lines).encode("utf-8", "surrogateescape")


def _parse_bulk(bodies: list[bytes], dialect: _Dialect) -> tuple[np.ndarray, list[int]] | None:
    """Parse many files' data lines at once; ``None`` when anything is off.

    Accepts a subset of what :func:`_parse_precise` accepts, with the same values: the column
    count comes from the first line and pyarrow rejects any row that differs, and any field
    that is not a number, the empty field included (there are no null values). Every line
    break ends a row for pyarrow, and a stray ``\\r`` ends one more, so pyarrow can only find
    more rows than line breaks: equal totals mean every file kept its own line count, which is
    how the rows are split back per file.
    """
    first = bodies[0]
    end = first.find(b"\n")
    width = (first if end < 0 else first[:end]).count(dialect.bulk_delimiter.encode()) + 1
    names, parse_options, convert_options = _arrow_options(width, dialect.bulk_delimiter)
    joined = b"\n".join([*bodies, b""])  # one copy, ending in a line break
    # Lines per file: the line breaks of each body and the one after it. One vectorised
    # comparison and a count per file are three times faster than bytes.count per file.
    is_break = np.frombuffer(joined, dtype=np.uint8) == ord("\n")
    counts, start = [], 0
    for body in bodies:
        stop = start + len(body) + 1
        counts.append(int(np.count_nonzero(is_break[start:stop])))
        start = stop
    # One call per batch, on pyarrow's threads: it cuts the buffer into blocks at line breaks
    # (quotes are off, so a line break always ends a row) and parses them in parallel without
    # the GIL. A line longer than a block would fail the parse; no line is longer than its file.
    block_size = _block_size(len(joined), max(map(len, bodies)) + 1)
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(joined),
            read_options=pa_csv.ReadOptions(column_names=names, block_size=block_size),
            parse_options=parse_options, convert_options=convert_options)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != sum(counts):
        return None
    return _rows_of(table), counts


@functools.lru_cache(maxsize=64)
def _arrow_options(width: int, delimiter: str
                   ) -> tuple[list[str], pa_csv.ParseOptions, pa_csv.ConvertOptions]:
    """Column names and pyarrow's options for ``width`` float64 columns: no quoting, no empty
    lines skipped, no null values, no booleans. Cached: a batch's files share them."""
    names = [f"c{j}" for j in range(width)]
    return (names,
            pa_csv.ParseOptions(delimiter=delimiter, quote_char=False, escape_char=False,
                                ignore_empty_lines=False),
            pa_csv.ConvertOptions(column_types={n: pa.float64() for n in names},
                                  null_values=[], true_values=[], false_values=[]))


def _block_size(n_bytes: int, longest_line: int) -> int:
    """About one block per pyarrow thread (each block has a fixed cost), never one that a line
    of ``longest_line`` bytes (with its line break) cannot fit in, and at most pyarrow's
    limit (a 32-bit size): a longer line fails the bulk parse and goes to the precise one.

    >>> _block_size(10, 5) == _MIN_BLOCK_SIZE + 6, _block_size(1 << 40, 5) == _MAX_BLOCK_SIZE
    (True, True)
    """
    return min(max(_MIN_BLOCK_SIZE, n_bytes // pa.cpu_count()) + longest_line + 1,
               _MAX_BLOCK_SIZE)


def _rows_of(table: pa.Table) -> np.ndarray:
    """A null-free float64 table as a writable row-major ``[rows, columns]`` numpy array.

    Arrow's ``to_tensor`` (pyarrow >= 16) writes the rows in C++, three times faster than
    assigning numpy columns, and ``np.asarray`` takes its buffer without a copy (pyarrow's own
    ``to_numpy`` would import pandas on first use: a third of a second). ``combine_chunks``
    costs nothing when the parse made one block, and one copy per column when it made several.
    """
    batch = table.combine_chunks().to_batches()[0]
    return np.asarray(batch.to_tensor(row_major=True))


def _parse_precise(data: bytes, path: str, skip: int, dialect: _Dialect) -> np.ndarray:
    """Parse one file line by line; the reference for the format and for every message."""
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    lines = data.split(b"\n")[skip:]
    ws = dialect.whitespace
    rows: list[list[str]] = []
    width = width_line = blank_line = None
    for k, raw in enumerate(lines):
        line_no = skip + k + 1
        line = raw.decode("utf-8", "surrogateescape").strip(ws)
        if not line:
            blank_line = blank_line or line_no
            continue
        if blank_line is not None:
            raise ParseError(f"blank line inside the data (more data follows on line {line_no});"
                             " only blank lines at the end of a file are ignored",
                             path, blank_line, 1)
        fields = [f.strip(ws) for f in dialect.split(line)]
        if width is None:
            width, width_line = len(fields), line_no
        for j, field in enumerate(fields[:width]):
            if not _NUMBER.fullmatch(field):
                hint = _HEADER_HINT if line_no == 1 and field and not rows else ""
                raise ParseError(_bad_field(field, dialect) + hint, path, line_no, j + 1)
        if len(fields) != width:
            trailing = " (the last one empty: a trailing delimiter?)" \
                if len(fields) > width and not fields[-1] else ""
            raise ParseError(f"ragged row: expected {width} fields (as on line {width_line}), "
                             f"found {len(fields)}{trailing}", path, line_no,
                             min(width, len(fields)) + 1)
        rows.append(fields)
    if not rows:
        what = f"after skipping {skip} lines" if skip else "in the file"
        raise ParseError(f"empty sequence: expected at least one data line {what}, found none",
                         path, skip + 1, None)
    return np.array([[float(f) for f in row] for row in rows], dtype=np.float64)


def _bad_field(field: str, dialect: _Dialect) -> str:
    if not field:
        return (f"empty field: expected a number between delimiters {dialect.delimiter!r} "
                "(a trailing delimiter also makes an empty field)")
    shown = field if len(field) <= 40 else field[:37] + "..."
    try:
        shown.encode("utf-8")
    except UnicodeEncodeError:
        return ("invalid UTF-8: expected text, found the bytes "
                f"{shown.encode('utf-8', 'surrogateescape')!r}")
    return f"expected a number, found {shown!r}"
