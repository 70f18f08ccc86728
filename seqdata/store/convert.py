"""Converting sequence corpora into a packed store, and exporting a store back to CSV files.

:func:`convert` is what ``seqdata convert`` runs: CSV files are parsed in parallel chunks,
each chunk is written as one Parquet part by the thread that parsed it, and the manifest is
written last. Everything goes into a hidden sibling directory ``.<name>.tmp-<pid>`` that is
renamed to the output path only when complete, so a failed or killed conversion never leaves
a partial store at the output path (the next conversion removes the leftover).

>>> import os, tempfile
>>> from seqdata.readers.base import CollectionSequenceRecordReader
>>> from seqdata.store.reader import SequenceStore
>>> root = tempfile.mkdtemp()
>>> write_store(CollectionSequenceRecordReader([[[1.5], [2.0]], [[0.25]]]),
...             os.path.join(root, "store"))
>>> paths = export(SequenceStore(os.path.join(root, "store")), os.path.join(root, "csv"))
>>> [os.path.relpath(p, root) for p in paths]
['csv/features/seq_0.csv', 'csv/features/seq_1.csv']
>>> open(paths[0]).read()
'1.5\\n2\\n'
"""

from __future__ import annotations

import contextlib
import datetime
import glob
import io
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from seqdata.errors import AlignmentError, MissingFilesError, ParseError, SeqDataError, StoreError
from seqdata.readers._files import local_path, read_bytes
from seqdata.readers.base import RaggedBatch, SequenceRecordReader
from seqdata.store import manifest as mf
from seqdata.store.reader import SequenceStore
from seqdata.store.writer import sequences_table, write_part

ON_ERROR = ("raise", "skip")
# Files per chunk (one chunk = one task = one Parquet part): enough that a part is not tiny,
# few enough that progress stays fine-grained and memory per worker bounded.
MIN_CHUNK_FILES = 256
MAX_CHUNK_FILES = 4096


# ----------------------------------------------------------------------------- atomic output

def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(parent: str, name: str) -> None:
    """Remove temporary siblings left by conversions that were killed (their pid is gone)."""
    for path in glob.glob(os.path.join(glob.escape(parent), f".{glob.escape(name)}.*-*")):
        match = re.fullmatch(r"\.(?:tmp|old)-(\d+)", os.path.basename(path)[len(name) + 1:])
        if match and not _pid_alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)


def _is_store(path: str) -> bool:
    return os.path.isfile(os.path.join(path, mf.MANIFEST_NAME))


@contextlib.contextmanager
def _os_errors(path: str, action: str) -> Iterator[None]:
    """Map an ``OSError`` of the body to a :class:`StoreError` naming ``path`` and the cause.

    >>> with _os_errors("/x/st", "create it"):
    ...     raise PermissionError(13, "Permission denied", "/x")
    Traceback (most recent call last):
    ...
    seqdata.errors.StoreError: /x/st: cannot create it: Permission denied: '/x'
    """
    try:
        yield
    except OSError as e:
        if isinstance(e, (FileExistsError, NotADirectoryError)) and e.filename is not None \
                and os.path.lexists(e.filename) and not os.path.isdir(e.filename):
            cause = f"expected a directory at {e.filename}, found a file"
        elif e.strerror and e.filename is not None:
            cause = f"{e.strerror}: {e.filename!r}"
        else:
            cause = str(e)
        raise StoreError(f"{path}: cannot {action}: {cause}") from None


@contextlib.contextmanager
def atomic_directory(out: str, overwrite: bool = False) -> Iterator[str]:
    """Yield a fresh temporary sibling of ``out``; rename it to ``out`` if the body succeeds.

    ``out`` may be replaced only with ``overwrite`` and only if it is a store or an empty
    directory, so a mistyped path never deletes unrelated data.
    """
    if "://" in out:
        raise StoreError(f"{out}: expected a local output path, found a URL")
    out = os.path.abspath(out)
    parent, name = os.path.split(out)

    def check() -> None:
        if not os.path.lexists(out):
            return
        if not overwrite:
            raise StoreError(f"{out}: already exists; pass --overwrite (overwrite=True) "
                             "to replace it")
        if not (_is_store(out) or (os.path.isdir(out) and not os.listdir(out))):
            raise StoreError(f"{out}: refusing to replace it: expected a seqdata store or an "
                             "empty directory, found other content")

    check()
    tmp = os.path.join(parent, f".{name}.tmp-{os.getpid()}")
    with _os_errors(out, "create its temporary directory"):
        os.makedirs(parent, exist_ok=True)
        _remove_stale(parent, name)
        shutil.rmtree(tmp, ignore_errors=True)
        os.mkdir(tmp)
    try:
        yield tmp
        check()
        with _os_errors(out, "move the finished store into place"):
            if os.path.lexists(out):
                # NOTE [ Replacing a store ]
                # A directory cannot be renamed over a non-empty one, so the old store is
                # moved aside first. Between the two renames the output path is briefly
                # absent, never partial.
                old = os.path.join(parent, f".{name}.old-{os.getpid()}")
                os.rename(out, old)
                os.rename(tmp, out)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ----------------------------------------------------------------------------- one chunk

@dataclass
class _Chunk:
    """What one worker converts: sequences ``ids`` (corpus positions) of the corpus."""

    index: int
    data_dir: str
    ids: list[int]
    feature_paths: list[str]
    label_paths: list[str] | None
    skip_lines: int
    label_skip_lines: int
    delimiter: str
    on_error: str
    columns: int
    label_columns: int | None


@dataclass
class _Part:
    """What one worker wrote: its part (``None`` if every file was skipped) and statistics."""

    index: int
    name: str | None
    lengths: np.ndarray
    label_lengths: np.ndarray | None
    label_counts: dict[str, int] | None
    sources: list[str]
    digests: list[str]
    label_sources: list[str]
    label_digests: list[str]
    skipped: list[dict[str, Any]] = field(default_factory=list)


def _file_digest(location: str) -> str:
    """The sha256 of a file, read as the readers read it (errors are SeqDataErrors)."""
    return mf.file_sha256(read_bytes(location, local_path(location)))


def read_csv_batch(paths: Sequence[str], skip_lines: int, delimiter: str) -> RaggedBatch:
    """Parse CSV sequence files with the bulk CSV reader into one ragged batch."""
    from seqdata.readers.csv import CSVSequenceRecordReader
    from seqdata.splits import ListSplit

    reader = CSVSequenceRecordReader(skip_num_lines=skip_lines, delimiter=delimiter)
    reader.initialize(ListSplit(list(paths)))
    return reader.load_ragged(range(len(paths)))


def _check_columns(batch: RaggedBatch, expected: int, role: str, reference: str) -> None:
    found = batch.values.shape[1] if batch.values.ndim == 2 else None
    if found != expected:
        raise ParseError(f"expected {expected} {role} columns per line (as in {reference}), "
                         f"found {found}", batch.sources[0], int(batch.first_lines[0]))


def _read_pair(chunk: _Chunk, positions: Sequence[int]) -> tuple[RaggedBatch, RaggedBatch | None]:
    features = read_csv_batch([chunk.feature_paths[i] for i in positions], chunk.skip_lines,
                              chunk.delimiter)
    _check_columns(features, chunk.columns, "feature", "the first feature file")
    labels = None
    if chunk.label_paths is not None and chunk.label_columns is not None:
        labels = read_csv_batch([chunk.label_paths[i] for i in positions],
                                chunk.label_skip_lines, chunk.delimiter)
        _check_columns(labels, chunk.label_columns, "label", "the first label file")
    return features, labels


def _convert_chunk(chunk: _Chunk) -> _Part:
    """Parse, checksum and write one chunk; with ``on_error="skip"`` isolate bad files."""
    positions = list(range(len(chunk.ids)))
    skipped: list[dict[str, Any]] = []
    try:
        features, labels = _read_pair(chunk, positions)
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
            return _Part(chunk.index, None, np.zeros(0, np.int64), None, {}, [], [], [], [],
                         skipped)
        features = _concat([f for f, _ in singles])
        labels = None if singles[0][1] is None else _concat([lb for _, lb in singles])

    digests = [_file_digest(chunk.feature_paths[i]) for i in positions]
    label_digests = ([_file_digest(chunk.label_paths[i]) for i in positions]
                     if chunk.label_paths is not None else [])
    table = sequences_table(np.array([chunk.ids[i] for i in positions]), features, labels,
                            digests, label_digests if labels is not None else None)
    name = f"part-{chunk.index:05d}.parquet"
    write_part(table, os.path.join(chunk.data_dir, name))
    return _Part(chunk.index, name, np.asarray(features.lengths, np.int64),
                 None if labels is None else np.asarray(labels.lengths, np.int64),
                 None if labels is None else mf.label_counts(labels.values),
                 list(features.sources), digests,
                 [] if labels is None else list(labels.sources), label_digests, skipped)


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
    return [p for p in paths if "://" not in p and not os.path.isfile(p)]


def _probe_columns(paths: Sequence[str], skip_lines: int, delimiter: str, on_error: str,
                   missing: set[str]) -> int:
    """Column count of the corpus: that of its first readable file."""
    first_error: SeqDataError | None = None
    for path in paths:
        if path in missing:
            continue
        try:
            return int(read_csv_batch([path], skip_lines, delimiter).values.shape[1])
        except SeqDataError as e:
            if on_error == "raise":
                raise
            first_error = first_error or e
    raise SeqDataError(f"expected at least one readable file, found none (first problem: "
                       f"{first_error or 'every file is missing'})")


def convert(features: object, out: str | os.PathLike[str], labels: object = None, *,
            skip_lines: int = 0, label_skip_lines: int | None = None, delimiter: str = ",",
            overwrite: bool = False, workers: int | None = None, on_error: str = "raise",
            progress: bool = True) -> SequenceStore:
    """Convert CSV sequence files (one sequence per file) into a packed store at ``out``.

    ``features`` and ``labels`` are input splits (``NumberedFileInputSplit``, ``FileSplit``,
    ``ListSplit``) or lists of paths; file ``i`` of ``labels`` labels file ``i`` of
    ``features``. ``label_skip_lines`` defaults to ``skip_lines``. ``workers`` threads convert
    chunks of files in parallel (default: the number of CPUs, at most 8). ``on_error="skip"``
    leaves out files that do not parse (a sequence is skipped when its feature or its label
    file is bad) and lists them, with the reason, under ``"skipped"`` in the manifest. Returns
    the opened store. Sequences keep their corpus position as ``id``.
    """
    if on_error not in ON_ERROR:
        raise SeqDataError(f"on_error: expected one of {ON_ERROR}, found {on_error!r}")
    label_skip_lines = skip_lines if label_skip_lines is None else label_skip_lines
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
    n_workers = max(1, workers or min(8, os.cpu_count() or 1))

    with atomic_directory(os.fspath(out), overwrite) as tmp:
        data_dir = os.path.join(tmp, mf.DATA_DIR)
        os.mkdir(data_dir)
        columns = _probe_columns(feature_paths, skip_lines, delimiter, on_error, missing_set)
        label_columns = None if label_paths is None else _probe_columns(
            label_paths, label_skip_lines, delimiter, on_error, missing_set)

        ids, skipped = [], []
        for i, path in enumerate(feature_paths):
            bad = [p for p in (path, label_paths[i] if label_paths else None) if p in missing_set]
            if bad:
                skipped.append({"id": i, "path": path,
                                **({"label_path": label_paths[i]} if label_paths else {}),
                                "reason": f"file not found: {bad[0]}"})
            else:
                ids.append(i)
        size = int(np.clip(-(-len(ids) // (4 * n_workers)), MIN_CHUNK_FILES, MAX_CHUNK_FILES))
        chunks = []
        for k, start in enumerate(range(0, len(ids), size)):
            part = ids[start:start + size]
            chunks.append(_Chunk(
                k, data_dir, part, [feature_paths[i] for i in part],
                None if label_paths is None else [label_paths[i] for i in part],
                skip_lines, label_skip_lines, delimiter, on_error, columns, label_columns))
        parts = _run_chunks(chunks, n_workers, progress)
        skipped += [s for p in parts for s in p.skipped]
        skipped.sort(key=lambda s: s["id"])
        written = [p for p in parts if p.name is not None]
        if not written:
            raise SeqDataError(f"expected at least one readable sequence, found none "
                               f"({len(skipped)} skipped)")
        manifest = _manifest(written, columns, label_columns, skipped, {
            "skip_lines": skip_lines, "label_skip_lines": label_skip_lines if labels is not None
            else None, "delimiter": delimiter, "on_error": on_error, "workers": n_workers})
        with open(os.path.join(tmp, mf.MANIFEST_NAME), "w", encoding="utf-8") as f:
            f.write(mf.dumps(manifest))
    return SequenceStore(out)


def _run_chunks(chunks: list[_Chunk], n_workers: int, progress: bool) -> list[_Part]:
    from tqdm import tqdm

    bar = tqdm(total=sum(len(c.ids) for c in chunks), unit="file", desc="convert",
               disable=not progress)
    parts: list[_Part] = []
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
        # 4,000-file conversion) and without pickling results back.
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


def _manifest(parts: list[_Part], columns: int, label_columns: int | None,
              skipped: list[dict[str, Any]], options: dict[str, Any],
              checksums: bool = True) -> dict[str, Any]:
    """The manifest of a store made of ``parts`` (``checksums=False``: not from files)."""
    lengths = np.concatenate([p.lengths for p in parts])
    has_labels = label_columns is not None
    label_lengths = np.concatenate([p.label_lengths for p in parts]) if has_labels else None
    sources: dict[str, Any] = {"features": {
        "files": int(len(lengths)),
        "sha256": mf.combined_digest([s for p in parts for s in p.sources],
                                     [d for p in parts for d in p.digests])
        if checksums else None}}
    if has_labels:
        sources["labels"] = {
            "files": int(len(lengths)),
            "sha256": mf.combined_digest([s for p in parts for s in p.label_sources],
                                         [d for p in parts for d in p.label_digests])
            if checksums else None}
    return {
        "format": mf.FORMAT,
        "format_version": mf.FORMAT_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "num_sequences": int(len(lengths)),
        "columns": {"features": columns, "labels": label_columns},
        "lengths": {"features": mf.length_stats(lengths),
                    "labels": mf.length_stats(label_lengths) if has_labels else None},
        "label_counts": mf.merge_label_counts(p.label_counts for p in parts)
        if has_labels else None,
        "sources": sources,
        "parts": [f"{mf.DATA_DIR}/{p.name}" for p in parts],
        "options": options,
        "skipped": skipped,
    }


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
    with atomic_directory(os.fspath(out), overwrite) as tmp:
        os.mkdir(os.path.join(tmp, mf.DATA_DIR))
        name = "part-00000.parquet"
        write_part(sequences_table(np.arange(n), fb, lb), os.path.join(tmp, mf.DATA_DIR, name))
        part = _Part(0, name, np.asarray(fb.lengths, np.int64),
                     None if lb is None else np.asarray(lb.lengths, np.int64),
                     None if lb is None else mf.label_counts(lb.values),
                     list(fb.sources), [], [] if lb is None else list(lb.sources), [])
        manifest = _manifest([part], int(fb.values.shape[1]),
                             None if lb is None else int(lb.values.shape[1]), [], {},
                             checksums=False)
        with open(os.path.join(tmp, mf.MANIFEST_NAME), "w", encoding="utf-8") as f:
            f.write(mf.dumps(manifest))


# ----------------------------------------------------------------------------- export

_PATTERN = re.compile(r"[^%]*%(0[1-9])?d[^%]*")
_EXPORT_CHUNK = 4096  # sequences formatted per bulk CSV write: bounds memory on large stores


def _csv_blocks(values: np.ndarray, lengths: np.ndarray) -> list[bytes]:
    """One CSV text per sequence, formatted in bulk by Arrow.

    Arrow writes floats in their shortest form that parses back to the same float32, so the
    round trip is exact (``0.1``, not ``0.100000001``).
    """
    table = pa.table({str(c): pa.array(values[:, c]) for c in range(values.shape[1])})
    buf = io.BytesIO()
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, delimiter=","))
    text = buf.getvalue()
    ends = np.flatnonzero(np.frombuffer(text, dtype=np.uint8) == ord("\n")) + 1
    bounds = np.concatenate(([0], ends[np.cumsum(lengths) - 1]))
    return [text[bounds[i]:bounds[i + 1]] for i in range(len(lengths))]


def export(store: SequenceStore | str | os.PathLike[str], out_dir: str | os.PathLike[str],
           pattern: str = "seq_%d.csv") -> list[str]:
    """Write a store back to numbered CSV files; returns the paths written.

    Sequence ``i`` (store order, from 0) goes to ``OUT/features/<pattern % i>`` and, when the
    store has labels, its labels to ``OUT/labels/<pattern % i>``: the layout DL4J's examples
    read with two ``NumberedFileInputSplit``s. Existing files of those names are replaced.
    """
    if not _PATTERN.fullmatch(pattern) or "/" in pattern:
        raise SeqDataError(f"pattern: expected a file name with exactly one %d or %0Nd token "
                           f"(N a digit 1-9), found {pattern!r}")
    store = store if isinstance(store, SequenceStore) else SequenceStore(store)
    written: list[str] = []
    for role in store.roles:
        directory = os.path.join(os.fspath(out_dir), role)
        with _os_errors(directory, "create the export directory"):
            os.makedirs(directory, exist_ok=True)
        reader = store.reader(role)
        for start in range(0, len(reader), _EXPORT_CHUNK):
            batch = reader.load_ragged(range(start, min(start + _EXPORT_CHUNK, len(reader))))
            for i, block in enumerate(_csv_blocks(batch.values, batch.lengths), start):
                path = os.path.join(directory, pattern % i)
                with _os_errors(path, "write the file"), open(path, "wb") as f:
                    f.write(block)
                written.append(path)
    return written
