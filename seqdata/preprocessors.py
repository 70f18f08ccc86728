"""DataSet pre-processors with DL4J's names: a label's last real step, and a chain of them.

Each changes a DataSet in place through ``pre_process(ds)``, as the normalisers do, so any of
them goes to ``iterator.set_pre_processor``.

>>> import numpy as np
>>> from seqdata.dataset import DataSet
>>> labels = np.zeros((2, 3, 4), np.float32)
>>> labels[0, 1, 3] = 1; labels[1, 2, 1] = 1          # example 1's label sits at step 1
>>> ds = DataSet(np.zeros((2, 1, 4), np.float32), labels, None,
...              np.array([[0, 0, 0, 1], [0, 1, 0, 0]], np.float32))
>>> LabelLastTimeStepPreProcessor().pre_process(ds)
>>> ds.labels.tolist(), ds.labels_mask
([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], None)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqdata.dataset import DataSet
from seqdata.errors import SeqDataError


class LabelLastTimeStepPreProcessor:
    """Per-step labels ``[N, K, T]`` become ``[N, K]``: each example's labels at its last
    step whose labels mask is 1 (step ``T - 1`` without a mask), and the labels mask is
    dropped (DL4J's ``LabelLastTimeStepPreProcessor``).

    This turns a many-to-one iterator (one label row per sequence, placed at its last step by
    ALIGN_END) into the ``[N, K]`` labels a network ending in ``GlobalPoolingLayer`` or
    ``LastTimeStep`` and an ``OutputLayer`` takes.
    """

    def pre_process(self, ds: DataSet) -> None:
        labels = np.asarray(ds.labels)
        if labels.ndim != 3:
            raise SeqDataError(f"LabelLastTimeStepPreProcessor: expected [N, K, T] labels, "
                               f"found shape {list(labels.shape)}")
        n, _, steps = labels.shape
        last = np.full(n, steps - 1)
        if ds.labels_mask is not None:
            mask = np.asarray(ds.labels_mask) != 0
            if mask.shape != (n, steps):
                raise SeqDataError(f"LabelLastTimeStepPreProcessor: expected a labels mask of "
                                   f"shape {[n, steps]}, found {list(mask.shape)}")
            empty = np.flatnonzero(~mask.any(axis=1))
            if empty.size:
                raise SeqDataError(f"LabelLastTimeStepPreProcessor: example {int(empty[0])} "
                                   f"has no labelled step")
            last = steps - 1 - np.argmax(mask[:, ::-1], axis=1)
        ds.labels = np.ascontiguousarray(labels[np.arange(n), :, last])
        ds.labels_mask = None


class CompositeDataSetPreProcessor:
    """Several pre-processors applied in order (DL4J's ``CompositeDataSetPreProcessor``),
    e.g. a normaliser then :class:`LabelLastTimeStepPreProcessor`."""

    def __init__(self, *pre_processors: Any) -> None:
        for p in pre_processors:
            if not callable(getattr(p, "pre_process", None)):
                raise SeqDataError(f"CompositeDataSetPreProcessor: expected objects with "
                                   f"pre_process(ds), found {type(p).__name__}")
        self.pre_processors = list(pre_processors)

    def pre_process(self, ds: DataSet) -> None:
        for p in self.pre_processors:
            p.pre_process(ds)
