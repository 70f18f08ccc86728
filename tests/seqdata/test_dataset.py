"""DataSet: merge (end padding, masks), split, to_torch, repr."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest

from seqdata.dataset import DataSet
from seqdata.errors import SeqDataError

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _ds(n, c, t, k=2, seed=0):
    rng = np.random.default_rng(seed)
    return DataSet(rng.uniform(1, 2, (n, c, t)).astype(np.float32),
                   rng.uniform(1, 2, (n, k, t)).astype(np.float32))


def test_merge_pads_at_end_and_creates_masks():
    a, b = _ds(2, 3, 5), _ds(1, 3, 2, seed=1)
    m = DataSet.merge([a, b])
    assert m.features.shape == (3, 3, 5) and m.labels.shape == (3, 2, 5)
    np.testing.assert_array_equal(m.features[:2], a.features)
    np.testing.assert_array_equal(m.features[2, :, :2], b.features[0])
    assert (m.features[2, :, 2:] == 0).all() and (m.labels[2, :, 2:] == 0).all()
    assert m.features_mask.tolist() == [[1] * 5, [1] * 5, [1, 1, 0, 0, 0]]
    assert m.labels_mask.tolist() == m.features_mask.tolist()


def test_merge_equal_lengths_without_masks_stays_unmasked():
    m = DataSet.merge([_ds(1, 2, 4), _ds(2, 2, 4, seed=1)])
    assert m.features_mask is None and m.labels_mask is None
    assert m.num_examples() == 3


def test_merge_keeps_existing_masks():
    a = _ds(1, 1, 3)
    a.labels_mask = np.array([[0, 0, 1]], np.float32)
    m = DataSet.merge([a, _ds(1, 1, 3, seed=2)])
    assert m.features_mask is None
    assert m.labels_mask.tolist() == [[0, 0, 1], [1, 1, 1]]


def test_merge_features_only_and_meta_data():
    a, b = DataSet(np.ones((1, 1, 2), np.float32)), DataSet(np.ones((1, 1, 2), np.float32))
    a.example_meta_data, b.example_meta_data = ["m0"], ["m1"]
    m = DataSet.merge([a, b])
    assert m.labels is None and m.example_meta_data == ["m0", "m1"]


def test_merge_errors():
    with pytest.raises(SeqDataError, match="at least one"):
        DataSet.merge([])
    with pytest.raises(SeqDataError, match="labels"):
        DataSet.merge([_ds(1, 1, 2), DataSet(np.ones((1, 1, 2), np.float32))])
    with pytest.raises(SeqDataError, match="channel"):
        DataSet.merge([_ds(1, 1, 2), _ds(1, 2, 2)])


def test_split_then_merge_round_trip():
    ds = _ds(5, 2, 4)
    ds.features_mask = np.ones((5, 4), np.float32)
    ds.features_mask[4, 3] = 0
    ds.example_meta_data = list(range(5))
    parts = ds.split(2)
    assert [p.num_examples() for p in parts] == [2, 2, 1]
    assert parts[2].example_meta_data == [4]
    back = DataSet.merge(parts)
    for name in ("features", "labels", "features_mask"):
        np.testing.assert_array_equal(getattr(back, name), getattr(ds, name))
    with pytest.raises(SeqDataError):
        ds.split(0)


def test_to_torch_is_zero_copy_on_cpu():
    torch = pytest.importorskip("torch")
    ds = _ds(2, 3, 4)
    ds.features_mask = np.ones((2, 4), np.float32)
    t = ds.to_torch()
    assert isinstance(t.features, torch.Tensor) and t.features.dtype == torch.float32
    assert t.labels_mask is None
    ds.features[0, 0, 0] = 42.0
    assert t.features[0, 0, 0].item() == 42.0
    assert t.features_mask.shape == (2, 4)


def test_repr_shows_shapes():
    assert repr(_ds(2, 3, 4)) == ("DataSet(num_examples=2, features=[2, 3, 4], "
                                  "labels=[2, 2, 4], features_mask=None, labels_mask=None)")


def test_seqdata_modules_do_not_import_torch():
    code = ("import sys; import seqdata.dataset, seqdata.iterator, seqdata.alignment, "
            "seqdata.normalizers; ds = seqdata.dataset.DataSet(__import__('numpy').zeros((1,1,1)));"
            " assert 'torch' not in sys.modules, 'torch imported'")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
