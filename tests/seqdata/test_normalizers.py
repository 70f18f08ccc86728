"""Normalisers: statistics over real steps equal numpy's over the unpadded data."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqdata.alignment import AlignmentMode
from seqdata.dataset import DataSet
from seqdata.errors import SeqDataError
from seqdata.iterator import SequenceRecordReaderDataSetIterator as Iter
from seqdata.normalizers import NormalizerMinMaxScaler, NormalizerStandardize, normalizer_from_dict
from seqdata.readers.base import CollectionSequenceRecordReader


def corpus(seed=0, n=9, channels=3, offset=0.0):
    rng = np.random.default_rng(seed)
    scale = np.geomspace(0.1, 10, channels)
    feats = [(rng.normal(offset, 2.0, (int(L), channels)) * scale).astype(np.float32)
             for L in rng.integers(1, 12, n)]
    labels = [rng.normal(5, 3, (len(f), 2)).astype(np.float32) for f in feats]
    return feats, labels


def regression_iter(feats, labels, batch=4, **kw):
    return Iter(CollectionSequenceRecordReader(feats), CollectionSequenceRecordReader(labels),
                batch, -1, True, AlignmentMode.ALIGN_END, **kw)


def test_standardize_statistics_equal_numpy_over_unpadded_steps():
    feats, labels = corpus()
    it = regression_iter(feats, labels)
    norm = NormalizerStandardize(fit_label=True)
    norm.fit(it)
    flat = np.concatenate(feats).astype(np.float64)
    np.testing.assert_allclose(norm.mean, flat.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(norm.std, flat.std(axis=0), rtol=1e-12)   # population std
    flat_l = np.concatenate(labels).astype(np.float64)
    np.testing.assert_allclose(norm.label_mean, flat_l.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(norm.label_std, flat_l.std(axis=0), rtol=1e-12)


def test_minmax_statistics_equal_numpy():
    feats, labels = corpus(1)
    norm = NormalizerMinMaxScaler()
    norm.fit(regression_iter(feats, labels, batch=2))
    flat = np.concatenate(feats)
    np.testing.assert_array_equal(norm.min, flat.min(axis=0))
    np.testing.assert_array_equal(norm.max, flat.max(axis=0))


def test_transformed_real_steps_are_standard_and_padding_stays_zero():
    feats, labels = corpus(2)
    it = regression_iter(feats, labels, batch=9)
    norm = NormalizerStandardize()
    norm.fit(it)
    it.set_pre_processor(norm)
    (batch,) = list(it)
    mask = batch.features_mask
    real = batch.features.transpose(0, 2, 1)[mask > 0].astype(np.float64)
    np.testing.assert_allclose(real.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(real.std(axis=0), 1, atol=1e-5)
    padding = batch.features.transpose(0, 2, 1)[mask == 0]
    assert (padding == 0).all() and not np.signbit(padding).any()      # no -0.0 either


def test_revert_round_trip_and_input_unchanged():
    feats, labels = corpus(3)
    it = regression_iter(feats, labels)
    for norm in (NormalizerStandardize(fit_label=True),
                 NormalizerMinMaxScaler(-1, 1, fit_label=True)):
        norm.fit(it)
        ds = next(iter(it))
        before = ds.copy()
        out = norm.transform(ds)
        np.testing.assert_array_equal(ds.features, before.features)     # transform copies
        back = norm.revert(out)
        np.testing.assert_allclose(back.features, ds.features, atol=1e-4)
        np.testing.assert_allclose(back.labels, ds.labels, atol=1e-4)
        np.testing.assert_allclose(norm.revert_labels(out.labels, ds.labels_mask), ds.labels,
                                   atol=1e-4)


def test_minmax_range_and_padding():
    feats, labels = corpus(4)
    it = regression_iter(feats, labels, batch=9)
    norm = NormalizerMinMaxScaler(-1.0, 1.0)
    norm.fit(it)
    ds = norm.transform(next(iter(it)))
    real = ds.features.transpose(0, 2, 1)[ds.features_mask > 0]
    np.testing.assert_allclose(real.min(axis=0), -1, atol=1e-6)
    np.testing.assert_allclose(real.max(axis=0), 1, atol=1e-6)
    assert (ds.features.transpose(0, 2, 1)[ds.features_mask == 0] == 0).all()
    with pytest.raises(SeqDataError, match="min_range < max_range"):
        NormalizerMinMaxScaler(1, 1)


def test_constant_feature_is_centred_not_divided():
    x = np.zeros((2, 2, 3), np.float32)
    x[:, 0] = 0.1
    x[:, 1] = [[1, 2, 3], [4, 5, 6]]
    ds = DataSet(x)
    for norm in (NormalizerStandardize(), NormalizerMinMaxScaler()):
        norm.fit(ds)
        out = norm.transform(ds)
        assert np.isfinite(out.features).all()
        assert (out.features[:, 0] == 0).all()
        np.testing.assert_allclose(norm.revert(out).features, x, atol=1e-6)


def test_masked_steps_never_count():
    x = np.array([[[1., 3., 1000.]], [[5., -1000., -1000.]]], np.float32)
    mask = np.array([[1, 1, 0], [1, 0, 0]], np.float32)
    norm = NormalizerStandardize()
    norm.fit(DataSet(x, features_mask=mask))
    assert norm.mean.tolist() == [3.0]
    assert norm.std == pytest.approx(np.std([1., 3., 5.]))
    mm = NormalizerMinMaxScaler()
    mm.fit(DataSet(x, features_mask=mask))
    assert (mm.min.tolist(), mm.max.tolist()) == ([1.0], [5.0])


def test_streaming_fit_is_stable_with_large_offsets():
    feats, labels = corpus(5, n=40, channels=2, offset=1e5)
    norm = NormalizerStandardize()
    norm.fit(regression_iter(feats, labels, batch=3))
    flat = np.concatenate(feats).astype(np.float64)
    np.testing.assert_allclose(norm.std, flat.std(axis=0), rtol=1e-9)


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 20), min_size=1, max_size=8), seed=st.integers(0, 999))
def test_property_merged_batches_equal_numpy(sizes, seed):
    rng = np.random.default_rng(seed)
    batches = [rng.normal(rng.uniform(-50, 50), rng.uniform(0.1, 9), (s, 2)).astype(np.float32)
               for s in sizes]
    norm = NormalizerStandardize()
    norm.fit([DataSet(b) for b in batches])
    flat = np.concatenate(batches).astype(np.float64)
    np.testing.assert_allclose(norm.mean, flat.mean(axis=0), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(norm.std, flat.std(axis=0), rtol=1e-9, atol=1e-12)


def test_fit_ignores_the_iterators_own_pre_processor_and_resets():
    feats, labels = corpus(6)
    it = regression_iter(feats, labels)
    norm = NormalizerStandardize()
    norm.fit(it)
    it.set_pre_processor(norm)
    mean = norm.mean.copy()
    norm.fit(it)                                   # refit while being the pre-processor
    np.testing.assert_allclose(norm.mean, mean, rtol=1e-12)
    assert it.get_pre_processor() is norm
    assert it.has_next()


def test_pre_process_changes_the_dataset_in_place():
    ds = DataSet(np.array([[[1., 3.]]], np.float32))
    norm = NormalizerStandardize()
    norm.fit(ds)
    assert norm.pre_process(ds) is None
    assert ds.features.tolist() == [[[-1.0, 1.0]]]


def test_save_load_round_trip(tmp_path):
    feats, labels = corpus(7)
    it = regression_iter(feats, labels)
    for norm in (NormalizerStandardize(fit_label=True), NormalizerMinMaxScaler(2, 5)):
        norm.fit(it)
        path = tmp_path / f"{type(norm).__name__}.json"
        norm.save(path)
        json.loads(path.read_text())
        loaded = type(norm).load(path)
        ds = next(iter(it))
        a, b = norm.transform(ds), loaded.transform(ds)
        np.testing.assert_array_equal(a.features, b.features)
        np.testing.assert_array_equal(a.labels, b.labels)


def test_load_errors(tmp_path):
    norm = NormalizerMinMaxScaler()
    norm.fit(DataSet(np.ones((1, 1), np.float32)))
    path = tmp_path / "n.json"
    norm.save(path)
    with pytest.raises(SeqDataError, match="expected a NormalizerStandardize"):
        NormalizerStandardize.load(path)
    path.write_text("{not json")
    with pytest.raises(SeqDataError, match="invalid JSON"):
        NormalizerMinMaxScaler.load(path)
    with pytest.raises(SeqDataError, match="cannot read"):
        NormalizerMinMaxScaler.load(tmp_path / "missing.json")
    path.write_text(json.dumps({"format": "seqdata-normalizer", "version": 1,
                                "type": "NormalizerMinMaxScaler"}))
    with pytest.raises(SeqDataError, match="malformed"):
        NormalizerMinMaxScaler.load(path)


def test_unfitted_and_shape_errors():
    norm = NormalizerStandardize()
    with pytest.raises(SeqDataError, match="not fitted"):
        norm.transform(DataSet(np.ones((1, 2, 3), np.float32)))
    norm.fit(DataSet(np.ones((1, 2, 3), np.float32)))
    with pytest.raises(SeqDataError, match="expected 2 feature channels"):
        norm.transform(DataSet(np.ones((1, 3, 3), np.float32)))
    with pytest.raises(SeqDataError, match="fit_label=True"):
        norm.revert_labels(np.ones((1, 1, 3), np.float32))
    with pytest.raises(SeqDataError, match="needs labels"):
        NormalizerStandardize(fit_label=True).fit(DataSet(np.ones((1, 2, 3), np.float32)))


def _nan_corpus(tmp_path):
    from seqdata import CSVSequenceRecordReader, NumberedFileInputSplit

    for i, text in enumerate(["1,2\n3,4\n", "5,6\n7,nan\n8,9\n", "1,1\n"]):
        (tmp_path / f"{i}.csv").write_text("a,b\n" + text)
    reader = CSVSequenceRecordReader(skip_num_lines=1)
    reader.initialize(NumberedFileInputSplit(str(tmp_path / "%d.csv"), 0, 2))
    return reader


@pytest.mark.parametrize("cls", [NormalizerStandardize, NormalizerMinMaxScaler])
def test_fit_on_a_nan_names_the_file_and_step(tmp_path, cls):
    from seqdata import SequenceRecordReaderDataSetIterator

    it = SequenceRecordReaderDataSetIterator(_nan_corpus(tmp_path), 2, -1, -1,
                                             collect_meta_data=True)
    with pytest.raises(SeqDataError, match=r"1\.csv: step 2 .*column 2") as err:
        cls().fit(it)
    assert "expected finite features, found nan" in str(err.value)
    plain = SequenceRecordReaderDataSetIterator(_nan_corpus(tmp_path), 2, -1, -1)
    with pytest.raises(SeqDataError, match=r"example 1, channel 1, real step 2"):
        cls().fit(plain)


@pytest.mark.parametrize("key, value, message", [
    ("m2", [-1.0], "cannot be negative"),
    ("mean", [float("nan")], "expected finite values"),
    ("max", [float("inf")], "expected finite values"),
    ("min", [5.0], "expected min <= max"),
    ("count", 0, "at least 1 step"),
    ("mean", [1.0, 2.0], "one value per channel"),
])
def test_impossible_statistics_are_refused_when_loaded(tmp_path, key, value, message):
    norm = NormalizerStandardize()
    norm.fit(DataSet(np.array([[[1.0, 3.0]]], np.float32)))
    d = norm.to_dict()
    d["features"][key] = value
    with pytest.raises(SeqDataError, match=message):
        normalizer_from_dict(d, "norm.json")
    path = tmp_path / "norm.json"
    path.write_text(json.dumps(d))
    with pytest.raises(SeqDataError, match=message):
        NormalizerStandardize.load(path)
