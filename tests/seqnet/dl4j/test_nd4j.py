"""ND4J binary arrays: DL4J-written files, every header variant, and hostile bytes."""

from __future__ import annotations

import struct
import zipfile

import numpy as np
import pytest

from seqnet.dl4j.nd4j import encode_nd4j_array, read_nd4j_array, write_nd4j_array
from seqnet.errors import ModelFileError
from tests.seqnet.dl4j._files import (
    CHAR_BETA,
    CHAR_INPUT_100A,
    CHAR_OUTPUT_100A,
    CUSTOM_INPUT_100A,
    CUSTOM_OUTPUT_100A,
    DL4J,
    LSTM_071,
)

DTYPES = [np.float32, np.float64, np.float16, np.int32, np.int64]
SHAPES = [(), (1,), (5,), (1, 7), (7, 1), (3, 4), (2, 3, 4), (2, 1, 3, 2)]


def _zip_entry(path, name):
    with zipfile.ZipFile(path) as z:
        return z.read(name)


def test_char_input_is_the_documented_c_order_float_array():
    x = read_nd4j_array(CHAR_INPUT_100A)
    assert x.dtype == np.float32 and x.shape == (3, 77, 10)
    assert CHAR_INPUT_100A.stat().st_size == 9318
    # Nd4j.rand: uniform [0, 1); the first values as DL4J's reader gives them.
    assert 0 <= x.min() and x.max() < 1
    np.testing.assert_array_equal(x.reshape(-1)[:2], np.array([0.27620894, 0.21801452],
                                                               np.float32))


def test_double_arrays_stay_float64_and_f_order_is_honoured():
    x = read_nd4j_array(CUSTOM_INPUT_100A)
    assert x.dtype == np.float64 and x.shape == (3, 5)
    out = read_nd4j_array(CUSTOM_OUTPUT_100A)
    assert out.dtype == np.float64 and out.shape == (3, 8)
    # Softmax rows: they sum to 1 only when the data is read column-major.
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_a_permuted_view_is_placed_by_its_strides():
    # DL4J 1.0.0-alpha's RNN output: order 'c' but strides [1, 30, 3] (a permuted view).
    out = read_nd4j_array(CHAR_OUTPUT_100A)
    assert out.shape == (3, 77, 10)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=0, atol=1e-6)


@pytest.mark.parametrize("path", [CHAR_INPUT_100A, CUSTOM_INPUT_100A, CUSTOM_OUTPUT_100A,
                                  CHAR_BETA / "gradients" / "2_b.bin"])
def test_rewriting_a_dl4j_array_gives_its_bytes_back(path):
    raw = path.read_bytes()
    mode = raw[2:2 + raw[1]].decode()
    array = read_nd4j_array(raw)
    order = "f" if path == CUSTOM_OUTPUT_100A else "c"
    assert encode_nd4j_array(array, order=order, mode=mode) == raw


@pytest.mark.parametrize("entry", ["coefficients.bin", "updaterState.bin"])
@pytest.mark.parametrize("zip_path", [LSTM_071, CHAR_BETA / "Model_RANDOM_INIT_UNTRAINED.zip"])
def test_zip_arrays_are_row_vectors_and_rewrite_byte_for_byte(zip_path, entry):
    raw = _zip_entry(zip_path, entry)
    array = read_nd4j_array(raw)
    assert array.ndim == 2 and array.shape[0] == 1 and array.dtype == np.float32
    mode = raw[2:2 + raw[1]].decode()
    assert mode == ("JAVACPP" if zip_path == LSTM_071 else "LONG_SHAPE")
    assert encode_nd4j_array(array, mode=mode) == raw


@pytest.mark.parametrize("mode", ["JAVACPP", "HEAP", "DIRECT", "LONG_SHAPE", "MIXED_DATA_TYPES"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", ["c", "f"])
def test_every_header_variant_round_trips(mode, dtype, order):
    rng = np.random.default_rng(0)
    for shape in SHAPES:
        a = (rng.normal(size=shape) * 100).astype(dtype)
        b = read_nd4j_array(encode_nd4j_array(a, order=order, mode=mode))
        assert b.dtype == a.dtype and b.shape == a.shape
        np.testing.assert_array_equal(a, b)


def test_header_bytes_follow_the_format_note(tmp_path):
    a = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], np.float32)
    write_nd4j_array(a, tmp_path / "a.bin", order="f", mode="JAVACPP")
    raw = (tmp_path / "a.bin").read_bytes()
    info = (b"\x00\x07JAVACPP" + struct.pack(">i", 8) + b"\x00\x03INT"
            + struct.pack(">8i", 2, 2, 3, 1, 2, 0, 1, 102))
    data = b"\x00\x07JAVACPP" + struct.pack(">i", 6) + b"\x00\x05FLOAT" + struct.pack(
        ">6f", 1, 4, 2, 5, 3, 6)
    assert raw == info + data
    long = encode_nd4j_array(a)
    assert long.startswith(b"\x00\x0aLONG_SHAPE" + struct.pack(">q", 8) + b"\x00\x04LONG")


def test_later_types_read():
    for dtype in (np.int16, np.int8, np.uint8, np.uint16, np.uint32, np.uint64, np.bool_):
        a = np.arange(6).reshape(2, 3).astype(dtype)
        np.testing.assert_array_equal(read_nd4j_array(encode_nd4j_array(a)), a)
    # BFLOAT16 items are the upper 16 bits of a float32: 0x3f80 = 1.0, 0xc020 = -2.5.
    half = encode_nd4j_array(np.zeros(2, np.float16))
    bf16 = half[:-4].replace(b"\x00\x04HALF", b"\x00\x08BFLOAT16") + bytes.fromhex("3f80c020")
    b = read_nd4j_array(bf16)
    assert b.dtype == np.float32 and b.tolist() == [1.0, -2.5]


@pytest.mark.parametrize("cut", [0, 1, 5, 9, 12, 20, 40, 60, 70])
def test_truncated_bytes_say_what_was_expected_where(cut):
    raw = encode_nd4j_array(np.arange(4, dtype=np.float32), mode="JAVACPP")
    with pytest.raises(ModelFileError, match=r"expected .* at byte \d+"):
        read_nd4j_array(raw[:cut])


def test_every_prefix_of_a_real_file_is_refused():
    raw = (DL4J / "beta" / "RnnCharacterTestCase" / "gradients" / "2_b.bin").read_bytes()
    for cut in range(len(raw)):
        with pytest.raises(ModelFileError):
            read_nd4j_array(raw[:cut])


def test_foreign_and_inconsistent_bytes_are_refused():
    good = encode_nd4j_array(np.arange(3, dtype=np.float32))
    with pytest.raises(ModelFileError, match="allocation mode"):
        read_nd4j_array(b"PK\x03\x04" + good)
    with pytest.raises(ModelFileError, match="data type"):
        read_nd4j_array(good.replace(b"\x00\x05FLOAT", b"\x00\x05FLOAX"))
    with pytest.raises(ModelFileError, match="COMPRESSED"):
        read_nd4j_array(good.replace(b"\x00\x05FLOAT", b"\x00\x0aCOMPRESSED"))
    with pytest.raises(ModelFileError, match="more bytes"):
        read_nd4j_array(good + b"\x00")
    with pytest.raises(ModelFileError, match="order"):
        read_nd4j_array(good.replace(struct.pack(">q", 99), struct.pack(">q", 7)))


def test_a_huge_declared_length_is_refused_before_allocating():
    a = encode_nd4j_array(np.arange(3, dtype=np.float64), mode="LONG_SHAPE")
    # The data buffer's int64 length (3) is the second "\x00\x0aLONG_SHAPE" + 8 bytes.
    at = a.rindex(b"LONG_SHAPE") + len("LONG_SHAPE")
    hostile = a[:at] + struct.pack(">q", 2**62) + a[at + 8:]
    with pytest.raises(ModelFileError, match="expected 3 data items"):
        read_nd4j_array(hostile)
    shape_at = a.index(b"LONG_SHAPE") + len("LONG_SHAPE")
    hostile = a[:shape_at] + struct.pack(">q", 2**40) + a[shape_at + 8:]
    with pytest.raises(ModelFileError, match="bytes left"):
        read_nd4j_array(hostile)


def test_expected_length_is_checked_against_the_header():
    raw = encode_nd4j_array(np.zeros((1, 10), np.float32))
    assert read_nd4j_array(raw, expected_length=10).shape == (1, 10)
    with pytest.raises(ModelFileError, match="expected an array of 11 values"):
        read_nd4j_array(raw, expected_length=11)


def test_strides_outside_the_data_are_refused():
    raw = encode_nd4j_array(np.zeros((2, 3), np.float32), mode="JAVACPP")
    # shape info [2, 2, 3, 3, 1, 0, 1, 99]: make the first stride 5 (reaches element 7 of 6).
    bad = raw.replace(struct.pack(">8i", 2, 2, 3, 3, 1, 0, 1, 99),
                      struct.pack(">8i", 2, 2, 3, 5, 1, 0, 1, 99))
    with pytest.raises(ModelFileError, match="strides"):
        read_nd4j_array(bad)


def test_write_refuses_what_nd4j_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match="dtype"):
        write_nd4j_array(np.array(["a"]), tmp_path / "x.bin")
    with pytest.raises(ValueError, match="order"):
        encode_nd4j_array(np.zeros(2, np.float32), order="k")
