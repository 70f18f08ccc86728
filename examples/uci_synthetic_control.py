"""Sequence classification as in DL4J's UCI example: the six synthetic control chart classes.

Trains on the real UCI "Synthetic Control Chart Time Series" data (Alcock & Manolopoulos,
1999): 600 series of 60 steps, one value per step, in six classes (normal, cyclic,
increasing trend, decreasing trend, upward shift, downward shift), split 450 / 150 and laid
out as DL4J's ``UCISequenceClassificationExample`` writes them (``fixtures/
uci_synthetic_control/{train,test}/{features,labels}/%d.csv``; provenance in
``fixtures/README.md``). The series are read with ``CSVSequenceRecordReader``, standardised
with ``NormalizerStandardize`` and classified many-to-one (``ALIGN_END``) by a GravesLSTM,
with DL4J's element-wise gradient clipping.

Run ``python examples/uci_synthetic_control.py`` (full length) or with ``--quick``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from examples._common import argument_parser, epoch_count, initialized_network  # noqa: E402

CLASS_NAMES = ("normal", "cyclic", "increasing", "decreasing", "upward shift", "downward shift")
DATA = Path(__file__).resolve().parents[1] / "fixtures" / "uci_synthetic_control"
COUNTS = {"train": 450, "test": 150}
QUICK_COUNTS = {"train": 150, "test": 150}      # --quick: the first 150 training series


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
    from seqnet import (
        Adam,
        GradientNormalization,
        GravesLSTM,
        LossFunction,
        MultiLayerConfiguration,
        RnnOutputLayer,
    )

    conf = MultiLayerConfiguration(
        layers=[GravesLSTM(n_in=1, n_out=hidden, activation="tanh"),
                RnnOutputLayer(LossFunction.MCXENT, n_out=len(CLASS_NAMES),
                               activation="softmax")],
        updater=Adam(learning_rate), seed=seed,
        # As DL4J's example: without clipping the 60-step series make the first updates
        # jump (scores of 10+); element-wise clipping at 0.5 keeps training smooth.
        gradient_normalization=GradientNormalization.ClipElementWiseAbsoluteValue,
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
    parser.add_argument("--data-dir", default=str(DATA),
                        help="DL4J's layout: {train,test}/{features,labels}/%%d.csv")
    args = parser.parse_args(argv)

    epochs = epoch_count(args, quick=3, full=40)
    hidden = 16 if args.quick else 32
    counts = QUICK_COUNTS if args.quick else COUNTS

    train, test = iterators(args.data_dir, counts, batch_size=10)
    net = build_network(hidden, 5e-3, args.seed)
    start = time.perf_counter()
    initial = mean_score(net, train)
    scores = []
    for epoch in range(1, epochs + 1):
        net.fit(train, progress=False)
        scores.append(mean_score(net, train))
        print(f"epoch {epoch:3d}  train score {scores[-1]:.4f}")
    evaluation = net.evaluate(test)
    seconds = time.perf_counter() - start
    print(evaluation.stats())
    print(f"test accuracy {evaluation.accuracy():.4f}  F1 {evaluation.f1():.4f}  "
          f"({counts['train']} train / {counts['test']} test series, {epochs} epochs, "
          f"{seconds:.1f} s)")
    return {"initial_score": initial, "scores": scores, "accuracy": evaluation.accuracy(),
            "f1": evaluation.f1(), "seconds": seconds}


if __name__ == "__main__":
    main()
