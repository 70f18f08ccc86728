"""Synthetic sequence corpora for the benchmarks: one CSV file per sequence, and the options
that size them.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     pattern = make_corpus(d, n_files=3, min_rows=2, max_rows=4, n_cols=5, seed=0)
...     print(pattern.endswith("%d.csv"), len(open(pattern % 0).readline().split(",")))
True 5
"""

from __future__ import annotations

import argparse
import os

import numpy as np


def corpus_parser(doc: str) -> argparse.ArgumentParser:
    """The options of a benchmark over a :func:`make_corpus` corpus read in minibatches.

    >>> args = corpus_parser("Demo.").parse_args(["--files", "10"])
    >>> args.files, args.min_rows, args.max_rows, args.cols, args.batch, args.repeats, args.seed
    (10, 50, 150, 10, 32, 3, 0)
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--files", type=int, default=4000)
    parser.add_argument("--min-rows", type=int, default=50)
    parser.add_argument("--max-rows", type=int, default=150)
    parser.add_argument("--cols", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def corpus_of(args: argparse.Namespace, dir: str | os.PathLike) -> str:
    """:func:`make_corpus` sized by :func:`corpus_parser`'s options; the ``%d`` pattern."""
    return make_corpus(dir, args.files, args.min_rows, args.max_rows, args.cols, args.seed)


def make_corpus(dir: str | os.PathLike, n_files: int, min_rows: int, max_rows: int,
                n_cols: int, seed: int = 0) -> str:
    """Write ``n_files`` CSV files ``<dir>/0.csv .. <dir>/<n_files-1>.csv``; return the ``%d``
    pattern.

    Each file holds ``min_rows..max_rows`` rows (uniform, inclusive) of ``n_cols`` comma-separated
    values drawn from a standard normal and written with 6 significant digits, no header: the
    layout of DL4J's sequence examples. The same ``seed`` always writes the same bytes.
    """
    os.makedirs(dir, exist_ok=True)
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_rows, max_rows + 1, size=n_files)
    row_format = ",".join(["%.6g"] * n_cols)
    for i, length in enumerate(lengths):
        values = rng.standard_normal((int(length), n_cols))
        text = "\n".join(row_format % tuple(row) for row in values.tolist()) + "\n"
        with open(os.path.join(dir, f"{i}.csv"), "w", encoding="utf-8", newline="") as f:
            f.write(text)
    return os.path.join(os.fspath(dir), "%d.csv")
