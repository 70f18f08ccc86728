"""NormalizerSerializer files, built byte by byte as FORMAT.md 3.4 describes (no DL4J-written
normaliser exists among the artefacts)."""

from __future__ import annotations

import io
import struct
import zipfile

import numpy as np
import pytest

from seqdata.dataset import DataSet
from seqdata.normalizers import NormalizerMinMaxScaler, NormalizerStandardize
from seqnet.dl4j import encode_normalizer, restore_normalizer, write_nd4j_array
from seqnet.errors import ModelFileError

MEAN = np.array([1.5, -2.0, 0.25], np.float32)
STD = np.array([0.5, 3.0, 1.25], np.float32)
LOW = np.array([-1.0, 0.0, 10.0], np.float32)
HIGH = np.array([1.0, 4.0, 30.0], np.float32)


def _utf(text: str) -> bytes:
    return struct.pack(">H", len(text)) + text.encode()


def _array(tmp_path, values) -> bytes:
    path = tmp_path / "array.bin"
    write_nd4j_array(np.asarray(values, np.float32).reshape(1, -1), path)
    return path.read_bytes()


def _standardize(tmp_path, labels: bool) -> bytes:
    out = _utf("NORMALIZER") + struct.pack(">i", 1) + _utf("STANDARDIZE")
    out += struct.pack(">?", labels) + _array(tmp_path, MEAN) + _array(tmp_path, STD)
    if labels:
        out += _array(tmp_path, [10.0]) + _array(tmp_path, [2.0])
    return out


def _min_max(tmp_path, labels: bool) -> bytes:
    out = _utf("NORMALIZER") + struct.pack(">i", 1) + _utf("MIN_MAX")
    out += struct.pack(">?", labels) + struct.pack(">d", -1.0) + struct.pack(">d", 1.0)
    out += _array(tmp_path, LOW) + _array(tmp_path, HIGH)
    if labels:
        out += _array(tmp_path, [0.0, 5.0]) + _array(tmp_path, [1.0, 7.0])
    return out


def _x() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32) * 5


@pytest.mark.parametrize("labels", [False, True])
def test_standardize(tmp_path, labels):
    raw = _standardize(tmp_path, labels)
    norm = restore_normalizer(raw)
    assert isinstance(norm, NormalizerStandardize) and norm.fit_label == labels
    np.testing.assert_array_equal(norm.mean, MEAN)
    np.testing.assert_array_equal(norm.std, STD)
    x = _x()
    expected = (x - MEAN[None, :, None]) / STD[None, :, None]
    np.testing.assert_allclose(norm.transform_features(x), expected, rtol=1e-6, atol=1e-6)
    if labels:
        assert norm.label_mean.tolist() == [10.0] and norm.label_std.tolist() == [2.0]
        y = np.array([[[12.0, 6.0]]], np.float32)
        np.testing.assert_allclose(norm.transform_labels(y), [[[1.0, -2.0]]])
    # Writing it back gives DL4J's bytes again.
    assert encode_normalizer(norm) == raw


@pytest.mark.parametrize("labels", [False, True])
def test_min_max(tmp_path, labels):
    raw = _min_max(tmp_path, labels)
    norm = restore_normalizer(raw)
    assert isinstance(norm, NormalizerMinMaxScaler) and norm.fit_label == labels
    assert (norm.min_range, norm.max_range) == (-1.0, 1.0)
    x = _x()
    unit = (x - LOW[None, :, None]) / (HIGH - LOW)[None, :, None]
    np.testing.assert_allclose(norm.transform_features(x), unit * 2 - 1, rtol=1e-6, atol=1e-6)
    if labels:
        y = np.array([[0.5, 6.0]], np.float32)
        np.testing.assert_allclose(norm.transform_labels(y), [[0.0, 0.0]])
    assert encode_normalizer(norm) == raw


def test_a_fitted_seqdata_normaliser_round_trips(tmp_path):
    ds = DataSet(_x(), labels=np.ones((2, 1, 4), np.float32))
    for norm in (NormalizerStandardize(), NormalizerMinMaxScaler(-2.0, 3.0)):
        norm.fit(ds)
        back = restore_normalizer(encode_normalizer(norm))
        assert type(back) is type(norm)
        np.testing.assert_allclose(back.transform_features(ds.features),
                                   norm.transform_features(ds.features), rtol=1e-5, atol=1e-5)


def test_inside_a_zip_and_as_a_file(tmp_path):
    raw = _standardize(tmp_path, False)
    (tmp_path / "normalizer.bin").write_bytes(raw)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("normalizer.bin", raw)
    (tmp_path / "model.zip").write_bytes(buffer.getvalue())
    for source in (tmp_path / "normalizer.bin", tmp_path / "model.zip", buffer.getvalue()):
        np.testing.assert_array_equal(restore_normalizer(source).mean, MEAN)
    empty = io.BytesIO()
    with zipfile.ZipFile(empty, "w") as z:
        z.writestr("configuration.json", "{}")
    with pytest.raises(ModelFileError, match="expected a normalizer.bin entry"):
        restore_normalizer(empty.getvalue())


def test_hostile_normaliser_files_are_refused(tmp_path):
    good = _standardize(tmp_path, False)
    with pytest.raises(ModelFileError, match="Java-serialised"):
        restore_normalizer(b"\xac\xed\x00\x05sr\x00")
    with pytest.raises(ModelFileError, match="header 'NORMALIZER'"):
        restore_normalizer(_utf("NORMALISER") + good[12:])
    with pytest.raises(ModelFileError, match="version 1, found 2"):
        restore_normalizer(good[:12] + struct.pack(">i", 2) + good[16:])
    multi = _utf("NORMALIZER") + struct.pack(">i", 1) + _utf("MULTI_STANDARDIZE")
    with pytest.raises(ModelFileError, match="unsupported normaliser type 'MULTI_STANDARDIZE'"):
        restore_normalizer(multi + b"\x00")
    with pytest.raises(ModelFileError, match="unknown normaliser type 'FOO'"):
        restore_normalizer(_utf("NORMALIZER") + struct.pack(">i", 1) + _utf("FOO"))
    with pytest.raises(ModelFileError, match="more bytes"):
        restore_normalizer(good + b"\x00")
    for cut in range(len(good)):
        with pytest.raises(ModelFileError, match="at byte"):
            restore_normalizer(good[:cut])
    mismatched = (_utf("NORMALIZER") + struct.pack(">i", 1) + _utf("STANDARDIZE") + b"\x00"
                  + _array(tmp_path, MEAN) + _array(tmp_path, [1.0, 2.0]))
    with pytest.raises(ModelFileError, match="expected an array of 3 values"):
        restore_normalizer(mismatched)
