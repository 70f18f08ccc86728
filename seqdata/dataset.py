"""DataSet: one minibatch of features, labels and their masks, as DL4J's ``DataSet``.

Sequence data is ``[N, C, T]`` float32, masks ``[N, T]`` float32 (1.0 = real step). A mask is
``None`` when that side needed no padding. Non-sequence data (``[N, C]``) is accepted too.

>>> import numpy as np
>>> ds = DataSet(np.zeros((2, 3, 4), np.float32), np.zeros((2, 1, 4), np.float32))
>>> ds
DataSet(num_examples=2, features=[2, 3, 4], labels=[2, 1, 4], features_mask=None, labels_mask=None)
>>> [d.num_examples() for d in ds.split(1)]
[1, 1]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from seqdata.errors import SeqDataError


class DataSet:
    """Features, optional labels and optional masks of one minibatch.

    ``example_meta_data`` is ``None`` unless the iterator was built with
    ``collect_meta_data=True``; then it is a list with one record per example.
    """

    def __init__(self, features: Any, labels: Any = None, features_mask: Any = None,
                 labels_mask: Any = None) -> None:
        self.features = features
        self.labels = labels
        self.features_mask = features_mask
        self.labels_mask = labels_mask
        self.example_meta_data: list[Any] | None = None

    def num_examples(self) -> int:
        """Number of examples ``N`` (the first dimension of ``features``)."""
        return int(self.features.shape[0])

    def __len__(self) -> int:
        return self.num_examples()

    def __repr__(self) -> str:
        def shape(a: Any) -> str:
            return "None" if a is None else "[" + ", ".join(str(d) for d in a.shape) + "]"

        return (f"DataSet(num_examples={self.num_examples()}, features={shape(self.features)}, "
                f"labels={shape(self.labels)}, features_mask={shape(self.features_mask)}, "
                f"labels_mask={shape(self.labels_mask)})")

    def copy(self) -> DataSet:
        """A deep copy (arrays copied, meta data list copied)."""
        ds = DataSet(*(None if a is None else a.copy() for a in
                       (self.features, self.labels, self.features_mask, self.labels_mask)))
        ds.example_meta_data = (None if self.example_meta_data is None
                                else list(self.example_meta_data))
        return ds

    # NOTE [ split(n) ]
    # DL4J has both ``batchBy(n)`` (consecutive pieces of at most n examples) and
    # ``splitTestAndTrain``; ``split(n)`` here is ``batchBy``: consecutive DataSets of at most
    # n examples each, the last one possibly smaller. Masks that become unnecessary in a piece
    # are kept (a piece keeps the minibatch's T), so pieces merge back to the original.
    def split(self, n: int) -> list[DataSet]:
        """Consecutive DataSets of at most ``n`` examples each (DL4J's ``batchBy``).

        >>> ds = DataSet(np.arange(5, dtype=np.float32).reshape(5, 1))
        >>> [d.num_examples() for d in ds.split(2)]
        [2, 2, 1]
        """
        if int(n) < 1:
            raise SeqDataError(f"split(n) needs n >= 1, found {n}")
        pieces = []
        for start in range(0, self.num_examples(), int(n)):
            part = slice(start, start + int(n))
            ds = DataSet(*(None if a is None else a[part] for a in
                           (self.features, self.labels, self.features_mask, self.labels_mask)))
            if self.example_meta_data is not None:
                ds.example_meta_data = list(self.example_meta_data[part])
            pieces.append(ds)
        return pieces

    @staticmethod
    def merge(datasets: Sequence[DataSet]) -> DataSet:
        """Concatenate DataSets along examples, padding sequences at the end to the longest.

        A side gets a mask when any input had one or its lengths differ; inputs without a mask
        count as all real steps. Meta data is kept when every input has it.

        >>> a = DataSet(np.ones((1, 1, 3), np.float32))
        >>> b = DataSet(np.ones((1, 1, 2), np.float32))
        >>> m = DataSet.merge([a, b])
        >>> m.features[:, 0].tolist(), m.features_mask.tolist()
        ([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]], [[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
        """
        datasets = list(datasets)
        if not datasets:
            raise SeqDataError("merge needs at least one DataSet, found an empty list")
        features, features_mask = _merge_side([d.features for d in datasets],
                                              [d.features_mask for d in datasets], "features")
        has_labels = [d.labels is not None for d in datasets]
        if any(has_labels) and not all(has_labels):
            raise SeqDataError(
                "merge needs all DataSets to have labels or none to have them, found "
                f"{sum(has_labels)} of {len(datasets)} with labels")
        labels = labels_mask = None
        if all(has_labels):
            labels, labels_mask = _merge_side([d.labels for d in datasets],
                                              [d.labels_mask for d in datasets], "labels")
        merged = DataSet(features, labels, features_mask, labels_mask)
        if all(d.example_meta_data is not None for d in datasets):
            merged.example_meta_data = [m for d in datasets for m in d.example_meta_data or []]
        return merged

    def to_torch(self, device: Any = None) -> DataSet:
        """The same DataSet with torch tensors (``None`` stays ``None``).

        On the CPU the tensors share memory with the numpy arrays (``torch.from_numpy``, no
        copy); with a ``device`` they are moved there. torch is imported only here.
        """
        import torch

        def convert(a: Any) -> Any:
            if a is None:
                return None
            t = a if isinstance(a, torch.Tensor) else torch.from_numpy(np.asarray(a))
            return t if device is None else t.to(device)

        ds = DataSet(convert(self.features), convert(self.labels),
                     convert(self.features_mask), convert(self.labels_mask))
        ds.example_meta_data = self.example_meta_data
        return ds


def _merge_side(arrays: list[np.ndarray], masks: list[np.ndarray | None],
                what: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Concatenate one side (features or labels) with end padding and masks as needed."""
    ndims = {a.ndim for a in arrays}
    if len(ndims) != 1:
        raise SeqDataError(f"merge needs {what} of one rank, found ranks {sorted(ndims)}")
    if ndims != {3}:
        return np.concatenate(arrays, axis=0), None
    channels = {a.shape[1] for a in arrays}
    if len(channels) != 1:
        raise SeqDataError(
            f"merge needs {what} with one channel count, found {sorted(channels)}")
    lengths = [a.shape[2] for a in arrays]
    T = max(lengths)
    n = sum(a.shape[0] for a in arrays)
    out = np.zeros((n, channels.pop(), T), dtype=np.result_type(*arrays))
    need_mask = any(m is not None for m in masks) or len(set(lengths)) > 1
    mask = np.zeros((n, T), dtype=np.float32) if need_mask else None
    row = 0
    for a, m in zip(arrays, masks):
        rows = slice(row, row + a.shape[0])
        out[rows, :, :a.shape[2]] = a
        if mask is not None:
            mask[rows, :a.shape[2]] = 1.0 if m is None else m
        row += a.shape[0]
    return out, mask
