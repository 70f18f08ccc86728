"""Video frame classification as in DL4J's RNN guide: a CNN -> dense -> GravesLSTM network.

Our own generator draws short grey-scale videos of one moving shape (circle, square, arc or
line) bouncing around a small frame, with pixel noise and a faint distractor blob. Each video
is stored as ``features/%d.npy`` (``[T, H, W]`` float32) with a per-frame label file
``labels/%d.csv`` (one class index per line, one line per frame), read with
``NpySequenceRecordReader`` + ``CSVSequenceRecordReader``. The network is
``ConvolutionLayer -> SubsamplingLayer -> DenseLayer -> GravesLSTM -> RnnOutputLayer``; only the
first preprocessor (sequence of flat frames -> images) is given, the others (CNN -> dense,
dense -> RNN) are added automatically, as in DL4J. Training uses truncated BPTT and evaluation
counts every frame.

Run ``python examples/video_frames.py`` (full length) or with ``--quick``.
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

SHAPES = ("circle", "square", "arc", "line")


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(np.arange(size, dtype=np.float64), np.arange(size, dtype=np.float64),
                       indexing="xy")


def draw(shape: int, cx: float, cy: float, radius: float, angle: float, size: int) -> np.ndarray:
    """One anti-aliased outline of ``SHAPES[shape]`` centred at (cx, cy), ``[size, size]``.

    >>> img = draw(1, 8.0, 8.0, 4.0, 0.0, 16)        # a square's outline
    >>> img.shape, float(img[8, 8]), float(img[8, 12])
    ((16, 16), 0.0, 1.0)
    """
    x, y = _grid(size)
    dx, dy = x - cx, y - cy
    if shape == 0:
        dist = np.abs(np.hypot(dx, dy) - radius)
    elif shape == 1:
        dist = np.abs(np.maximum(np.abs(dx), np.abs(dy)) - radius)
    elif shape == 2:
        ring = np.abs(np.hypot(dx, dy) - radius)
        theta = np.angle(np.exp(1j * (np.arctan2(dy, dx) - angle)))   # relative, in (-pi, pi]
        dist = np.where(np.abs(theta) <= np.pi / 2, ring, np.inf)      # a half circle
    else:
        ux, uy = np.cos(angle), np.sin(angle)
        along = np.clip(dx * ux + dy * uy, -radius, radius)
        dist = np.hypot(dx - along * ux, dy - along * uy)
    return np.clip(1.5 - dist, 0.0, 1.0)


def make_video(shape: int, frames: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """A ``[frames, size, size]`` float32 video of one shape moving with constant speed and
    bouncing off the borders, plus noise and a drifting distractor blob."""
    radius = rng.uniform(size * 0.18, size * 0.28)
    pos = rng.uniform(radius + 1, size - radius - 1, size=2)
    vel = rng.uniform(-1.5, 1.5, size=2)
    angle, spin = rng.uniform(0, 2 * np.pi), rng.uniform(-0.3, 0.3)
    blob = rng.uniform(0, size, size=2)
    x, y = _grid(size)
    video = np.empty((frames, size, size), dtype=np.float32)
    for t in range(frames):
        frame = draw(shape, pos[0], pos[1], radius, angle, size)
        frame += 0.4 * np.exp(-((x - blob[0]) ** 2 + (y - blob[1]) ** 2) / 4.0)
        frame += rng.normal(0.0, 0.15, size=frame.shape)
        video[t] = frame
        pos += vel
        for d in range(2):
            if not radius <= pos[d] <= size - 1 - radius:
                vel[d] = -vel[d]
                pos[d] = np.clip(pos[d], radius, size - 1 - radius)
        angle += spin
        blob = (blob + rng.normal(0, 0.7, size=2)) % size
    return video


def write_corpus(root: str | os.PathLike, n_videos: int, frames: int, size: int,
                 seed: int = 0) -> int:
    """Write ``features/%d.npy`` and per-frame ``labels/%d.csv`` (balanced classes)."""
    rng = np.random.default_rng(seed)
    Path(root, "features").mkdir(parents=True, exist_ok=True)
    Path(root, "labels").mkdir(parents=True, exist_ok=True)
    for i in range(n_videos):
        shape = i % len(SHAPES)
        np.save(Path(root, "features", f"{i}.npy"), make_video(shape, frames, size, rng))
        Path(root, "labels", f"{i}.csv").write_text(f"{shape}\n" * frames)
    return n_videos


def iterator(root: str, lo: int, hi: int, batch_size: int):
    from seqdata.iterator import AlignmentMode, SequenceRecordReaderDataSetIterator
    from seqdata.readers.csv import CSVSequenceRecordReader
    from seqdata.readers.npy import NpySequenceRecordReader
    from seqdata.splits import NumberedFileInputSplit

    features = NpySequenceRecordReader()
    features.initialize(NumberedFileInputSplit(os.path.join(root, "features", "%d.npy"), lo, hi))
    labels = CSVSequenceRecordReader()
    labels.initialize(NumberedFileInputSplit(os.path.join(root, "labels", "%d.csv"), lo, hi))
    return SequenceRecordReaderDataSetIterator(features, labels, batch_size, len(SHAPES),
                                               alignment_mode=AlignmentMode.EQUAL_LENGTH)


def build_network(size: int, seed: int, tbptt: int, width: int = 32):
    from seqnet.conf.layers import (
        ConvolutionLayer,
        DenseLayer,
        GravesLSTM,
        RnnOutputLayer,
        SubsamplingLayer,
    )
    from seqnet.conf.multilayer import MultiLayerConfiguration
    from seqnet.conf.preprocessors import RnnToCnnPreProcessor
    from seqnet.conf.updaters import Adam

    conf = MultiLayerConfiguration(
        layers=[ConvolutionLayer(n_in=1, n_out=width // 2, kernel_size=(3, 3), stride=(1, 1),
                                 activation="relu"),
                SubsamplingLayer(kernel_size=(2, 2), stride=(2, 2), pooling_type="MAX"),
                DenseLayer(n_out=width, activation="relu"),
                GravesLSTM(n_out=width, activation="tanh"),
                RnnOutputLayer(n_out=len(SHAPES), activation="softmax", loss="MCXENT")],
        input_preprocessors={0: RnnToCnnPreProcessor(input_height=size, input_width=size,
                                                             num_channels=1)},
        backprop_type="TRUNCATED_BPTT", tbptt_forward_length=tbptt,
        tbptt_backward_length=tbptt, updater=Adam(2e-3), seed=seed,
        gradient_normalization="CLIP_ELEMENT_WISE_ABSOLUTE_VALUE",
        gradient_normalization_threshold=1.0)
    return initialized_network(conf)


def main(argv: list[str] | None = None) -> dict:
    parser = argument_parser(__doc__)
    parser.add_argument("--data-dir", default=None, help="where to write the videos")
    args = parser.parse_args(argv)

    n_train, n_test = (48, 24) if args.quick else (400, 100)
    frames, size = (12, 16) if args.quick else (20, 16)
    epochs = epoch_count(args, quick=3, full=30)

    with tempfile.TemporaryDirectory() as tmp:
        root = args.data_dir or tmp
        write_corpus(root, n_train + n_test, frames, size, seed=args.seed)
        train = iterator(root, 0, n_train - 1, batch_size=16)
        test = iterator(root, n_train, n_train + n_test - 1, batch_size=16)
        net = build_network(size, args.seed, tbptt=frames // 2, width=16 if args.quick else 64)
        start = time.perf_counter()
        for epoch in range(1, epochs + 1):
            net.fit(train)
            evaluation = net.evaluate(test)
            print(f"epoch {epoch:3d}  per-frame test accuracy {evaluation.accuracy():.4f}")
        seconds = time.perf_counter() - start
    print(evaluation.stats())
    print(f"per-frame test accuracy {evaluation.accuracy():.4f} "
          f"({n_train} train / {n_test} test videos of {frames} frames, {seconds:.1f} s)")
    return {"accuracy": evaluation.accuracy(), "frames_evaluated": int(
        np.asarray(evaluation.confusion_matrix()).sum()), "seconds": seconds}


if __name__ == "__main__":
    main()
