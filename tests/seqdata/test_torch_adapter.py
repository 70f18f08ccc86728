"""seqdata.torch: tensors equal the iterator's arrays, shards cover every sequence once."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from seqdata.dataset import DataSet
from seqdata.errors import SeqDataError
from seqdata.iterator import AlignmentMode, SequenceRecordReaderDataSetIterator
from seqdata.readers.base import CollectionSequenceRecordReader
from seqdata.torch import SequenceIterableDataset, to_tensors


def make_iterator(n=24, batch=4):
    """Sequence i has length i % 5 + 1 and holds the value i in every step: easy to trace."""
    features = CollectionSequenceRecordReader([np.full((i % 5 + 1, 2), float(i))
                                               for i in range(n)])
    labels = CollectionSequenceRecordReader([[[i % 3]] for i in range(n)])
    return SequenceRecordReaderDataSetIterator(features, labels, batch, 3,
                                               alignment_mode=AlignmentMode.ALIGN_END)


def seen(batches):
    """The sequence ids in a list of tensor batches (value at the last real step)."""
    ids = []
    for b in batches:
        f, m = b["features"], b["features_mask"]
        for j in range(f.shape[0]):
            last = int(m[j].nonzero().max()) if m is not None else f.shape[2] - 1
            ids.append(int(f[j, 0, last]))
    return ids


def test_batches_equal_the_iterator():
    it = make_iterator()
    expected = list(it)
    got = list(DataLoader(SequenceIterableDataset(it), batch_size=None))
    assert len(got) == len(expected)
    for ds, b in zip(expected, got):
        assert set(b) == {"features", "labels", "features_mask", "labels_mask"}
        for name in b:
            np.testing.assert_array_equal(b[name].numpy(), getattr(ds, name))
            assert b[name].dtype == torch.float32


def test_tuples_and_zero_copy():
    ds = DataSet(np.arange(6, dtype=np.float32).reshape(1, 2, 3),
                 features_mask=np.ones((1, 3), np.float32))
    features, labels, fmask, lmask = to_tensors(ds, as_tuple=True)
    assert labels is None and lmask is None
    features[0, 0, 0] = 42.0
    assert ds.features[0, 0, 0] == 42.0
    first = next(iter(SequenceIterableDataset(make_iterator(), as_tuple=True)))
    assert isinstance(first, tuple) and len(first) == 4


@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_ranks_are_disjoint_and_cover_everything(world_size):
    it = make_iterator()
    per_rank = [seen(SequenceIterableDataset(it, rank=r, world_size=world_size))
                for r in range(world_size)]
    assert sorted(i for ids in per_rank for i in ids) == list(range(24))
    counts = {len(list(SequenceIterableDataset(it, rank=r, world_size=world_size)))
              for r in range(world_size)}
    assert len(counts) == 1


def test_dataloader_workers_each_read_their_own_shard():
    it = make_iterator()
    loader = DataLoader(SequenceIterableDataset(it), batch_size=None, num_workers=2)
    assert sorted(seen(loader)) == list(range(24))


def test_arguments_are_checked():
    with pytest.raises(SeqDataError, match="SequenceRecordReaderDataSetIterator"):
        SequenceIterableDataset([1, 2, 3])
    with pytest.raises(SeqDataError, match="both rank and world_size"):
        SequenceIterableDataset(make_iterator(), rank=0)


def shuffled_iterator():
    return SequenceRecordReaderDataSetIterator(
        CollectionSequenceRecordReader([np.full((1, 2), float(i)) for i in range(24)]),
        CollectionSequenceRecordReader([[[i % 3]] for i in range(24)]), 2, 3,
        shuffle=True, seed=1)


def test_sharded_shuffle_changes_every_epoch_and_set_epoch_repeats_one():
    ds = SequenceIterableDataset(shuffled_iterator(), rank=0, world_size=2)
    epochs = [seen(ds) for _ in range(3)]
    assert len({tuple(e) for e in epochs}) == 3
    ds.set_epoch(1)
    assert seen(ds) == epochs[1]
    fresh = SequenceIterableDataset(shuffled_iterator(), rank=0, world_size=2)
    fresh.set_epoch(2)
    assert seen(fresh) == epochs[2]


def test_dataloader_workers_follow_set_epoch():
    ds = SequenceIterableDataset(shuffled_iterator())
    loader = DataLoader(ds, batch_size=None, num_workers=2)
    epochs = []
    for e in range(2):
        ds.set_epoch(e)
        epochs.append(seen(loader))
    assert epochs[0] != epochs[1]
    assert sorted(epochs[0]) == sorted(epochs[1]) == list(range(24))
    ds.set_epoch(0)
    assert seen(loader) == epochs[0]


def test_set_epoch_is_checked():
    with pytest.raises(SeqDataError, match="epoch"):
        SequenceIterableDataset(make_iterator()).set_epoch(-1)


def test_default_batch_size_is_refused_with_the_fix():
    for workers in (0, 2):
        loader = DataLoader(SequenceIterableDataset(make_iterator()), num_workers=workers)
        with pytest.raises(SeqDataError, match=r"batch_size=None"):
            list(loader)


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_len_and_minibatches_are_the_same_for_any_number_of_workers(workers):
    reference = [to_tensors(ds) for ds in shuffled_iterator_of(25, 4)]
    ds = SequenceIterableDataset(shuffled_iterator_of(25, 4))
    loader = DataLoader(ds, batch_size=None, num_workers=workers)
    assert len(loader) == len(reference) == 7
    got = list(loader)
    assert len(got) == len(reference)
    for a, b in zip(got, reference):
        for name in a:
            assert (a[name] is None) == (b[name] is None)
            if a[name] is not None:
                assert torch.equal(a[name], b[name]), name


def shuffled_iterator_of(n, batch):
    return SequenceRecordReaderDataSetIterator(
        CollectionSequenceRecordReader([np.full((i % 4 + 1, 2), float(i)) for i in range(n)]),
        CollectionSequenceRecordReader([[[i % 3]] for i in range(n)]), batch, 3,
        alignment_mode=AlignmentMode.ALIGN_END, shuffle=True, seed=5)


def test_class_index_targets_as_torch_losses_take_them():
    one_hot = next(iter(SequenceIterableDataset(make_iterator())))
    per_step = next(iter(SequenceIterableDataset(make_iterator(), targets="index")))
    per_sequence = next(iter(SequenceIterableDataset(make_iterator(), targets="sequence_index",
                                                     as_tuple=True)))
    labels, mask = one_hot["labels"], one_hot["labels_mask"]
    assert per_step["labels"].dtype == torch.int64
    assert per_step["labels"].shape == mask.shape
    assert torch.equal(per_step["labels"] == -100, mask == 0)
    # The masked one-hot loss equals cross_entropy with ignore_index.
    logits = torch.randn(labels.shape[0], 3, labels.shape[2])
    masked = -(torch.log_softmax(logits, 1) * labels).sum(1)[mask > 0].mean()
    assert torch.allclose(torch.nn.functional.cross_entropy(logits, per_step["labels"]), masked)
    assert per_sequence[1].tolist() == [i % 3 for i in range(4)]
    with pytest.raises(SeqDataError, match="targets"):
        SequenceIterableDataset(make_iterator(), targets="classes")
