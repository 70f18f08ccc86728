"""Which data picks the model: the validation split, never the test split.

# NOTE [ Why the test split never chooses a model ]
# A model chosen by its test score is tuned on the test set, and its test number flatters
# it (a gesture run: best.zip 0.68 on "test", the final model 0.50). So best.zip, early
# stopping and any other choice look only at a validation split: ``[data.validation]`` (files
# or a store) or ``data.validation_fraction`` of the training sequences, carved with the
# run's seed. Without one a run trains every epoch, writes no best.zip and says so; the test
# split is evaluated and reported, never compared.

>>> from seqdata.readers.base import CollectionSequenceRecordReader
>>> r = CollectionSequenceRecordReader([[i] for i in range(10)]); r.initialize()
>>> train, validation = carve_validation((r, None), 0.2, seed=1)
>>> len(train[0]), len(validation[0])
(8, 2)
>>> sorted(float(s.values[0, 0]) for part in (train, validation) for s in part[0])
[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
"""

from __future__ import annotations

import numpy as np

from seqdata.readers.base import SequenceRecordReader
from seqnet.errors import ConfigurationError
from seqnet.workflow.subset import SubsetReader

Readers = tuple[SequenceRecordReader, SequenceRecordReader | None]

#: Why a run without a validation split has no best.zip (logged once at the start).
NO_SELECTION = ("no validation split ([data.validation] or data.validation_fraction): every "
                "epoch is trained, no best.zip is written and the final model is tested "
                "(the test split is reported, never used to choose a model)")


def carve_validation(readers: Readers, fraction: float, seed: int) -> tuple[Readers, Readers]:
    """Split the training readers into (train, validation): ``round(n * fraction)`` sequences
    (at least one) drawn with ``seed`` go to validation, each part keeping the file order."""
    features, labels = readers
    n = len(features)
    count = max(1, int(round(n * fraction)))
    if count >= n:
        raise ConfigurationError(
            f"data.validation_fraction: {fraction} of {n} training sequences leaves none to "
            "train on; expected a smaller fraction or more sequences")
    chosen = np.random.RandomState(seed).permutation(n)[:count]
    mask = np.zeros(n, dtype=bool)
    mask[chosen] = True
    parts = []
    for keep in (~mask, mask):
        indices = np.flatnonzero(keep).tolist()
        part = (SubsetReader(features, indices),
                None if labels is None else SubsetReader(labels, indices))
        for reader in part:
            if reader is not None:
                reader.reset()      # the inner readers are initialised already
        parts.append(part)
    return parts[0], parts[1]
