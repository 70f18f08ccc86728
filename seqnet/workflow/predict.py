"""``seqnet predict``: run a saved model over sequence files and write its outputs.

INPUT is one CSV file, a directory of CSV files (sorted by path), a ``%d`` pattern with an
inclusive range, or a packed store (``seqdata convert``; a range picks its sequences). Given
the run file, its reader options (``skip_lines``, ``delimiter``, ``label_index``) are reused,
so the files are read exactly as in training. The model's stored normaliser is applied to the
features. Output:

- per sequence (default): the output at each sequence's last real step, ``[N, nOut]``;
- per step (``per_step=True``): every real step, ``[N, nOut, T]`` (NPY, zero-padded at the
  end) or one CSV row per real step.

A model trained with normalised regression labels (``normalize_labels``) has its outputs
reverted to the labels' units. A ``.csv`` file gets a header: ``source`` (and ``step`` per
step), then ``predicted_class`` for a softmax output layer, then ``out_0 .. out_{nOut-1}``.
A ``.npy`` file holds the float32 array only.

A non-finite input value (after the normaliser) or output value is an error naming the file
and the step (:mod:`seqnet.workflow.finite`); nothing is written then.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from seqdata.iterator import SequenceRecordReaderDataSetIterator
from seqdata.locations import is_url
from seqdata.readers.base import SequenceRecordReader
from seqdata.readers.csv import CSVSequenceRecordReader
from seqdata.splits import split_from_argument
from seqdata.store.manifest import MANIFEST_NAME
from seqdata.store.reader import SequenceStore
from seqnet.errors import ConfigurationError
from seqnet.workflow.finite import check_finite, sources_of
from seqnet.workflow.run_config import DataConfig
from seqnet.workflow.subset import SubsetReader


@dataclass
class Predictions:
    """Outputs of a model over a list of sequences."""

    sources: list[str]
    outputs: np.ndarray          # [N, nOut, T], zero at padded steps
    lengths: np.ndarray          # [N] real steps per sequence
    classification: bool

    def last_step(self) -> np.ndarray:
        """``[N, nOut]``: each sequence's output at its last real step."""
        return self.outputs[np.arange(len(self.lengths)), :, self.lengths - 1]


def is_store(path: str) -> bool:
    """Whether ``path`` is a packed store: a URL, or a folder with a manifest."""
    return is_url(path) or os.path.isfile(os.path.join(path, MANIFEST_NAME))


def input_reader(path: str, value_range: tuple[int, int] | None = None,
                 skip_num_lines: int = 0, delimiter: str = ",") -> SequenceRecordReader:
    """A sequence reader over a packed store (its ``features``; ``value_range`` picks
    sequences), or a CSV reader over a file, a directory (its ``.csv`` files) or a ``%d``
    pattern with its inclusive range (:func:`seqdata.splits.split_from_argument`)."""
    if is_store(path):
        features: SequenceRecordReader = SequenceStore(path).reader("features")
        if value_range is not None:
            low, high = value_range
            features = SubsetReader(features, range(low, high + 1))
        features.initialize()
        return features
    reader = CSVSequenceRecordReader(skip_num_lines=skip_num_lines, delimiter=delimiter)
    reader.initialize(split_from_argument(path, value_range, name="INPUT", allow_formats="csv"))
    return reader


def is_classifier(net: Any) -> bool:
    """Whether the output layer is softmax (its outputs are class probabilities)."""
    return str(getattr(net.conf.layers[-1], "activation", "")).lower() == "softmax"


def predict(net: Any, reader: Any, normalizer: Any = None, batch_size: int = 32,
            data: DataConfig | None = None) -> Predictions:
    """Outputs of ``net`` for every sequence of ``reader``, from a zero state each.

    With ``data`` (the run's ``[data]`` table) whose ``label_index`` names a label column of
    the feature files, that column is left out of the features, as in training.
    """
    if data is not None and data.label_index is not None:
        it = SequenceRecordReaderDataSetIterator(
            reader, batch_size, data.num_classes if data.num_classes is not None else -1,
            data.label_index, regression=data.task == "regression", collect_meta_data=True)
    else:
        it = SequenceRecordReaderDataSetIterator(reader, batch_size, -1, -1,
                                                 collect_meta_data=True)
    if normalizer is not None:
        it.set_pre_processor(normalizer)
    outputs: list[np.ndarray] = []
    lengths: list[np.ndarray] = []
    sources: list[str] = []
    for ds in it:
        mask = ds.features_mask
        names = sources_of(ds, "INPUT", len(sources))
        check_finite(ds.features, mask, names, "input" if normalizer is None else
                     "input after the model's normaliser")
        out = np.asarray(net.output(ds.features, features_mask=mask))
        check_finite(out, mask, names, "model output")
        if out.ndim == 2:  # LastTimeStep / OutputLayer: one prediction per sequence
            out, mask = out[:, :, None], None
        n, _, t = out.shape
        real = np.full(n, t, dtype=np.int64) if mask is None else \
            np.asarray(mask).sum(axis=1).astype(np.int64)
        if mask is not None:
            out = out * np.asarray(mask)[:, None, :]
        if normalizer is not None and getattr(normalizer, "fit_label", False):
            out = normalizer.revert_labels(out, mask)       # back to the labels' own units
            check_finite(out, mask, names, "model output in the labels' units")
        outputs.append(out)
        lengths.append(real)
        sources.extend(m.features_source for m in ds.example_meta_data or [])
    width = max(o.shape[2] for o in outputs)
    padded = np.concatenate([np.pad(o, ((0, 0), (0, 0), (0, width - o.shape[2])))
                             for o in outputs]).astype(np.float32)
    return Predictions(sources=sources, outputs=padded, lengths=np.concatenate(lengths),
                       classification=is_classifier(net))


def write_predictions(predictions: Predictions, path: str, per_step: bool = False) -> int:
    """Write to ``path`` (``.csv`` or ``.npy``); returns the number of rows (or sequences)."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".csv", ".npy"):
        raise ConfigurationError(f"--out {path}: expected a .csv or .npy file name")
    if ext == ".npy":
        array = predictions.outputs if per_step else predictions.last_step()
        np.save(path, array.astype(np.float32))
        return len(array)
    n_out = predictions.outputs.shape[1]
    header = ["source"] + (["step"] if per_step else [])
    header += ["predicted_class"] if predictions.classification else []
    header += [f"out_{k}" for k in range(n_out)]
    rows = 0
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for i, source in enumerate(predictions.sources):
            steps = range(predictions.lengths[i]) if per_step else [predictions.lengths[i] - 1]
            for t in steps:
                values = predictions.outputs[i, :, t]
                row: list[Any] = [source] + ([t] if per_step else [])
                row += [int(np.argmax(values))] if predictions.classification else []
                writer.writerow(row + [f"{v:.7g}" for v in values])
                rows += 1
    return rows
