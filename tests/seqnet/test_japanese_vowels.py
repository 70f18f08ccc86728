"""Learning on real data: ALIGN_END many-to-one GravesLSTM on Japanese Vowels (>= 0.93)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqdata.iterator import AlignmentMode, SequenceRecordReaderDataSetIterator
from seqdata.normalizers import NormalizerStandardize
from seqdata.readers.csv import CSVSequenceRecordReader
from seqdata.splits import NumberedFileInputSplit
from seqnet.conf.layers import GravesLSTM, RnnOutputLayer
from seqnet.conf.multilayer import MultiLayerConfiguration
from seqnet.conf.updaters import Adam
from seqnet.network import MultiLayerNetwork
from tests.conftest import FIXTURES

ROOT = FIXTURES / "japanese_vowels"


def _iterator(part: str, count: int, batch: int, shuffle: bool = False):
    readers = []
    for side in ("features", "labels"):
        reader = CSVSequenceRecordReader()
        reader.initialize(NumberedFileInputSplit(str(ROOT / part / side / "%d.csv"), 0, count - 1))
        readers.append(reader)
    return SequenceRecordReaderDataSetIterator(readers[0], readers[1], batch, 9, False,
                                               AlignmentMode.ALIGN_END, shuffle=shuffle, seed=1)


@pytest.fixture
def one_thread():
    """Small per-step matmuls run fastest on one thread; on a shared 2-core machine OpenMP
    spinning across two threads makes them orders of magnitude slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_graves_lstm_learns_japanese_vowels(one_thread):
    train = _iterator("train", 270, 16, shuffle=True)
    test = _iterator("test", 370, 128)
    norm = NormalizerStandardize()
    norm.fit(train)
    train.set_pre_processor(norm)
    test.set_pre_processor(norm)
    conf = MultiLayerConfiguration(seed=123, updater=Adam(0.01),
                                   layers=[GravesLSTM(n_in=12, n_out=32),
                                           RnnOutputLayer(n_out=9)])
    net = MultiLayerNetwork(conf)
    net.init()
    net.fit(train, epochs=12, progress=False)
    assert net.epoch_count == 12 and net.iteration_count == 12 * len(train)
    evaluation = net.evaluate(test)
    assert evaluation.accuracy() >= 0.93
    # The same number by hand: the prediction at each sequence's single labelled step.
    correct = total = 0
    for ds in test:
        out = net.output(ds.features, ds.features_mask)
        pred = (out * ds.labels_mask[:, None, :]).sum(axis=2).argmax(axis=1)
        correct += int((pred == ds.labels.sum(axis=2).argmax(axis=1)).sum())
        total += len(pred)
    assert total == 370
    assert np.isclose(correct / total, evaluation.accuracy())
