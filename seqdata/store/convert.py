"""Converting sequence corpora into a packed store (``seqdata convert``).

:func:`convert` parses CSV files in parallel chunks; each chunk is written as one Parquet part
(:mod:`seqdata.store.writer`) by the thread that parsed it, and the manifest is written last,
all inside :func:`~seqdata.store.atomic.atomic_directory`. :func:`write_store` packs the
sequences of any reader.

>>> import os, tempfile
>>> from seqdata.readers.base import CollectionSequenceRecordReader
>>> from seqdata.store.reader import SequenceStore
>>> out = os.path.join(tempfile.mkdtemp(), "store")
>>> write_store(CollectionSequenceRecordReader([[[1.5], [2.0]], [[0.25]]]), out)
>>> SequenceStore(out).sequence_lengths().tolist()
[2, 1]
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import numpy as np

from seqdata.errors import AlignmentError, MissingFilesError, ParseError, SeqDataError, StoreError
from seqdata.locations import default_workers, is_url, local_path, read_all, read_bytes
from seqdata.progress import Progress
from seqdata.readers.base import RaggedBatch, SequenceRecordReader
from seqdata.readers.csv import header_fields, parse_csv_bytes, read_csv_blocks
from seqdata.splits import NumberedFileInputSplit
from seqdata.store import manifest as mf
from seqdata.store.atomic import atomic_directory, os_errors
from seqdata.store.reader import SequenceStore
from seqdata.store.writer import Part, sequences_table, store_manifest, write_manifest, write_part

__all__ = ["convert", "write_store"]

ON_ERROR = ("raise", "skip")
# Files per chunk (one chunk = one task = one Parquet part): enough that a part is not tiny,
# few enough that progress stays fine-grained and memory per worker bounded.
MIN_CHUNK_FILES = 256
MAX_CHUNK_FILES = 4096
# A local file larger than this is parsed block by block (bounded memory, errors early).
LARGE_FILE_BYTES = 64 << 20


# ----------------------------------------------------------------------------- one chunk

@dataclass
class _Chunk:
    """What one worker converts: sequences at corpus ``positions``, numbered ``ids``."""

    index: int
    data_dir: str
    store_id: str
    ids: list[int]
    feature_paths: list[str]
    label_paths: list[str] | None
    skip_num_lines: int
    label_skip_num_lines: int
    delimiter: str
    on_error: str
    columns: int
    label_columns: int | None
    roots: dict[str, str | None]
    channels: dict[str, list[str] | None]


def _check_columns(batch: RaggedBatch, expected: int, role: str, reference: str) -> None:
    found = batch.values.shape[1] if batch.values.ndim == 2 else None
    if found != expected:
        raise ParseError(f"expected {expected} {role} columns per line (as in {reference}), "
                         f"found {found}", batch.sources[0], int(batch.first_lines[0]))


def _size(location: str) -> int:
    path = local_path(location)
    try:
        return os.path.getsize(path) if path is not None else 0
    except OSError:
        return 0  # missing: the read says so


def _read_role(paths: list[str], skip_num_lines: int, delimiter: str
               ) -> tuple[RaggedBatch, list[str]]:
    """Files parsed and hashed from one read of each (the checksum describes the values).

    Local files larger than :data:`LARGE_FILE_BYTES` are read in blocks (NOTE [ Reading a
    large file in blocks ]); the others in one bulk parse.
    """
    large = [i for i, p in enumerate(paths) if _size(p) > LARGE_FILE_BYTES]
    if not large:
        raw = read_all([(p, local_path(p)) for p in paths])
        digests = [mf.file_sha256(data) for data in raw]
        return parse_csv_bytes(raw, paths, skip_num_lines, delimiter), digests
    small = [i for i in range(len(paths)) if i not in set(large)]
    parts: dict[int, RaggedBatch] = {}
    digest_of: dict[int, str] = {}
    if small:
        bulk, bulk_digests = _read_role([paths[i] for i in small], skip_num_lines, delimiter)
        ends = np.cumsum(bulk.lengths)
        for k, i in enumerate(small):
            parts[i] = RaggedBatch(bulk.values[ends[k] - bulk.lengths[k]:ends[k]],
                                   bulk.lengths[k:k + 1], [paths[i]], bulk.first_lines[k:k + 1])
            digest_of[i] = bulk_digests[k]
    for i in large:
        h = hashlib.sha256()
        parts[i] = read_csv_blocks(local_path(paths[i]) or paths[i], skip_num_lines, delimiter,
                                   h.update)
        parts[i].sources[0] = paths[i]
        digest_of[i] = h.hexdigest()
    ordered = [parts[i] for i in range(len(paths))]
    for batch in ordered:
        if batch.values.shape[1] != ordered[0].values.shape[1]:
            raise ParseError(f"expected {ordered[0].values.shape[1]} columns (as in "
                             f"{paths[0]}), found {batch.values.shape[1]}; all files of one "
                             "reader must have the same number of columns", batch.sources[0],
                             skip_num_lines + 1, None)
    return _concat(ordered), [digest_of[i] for i in range(len(paths))]


_Pair = tuple[RaggedBatch, list[str], RaggedBatch | None, list[str]]


def _read_pair(chunk: _Chunk, positions: Sequence[int]) -> _Pair:
    features, digests = _read_role([chunk.feature_paths[i] for i in positions],
                                   chunk.skip_num_lines, chunk.delimiter)
    _check_columns(features, chunk.columns, "feature", "the first feature file")
    labels: RaggedBatch | None = None
    label_digests: list[str] = []
    if chunk.label_paths is not None and chunk.label_columns is not None:
        labels, label_digests = _read_role([chunk.label_paths[i] for i in positions],
                                           chunk.label_skip_num_lines, chunk.delimiter)
        _check_columns(labels, chunk.label_columns, "label", "the first label file")
    return features, digests, labels, label_digests


def _convert_chunk(chunk: _Chunk) -> Part:
    """Parse, checksum and write one chunk; with ``on_error="skip"`` isolate bad files."""
    positions = list(range(len(chunk.ids)))
    skipped: list[dict[str, Any]] = []
    try:
        features, digests, labels, label_digests = _read_pair(chunk, positions)
    except SeqDataError:
        if chunk.on_error == "raise":
            raise
        # NOTE [ Skipping bad files ]
        # The bulk read fails as a whole; only then is each file read on its own to find the
        # bad ones, so clean corpora pay nothing for the skip policy.
        kept, singles = [], []
        for i in positions:
            try:
                singles.append(_read_pair(chunk, [i]))
                kept.append(i)
            except SeqDataError as e:
                skipped.append({"id": chunk.ids[i], "path": chunk.feature_paths[i],
                                **({"label_path": chunk.label_paths[i]}
                                   if chunk.label_paths is not None else {}),
                                "reason": str(e)})
        positions = kept
        if not kept:
            return Part(chunk.index, None, np.zeros(0, np.int64), None, {}, [], [], [], [],
                        skipped)
        features = _concat([s[0] for s in singles])
        digests = [d for s in singles for d in s[1]]
        labels = None if singles[0][2] is None else _concat(
            [s[2] for s in singles if s[2] is not None])
        label_digests = [d for s in singles for d in s[3]]

    sources = {"features": _relative(features.sources, chunk.roots["features"])}
    if labels is not None:
        sources["labels"] = _relative(labels.sources, chunk.roots["labels"])
    table = sequences_table(np.array([chunk.ids[i] for i in positions]), features, labels,
                            digests, label_digests if labels is not None else None, sources,
                            chunk.channels)
    name = f"part-{chunk.index:05d}.parquet"
    written = write_part(table, os.path.join(chunk.data_dir, name), chunk.store_id, chunk.index)
    return Part.of(chunk.index, name, features, labels, digests, label_digests, skipped,
                   written)


def _concat(batches: Sequence[RaggedBatch]) -> RaggedBatch:
    return RaggedBatch(values=np.concatenate([b.values for b in batches]),
                       lengths=np.concatenate([b.lengths for b in batches]),
                       sources=[s for b in batches for s in b.sources],
                       first_lines=np.concatenate([b.first_lines for b in batches]))


# ----------------------------------------------------------------------------- convert

def _locations(split: object, what: str) -> list[str]:
    if hasattr(split, "locations"):
        return list(split.locations())
    if isinstance(split, (list, tuple)):
        return [os.fspath(p) for p in split]
    raise SeqDataError(f"{what}: expected an input split or a list of paths, "
                       f"found {type(split).__name__}")


def _missing(paths: Sequence[str]) -> list[str]:
    """The local files that do not exist; URLs are checked when read."""
    missing = []
    for location in paths:
        path = local_path(location)
        if path is not None and not os.path.isfile(path):
            missing.append(location)
    return missing


def _probe(paths: Sequence[str], skip_num_lines: int, delimiter: str, on_error: str,
           missing: set[str]) -> tuple[int, list[str] | None]:
    """Column count of the corpus and its channel names: those of its first readable file
    (names from its header, the last skipped line, when it has one field per column)."""
    first_error: SeqDataError | None = None
    for path in paths:
        if path in missing:
            continue
        try:
            data = _head(path)
            width = int(parse_csv_bytes([data], [path], skip_num_lines, delimiter)
                        .values.shape[1])
        except SeqDataError as e:
            if on_error == "raise":
                raise
            first_error = first_error or e
            continue
        names = header_fields(data, skip_num_lines, delimiter)
        return width, names if names is not None and len(names) == width and all(names) \
            else None
    raise SeqDataError(f"expected at least one readable file, found none (first problem: "
                       f"{first_error or 'every file is missing'})")


def _head(location: str) -> bytes:
    """A file's first lines (up to 1 MiB, whole lines) when it is large, else all of it: what
    the column count and the header are read from."""
    path = local_path(location)
    if path is None or _size(location) <= LARGE_FILE_BYTES:
        return read_bytes(location)
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 20)
    except OSError as e:
        raise SeqDataError(f"{location}: cannot read the file: {e}") from None
    cut = head.rfind(b"\n") + 1
    return head[:cut] if cut else read_bytes(location)


def _numbers(split: object, n: int) -> list[int]:
    """The id of each file: its ``%d`` number for a NumberedFileInputSplit, else its position."""
    if isinstance(split, NumberedFileInputSplit):
        return list(range(split.min_idx, split.max_idx + 1))
    return list(range(n))


# NOTE [ Sources relative to the corpus root ]
# The store keeps each file's path relative to the deepest directory holding every file of
# its role (``roots`` in the manifest), so a store does not carry a machine's directory
# layout in every row, and tools see ``0.csv``, ``sub/1.csv``. Readers join the two again, so
# records and errors name the file as it was given. URLs, and paths without a common
# directory, keep their full spelling (root null).
def _corpus_root(paths: Sequence[str]) -> str | None:
    if any(is_url(p) for p in paths):
        return None
    try:
        root = os.path.commonpath([os.path.dirname(p) for p in paths])
    except ValueError:  # absolute and relative paths mixed
        return None
    if not root or not all(os.path.join(root, os.path.relpath(p, root)) == p for p in paths):
        return None
    return root


def _relative(paths: Sequence[str], root: str | None) -> list[str]:
    return list(paths) if root is None else [os.path.relpath(p, root) for p in paths]


def convert(features: object, out: str | os.PathLike[str], labels: object = None, *,
            skip_num_lines: int = 0, label_skip_num_lines: int = 0,
            delimiter: str = ",",
            overwrite: bool = False, workers: int | None = None, on_error: str = "raise",
            progress: bool = True) -> SequenceStore:
    """Convert CSV sequence files (one sequence per file) into a packed store at ``out``.

    ``features`` and ``labels`` are input splits (``NumberedFileInputSplit``, ``FileSplit``,
    ``ListSplit``) or lists of paths; file ``i`` of ``labels`` labels file ``i`` of
    ``features``. ``skip_num_lines`` lines are skipped at the top of every feature file and
    ``label_skip_num_lines`` (default 0, as everywhere) of every label file; the last skipped
    line of the first file, when it has one field per column, gives the channel names.
    ``workers`` threads convert chunks of files in parallel (default:
    :func:`~seqdata.locations.default_workers`). ``on_error="skip"``
    leaves out files that do not parse (a sequence is skipped when its feature or its label
    file is bad) and lists them, with the reason, under ``"skipped"`` in the manifest. Returns
    the opened store. A sequence's ``id`` is the ``%d`` number of its file for a
    ``NumberedFileInputSplit``, else its position in the corpus. Each file is read once: the
    checksum recorded describes the bytes parsed. Failures to write (disk full, permissions)
    raise :class:`~seqdata.errors.StoreError` naming the path, and leave nothing behind.
    """
    if on_error not in ON_ERROR:
        raise SeqDataError(f"on_error: expected one of {ON_ERROR}, found {on_error!r}")
    feature_paths = _locations(features, "features")
    label_paths = None if labels is None else _locations(labels, "labels")
    if not feature_paths:
        raise SeqDataError("features: expected at least one file, found none")
    if label_paths is not None and len(label_paths) != len(feature_paths):
        raise AlignmentError(f"expected as many label files as feature files "
                             f"({len(feature_paths)}), found {len(label_paths)}")
    missing = _missing(feature_paths + (label_paths or []))
    if missing and on_error == "raise":
        raise MissingFilesError(f"{len(missing)} input file(s) do not exist, e.g. "
                                f"{', '.join(missing[:3])}")
    missing_set = set(missing)
    n_workers = max(1, workers or default_workers())
    numbers = _numbers(features, len(feature_paths))
    roots = {"features": _corpus_root(feature_paths),
             "labels": None if label_paths is None else _corpus_root(label_paths)}
    store_id = uuid.uuid4().hex

    with atomic_directory(os.fspath(out), overwrite) as tmp:
        data_dir = os.path.join(tmp, mf.DATA_DIR)
        with os_errors(data_dir, "create the data directory"):
            os.mkdir(data_dir)
        columns, names = _probe(feature_paths, skip_num_lines, delimiter, on_error, missing_set)
        label_columns, label_names = (None, None) if label_paths is None else _probe(
            label_paths, label_skip_num_lines, delimiter, on_error, missing_set)
        channels = {"features": names, "labels": label_names}

        positions: list[int] = []
        skipped: list[dict[str, Any]] = []
        for i, path in enumerate(feature_paths):
            bad = [p for p in (path, label_paths[i] if label_paths else None) if p in missing_set]
            if bad:
                skipped.append({"id": numbers[i], "path": path,
                                **({"label_path": label_paths[i]} if label_paths else {}),
                                "reason": f"file not found: {bad[0]}"})
            else:
                positions.append(i)
        size = int(np.clip(-(-len(positions) // (4 * n_workers)), MIN_CHUNK_FILES,
                           MAX_CHUNK_FILES))
        chunks = []
        for k, start in enumerate(range(0, len(positions), size)):
            part = positions[start:start + size]
            chunks.append(_Chunk(
                k, data_dir, store_id, [numbers[i] for i in part],
                [feature_paths[i] for i in part],
                None if label_paths is None else [label_paths[i] for i in part],
                skip_num_lines, label_skip_num_lines, delimiter, on_error, columns,
                label_columns, roots, channels))
        parts = _run_chunks(chunks, n_workers, progress)
        skipped += [s for p in parts for s in p.skipped]
        skipped.sort(key=lambda s: int(s["id"]))
        written = [p for p in parts if p.name is not None]
        if not written:
            raise SeqDataError(f"expected at least one readable sequence, found none "
                               f"({len(skipped)} skipped)")
        # NOTE [ Manifest keys keep their names ]
        # On disk the options stay "skip_lines" and "label_skip_lines" (the CLI's flags):
        # stores written before the Python API took DL4J's spelling read the same.
        write_manifest(store_manifest(
            written, columns, label_columns, skipped, {
                "skip_lines": skip_num_lines,
                "label_skip_lines": label_skip_num_lines if labels is not None else None,
                "delimiter": delimiter, "on_error": on_error, "workers": n_workers},
            store_id, channels=channels, roots=roots), tmp)
    return SequenceStore(out)


def _run_chunks(chunks: list[_Chunk], n_workers: int, progress: bool) -> list[Part]:
    bar = Progress(sum(len(c.ids) for c in chunks), "convert", "file", enabled=progress)
    parts: list[Part] = []
    with bar:
        if n_workers == 1 or len(chunks) == 1:
            for chunk in chunks:
                parts.append(_convert_chunk(chunk))
                bar.update(len(chunk.ids))
            return parts
        # NOTE [ Threads, not processes ]
        # Chunks are converted by threads: reading files, pyarrow's CSV parse, sha256 and the
        # zstd Parquet write all release the GIL, so threads run them in parallel without the
        # start-up cost of worker processes (seconds on a loaded machine, more than a whole
        # 4,000-file conversion) and without pickling results back. A pool of their own, not
        # seqdata.locations.parallel_map's shared one: --workers sets its size, and parts are
        # taken as they complete so that the progress bar moves.
        with ThreadPoolExecutor(max_workers=min(n_workers, len(chunks)),
                                thread_name_prefix="seqdata-convert") as pool:
            futures = [pool.submit(_convert_chunk, c) for c in chunks]
            try:
                for fut in as_completed(futures):
                    part = fut.result()
                    parts.append(part)
                    bar.update(len(part.lengths) + len(part.skipped))
            except BaseException:
                # A bad file or Ctrl-C: start no further chunk; the running ones finish
                # before the temporary directory is removed.
                for other in futures:
                    other.cancel()
                raise
    return sorted(parts, key=lambda p: p.index)


def write_store(features: SequenceRecordReader, out: str | os.PathLike[str],
                labels: SequenceRecordReader | None = None, *, overwrite: bool = False) -> None:
    """Pack the sequences of any reader(s) into a store at ``out`` (in this process).

    For in-memory or custom readers; CSV corpora convert faster with :func:`convert`.
    """
    n = len(features)
    if labels is not None and len(labels) != n:
        raise AlignmentError(f"expected as many label sequences as feature sequences ({n}), "
                             f"found {len(labels)}")
    if n == 0:
        raise SeqDataError("expected at least one sequence to store, found none")
    fb = features.load_ragged(range(n))
    lb = None if labels is None else labels.load_ragged(range(n))
    for role, batch in (("features", fb), ("labels", lb)):
        if batch is not None and batch.values.ndim != 2:
            raise StoreError(f"{role}: expected [T, C] sequences, found steps of shape "
                             f"{batch.values.shape[1:]}")
    store_id = uuid.uuid4().hex
    with atomic_directory(os.fspath(out), overwrite) as tmp:
        data_dir = os.path.join(tmp, mf.DATA_DIR)
        with os_errors(data_dir, "create the data directory"):
            os.mkdir(data_dir)
        name = "part-00000.parquet"
        written = write_part(sequences_table(np.arange(n), fb, lb),
                             os.path.join(data_dir, name), store_id, 0)
        write_manifest(store_manifest([Part.of(0, name, fb, lb, written=written)],
                                      int(fb.values.shape[1]),
                                      None if lb is None else int(lb.values.shape[1]), [], {},
                                      store_id, checksums=False), tmp)
