"""NpySequenceRecordReader: [T, ...] arrays kept in shape, dtypes, and clean errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqdata.errors import MissingFilesError, ParseError, SeqDataError
from seqdata.readers.base import SequenceRecordReader
from seqdata.readers.npy import NpySequenceRecordReader
from seqdata.splits import ListSplit


def reader_for(paths):
    reader = NpySequenceRecordReader()
    reader.initialize(ListSplit([str(p) for p in paths]))
    return reader


def save(tmp_path, name, array):
    path = tmp_path / name
    np.save(path, array)
    return str(path)


def test_shapes_and_values_kept(tmp_path):
    clip = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    path = save(tmp_path, "clip.npy", clip)
    reader = reader_for([path])
    assert isinstance(reader, SequenceRecordReader) and len(reader) == 1
    record = reader.next_sequence()
    assert record.source == path and record.values.dtype == np.float32
    np.testing.assert_array_equal(record.values, clip)


@pytest.mark.parametrize("dtype,expected", [(np.float64, np.float64), (np.float32, np.float32),
                                            (np.uint8, np.float32), (np.int64, np.float32),
                                            (np.float16, np.float32), (np.bool_, np.float32)])
def test_dtypes(tmp_path, dtype, expected):
    array = (np.arange(12).reshape(3, 4) % 2).astype(dtype)
    values = reader_for([save(tmp_path, "a.npy", array)]).load_sequence(0).values
    assert values.dtype == expected
    np.testing.assert_array_equal(values, array.astype(expected))


def test_load_ragged_stacks_along_time(tmp_path):
    arrays = [np.full((t, 2, 2), t, dtype=np.float32) for t in (3, 1, 2)]
    paths = [save(tmp_path, f"{i}.npy", a) for i, a in enumerate(arrays)]
    batch = reader_for(paths).load_ragged([2, 0, 1])
    assert batch.values.shape == (6, 2, 2)
    assert batch.lengths.tolist() == [2, 3, 1]
    assert batch.sources == [paths[2], paths[0], paths[1]]
    np.testing.assert_array_equal(batch.values, np.concatenate([arrays[2], arrays[0], arrays[1]]))


def test_mismatched_step_shapes_in_batch(tmp_path):
    a = save(tmp_path, "a.npy", np.zeros((2, 4, 4)))
    b = save(tmp_path, "b.npy", np.zeros((2, 4, 5)))
    with pytest.raises(ParseError, match=r"\(4, 4\).*found \(4, 5\)") as info:
        reader_for([a, b]).load_ragged([0, 1])
    assert info.value.path == b


def test_missing_files_at_initialize(tmp_path):
    present = save(tmp_path, "a.npy", np.zeros((1, 2)))
    with pytest.raises(MissingFilesError, match=r"2 of 3 files") as info:
        reader_for([present, tmp_path / "b.npy", tmp_path / "c.npy"])
    assert str(tmp_path / "b.npy") in str(info.value)


@pytest.mark.parametrize("array,fragment", [
    (np.float32(3.0), "T >= 1"),
    (np.zeros((0, 3)), "T >= 1"),
    (np.array(["a", "b"]), "real numeric"),
    (np.zeros(2, dtype=np.complex64), "real numeric"),
])
def test_bad_arrays(tmp_path, array, fragment):
    path = save(tmp_path, "bad.npy", array)
    with pytest.raises(ParseError, match=fragment) as info:
        reader_for([path]).load_sequence(0)
    assert info.value.path == path


def test_pickled_objects_refused(tmp_path):
    path = tmp_path / "obj.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ParseError, match="not a readable"):
        reader_for([path]).load_sequence(0)


def test_npz_refused(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, a=np.zeros((2, 2)))
    with pytest.raises(ParseError, match="npz"):
        reader_for([path]).load_sequence(0)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_corrupted_files_raise_only_seqdata_errors(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("npy") / "c.npy"
    np.save(path, np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    content = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 3))):
        position = data.draw(st.integers(0, max(len(content) - 1, 0)))
        if content and data.draw(st.booleans()):
            content[position] = data.draw(st.integers(0, 255))
        else:
            del content[position:]
            content += data.draw(st.binary(max_size=4))
    path.write_bytes(bytes(content))
    try:
        values = reader_for([path]).load_sequence(0).values
    except SeqDataError as e:
        assert isinstance(e, ParseError) and e.path == str(path)
        return
    assert values.dtype in (np.float32, np.float64) and values.ndim >= 1 and len(values) >= 1
