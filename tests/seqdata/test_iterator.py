"""SequenceRecordReaderDataSetIterator: SPEC section 4 behaviour, options and properties."""

import json
import pathlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqdata.alignment import AlignmentMode
from seqdata.dataset import DataSet
from seqdata.errors import AlignmentError, LabelError, ParseError, SeqDataError
from seqdata.iterator import ExampleMetaData
from seqdata.iterator import SequenceRecordReaderDataSetIterator as Iter
from seqdata.readers.base import CollectionSequenceRecordReader, RaggedBatch

END, START, EQUAL = AlignmentMode.ALIGN_END, AlignmentMode.ALIGN_START, AlignmentMode.EQUAL_LENGTH


def reader(seqs):
    r = CollectionSequenceRecordReader(seqs)
    r.initialize()
    return r


class CountingReader(CollectionSequenceRecordReader):
    """Records every load_ragged call; optionally fails at one sequence index."""

    def __init__(self, seqs, fail_at=None):
        super().__init__(seqs)
        self.calls = []
        self.fail_at = fail_at

    def load_ragged(self, indices):
        indices = [int(i) for i in indices]
        self.calls.append(indices)
        if self.fail_at is not None and self.fail_at in indices:
            raise ParseError("broken on purpose", path=f"<collection>[{self.fail_at}]", line=1)
        return super().load_ragged(indices)


class BufferReader(CollectionSequenceRecordReader):
    """A store-like reader: load_ragged gathers from one read-only float32 buffer."""

    def load_ragged(self, indices):
        records = self.load_sequences(indices)
        raw = np.concatenate([r.values for r in records]).astype(np.float32).tobytes()
        values = np.frombuffer(raw, dtype=np.float32).reshape(-1, records[0].values.shape[1])
        return RaggedBatch(values, np.array([len(r.values) for r in records]),
                           [r.source for r in records], np.ones(len(records), np.int64))


def assert_same(a: DataSet, b: DataSet):
    for name in ("features", "labels", "features_mask", "labels_mask"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            assert x.dtype == y.dtype == np.float32
            np.testing.assert_array_equal(x, y, err_msg=name)


# ---------------------------------------------------------------- SPEC worked example

def test_spec_worked_example_align_end():
    it = Iter(reader([[[1], [2], [3]], [[4], [5]]]), reader([[[0]], [[1]]]), 2, 2,
              alignment_mode=END)
    ds = it.next()
    assert ds.features[:, 0, :].tolist() == [[1, 2, 3], [4, 5, 0]]
    assert ds.features_mask.tolist() == [[1, 1, 1], [1, 1, 0]]
    assert ds.labels[0].tolist() == [[0, 0, 1], [0, 0, 0]]
    assert ds.labels[1].tolist() == [[0, 0, 0], [0, 1, 0]]
    assert ds.labels_mask.tolist() == [[0, 0, 1], [0, 1, 0]]
    for a in (ds.features, ds.labels, ds.features_mask, ds.labels_mask):
        assert a.dtype == np.float32


def test_spec_worked_example_align_start():
    ds = Iter(reader([[[1], [2], [3]], [[4], [5]]]), reader([[[0]], [[1]]]), 2, 2, False,
              START).next()
    assert ds.labels_mask.tolist() == [[1, 0, 0], [1, 0, 0]]
    assert ds.labels[:, :, 0].tolist() == [[1, 0], [0, 1]]
    assert ds.features_mask.tolist() == [[1, 1, 1], [1, 1, 0]]


def test_package_docstring_example_one_reader():
    it = Iter(reader([[[1, 0], [2, 1], [3, 1]], [[4, 0], [5, 1]]]), 2, 2, -1)
    ds = next(iter(it))
    assert ds.features.shape == (2, 1, 3) and ds.labels.shape == (2, 2, 3)
    assert ds.features_mask.tolist() == [[1, 1, 1], [1, 1, 0]]
    assert ds.labels[0].argmax(axis=0).tolist() == [0, 1, 1]
    np.testing.assert_array_equal(ds.labels_mask, ds.features_mask)


# ---------------------------------------------------------------- alignment through the iterator

def test_align_end_many_to_one_three_lengths_in_one_minibatch():
    lengths = [4, 2, 6]
    feats = reader([np.arange(L, dtype=float)[:, None] + 1 for L in lengths])
    labs = reader([[[2]], [[0]], [[1]]])
    ds = Iter(feats, labs, 3, 3, alignment_mode=END).next()
    assert ds.features.shape == (3, 1, 6)
    assert ds.features_mask.sum(axis=1).tolist() == lengths
    assert ds.labels_mask.tolist() == [[0, 0, 0, 1, 0, 0], [0, 1, 0, 0, 0, 0],
                                       [0, 0, 0, 0, 0, 1]]
    # each label sits at its own sequence's last real step, not at the batch's last step
    for i, (L, cls) in enumerate(zip(lengths, [2, 0, 1])):
        assert ds.labels[i, :, L - 1].tolist() == np.eye(3)[cls].tolist()
        assert ds.labels[i].sum() == 1


def test_one_to_many_align_end_and_start():
    feats = reader([[[7]], [[8]]])
    labs = reader([[[0], [1], [0]], [[1], [1], [1], [0], [1]]])
    ds = Iter(feats, labs, 2, 2, alignment_mode=END).next()
    assert ds.features[:, 0, :].tolist() == [[0, 0, 7, 0, 0], [0, 0, 0, 0, 8]]
    assert ds.features_mask.tolist() == [[0, 0, 1, 0, 0], [0, 0, 0, 0, 1]]
    assert ds.labels_mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    ds = Iter(feats, labs, 2, 2, alignment_mode=START).next()
    assert ds.features[:, 0, :].tolist() == [[7, 0, 0, 0, 0], [8, 0, 0, 0, 0]]


def test_masks_none_when_no_side_needs_padding():
    feats = reader([np.ones((3, 2)), np.ones((3, 2))])
    labs = reader([[[0], [1], [0]], [[1], [1], [1]]])
    for mode in (EQUAL, START, END):
        ds = Iter(feats, labs, 2, 2, alignment_mode=mode).next()
        assert ds.features_mask is None and ds.labels_mask is None


def test_mask_only_on_the_side_that_needs_it():
    feats = reader([np.ones((3, 2)), np.ones((3, 2))])
    ds = Iter(feats, reader([[[0]], [[1]]]), 2, 2, alignment_mode=END).next()
    assert ds.features_mask is None
    assert ds.labels_mask.tolist() == [[0, 0, 1], [0, 0, 1]]


def test_equal_length_is_default_and_has_no_masks():
    feats = reader([np.ones((3, 2)), np.ones((3, 2))])
    it = Iter(feats, reader([np.zeros((3, 1)), np.ones((3, 1))]), 2, 2)
    ds = it.next()
    assert ds.features_mask is None and ds.labels_mask is None
    assert ds.labels.shape == (2, 2, 3)


def test_equal_length_error_between_examples():
    feats = reader([np.ones((3, 1)), np.ones((4, 1))])
    labs = reader([np.zeros((3, 1)), np.zeros((4, 1))])
    with pytest.raises(AlignmentError) as e:
        Iter(feats, labs, 2, 2).next()
    assert "<collection>[1]" in str(e.value)
    assert "ALIGN_START" in str(e.value) and "ALIGN_END" in str(e.value)


def test_equal_length_error_between_features_and_labels():
    with pytest.raises(AlignmentError, match="ALIGN_END"):
        Iter(reader([np.ones((3, 1))]), reader([np.zeros((1, 1))]), 1, 2).next()


# ---------------------------------------------------------------- column roles

SEQS = [np.array([[1, 10, 0, 100], [2, 20, 1, 200], [3, 30, 2, 300]], float),
        np.array([[4, 40, 1, 400], [5, 50, 0, 500]], float)]


@pytest.mark.parametrize("label_index, features_cols", [(0, [1, 2, 3]), (2, [0, 1, 3]),
                                                        (3, [0, 1, 2]), (-1, [0, 1, 2])])
def test_one_reader_classification_label_index(label_index, features_cols):
    seqs = [s.copy() for s in SEQS]
    label_col = label_index % 4
    for s in seqs:
        s[:, label_col] = np.arange(len(s)) % 3        # valid classes in the label column
    it = Iter(reader(seqs), 2, 3, label_index)
    assert it.input_columns() == 3 and it.total_outcomes() == 3
    ds = it.next()
    assert ds.features.shape == (2, 3, 3) and ds.labels.shape == (2, 3, 3)
    assert ds.features[0].T.tolist() == seqs[0][:, features_cols].tolist()
    assert ds.labels[0].argmax(axis=0).tolist() == seqs[0][:, label_col].tolist()
    assert ds.labels_mask.tolist() == [[1, 1, 1], [1, 1, 0]]
    assert (ds.labels[1, :, 2] == 0).all()


def test_one_reader_regression_single_and_multi_column():
    ds = Iter(reader(SEQS), 2, 1, 1, True).next()
    assert ds.labels[0, 0].tolist() == [10, 20, 30]
    assert ds.features[0].T.tolist() == SEQS[0][:, [0, 2, 3]].tolist()
    it = Iter(reader(SEQS), 2, 2, 2, regression=True)
    assert it.total_outcomes() == 2 and it.input_columns() == 2
    ds = it.next()
    assert ds.labels[1].T[:2].tolist() == SEQS[1][:, 2:].tolist()
    assert ds.features[1].T[:2].tolist() == SEQS[1][:, :2].tolist()


def test_one_reader_regression_wrong_label_count_is_error():
    with pytest.raises(ParseError, match="expected 3 columns, found 2"):
        Iter(reader(SEQS), 2, 3, 2, True).next()


def test_one_reader_features_only():
    it = Iter(reader(SEQS), 2, -1, -1)
    assert it.total_outcomes() == 0 and it.input_columns() == 4
    ds = it.next()
    assert ds.labels is None and ds.labels_mask is None
    assert ds.features[0].T.tolist() == SEQS[0].tolist()
    assert ds.features_mask.tolist() == [[1, 1, 1], [1, 1, 0]]


def test_keyword_forms():
    it = Iter(reader=reader(SEQS), mini_batch_size=1, num_possible_labels=-1, label_index=-1)
    assert it.batch() == 1 and len(it) == 2
    feats, labs = reader([np.ones((2, 1))]), reader([np.zeros((2, 1))])
    it = Iter(features_reader=feats, labels_reader=labs, mini_batch_size=1,
              num_possible_labels=2, alignment_mode=START)
    assert it.next().labels.shape == (1, 2, 2)
    assert Iter.AlignmentMode is AlignmentMode


def test_bad_constructor_arguments():
    with pytest.raises(SeqDataError, match="num_possible_labels >= 1"):
        Iter(reader(SEQS), 2, 0, 1)
    with pytest.raises(SeqDataError, match="num_possible_labels >= 1"):
        Iter(reader(SEQS), 2, -1, 1)
    with pytest.raises(SeqDataError, match="label_index must be an integer"):
        Iter(reader(SEQS), 2, 2, "last")
    with pytest.raises(SeqDataError, match="mini_batch_size"):
        Iter(reader(SEQS), 0, 2, 1)
    with pytest.raises(SeqDataError):
        Iter(reader(SEQS), 2)
    with pytest.raises(SeqDataError, match="labels_reader must be a SequenceRecordReader"):
        Iter(reader(SEQS), labels_reader=None, mini_batch_size=2, num_possible_labels=2)
    with pytest.raises(SeqDataError, match="reader must be a SequenceRecordReader"):
        Iter([[1, 2]], 2, -1, -1)
    with pytest.raises(SeqDataError, match="alignment_mode"):
        Iter(reader(SEQS), reader(SEQS), 2, 2, False, "ALIGN_MIDDLE")
    by_name = Iter(reader([[[1], [2]]]), reader([[[0]]]), 1, 2, False, "ALIGN_END")
    assert by_name.next().labels_mask.tolist() == [[0, 1]]
    with pytest.raises(ParseError, match="label_index 7"):
        Iter(reader(SEQS), 2, 2, 7).input_columns()


def test_two_reader_regression_takes_every_label_column():
    labs = reader([np.arange(6.).reshape(3, 2), np.arange(4.).reshape(2, 2)])
    it = Iter(reader(SEQS), labs, 2, -1, True, START)
    assert it.total_outcomes() == 2 and it.input_columns() == 4
    ds = it.next()
    assert ds.labels[0].T.tolist() == np.arange(6.).reshape(3, 2).tolist()
    assert ds.labels_mask.tolist() == [[1, 1, 1], [1, 1, 0]]


def test_two_reader_classification_needs_one_label_column():
    labs = reader([np.zeros((3, 2)), np.zeros((2, 2))])
    with pytest.raises(LabelError, match="one label column"):
        Iter(reader(SEQS), labs, 2, 2, alignment_mode=START).next()


def test_feature_label_count_mismatch():
    with pytest.raises(AlignmentError, match="3 feature and 2 label"):
        Iter(reader([[[1]], [[2]], [[3]]]), reader([[[0]], [[1]]]), 1, 2)


def test_sequences_with_different_column_counts_name_the_file():
    it = Iter(reader([np.ones((2, 2)), np.ones((2, 3))]), 2, -1, -1)
    with pytest.raises(ParseError, match=r"<collection>\[1\]"):
        it.next()
    it = Iter(reader([np.ones((2, 2)), np.ones((2, 3))]), 1, -1, -1)
    it.next()
    with pytest.raises(ParseError, match="expected 2 feature columns"):
        it.next()


# ---------------------------------------------------------------- one-hot checks

@pytest.mark.parametrize("bad", [-1.0, 1.5, 3.0, np.nan])
def test_one_hot_errors_name_file_line_and_value(bad):
    labs = reader([[[0], [1]], [[2], [bad]]])
    it = Iter(reader([np.ones((2, 1)), np.ones((2, 1))]), labs, 2, 3)
    with pytest.raises(LabelError) as e:
        it.next()
    assert "to one-hot" in str(e.value)
    assert e.value.path == "<collection>[1]" and e.value.line == 2
    assert f"{bad:g}" in str(e.value)


def test_one_hot_error_one_reader_names_the_label_column():
    seqs = [np.array([[1., 0.], [2., 5.]])]
    with pytest.raises(LabelError) as e:
        Iter(reader(seqs), 1, 3, 1).next()
    assert (e.value.line, e.value.column) == (2, 2)


def test_integral_float_labels_are_fine():
    ds = Iter(reader([np.ones((1, 1))]), reader([[[2.0]]]), 1, 3).next()
    assert ds.labels[0, :, 0].tolist() == [0, 0, 1]


# ---------------------------------------------------------------- iteration protocol

def make_iter(n=5, batch=2, **kw):
    feats = reader([np.full((i % 3 + 1, 2), float(i)) for i in range(n)])
    labs = reader([[[i % 2]] for i in range(n)])
    return Iter(feats, labs, batch, 2, alignment_mode=END, **kw)


def test_len_batch_and_last_minibatch_smaller():
    it = make_iter(5, 2)
    assert len(it) == 3 and it.batch() == 2
    sizes = [ds.num_examples() for ds in it]
    assert sizes == [2, 2, 1]


def test_has_next_next_reset_without_implicit_reset():
    it = make_iter(3, 2)
    it.next()
    it.next()
    assert not it.has_next()
    with pytest.raises(SeqDataError, match="reset"):
        it.next()
    with pytest.raises(StopIteration):
        next(it)
    it.reset()
    assert it.has_next()
    assert next(it).num_examples() == 2


def test_for_loop_is_always_a_whole_epoch_from_the_start():
    it = make_iter(5, 2)
    first = it.next()
    batches = list(it)
    assert len(batches) == 3
    assert_same(batches[0], first)
    assert list(it) and len(list(it)) == 3


def test_input_columns_and_total_outcomes_never_consume():
    it = make_iter(5, 2)
    assert it.input_columns() == 2 and it.total_outcomes() == 2
    assert len(list(it.__iter__())) == 3
    it.reset()
    it.input_columns()
    assert it.next().features[0, 0, 0] == 0.0


def test_pre_processor_applied_exactly_once_per_batch():
    class AddOne:
        calls = 0

        def pre_process(self, ds):
            AddOne.calls += 1
            ds.features += 1

    for prefetch in (0, 2):
        AddOne.calls = 0
        raw = list(make_iter(5, 2))
        it = make_iter(5, 2, prefetch=prefetch, collect_meta_data=True)
        it.set_pre_processor(AddOne())
        got = list(it)
        assert AddOne.calls == 3
        for r, g in zip(raw, got):
            np.testing.assert_array_equal(g.features, r.features + 1)
        again = it.load_from_meta_data(got[1].example_meta_data)
        np.testing.assert_array_equal(again.features, got[1].features)
        assert AddOne.calls == 4


def test_meta_data_round_trip_identical():
    it = make_iter(7, 3, collect_meta_data=True, shuffle=True, seed=3)
    for ds in it:
        meta = ds.example_meta_data
        assert all(isinstance(m, ExampleMetaData) for m in meta)
        assert [m.features_source for m in meta] == [f"<collection>[{m.index}]" for m in meta]
        assert [m.labels_source for m in meta] == [f"<collection>[{m.index}]" for m in meta]
        again = it.load_from_meta_data(meta)
        assert_same(again, ds)
        assert again.example_meta_data == meta


def test_meta_data_not_collected_by_default():
    assert make_iter().next().example_meta_data is None


def test_meta_data_mismatch_is_error():
    it = make_iter(3, 1, collect_meta_data=True)
    meta = ExampleMetaData(0, "elsewhere.csv", "<collection>[0]")
    with pytest.raises(SeqDataError, match="elsewhere.csv"):
        it.load_from_meta_data([meta])
    with pytest.raises(SeqDataError, match="index"):
        it.load_from_meta_data([ExampleMetaData(9, "x")])


def test_minibatches_loaded_one_at_a_time():
    feats = CountingReader([np.ones((2, 1))] * 7)
    labs = CountingReader([[[0]]] * 7)
    it = Iter(feats, labs, 3, 2, alignment_mode=END)
    list(it)
    assert [len(c) for c in feats.calls] == [3, 3, 1]
    assert [len(c) for c in labs.calls] == [3, 3, 1]


def test_store_like_reader_with_read_only_buffers_gives_identical_batches():
    seqs = [np.arange(i + 2, dtype=float).reshape(-1, 1) * [1, -1] for i in range(5)]
    labels = [[[i % 3]] for i in range(5)]
    a = list(Iter(reader(seqs), reader(labels), 2, 3, alignment_mode=END))
    b = list(Iter(BufferReader(seqs), BufferReader(labels), 2, 3, alignment_mode=END))
    for x, y in zip(a, b):
        assert_same(x, y)


# ---------------------------------------------------------------- shuffle, bucketing, prefetch

def epoch_indices(it):
    return [[m.index for m in ds.example_meta_data] for ds in it]


def test_shuffle_is_reproducible_per_epoch():
    a = make_iter(11, 3, shuffle=True, seed=5, collect_meta_data=True)
    b = make_iter(11, 3, shuffle=True, seed=5, collect_meta_data=True)
    ea = [epoch_indices(a) for _ in range(3)]
    eb = [epoch_indices(b) for _ in range(3)]
    assert ea == eb
    for e in ea:
        assert sorted(sum(e, [])) == list(range(11))
    assert ea[0] != ea[1]
    # epoch e uses seed + e
    c = make_iter(11, 3, shuffle=True, seed=6, collect_meta_data=True)
    assert epoch_indices(c) == ea[1]
    assert epoch_indices(make_iter(11, 3, collect_meta_data=True))[0] == [0, 1, 2]


def test_reset_without_batches_does_not_advance_epoch():
    it = make_iter(6, 2, shuffle=True, seed=1, collect_meta_data=True)
    it.reset()
    it.reset()
    assert it.epoch == 0
    first = epoch_indices(it)
    assert it.epoch == 0
    it.reset()
    assert it.epoch == 1
    assert make_iter(6, 2, shuffle=True, seed=1, collect_meta_data=True).epoch == 0
    assert first == epoch_indices(make_iter(6, 2, shuffle=True, seed=1, collect_meta_data=True))


def test_bucket_by_length_reduces_padding_and_keeps_every_sequence():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 40, 64)
    feats = reader([np.ones((L, 1)) for L in lengths])
    labs = reader([[[0]]] * 64)
    plain = Iter(feats, labs, 8, 2, alignment_mode=END)
    list(plain)
    bucketed = Iter(feats, labs, 8, 2, alignment_mode=END, bucket_by_length=4,
                    collect_meta_data=True, shuffle=True, seed=0)
    seen = []
    for ds in bucketed:
        idx = [m.index for m in ds.example_meta_data]
        seen += idx
        assert ds.features_mask.sum(axis=1).tolist() == lengths[idx].tolist()
    assert sorted(seen) == list(range(64))
    assert 0 < bucketed.padding_fraction < plain.padding_fraction
    total = sum(ds.features.shape[2] * ds.num_examples() for ds in plain)
    assert plain.padding_fraction == pytest.approx(1 - lengths.sum() / total)


def test_bucket_windows_are_sorted_without_shuffle():
    lengths = [5, 1, 4, 2, 3, 6]
    it = Iter(reader([np.ones((L, 1)) for L in lengths]), 2, -1, -1, bucket_by_length=True,
              collect_meta_data=True)
    order = sum(epoch_indices(it), [])
    assert [lengths[i] for i in order] == sorted(lengths)


def test_prefetch_gives_identical_batches():
    for kw in ({}, {"shuffle": True, "seed": 2}, {"bucket_by_length": 2, "shuffle": True,
                                                   "seed": 2}):
        plain = make_iter(13, 3, **kw)
        fetched = make_iter(13, 3, prefetch=2, **kw)
        for _ in range(2):
            a, b = list(plain), list(fetched)
            assert len(a) == len(b) == 5
            for x, y in zip(a, b):
                assert_same(x, y)


def test_prefetch_reset_midway_and_has_next():
    it = make_iter(9, 2, prefetch=3)
    it.next()
    it.reset()
    assert len(list(it)) == 5
    assert not it.has_next()
    it.close()


def test_prefetch_error_reraised_in_consumer_at_its_batch():
    feats = CountingReader([np.ones((2, 1))] * 6, fail_at=4)
    it = Iter(feats, 2, -1, -1, prefetch=2)
    assert it.next().num_examples() == 2
    assert it.next().num_examples() == 2
    with pytest.raises(ParseError, match="broken on purpose"):
        it.next()
    with pytest.raises(ParseError):        # retried, not silently skipped
        it.next()


def test_bad_options():
    with pytest.raises(SeqDataError, match="prefetch"):
        make_iter(prefetch=-1)
    with pytest.raises(SeqDataError, match="bucket_by_length"):
        make_iter(bucket_by_length=0.5)


# ---------------------------------------------------------------- sharding

@settings(max_examples=120, deadline=None)
@given(n=st.integers(1, 40), batch=st.integers(1, 6), world=st.integers(1, 4),
       shuffle=st.booleans(), bucket=st.booleans())
def test_property_shards_exact_disjoint_equal_batch_counts(n, batch, world, shuffle, bucket):
    base = Iter(reader([np.ones((i % 4 + 1, 1)) for i in range(n)]), batch, -1, -1,
                collect_meta_data=True, shuffle=shuffle, seed=7, bucket_by_length=bucket)
    per_rank = -(-n // world)
    feasible = world == 1 or -(-per_rank // batch) <= n // world
    if not feasible:
        with pytest.raises(SeqDataError, match="shards"):
            base.shard(0, world)
        return
    shards = [base.shard(r, world) for r in range(world)]
    for _ in range(2):                                         # two epochs
        epochs = [epoch_indices(s) for s in shards]
        counts = {len(e) for e in epochs}
        assert counts == {len(shards[0])}                      # equal batch counts
        assert all(1 <= len(b) <= batch for e in epochs for b in e)
        every = [i for e in epochs for b in e for i in b]
        assert sorted(every) == list(range(n))                 # disjoint and exact
        sizes = [sum(len(b) for b in e) for e in epochs]
        assert max(sizes) - min(sizes) <= 1


def test_set_epoch_and_shards_start_at_the_parents_epoch():
    it = make_iter(11, 3, shuffle=True, seed=5, collect_meta_data=True)
    later = make_iter(11, 3, shuffle=True, seed=8, collect_meta_data=True)
    it.next()
    it.set_epoch(3)
    assert it.epoch == 3
    assert epoch_indices(it) == epoch_indices(later)
    shards = [it.shard(r, 2) for r in range(2)]
    assert all(s.epoch == 3 for s in shards)
    assert sorted(sum(sum((epoch_indices(s) for s in shards), []), [])) == list(range(11))
    with pytest.raises(SeqDataError, match="epoch"):
        it.set_epoch(-1)


def test_shard_arguments():
    it = make_iter(8, 2)
    with pytest.raises(SeqDataError, match="rank"):
        it.shard(2, 2)
    with pytest.raises(SeqDataError, match="already shard"):
        it.shard(0, 2).shard(0, 2)
    assert len(it.shard(1, 2)) == 2 and len(it) == 4
    assert (it.rank, it.world_size) == (0, 1)
    assert (it.shard(1, 2).rank, it.shard(1, 2).world_size) == (1, 2)


# ---------------------------------------------------------------- property through the iterator

@settings(max_examples=60, deadline=None)
@given(data=st.data(), mode=st.sampled_from([START, END]), n=st.integers(1, 7),
       batch=st.integers(1, 4), regression=st.booleans())
def test_property_iterator_places_every_value_by_the_rule(data, mode, n, batch, regression):
    f_len = data.draw(st.lists(st.integers(1, 8), min_size=n, max_size=n))
    l_len = data.draw(st.lists(st.integers(1, 8), min_size=n, max_size=n))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1)))
    feats = [rng.uniform(1, 2, (L, 2)) for L in f_len]
    labs = ([rng.uniform(1, 2, (L, 1)) for L in l_len] if regression
            else [rng.integers(0, 3, (L, 1)).astype(float) for L in l_len])
    it = Iter(reader(feats), reader(labs), batch, 3, regression, mode, collect_meta_data=True)
    for ds in it:
        idx = [m.index for m in ds.example_meta_data]
        T = ds.features.shape[2]
        assert T == max(max(f_len[i], l_len[i]) for i in idx)
        f_mask = np.ones((len(idx), T)) if ds.features_mask is None else ds.features_mask
        l_mask = np.ones((len(idx), T)) if ds.labels_mask is None else ds.labels_mask
        for row, i in enumerate(idx):
            Lf, Ll = f_len[i], l_len[i]
            end = max(Lf, Ll) if mode is END else None
            fs = end - Lf if mode is END else 0
            ls = end - Ll if mode is END else 0
            np.testing.assert_array_equal(ds.features[row][:, fs:fs + Lf],
                                          feats[i].T.astype(np.float32))
            expected_labels = (labs[i].T.astype(np.float32) if regression
                               else np.eye(3, dtype=np.float32)[labs[i][:, 0].astype(int)].T)
            np.testing.assert_array_equal(ds.labels[row][:, ls:ls + Ll], expected_labels)
            assert f_mask[row].sum() == Lf and l_mask[row].sum() == Ll
            assert f_mask[row, fs:fs + Lf].all() and l_mask[row, ls:ls + Ll].all()
        assert (ds.features * (1 - f_mask)[:, None, :] == 0).all()
        assert (ds.labels * (1 - l_mask)[:, None, :] == 0).all()
        lengths_f = [f_len[i] for i in idx]
        lengths_l = [l_len[i] for i in idx]
        needs_f = mode is END and any(a < b for a, b in zip(lengths_f, lengths_l)) \
            or len(set(lengths_f)) > 1 or max(lengths_f) < T
        needs_l = mode is END and any(b < a for a, b in zip(lengths_f, lengths_l)) \
            or len(set(lengths_l)) > 1 or max(lengths_l) < T
        assert (ds.features_mask is not None) == needs_f
        assert (ds.labels_mask is not None) == needs_l


# ---------------------------------------------------------------- CSV fixtures (hand-written)

LAYOUTS = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "layouts"
VOWELS = LAYOUTS.parent / "japanese_vowels" / "train"


def _csv_reader(pattern, lo, hi):
    from seqdata.readers.csv import CSVSequenceRecordReader
    from seqdata.splits import NumberedFileInputSplit
    r = CSVSequenceRecordReader()
    r.initialize(NumberedFileInputSplit(str(pattern), lo, hi))
    return r


def _layout_cases():
    if not (LAYOUTS / "expected.json").exists():
        return []
    spec = json.loads((LAYOUTS / "expected.json").read_text())
    return [(name, mode, case) for name, case in spec.items() if not name.startswith("_")
            for mode in list(case["modes"]) + case["raises_in_modes"]]


@pytest.mark.parametrize("name, mode, case", _layout_cases(),
                         ids=[f"{n}-{m}" for n, m, _ in _layout_cases()])
def test_guide_layouts_match_hand_written_expectations(name, mode, case):
    cfg = case["iterator"]
    feats = _csv_reader(LAYOUTS / case["features"], case["min_idx"], case["max_idx"])
    if cfg["form"] == "one_reader":
        it = Iter(feats, cfg["mini_batch_size"], cfg["num_possible_labels"],
                  cfg["label_index"], cfg["regression"])
    else:
        labs = _csv_reader(LAYOUTS / case["labels"], case["min_idx"], case["max_idx"])
        it = Iter(feats, labs, cfg["mini_batch_size"], cfg["num_possible_labels"],
                  cfg["regression"], AlignmentMode[mode])
    if mode in case["raises_in_modes"]:
        with pytest.raises(AlignmentError, match="ALIGN_START or AlignmentMode.ALIGN_END"):
            it.next()
        return
    (ds,) = list(it)
    expected = case["modes"][mode]
    for key in ("features", "labels", "features_mask", "labels_mask"):
        got = getattr(ds, key)
        if expected[key] is None:
            assert got is None, key
        else:
            np.testing.assert_array_equal(got, np.array(expected[key], np.float32), key)


@pytest.mark.skipif(not VOWELS.exists(), reason="Japanese Vowels fixture not present")
def test_japanese_vowels_train_align_end_many_to_one():
    feats = _csv_reader(VOWELS / "features" / "%d.csv", 0, 269)
    labs = _csv_reader(VOWELS / "labels" / "%d.csv", 0, 269)
    it = Iter(feats, labs, 32, 9, alignment_mode=AlignmentMode.ALIGN_END)
    assert len(it) == 9 and it.input_columns() == 12 and it.total_outcomes() == 9
    n = 0
    for ds in it:
        n += ds.num_examples()
        assert ds.features.shape[1] == 12 and ds.labels.shape[1] == 9
        f_mask = (np.ones(ds.features.shape[::2], np.float32) if ds.features_mask is None
                  else ds.features_mask)
        last = f_mask.shape[1] - 1 - np.argmax(f_mask[:, ::-1], axis=1)
        assert (f_mask.sum(axis=1) >= 7).all() and (f_mask.sum(axis=1) <= 29).all()
        assert (ds.labels_mask.sum(axis=1) == 1).all()
        assert (ds.labels_mask.argmax(axis=1) == last).all()   # label at its own last step
        assert (ds.labels.sum(axis=(1, 2)) == 1).all()
    assert n == 270


def test_pickled_iterator_gives_the_same_epoch():
    import pickle
    it = make_iter(7, 3, shuffle=True, seed=4, prefetch=1)
    it.next()
    copy = pickle.loads(pickle.dumps(it))
    a, b = list(it), list(copy)                    # both continue with epoch 1
    assert len(a) == len(b) == 3 and it.epoch == copy.epoch == 1
    for x, y in zip(a, b):
        assert_same(x, y)


@pytest.mark.parametrize("form", ["two readers", "label column"])
def test_a_non_numeric_class_label_is_a_label_error_naming_file_and_line(tmp_path, form):
    from seqdata import (
        CSVSequenceRecordReader,
        LabelError,
        NumberedFileInputSplit,
        SequenceRecordReaderDataSetIterator,
    )

    def reader(pattern):
        r = CSVSequenceRecordReader()
        r.initialize(NumberedFileInputSplit(str(pattern), 0, 1))
        return r

    if form == "two readers":
        for i, (f, lab) in enumerate([("1\n2\n", "0\n1\n"), ("3\n4\n", "1\ncat\n")]):
            (tmp_path / f"f{i}.csv").write_text(f)
            (tmp_path / f"l{i}.csv").write_text(lab)
        it = SequenceRecordReaderDataSetIterator(reader(tmp_path / "f%d.csv"),
                                                 reader(tmp_path / "l%d.csv"), 2, 2)
        where = (str(tmp_path / "l1.csv"), 2, 1)
    else:
        for i, text in enumerate(["1,0\n2,1\n", "3,1\n4,cat\n"]):
            (tmp_path / f"j{i}.csv").write_text(text)
        it = SequenceRecordReaderDataSetIterator(reader(tmp_path / "j%d.csv"), 2, 2, -1)
        where = (str(tmp_path / "j1.csv"), 2, 2)
    with pytest.raises(LabelError, match="to one-hot") as err:
        it.next()
    assert (err.value.path, err.value.line, err.value.column) == where
    assert "cat" in str(err.value)
