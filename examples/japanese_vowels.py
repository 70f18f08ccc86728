"""Variable-length many-to-one classification on real data: Japanese Vowels, in Python.

The same job as ``seqnet train examples/japanese_vowels.toml``, written out with the library
API: nine speakers saying /ae/, 12 LPC cepstrum coefficients per frame, 7 to 29 frames per
utterance (UCI KDD archive; 270 training and 370 test utterances in ``fixtures/``). Each
utterance has one label row; ``ALIGN_END`` puts it on the utterance's last frame, the label
mask makes the loss and the evaluation look only there, and the feature mask keeps the
padded frames out of the LSTM state.

Run ``python examples/japanese_vowels.py`` (full length) or with ``--quick``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from examples._common import argument_parser, epoch_count, initialized_network  # noqa: E402

DATA = ROOT / "fixtures" / "japanese_vowels"
SIZES = {"train": 270, "test": 370}


def iterator(split: str, batch_size: int, shuffle: bool = False, seed: int = 0):
    from seqdata.iterator import SequenceRecordReaderDataSetIterator
    from seqdata.readers.csv import CSVSequenceRecordReader
    from seqdata.splits import NumberedFileInputSplit

    readers = []
    for kind in ("features", "labels"):
        reader = CSVSequenceRecordReader(skip_num_lines=0, delimiter=",")
        reader.initialize(NumberedFileInputSplit(str(DATA / split / kind / "%d.csv"), 0,
                                                 SIZES[split] - 1))
        readers.append(reader)
    return SequenceRecordReaderDataSetIterator(
        readers[0], readers[1], batch_size, 9,
        alignment_mode=SequenceRecordReaderDataSetIterator.AlignmentMode.ALIGN_END,
        shuffle=shuffle, seed=seed)


def build_network(hidden: int, seed: int):
    from seqnet.conf.layers import GravesLSTM, RnnOutputLayer
    from seqnet.conf.multilayer import MultiLayerConfiguration
    from seqnet.conf.updaters import Adam

    conf = MultiLayerConfiguration(
        layers=[GravesLSTM(n_in=12, n_out=hidden, activation="tanh"),
                RnnOutputLayer(n_out=9, activation="softmax", loss="MCXENT")],
        updater=Adam(5e-3), l2=1e-4, seed=seed)
    return initialized_network(conf)


def main(argv: list[str] | None = None) -> dict:
    parser = argument_parser(__doc__)
    args = parser.parse_args(argv)

    from seqdata.normalizers import NormalizerStandardize

    epochs = epoch_count(args, quick=3, full=30)
    train = iterator("train", 32, shuffle=True, seed=args.seed)
    test = iterator("test", 64)
    normalizer = NormalizerStandardize()
    normalizer.fit(train)
    train.set_pre_processor(normalizer)
    test.set_pre_processor(normalizer)

    net = build_network(32 if args.quick else 100, args.seed)
    start = time.perf_counter()
    first = net.evaluate(test)
    initial_score = sum(net.score(ds) * ds.num_examples() for ds in train) / SIZES["train"]
    scores = []
    for epoch in range(1, epochs + 1):
        total = 0.0
        for ds in train:
            net.fit(ds)
            total += net.score() * ds.num_examples()
        scores.append(total / SIZES["train"])
        print(f"epoch {epoch:3d}  train score {scores[-1]:.4f}")
    evaluation = net.evaluate(test)
    seconds = time.perf_counter() - start
    print(evaluation.stats())
    print(f"test accuracy {evaluation.accuracy():.4f} (untrained {first.accuracy():.4f}), "
          f"{epochs} epochs in {seconds:.1f} s")
    return {"initial_score": initial_score, "scores": scores,
            "accuracy": evaluation.accuracy(), "untrained_accuracy": first.accuracy(),
            "seconds": seconds}


if __name__ == "__main__":
    main()
