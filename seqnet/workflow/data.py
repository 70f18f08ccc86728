"""Readers, iterators and the normaliser of a run, built from its ``[data]`` table.

A split is either a pair of ``%d`` patterns over an inclusive range (``CSVSequenceRecordReader``
over ``NumberedFileInputSplit``) or a packed store (``SequenceStore``), optionally restricted to
a range of its sequences. Both plug into the same ``SequenceRecordReaderDataSetIterator``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from seqdata.errors import StoreError
from seqdata.iterator import AlignmentMode, SequenceRecordReaderDataSetIterator
from seqdata.normalizers import NormalizerMinMaxScaler, NormalizerStandardize
from seqdata.readers.base import SequenceRecordReader
from seqdata.readers.csv import CSVSequenceRecordReader
from seqdata.splits import split_from_argument
from seqdata.store.reader import SequenceStore
from seqnet.errors import ConfigurationError
from seqnet.workflow.run_config import DataConfig, SplitConfig
from seqnet.workflow.selection import carve_validation
from seqnet.workflow.subset import SubsetReader

__all__ = ["RunData", "SubsetReader", "fit_normalizer", "load_run_data", "make_iterator",
           "split_readers"]


def split_readers(data: DataConfig, split: SplitConfig
                  ) -> tuple[SequenceRecordReader, SequenceRecordReader | None]:
    """The feature reader and the label reader (``None`` for the one-reader form)."""
    features: SequenceRecordReader
    labels: SequenceRecordReader | None
    if split.store is not None:
        store = SequenceStore(split.store)
        features = store.reader("features")
        labels = store.reader("labels") if "labels" in store.roles else None
        if split.range is not None:
            low, high = split.range
            try:
                indices = store.index_range(low, high)
            except StoreError:
                raise ConfigurationError(
                    f"range [{low}, {high}] of store {split.store}: expected 0 <= min <= max "
                    f"and indices below its {len(store)} sequences") from None
            features = SubsetReader(features, indices)
            labels = SubsetReader(labels, indices) if labels is not None else None
        features.initialize()
        if labels is not None:
            labels.initialize()
        return features, labels

    if split.features is None:
        raise ConfigurationError("a split needs 'features' (with 'range') or 'store'")
    features = CSVSequenceRecordReader(skip_num_lines=data.skip_lines, delimiter=data.delimiter)
    features.initialize(split_from_argument(split.features, split.range, name="features"))
    if split.labels is None:
        return features, None
    labels = CSVSequenceRecordReader(skip_num_lines=data.label_skip_lines,
                                     delimiter=data.delimiter)
    labels.initialize(split_from_argument(split.labels, split.range, name="labels"))
    return features, labels


def make_iterator(data: DataConfig, readers: tuple[SequenceRecordReader,
                                                   SequenceRecordReader | None],
                  *, shuffle: bool = False, seed: int | None = None,
                  normalizer: Any = None) -> SequenceRecordReaderDataSetIterator:
    """One iterator over ``readers`` (from :func:`split_readers`), with ``normalizer`` as its
    pre-processor. ``shuffle`` with ``seed`` fixes this iterator's order."""
    features, labels = readers
    regression = data.task == "regression"
    num_labels = data.num_classes if data.num_classes is not None else -1
    options: dict[str, Any] = {"shuffle": True, "seed": seed} if shuffle else {}
    if labels is None:
        if data.label_index is None:
            raise ConfigurationError("data.label_index: required when a split gives no labels")
        it = SequenceRecordReaderDataSetIterator(features, data.batch_size, num_labels,
                                                 data.label_index, regression=regression,
                                                 **options)
    else:
        it = SequenceRecordReaderDataSetIterator(
            features, labels, data.batch_size, num_labels, regression=regression,
            alignment_mode=AlignmentMode[data.alignment], **options)
    if normalizer is not None:
        it.set_pre_processor(normalizer)
    return it


def fit_normalizer(data: DataConfig, iterator: SequenceRecordReaderDataSetIterator) -> Any:
    """The configured normaliser fitted on ``iterator`` (the training split), or ``None``."""
    if data.normalizer == "none":
        return None
    cls = NormalizerStandardize if data.normalizer == "standardize" else NormalizerMinMaxScaler
    normalizer = cls(fit_label=data.normalize_labels)
    normalizer.fit(iterator)
    return normalizer


@dataclass
class RunData:
    """The readers of every configured split and the fitted normaliser."""

    data: DataConfig
    readers: dict[str, tuple[SequenceRecordReader, SequenceRecordReader | None]]
    normalizer: Any

    def iterator(self, split: str, *, shuffle: bool = False,
                 seed: int | None = None) -> SequenceRecordReaderDataSetIterator:
        return make_iterator(self.data, self.readers[split], shuffle=shuffle, seed=seed,
                             normalizer=self.normalizer)

    @property
    def selection_split(self) -> str | None:
        """``"validation"`` when there is one (it alone picks best.zip and stops early), else
        ``None`` (NOTE [ Why the test split never chooses a model ])."""
        return "validation" if "validation" in self.readers else None

    @property
    def eval_split(self) -> str | None:
        """The split evaluated after every epoch: validation, else test (reported only)."""
        for name in ("validation", "test"):
            if name in self.readers:
                return name
        return None


def load_run_data(data: DataConfig, splits: Sequence[str] = ("train", "validation", "test"),
                  normalizer: Any = None, seed: int = 0) -> RunData:
    """Open the readers of ``splits`` (those configured), carve ``data.validation_fraction``
    of the training sequences into ``validation`` with ``seed`` (the run's), and fit the
    normaliser on what remains of ``train`` unless one is given (a model file carries its
    own)."""
    readers = {}
    for name in splits:
        split = getattr(data, name)
        if split is not None:
            readers[name] = split_readers(data, split)
    if data.validation_fraction is not None and "train" in readers:
        readers["train"], carved = carve_validation(readers["train"], data.validation_fraction,
                                                    seed)
        if "validation" in splits:
            readers["validation"] = carved
    if normalizer is None and "train" in readers:
        normalizer = fit_normalizer(data, make_iterator(data, readers["train"]))
    return RunData(data=data, readers=readers, normalizer=normalizer)
