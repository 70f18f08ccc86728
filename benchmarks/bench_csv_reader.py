"""Bulk CSV reading vs a pandas-per-file loader vs one big file (the ceiling).

Run from the repository root::

    python benchmarks/bench_csv_reader.py            # 4,000 files x 50-150 rows x 10 columns
    python benchmarks/bench_csv_reader.py --files 500 --repeats 1

All three read the same rows (checked equal) from a warm page cache; each time is the best of
``--repeats`` full passes. The ratios are measured in this run, on this machine:

- ``load_ragged``: ``CSVSequenceRecordReader.load_ragged`` over minibatches of ``--batch`` files
  in order, which is what the iterator asks for during an epoch.
- ``pandas``: ``pandas.read_csv`` per file, then the batch stacked with ``np.concatenate`` (the
  loader people write first).
- ``one file``: the same rows as one CSV file parsed by one ``pyarrow.csv.read_csv`` call with
  threads: no per-file work at all, the ceiling for a per-file corpus.
"""

from __future__ import annotations

import os
import sys
import tempfile

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._timing import best_time  # noqa: E402
from benchmarks.corpus import corpus_of, corpus_parser  # noqa: E402
from seqdata.readers.csv import CSVSequenceRecordReader  # noqa: E402
from seqdata.splits import NumberedFileInputSplit  # noqa: E402


def batches(n: int, size: int) -> list[list[int]]:
    return [list(range(i, min(i + size, n))) for i in range(0, n, size)]


def read_with_reader(reader: CSVSequenceRecordReader, n: int, size: int) -> list[np.ndarray]:
    return [reader.load_ragged(b).values for b in batches(n, size)]


def read_with_pandas(paths: list[str], size: int) -> list[np.ndarray]:
    return [np.concatenate([pd.read_csv(paths[i], header=None).to_numpy(np.float64)
                            for i in b]) for b in batches(len(paths), size)]


def read_one_file(path: str, n_cols: int) -> np.ndarray:
    names = [f"c{j}" for j in range(n_cols)]
    table = pa_csv.read_csv(
        path, read_options=pa_csv.ReadOptions(column_names=names),
        parse_options=pa_csv.ParseOptions(quote_char=False),
        convert_options=pa_csv.ConvertOptions(column_types={n: pa.float64() for n in names}))
    return np.column_stack([c.to_numpy() for c in table.columns])


def main(argv: list[str] | None = None) -> None:
    args = corpus_parser(__doc__).parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="seqdl-bench-") as root:
        pattern = corpus_of(args, os.path.join(root, "corpus"))
        paths = [pattern % i for i in range(args.files)]
        big = os.path.join(root, "all.csv")
        with open(big, "wb") as out:
            for path in paths:
                with open(path, "rb") as f:
                    out.write(f.read())
        reader = CSVSequenceRecordReader()
        reader.initialize(NumberedFileInputSplit(pattern, 0, args.files - 1))

        t_reader, c_reader, ours = best_time(
            lambda: read_with_reader(reader, args.files, args.batch), args.repeats)
        t_pandas, c_pandas, theirs = best_time(lambda: read_with_pandas(paths, args.batch),
                                               args.repeats)
        t_ceiling, c_ceiling, ceiling = best_time(lambda: read_one_file(big, args.cols),
                                                  args.repeats)

        rows = sum(len(v) for v in ours)
        if not all(np.array_equal(a, b) for a, b in zip(ours, theirs)):
            raise SystemExit("load_ragged and pandas read different values")
        if not np.array_equal(np.concatenate(ours), ceiling):
            raise SystemExit("load_ragged and the one-file parse read different values")

    print(f"corpus: {args.files} files, {rows} rows x {args.cols} columns, "
          f"batch {args.batch}, {os.cpu_count()} CPUs, best of {args.repeats}")
    print("                       wall s    CPU s")
    for name, wall, cpu in (("load_ragged (bulk)", t_reader, c_reader),
                            ("pandas per file", t_pandas, c_pandas),
                            ("one file (ceiling)", t_ceiling, c_ceiling)):
        print(f"  {name:<19}{wall:8.3f} {cpu:8.3f}")
    print(f"speed-up vs pandas per file: {t_pandas / t_reader:5.1f}x wall, "
          f"{c_pandas / c_reader:5.1f}x CPU (issue 4: >= 8x, goal 10x)")
    print(f"one file / load_ragged:      {t_ceiling / t_reader:5.2f} wall "
          "(1.0 = as fast as one big file)")


if __name__ == "__main__":
    main()
