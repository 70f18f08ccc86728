"""Synthetic sequence corpora for the benchmarks: one CSV file per sequence.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     pattern = make_corpus(d, n_files=3, min_rows=2, max_rows=4, n_cols=5, seed=0)
...     print(pattern.endswith("%d.csv"), len(open(pattern % 0).readline().split(",")))
True 5
"""

from __future__ import annotations

import os

import numpy as np


def make_corpus(dir: str | os.PathLike, n_files: int, min_rows: int, max_rows: int,
                n_cols: int, seed: int = 0) -> str:
    """Write ``n_files`` CSV files ``<dir>/0.csv .. <dir>/<n_files-1>.csv``; return the ``%d`` pattern.

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
