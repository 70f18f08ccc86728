"""The public DataSetIterator base: a dozen-line custom iterator works wherever seqdata's does."""

from __future__ import annotations

import numpy as np
import pytest

from seqdata import (
    AsyncDataSetIterator,
    DataSet,
    DataSetIterator,
    ListDataSetIterator,
    NormalizerStandardize,
    SequenceRecordReaderDataSetIterator,
)
from seqdata.errors import SeqDataError


class Sines(DataSetIterator):
    """The README's custom iterator: a sine's next value from its past, 4 batches of 8."""

    def __init__(self, batches: int = 4, batch_size: int = 8) -> None:
        super().__init__()
        self.batches, self.size, self.done = batches, batch_size, 0

    def has_next(self) -> bool:
        return self.done < self.batches

    def next(self, num: int | None = None) -> DataSet:
        rng = np.random.default_rng(self.done)
        self.done += 1
        phase = rng.uniform(0, 6, (num or self.size, 1, 1))
        wave = np.sin(phase + np.arange(21) / 3).astype(np.float32) * 3 + 5
        return DataSet(wave[:, :, :-1], wave[:, :, 1:])

    def reset(self) -> None:
        self.done = 0

    def __len__(self) -> int:
        return self.batches


def test_iteration_is_one_epoch_from_the_start_and_dl4j_methods_work():
    it = Sines()
    assert len(list(it)) == 4 and len(list(it)) == 4
    it.reset()
    assert it.has_next() and it.next(3).num_examples() == 3
    assert (it.input_columns(), it.total_outcomes(), it.batch()) == (1, 1, 8)
    assert it.reset_supported() and it.async_supported()
    assert issubclass(SequenceRecordReaderDataSetIterator, DataSetIterator)


def test_the_pre_processor_is_applied_exactly_once_and_normalisers_fit_on_it():
    it = Sines()
    norm = NormalizerStandardize()
    norm.fit(it)
    assert norm.mean[0] == pytest.approx(5.0, abs=0.3)
    it.set_pre_processor(norm)
    assert it.get_pre_processor() is norm
    values = np.concatenate([ds.features.ravel() for ds in it])
    assert abs(values.mean()) < 1e-5 and values.std() == pytest.approx(1.0, abs=1e-4)


def test_fit_and_evaluate_accept_a_custom_iterator():
    from seqnet import (
        Adam,
        GravesLSTM,
        LossFunction,
        MultiLayerConfiguration,
        MultiLayerNetwork,
        RnnOutputLayer,
    )

    net = MultiLayerNetwork(MultiLayerConfiguration(
        layers=[GravesLSTM(n_in=1, n_out=8),
                RnnOutputLayer(n_out=1, activation="identity", loss=LossFunction.MSE)],
        updater=Adam(0.05), seed=1))
    net.init()
    before = net.evaluate_regression(Sines()).average_mean_squared_error()
    net.fit(Sines(), epochs=5, progress=False)
    assert net.epoch_count == 5 and net.iteration_count == 20
    assert net.evaluate_regression(Sines()).average_mean_squared_error() < before


def test_list_iterator_merges_and_pads():
    a = DataSet(np.ones((1, 2, 3), np.float32), np.ones((1, 1, 3), np.float32))
    b = DataSet(np.ones((1, 2, 5), np.float32), np.ones((1, 1, 5), np.float32))
    it = ListDataSetIterator([a, b, a], batch=2)
    first, second = list(it)
    assert first.features.shape == (2, 2, 5) and first.features_mask[0].tolist() == [1, 1, 1, 0, 0]
    assert second.num_examples() == 1 and len(it) == 2
    with pytest.raises(SeqDataError, match="DataSet objects"):
        ListDataSetIterator([a, "b"])


def test_async_iterator_yields_the_same_batches():
    plain = [ds.features for ds in Sines()]
    it = AsyncDataSetIterator(Sines(), queue_size=2)
    for _ in range(2):
        got = [ds.features for ds in it]
        assert len(got) == 4 and all((x == y).all() for x, y in zip(plain, got))


def test_shards_are_disjoint_equal_and_cover_everything():
    shards = [Sines(batches=6).shard(r, 2) for r in range(2)]
    got = [[float(ds.features[0, 0, 0]) for ds in s] for s in shards]
    plain = [float(ds.features[0, 0, 0]) for ds in Sines(batches=6)]
    assert got == [plain[0::2], plain[1::2]]
    with pytest.raises(SeqDataError, match="divisible by the 2 ranks"):
        Sines(batches=5).shard(0, 2)
