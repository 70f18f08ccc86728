"""The ``seqdata`` command: convert, info, validate and export (SPEC section 6).

FEATURES and LABELS are ``%d`` patterns (``data/features/%d.csv`` with ``--range MIN MAX``,
both inclusive), directories (every file below, sorted by path) or one file, read by
:func:`seqdata.splits.split_from_argument`. Exit codes: 0 ok, 1 bad input (the message goes
to stderr as ``error: ...``), 2 usage.
"""

from __future__ import annotations

import os
from typing import Any

import click
import numpy as np

from seqdata.errors import SeqDataError, SplitArgumentError
from seqdata.locations import is_url
from seqdata.splits import split_from_argument
from seqdata.store.convert import convert as convert_corpus
from seqdata.store.export import export as export_store
from seqdata.store.manifest import MANIFEST_NAME, length_stats
from seqdata.store.reader import SequenceStore
from seqdata.validate import iter_parsed, validate_corpus

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class _Group(click.Group):
    """Turns every :class:`SeqDataError` into ``error: <message>`` and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SeqDataError as e:
            click.echo(f"error: {e}", err=True)
            ctx.exit(1)


@click.group(cls=_Group, context_settings=_CONTEXT)
def main() -> None:
    """Inspect, validate and convert sequence corpora (one CSV file per sequence)."""


def _split(argument: str, range_: tuple[int, int] | None, name: str) -> list[str]:
    """The files an argument names (:func:`~seqdata.splits.split_from_argument`)."""
    try:
        return split_from_argument(argument, range_, name=name).locations()
    except SplitArgumentError as e:
        raise click.UsageError(str(e)) from None


_range = click.option("--range", "range_", nargs=2, type=int, metavar="MIN MAX",
                      help="Index range of a %d pattern, both inclusive.")
_skip = click.option("--skip-lines", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Header lines to skip at the top of every file.")


def _corpus_options(command: Any) -> Any:
    """FEATURES, --labels, --range and --skip-lines, in that order: a command that reads a corpus.

    Read them with :func:`_corpus_paths`.
    """
    labels = click.option("--labels",
                          help="Label files (pattern or directory), one per feature file.")
    for decorator in reversed((click.argument("features"), labels, _range, _skip)):
        command = decorator(command)
    return command


def _corpus_paths(features: str, labels: str | None, range_: tuple[int, int] | None
                  ) -> tuple[list[str], list[str] | None]:
    """The feature files and the label files (``None`` without --labels) of a corpus."""
    return (_split(features, range_, "FEATURES"),
            None if labels is None else _split(labels, range_, "LABELS"))


@main.command(context_settings=_CONTEXT)
@_corpus_options
@click.option("--label-skip-lines", type=click.IntRange(min=0), default=0, show_default=True,
              help="Header lines to skip at the top of every label file.")
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
    feature_paths, label_paths = _corpus_paths(features, labels, range_)
    store = convert_corpus(feature_paths, out, label_paths, skip_num_lines=skip_lines,
                           label_skip_num_lines=label_skip_lines, delimiter=delimiter,
                           overwrite=overwrite, workers=workers, on_error=on_error)
    skipped = len(store.manifest["skipped"])
    click.echo(f"wrote {len(store)} sequences to {out}"
               + (f"; skipped {skipped} (listed in {MANIFEST_NAME})" if skipped else ""))


def _stats_line(stats: dict[str, Any]) -> str:
    return f"min {stats['min']}, median {stats['median']:g}, max {stats['max']}"


def _plot(lengths: np.ndarray, path: str, title: str) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SeqDataError("--plot needs matplotlib, which is not installed: "
                           "pip install 'seqdl[plot]'") from None
    # NOTE [ Plot size ]
    # A fixed 8x5 inch figure at 100 dpi: every plot is 800x500 pixels, whatever the data.
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    lo, hi = int(lengths.min()), int(lengths.max())
    width = -(-(hi - lo + 1) // 50)  # at most 50 bins, each a whole number of steps
    ax.hist(lengths, bins=(np.arange(lo, hi + width + 1, width) - 0.5).tolist())
    ax.set_xlabel("sequence length (steps)")
    ax.set_ylabel("sequences")
    ax.set_title(title)
    try:
        fig.savefig(path, dpi=100)
    except OSError as e:
        raise SeqDataError(f"--plot: cannot write {path}: {e}") from None
    finally:
        plt.close(fig)


@main.command(context_settings=_CONTEXT)
@click.argument("path_or_pattern")
@_range
@_skip
@click.option("--plot", type=click.Path(dir_okay=False), default=None, metavar="FILE.png",
              help="Draw the histogram of sequence lengths.")
def info(path_or_pattern: str, range_: tuple[int, int] | None, skip_lines: int,
         plot: str | None) -> None:
    """Summarise a store or a corpus: sequences, columns, lengths, label counts."""
    is_store = is_url(path_or_pattern) or os.path.isfile(
        os.path.join(path_or_pattern, MANIFEST_NAME))
    if is_store:
        if range_ is not None:
            raise click.UsageError("--range applies to %d patterns, not to a store")
        store = SequenceStore(path_or_pattern)
        m = store.manifest
        lengths = store.sequence_lengths("features")
        click.echo(f"store: {path_or_pattern}")
        click.echo(f"sequences: {len(store)}")
        for role in store.roles:
            width = m["columns"][role]
            click.echo(f"{role}: {width} column{'' if width == 1 else 's'}, length "
                       f"{_stats_line(m['lengths'][role])}")
        if m.get("label_counts"):
            counts = ", ".join(f"{k}: {v}" for k, v in m["label_counts"].items())
            click.echo(f"label counts: {counts}")
        if m["skipped"]:
            click.echo(f"skipped: {len(m['skipped'])} files (listed in {MANIFEST_NAME})")
    else:
        paths = _split(path_or_pattern, range_, "PATH_OR_PATTERN")
        per_file, widths = [], set()
        for _, batch, problem in iter_parsed(paths, skip_lines, ","):
            if batch is None:
                raise SeqDataError(f"{problem} (run seqdata validate to list every problem)")
            per_file.append(int(batch.lengths[0]))
            widths.add(int(batch.values.shape[1]))
        lengths = np.array(per_file)
        click.echo(f"corpus: {path_or_pattern}")
        click.echo(f"sequences: {len(lengths)}")
        click.echo(f"columns: {', '.join(map(str, sorted(widths)))}")
        click.echo(f"length: {_stats_line(length_stats(lengths))}")
    if plot is not None:
        _plot(lengths, plot, f"{path_or_pattern}: {len(lengths)} sequences")
        click.echo(f"plot: {plot}")


@main.command(context_settings=_CONTEXT)
@_corpus_options
@click.option("--num-classes", type=click.IntRange(min=1), default=None,
              help="Check that labels are class indices in [0, K).")
def validate(features: str, labels: str | None, range_: tuple[int, int] | None,
             skip_lines: int, num_classes: int | None) -> None:
    """Check every file and report every problem as FILE:LINE:COLUMN: WHAT (exit 1 if any)."""
    feature_paths, label_paths = _corpus_paths(features, labels, range_)
    report = validate_corpus(feature_paths, label_paths, skip_num_lines=skip_lines,
                             num_possible_labels=num_classes)
    for problem in report.problems:
        click.echo(problem)
    for note in report.notes:
        click.echo(f"note: {note}")
    if report.problems:
        click.echo(f"error: {len(report.problems)} problem(s) in {report.sequences} "
                   "sequence(s)", err=True)
        raise click.exceptions.Exit(1)
    click.echo(f"ok: {report.sequences} sequence(s)")


@main.command(context_settings=_CONTEXT)
@click.argument("store")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Directory for features/ (and labels/).")
@click.option("--pattern", default="seq_%d.csv", show_default=True,
              help="File name with one %d (numbered from 0).")
def export(store: str, out: str, pattern: str) -> None:
    """Write a store back to numbered CSV files: OUT/features/PATTERN, OUT/labels/PATTERN."""
    written = export_store(store, out, pattern)
    click.echo(f"wrote {len(written)} files to {out}")
