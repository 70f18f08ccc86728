"""Sequence classification as in DL4J's UCI example: the six synthetic control chart classes.

The UCI "Synthetic Control Chart Time Series" data set (Alcock & Manolopoulos, 1999) is itself
synthetic, so instead of downloading it we generate it from its published definitions, with
``m = 30``, ``s = 2``, ``r ~ U(-3, 3)`` drawn per step and ``t = 1 .. 60``::

    0 normal              y(t) = m + r s
    1 cyclic              y(t) = m + r s + a sin(2 pi t / T)     a ~ U(10, 15), T ~ U(10, 15)
    2 increasing trend    y(t) = m + r s + g t                   g ~ U(0.2, 0.5)
    3 decreasing trend    y(t) = m + r s - g t
    4 upward shift        y(t) = m + r s + k x                   k ~ U(7.5, 20)
    5 downward shift      y(t) = m + r s - k x                   x = 0 before t3, 1 from t3 on,
                                                                  t3 ~ U(n/3, 2n/3)

Each series is written as a numbered CSV (one value per line) with a one-line label file, as
the DL4J example does, read back with ``CSVSequenceRecordReader`` and classified many-to-one
(``ALIGN_END``) by a GravesLSTM after ``NormalizerStandardize``.

Run ``python examples/uci_synthetic_control.py`` (full length) or with ``--quick``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from examples._common import argument_parser, epoch_count, initialized_network  # noqa: E402

CLASS_NAMES = ("normal", "cyclic", "increasing", "decreasing", "upward shift", "downward shift")
LENGTH = 60


def generate(n_per_class: int, length: int = LENGTH,
             seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n_per_class`` series of every class: values ``[6 n, length]``, labels ``[6 n]``.

    >>> x, y = generate(2, seed=1)
    >>> x.shape, y.tolist()
    ((12, 60), [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
    >>> bool(np.all(np.abs(generate(50)[0][:50] - 30) <= 6))   # normal: m +- 3 s
    True
    """
    rng = np.random.default_rng(seed)
    m, s = 30.0, 2.0
    t = np.arange(1, length + 1, dtype=np.float64)
    series, labels = [], []
    for label in range(len(CLASS_NAMES)):
        for _ in range(n_per_class):
            y = m + rng.uniform(-3.0, 3.0, size=length) * s
            if label == 1:
                a, period = rng.uniform(10.0, 15.0), rng.uniform(10.0, 15.0)
                y = y + a * np.sin(2.0 * np.pi * t / period)
            elif label in (2, 3):
                g = rng.uniform(0.2, 0.5)
                y = y + (g if label == 2 else -g) * t
            elif label in (4, 5):
                k = rng.uniform(7.5, 20.0)
                t3 = rng.uniform(length / 3.0, 2.0 * length / 3.0)
                x = (t >= t3).astype(np.float64)
                y = y + (k if label == 4 else -k) * x
            series.append(y)
            labels.append(label)
    return np.asarray(series), np.asarray(labels, dtype=np.int64)


def write_corpus(root: str | os.PathLike, n_per_class: int = 100, train_fraction: float = 0.75,
                 seed: int = 0) -> dict[str, int]:
    """Generate, shuffle and write ``{train,test}/{features,labels}/%d.csv`` under ``root``.

    Returns the number of sequences in each split.
    """
    values, labels = generate(n_per_class, seed=seed)
    order = np.random.default_rng(seed + 1).permutation(len(labels))
    values, labels = values[order], labels[order]
    n_train = int(round(train_fraction * len(labels)))
    counts = {}
    for split, rows in (("train", slice(0, n_train)), ("test", slice(n_train, None))):
        feat_dir = Path(root, split, "features")
        lab_dir = Path(root, split, "labels")
        feat_dir.mkdir(parents=True, exist_ok=True)
        lab_dir.mkdir(parents=True, exist_ok=True)
        for i, (series, label) in enumerate(zip(values[rows], labels[rows])):
            (feat_dir / f"{i}.csv").write_text("\n".join(f"{v:.6f}" for v in series) + "\n")
            (lab_dir / f"{i}.csv").write_text(f"{label}\n")
        counts[split] = len(labels[rows])
    return counts


def iterators(root: str | os.PathLike, counts: dict[str, int], batch_size: int):
    """Train and test iterators (ALIGN_END many-to-one), standardised with train statistics."""
    from seqdata.iterator import AlignmentMode, SequenceRecordReaderDataSetIterator
    from seqdata.normalizers import NormalizerStandardize
    from seqdata.readers.csv import CSVSequenceRecordReader
    from seqdata.splits import NumberedFileInputSplit

    def reader(split: str, kind: str) -> CSVSequenceRecordReader:
        r = CSVSequenceRecordReader(skip_num_lines=0, delimiter=",")
        r.initialize(NumberedFileInputSplit(
            os.path.join(root, split, kind, "%d.csv"), 0, counts[split] - 1))
        return r

    out = []
    for split in ("train", "test"):
        out.append(SequenceRecordReaderDataSetIterator(
            reader(split, "features"), reader(split, "labels"), batch_size, len(CLASS_NAMES),
            alignment_mode=AlignmentMode.ALIGN_END))
    train, test = out
    normalizer = NormalizerStandardize()
    normalizer.fit(train)
    train.set_pre_processor(normalizer)
    test.set_pre_processor(normalizer)
    return train, test


def build_network(hidden: int, learning_rate: float, seed: int):
    from seqnet.conf.layers import GravesLSTM, RnnOutputLayer
    from seqnet.conf.multilayer import MultiLayerConfiguration
    from seqnet.conf.updaters import Adam

    conf = MultiLayerConfiguration(
        layers=[GravesLSTM(n_in=1, n_out=hidden, activation="tanh"),
                RnnOutputLayer(n_out=len(CLASS_NAMES), activation="softmax", loss="MCXENT")],
        updater=Adam(learning_rate), seed=seed,
        gradient_normalization="CLIP_ELEMENT_WISE_ABSOLUTE_VALUE",
        gradient_normalization_threshold=0.5)
    return initialized_network(conf)


def mean_score(net, iterator) -> float:
    """The score (mean loss per sequence) over a whole iterator."""
    total, count = 0.0, 0
    for ds in iterator:
        n = ds.num_examples()
        total += net.score(ds) * n
        count += n
    return total / count


def main(argv: list[str] | None = None) -> dict:
    parser = argument_parser(__doc__)
    parser.add_argument("--data-dir", default=None, help="where to write the CSVs (default: temp)")
    args = parser.parse_args(argv)

    n_per_class = 30 if args.quick else 100
    epochs = epoch_count(args, quick=4, full=40)
    hidden = 16 if args.quick else 32

    with tempfile.TemporaryDirectory() as tmp:
        root = args.data_dir or tmp
        counts = write_corpus(root, n_per_class=n_per_class, seed=args.seed)
        train, test = iterators(root, counts, batch_size=10)
        net = build_network(hidden, 5e-3, args.seed)
        start = time.perf_counter()
        initial = mean_score(net, train)
        scores = []
        for epoch in range(1, epochs + 1):
            net.fit(train)
            scores.append(mean_score(net, train))
            print(f"epoch {epoch:3d}  train score {scores[-1]:.4f}")
        evaluation = net.evaluate(test)
        seconds = time.perf_counter() - start
    print(evaluation.stats())
    print(f"test accuracy {evaluation.accuracy():.4f}  F1 {evaluation.f1():.4f}  "
          f"({counts['train']} train / {counts['test']} test series, {seconds:.1f} s)")
    return {"initial_score": initial, "scores": scores, "accuracy": evaluation.accuracy(),
            "f1": evaluation.f1(), "seconds": seconds}


if __name__ == "__main__":
    main()
