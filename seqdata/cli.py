"""The ``seqdata`` command: convert, info, validate and export (SPEC section 6).

FEATURES and LABELS are ``%d`` patterns (``data/features/%d.csv`` with ``--range MIN MAX``,
both inclusive), directories (every file below, in sorted path order as the SPEC's
``FileSplit``: ``10.csv`` before ``2.csv``; use a ``%d`` pattern for numeric order) or one
file, read by :func:`seqdata.splits.split_from_argument`. Labels skip no lines unless
``--label-skip-lines`` says so. Exit codes: 0 ok, 1 bad input (the message goes to stderr as
``error: ...``), 2 usage. Progress goes to stderr: a bar on a terminal, one line per step
otherwise (:mod:`seqdata.progress`).
"""

from __future__ import annotations

import collections
import logging
import os
import posixpath
from typing import Any

import click
import numpy as np

from seqdata.alignment import is_class_label
from seqdata.errors import SeqDataError, SplitArgumentError
from seqdata.locations import is_url
from seqdata.plots import plot_corpus
from seqdata.progress import Progress
from seqdata.progress import logger as progress_logger
from seqdata.readers.base import SequenceRecord
from seqdata.splits import InputSplit, is_pattern, split_from_argument
from seqdata.store.convert import convert as convert_corpus
from seqdata.store.export import export as export_store
from seqdata.store.manifest import LEGACY_MANIFEST_NAME, MANIFEST_NAME, length_stats
from seqdata.store.reader import SequenceStore
from seqdata.validate import CHUNK_FILES, iter_parsed, validate_corpus

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class _Group(click.Group):
    """Turns every :class:`SeqDataError` into ``error: <message>`` and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SeqDataError as e:
            click.echo(f"error: {e}", err=True)
            ctx.exit(1)


class _StderrHandler(logging.Handler):
    """Progress lines to whatever stderr is when they are written (click.echo)."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(record.getMessage(), err=True)


@click.group(cls=_Group, context_settings=_CONTEXT)
def main() -> None:
    """Inspect, validate and convert sequence corpora (one CSV file per sequence)."""
    if not any(isinstance(h, _StderrHandler) for h in progress_logger.handlers):
        progress_logger.addHandler(_StderrHandler())
        progress_logger.setLevel(logging.INFO)
        progress_logger.propagate = False


def _split(argument: str, range_: tuple[int, int] | None, name: str) -> InputSplit:
    """The split an argument names (:func:`~seqdata.splits.split_from_argument`)."""
    try:
        return split_from_argument(argument, range_, name=name)
    except SplitArgumentError as e:
        raise click.UsageError(str(e)) from None


def _is_store(argument: str) -> bool:
    return is_url(argument) or any(os.path.isfile(os.path.join(argument, name))
                                   for name in (MANIFEST_NAME, LEGACY_MANIFEST_NAME))


_range = click.option("--range", "range_", nargs=2, type=int, metavar="MIN MAX",
                      help="Index range of a %d pattern, both inclusive.")
_skip = click.option("--skip-lines", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Header lines to skip at the top of every feature file.")
_label_skip = click.option("--label-skip-lines", type=click.IntRange(min=0), default=0,
                           show_default=True,
                           help="Header lines to skip at the top of every label file.")


def _corpus_options(command: Any) -> Any:
    """FEATURES, --labels, --range and --skip-lines, in that order: a command that reads a corpus.

    Read them with :func:`_corpus_paths`.
    """
    labels = click.option("--labels",
                          help="Label files (pattern or directory), one per feature file.")
    for decorator in reversed((click.argument("features"), labels, _range, _skip)):
        command = decorator(command)
    return command


def _corpus_splits(features: str, labels: str | None, range_: tuple[int, int] | None
                   ) -> tuple[InputSplit, InputSplit | None]:
    """The feature split and the label split (``None`` without --labels) of a corpus."""
    return (_split(features, range_, "FEATURES"),
            None if labels is None else _split(labels, range_, "LABELS"))


@main.command(context_settings=_CONTEXT)
@_corpus_options
@_label_skip
@click.option("--delimiter", default=",", show_default=True,
              help="One character is literal; longer is a regular expression.")
@click.option("--out", required=True, type=click.Path(), help="The store directory to write.")
@click.option("--overwrite", is_flag=True, help="Replace an existing store at --out.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Parallel conversion threads.  [default: usable CPUs, at most 8]")
@click.option("--on-error", type=click.Choice(["raise", "skip"]), default="raise",
              show_default=True, help="Stop at a bad file, or skip it and list it in the manifest.")
def convert(features: str, labels: str | None, range_: tuple[int, int] | None, skip_lines: int,
            label_skip_lines: int, delimiter: str, out: str, overwrite: bool,
            workers: int | None, on_error: str) -> None:
    """Convert a corpus into a packed Parquet store at --out."""
    feature_split, label_split = _corpus_splits(features, labels, range_)
    store = convert_corpus(feature_split, out, label_split, skip_num_lines=skip_lines,
                           label_skip_num_lines=label_skip_lines, delimiter=delimiter,
                           overwrite=overwrite, workers=workers, on_error=on_error)
    skipped = len(store.manifest["skipped"])
    click.echo(f"wrote {len(store)} sequences to {out}"
               + (f"; skipped {skipped} (listed in {MANIFEST_NAME})" if skipped else ""))


def _stats_line(stats: dict[str, Any]) -> str:
    return f"min {stats['min']}, median {stats['median']:g}, max {stats['max']}"


def _corpus_name(argument: str, store: bool = False) -> str:
    """What a plot's title calls a corpus: the store's name, or the last two directories of
    a pattern or directory (``train/features``), never the whole path."""
    text = argument.rstrip("/")
    if store:
        return posixpath.basename(text) or argument
    if is_pattern(text) or os.path.isfile(text):
        text = os.path.dirname(text)
    parts = [p for p in text.replace("\\", "/").split("/") if p not in ("", ".")]
    return "/".join(parts[-2:]) or argument


def _class_counts(classes: list[int | None]) -> dict[int, int]:
    found = [c for c in classes if c is not None]
    values, counts = np.unique(np.array(found, dtype=np.int64), return_counts=True)
    return {int(v): int(n) for v, n in zip(values, counts)}


def _sequence_class(values: np.ndarray) -> int | None:
    """A sequence's class: the class of its last label step, if that is a class index."""
    if values.ndim != 2 or values.shape[1] != 1 or not is_class_label(values[-1:, 0]).all():
        return None
    return int(values[-1, 0])


@main.command(context_settings=_CONTEXT)
@click.argument("path_or_pattern")
@click.option("--labels", help="Label files of a CSV corpus (pattern or directory): adds "
                               "class counts.")
@_range
@_skip
@_label_skip
@click.option("--plot", type=click.Path(dir_okay=False), default=None, metavar="FILE.png",
              help="Draw sequence lengths, class counts and example series per class.")
def info(path_or_pattern: str, labels: str | None, range_: tuple[int, int] | None,
         skip_lines: int, label_skip_lines: int, plot: str | None) -> None:
    """Summarise a store or a corpus: sequences, columns, lengths, class counts."""
    classes: list[int | None] | None = None
    if _is_store(path_or_pattern):
        if range_ is not None or labels is not None:
            raise click.UsageError("--range and --labels apply to a CSV corpus, not to a store")
        store = SequenceStore(path_or_pattern)
        m = store.manifest
        lengths = store.sequence_lengths("features")
        click.echo(f"store: {path_or_pattern}")
        click.echo(f"sequences: {len(store)}")
        for role in store.roles:
            width = m["columns"][role]
            names = store.channel_names(role)
            click.echo(f"{role}: {width} column{'' if width == 1 else 's'}"
                       + (f" ({', '.join(names)})" if names else "")
                       + f", length {_stats_line(m['lengths'][role])}")
        if m.get("label_counts"):
            counts = ", ".join(f"{k}: {v}" for k, v in m["label_counts"].items())
            click.echo(f"label counts: {counts}")
        if m["skipped"]:
            click.echo(f"skipped: {len(m['skipped'])} files (listed in {MANIFEST_NAME})")
        if plot is not None and "labels" in store.roles and store.columns("labels") == 1:
            reader = store.reader("labels")
            classes = [_sequence_class(r.values) for r in reader.load_sequences(range(len(store)))]
        examples: Any = store.reader("features").load_sequences
    else:
        feature_split, label_split = _corpus_splits(path_or_pattern, labels, range_)
        paths = feature_split.locations()
        per_file, widths = [], set()
        bar = Progress(len(paths), "info", "file")
        for k, (_, batch, problem) in enumerate(iter_parsed(paths, skip_lines, ",")):
            if batch is None:
                raise SeqDataError(f"{problem} (run seqdata validate to list every problem)")
            per_file.append(int(batch.lengths[0]))
            widths.add(int(batch.values.shape[1]))
            if (k + 1) % CHUNK_FILES == 0 or k + 1 == len(paths):
                bar.update(k + 1 - bar.done)
        lengths = np.array(per_file)
        click.echo(f"corpus: {path_or_pattern}")
        click.echo(f"sequences: {len(lengths)}")
        click.echo(f"columns: {', '.join(map(str, sorted(widths)))}")
        click.echo(f"length: {_stats_line(length_stats(lengths))}")
        if label_split is not None:
            classes = []
            for _, batch, problem in iter_parsed(label_split.locations(), label_skip_lines, ","):
                if batch is None:
                    raise SeqDataError(f"{problem} (run seqdata validate to list every "
                                       "problem)")
                classes.append(_sequence_class(batch.values))
            if len(classes) != len(lengths):
                raise SeqDataError(f"expected as many label files as feature files "
                                   f"({len(lengths)}), found {len(classes)}")
            class_counts = _class_counts(classes)
            if class_counts:
                click.echo("label counts: "
                           + ", ".join(f"{k}: {v}" for k, v in class_counts.items()))
            else:
                click.echo("label counts: none (the labels are not class indices)")

        def examples(indices: list[int]) -> list[Any]:
            return [SequenceRecord(b.values, p, 1) for p, b, _ in
                    iter_parsed([paths[i] for i in indices], skip_lines, ",") if b is not None]
    if plot is not None:
        plot_corpus(plot, _corpus_name(path_or_pattern, _is_store(path_or_pattern)), lengths,
                    classes, examples)
        click.echo(f"plot: {plot}")


@main.command(context_settings=_CONTEXT)
@_corpus_options
@_label_skip
@click.option("--num-classes", type=click.IntRange(min=1), default=None,
              help="Check that labels are class indices in [0, K) (needs --labels, or a store "
                   "with labels).")
def validate(features: str, labels: str | None, range_: tuple[int, int] | None,
             skip_lines: int, label_skip_lines: int, num_classes: int | None) -> None:
    """Check a corpus (every file, every problem as FILE:LINE:COLUMN: WHAT) or a store (every
    part against its manifest); exit 1 if anything is wrong."""
    if _is_store(features):
        if labels is not None or range_ is not None:
            raise click.UsageError("--labels and --range apply to a CSV corpus, not to a store")
        store = SequenceStore(features)
        store.verify(num_classes)
        click.echo(f"ok: store {features}: {len(store)} sequence(s) in "
                   f"{len(store.manifest['parts'])} part(s), every checksum and count verified")
        return
    if num_classes is not None and labels is None:
        raise click.UsageError("--num-classes checks label files: give them with --labels")
    feature_split, label_split = _corpus_splits(features, labels, range_)
    report = validate_corpus(feature_split.locations(),
                             None if label_split is None else label_split.locations(),
                             skip_num_lines=skip_lines, label_skip_num_lines=label_skip_lines,
                             num_possible_labels=num_classes, progress=True)
    for line in condensed(report.problems):
        click.echo(line)
    for note in report.notes:
        click.echo(f"note: {note}")
    if report.problems:
        click.echo(f"error: {len(report.problems)} problem(s) in {report.sequences} "
                   "sequence(s)", err=True)
        raise click.exceptions.Exit(1)
    click.echo(f"ok: {report.sequences} sequence(s)")


def condensed(problems: list[str], shown: int = 3) -> list[str]:
    """Problems as printed: one that recurs in many files (a header line in every file) is
    shown for its first ``shown`` files, then counted, so the one fix stays in view.

    >>> condensed([f"f{i}.csv:1:1: header" for i in range(5)] + ["g.csv:2:1: bad"], 2)
    ['f0.csv:1:1: header', 'f1.csv:1:1: header', '... and 3 more files: header', 'g.csv:2:1: bad']
    """
    def what(problem: str) -> str:
        parts = problem.split(": ", 1)
        return parts[1] if len(parts) == 2 else problem

    counts = collections.Counter(what(p) for p in problems)
    seen: collections.Counter[str] = collections.Counter()
    out = []
    for problem in problems:
        key = what(problem)
        seen[key] += 1
        if counts[key] <= shown + 1 or seen[key] <= shown:
            out.append(problem)
        elif seen[key] == counts[key]:
            out.append(f"... and {counts[key] - shown} more files: {key}")
    return out


@main.command(context_settings=_CONTEXT)
@click.argument("store")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Directory for features/ (and labels/).")
@click.option("--pattern", default="seq_%d.csv", show_default=True,
              help="File name with one %d (numbered from 0).")
def export(store: str, out: str, pattern: str) -> None:
    """Write a store back to numbered CSV files: OUT/features/PATTERN, OUT/labels/PATTERN."""
    written = export_store(store, out, pattern, progress=True)
    click.echo(f"wrote {len(written)} files to {out}")
