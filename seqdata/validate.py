"""Checking a CSV corpus before converting or training on it (``seqdata validate``).

Unlike a reader, which stops at the first error, :func:`validate_corpus` reports every problem
it finds: each file that does not parse (at its first bad line), missing files, files with a
different number of columns than the first, ``nan``/``inf`` values, labels that cannot become
one-hot, and a feature/label file count mismatch. Lengths that differ between a sequence's
features and labels are only noted: ALIGN_START and ALIGN_END accept them.

>>> import os, tempfile
>>> d = tempfile.mkdtemp()
>>> for name, text in [("a.csv", "1,2\\n3,nan\\n"), ("b.csv", "1,2\\n3,x\\n")]:
...     with open(os.path.join(d, name), "w") as f:
...         _ = f.write(text)
>>> report = validate_corpus([os.path.join(d, "a.csv"), os.path.join(d, "b.csv")])
>>> [os.path.basename(p) for p in report.problems]
['a.csv:2:2: non-finite value nan', "b.csv:2:2: expected a number, found 'x'"]
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from seqdata.alignment import is_class_label
from seqdata.errors import SeqDataError
from seqdata.locations import local_path
from seqdata.progress import Progress
from seqdata.readers.base import RaggedBatch
from seqdata.readers.csv import read_csv_batch

__all__ = ["ValidationReport", "iter_parsed", "validate_corpus"]

# Files parsed per bulk read: bounds memory while keeping the fast path fast.
CHUNK_FILES = 512
# Values of one kind listed per file before the rest are summarised in one line.
MAX_LISTED_PER_FILE = 10


@dataclass
class ValidationReport:
    """``problems``: one ``file:line:column: what`` line each; ``notes``: informational."""

    sequences: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def iter_parsed(paths: Sequence[str], skip_num_lines: int = 0, delimiter: str = ","
                ) -> Iterator[tuple[str, RaggedBatch | None, str | None]]:
    """Every file with its one-sequence batch, or ``None`` and the reason it does not parse.

    Files are parsed in bulk :data:`CHUNK_FILES` at a time; only a chunk that fails is parsed
    file by file, to find every bad file in it.
    """
    for start in range(0, len(paths), CHUNK_FILES):
        chunk = list(paths[start:start + CHUNK_FILES])
        present = [p for p in chunk if _present(p)]
        batch = None
        if len(present) == len(chunk):
            try:
                batch = read_csv_batch(chunk, skip_num_lines, delimiter)
            except SeqDataError:
                batch = None
        if batch is not None:
            ends = np.cumsum(batch.lengths)
            for i, path in enumerate(chunk):
                yield path, RaggedBatch(batch.values[ends[i] - batch.lengths[i]:ends[i]],
                                        batch.lengths[i:i + 1], [path],
                                        batch.first_lines[i:i + 1]), None
            continue
        for path in chunk:
            if path not in present:
                yield path, None, f"{path}: file not found"
                continue
            try:
                yield path, read_csv_batch([path], skip_num_lines, delimiter), None
            except SeqDataError as e:
                yield path, None, str(e)


def _present(location: str) -> bool:
    """Whether a local file exists; a URL counts as present until it is read."""
    path = local_path(location)
    return path is None or os.path.isfile(path)


def _listed(messages: list[str], what: str, path: str) -> list[str]:
    if len(messages) <= MAX_LISTED_PER_FILE:
        return messages
    rest = len(messages) - MAX_LISTED_PER_FILE
    return messages[:MAX_LISTED_PER_FILE] + [f"{path}: ... and {rest} more {what}"]


def _non_finite(batch: RaggedBatch) -> list[str]:
    rows, cols = np.nonzero(~np.isfinite(batch.values))
    path, first = batch.sources[0], int(batch.first_lines[0])
    return _listed([f"{path}:{first + r}:{c + 1}: non-finite value {batch.values[r, c]}"
                    for r, c in zip(rows.tolist(), cols.tolist())], "non-finite values", path)


def _bad_labels(batch: RaggedBatch, num_possible_labels: int) -> list[str]:
    path, first = batch.sources[0], int(batch.first_lines[0])
    if batch.values.shape[1] != 1:
        return [f"{path}:{first}: expected one label column to one-hot, found "
                f"{batch.values.shape[1]}"]
    v = batch.values[:, 0]
    bad = ~is_class_label(v, num_possible_labels)
    return _listed([f"{path}:{first + r}:1: cannot convert label {v[r]:g} to one-hot: expected "
                    f"an integer in [0, {num_possible_labels})"
                    for r in np.flatnonzero(bad).tolist()], "bad labels", path)


def _check_role(paths: Sequence[str], skip_num_lines: int, delimiter: str,
                report: ValidationReport, num_possible_labels: int | None = None,
                role: str = "features", progress: bool = False) -> dict[str, int]:
    """Add one role's problems to ``report``; return the length of each readable file."""
    lengths: dict[str, int] = {}
    reference: tuple[str, int] | None = None
    bar = Progress(len(paths), f"validate {role}", "file", enabled=progress)
    for k, (path, batch, problem) in enumerate(iter_parsed(paths, skip_num_lines, delimiter)):
        if (k + 1) % CHUNK_FILES == 0 or k + 1 == len(paths):
            bar.update((k + 1) - bar.done)
        if batch is None:
            report.problems.append(str(problem))
            continue
        width = batch.values.shape[1]
        if reference is None:
            reference = (path, width)
        elif width != reference[1]:
            report.problems.append(f"{path}:{int(batch.first_lines[0])}: expected {reference[1]}"
                                   f" columns (as in {reference[0]}), found {width}")
        lengths[path] = int(batch.lengths[0])
        report.problems += _non_finite(batch)
        if num_possible_labels is not None:
            report.problems += _bad_labels(batch, num_possible_labels)
    return lengths


def validate_corpus(features: Sequence[str], labels: Sequence[str] | None = None, *,
                    skip_num_lines: int = 0, label_skip_num_lines: int = 0,
                    delimiter: str = ",", num_possible_labels: int | None = None,
                    progress: bool = False) -> ValidationReport:
    """Check every file of a corpus and report all problems (see the module docstring).

    ``features`` and ``labels`` are lists of paths (file ``i`` of ``labels`` labels file ``i``
    of ``features``); ``num_possible_labels`` checks that labels are class indices in
    ``[0, num_possible_labels)``. Label files skip ``label_skip_num_lines`` lines (default 0,
    as everywhere: labels skip nothing unless told). ``progress`` reports each chunk of files
    (:class:`~seqdata.progress.Progress`).
    """
    report = ValidationReport(sequences=len(features))
    if labels is not None and len(labels) != len(features):
        report.problems.append(f"expected as many label files as feature files "
                               f"({len(features)}), found {len(labels)}")
    feature_lengths = _check_role(features, skip_num_lines, delimiter, report,
                                  progress=progress)
    if labels is None:
        return report
    label_lengths = _check_role(labels, label_skip_num_lines, delimiter, report,
                                num_possible_labels, "labels", progress)
    differ = [(f, lb) for f, lb in zip(features, labels)
              if f in feature_lengths and lb in label_lengths
              and feature_lengths[f] != label_lengths[lb]]
    if differ:
        f, lb = differ[0]
        report.notes.append(f"{len(differ)} sequence(s) have features and labels of different "
                            f"lengths (ALIGN_START / ALIGN_END, not EQUAL_LENGTH), e.g. "
                            f"{feature_lengths[f]} and {label_lengths[lb]} steps in "
                            f"{os.path.basename(f)}, {os.path.basename(lb)}")
    return report
