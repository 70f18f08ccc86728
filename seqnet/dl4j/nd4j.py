"""ND4J's binary array format (``Nd4j.write`` / ``Nd4j.read``), read and written byte by byte.

An array is two buffers, each ``UTF allocation mode, length, UTF type name, items`` in big-endian
order: the shape information ``[rank, shape, stride, extras, elementWiseStride, order]`` and the
data (``FORMAT.md`` section 3).

>>> import numpy as np
>>> a = np.arange(6, dtype=np.float32).reshape(2, 3)
>>> b = read_nd4j_array(encode_nd4j_array(a))
>>> b.dtype, b.shape, bool((a == b).all())
(dtype('float32'), (2, 3), True)
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from seqnet.errors import ModelFileError

# NOTE [ Header variants ]
# ND4J <= 1.0.0-alpha wrote int32 lengths and an INT shape buffer (modes JAVACPP, HEAP,
# DIRECT); from the 2018-05 "long shapes" merge on, LONG_SHAPE and then MIXED_DATA_TYPES
# write int64 lengths and a LONG shape buffer. The mode of each buffer decides its length
# field, so every combination reads the same way.
_INT_LENGTH_MODES = ("JAVACPP", "HEAP", "DIRECT")
_LONG_LENGTH_MODES = ("LONG_SHAPE", "MIXED_DATA_TYPES")
HEADER_MODES = _INT_LENGTH_MODES + _LONG_LENGTH_MODES

# Big-endian item types; BFLOAT16 is widened to float32 on reading (numpy has no bfloat16).
_TYPES: dict[str, np.dtype] = {
    "FLOAT": np.dtype(">f4"), "DOUBLE": np.dtype(">f8"), "HALF": np.dtype(">f2"),
    "INT": np.dtype(">i4"), "LONG": np.dtype(">i8"), "SHORT": np.dtype(">i2"),
    "BYTE": np.dtype("i1"), "UBYTE": np.dtype("u1"), "BOOL": np.dtype("u1"),
    "UINT16": np.dtype(">u2"), "UINT32": np.dtype(">u4"), "UINT64": np.dtype(">u8"),
    "BFLOAT16": np.dtype(">u2"),
}
_TYPE_OF: dict[np.dtype, str] = {
    np.dtype(np.float32): "FLOAT", np.dtype(np.float64): "DOUBLE", np.dtype(np.float16): "HALF",
    np.dtype(np.int32): "INT", np.dtype(np.int64): "LONG", np.dtype(np.int16): "SHORT",
    np.dtype(np.int8): "BYTE", np.dtype(np.uint8): "UBYTE", np.dtype(np.bool_): "BOOL",
    np.dtype(np.uint16): "UINT16", np.dtype(np.uint32): "UINT32",
    np.dtype(np.uint64): "UINT64",
}
_ORDERS = {99: "C", 102: "F"}
_MAX_RANK = 32


class ByteReader:
    """A cursor over bytes whose every read says what was expected at which offset."""

    def __init__(self, data: bytes, source: str = "<bytes>") -> None:
        self.data = memoryview(data)
        self.offset = 0
        self.source = source

    @property
    def remaining(self) -> int:
        return len(self.data) - self.offset

    def error(self, message: str, offset: int | None = None) -> ModelFileError:
        where = self.offset if offset is None else offset
        return ModelFileError(f"{self.source}: {message} at byte {where}")

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or n > self.remaining:
            raise self.error(f"expected {what} ({n} bytes), found {self.remaining} bytes left")
        out = self.data[self.offset:self.offset + n]
        self.offset += n
        return out

    def unpack(self, fmt: str, what: str) -> int | float | bool:
        value: int | float | bool = struct.unpack(fmt, self.take(struct.calcsize(fmt), what))[0]
        return value

    def utf(self, what: str) -> str:
        start = self.offset
        n = int(self.unpack(">H", f"the length of {what}"))
        raw = bytes(self.take(n, what))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.error(f"expected {what} as UTF-8 text, found bytes {raw[:16]!r}",
                             start) from None


def _read_buffer(r: ByteReader, what: str, expected_length: int | None = None) -> np.ndarray:
    start = r.offset
    mode = r.utf(f"the allocation mode of the {what} buffer")
    if mode not in HEADER_MODES:
        raise r.error(f"expected an ND4J allocation mode ({', '.join(HEADER_MODES)}) for the "
                      f"{what} buffer, found {mode[:40]!r}", start)
    length_at = r.offset
    if mode in _INT_LENGTH_MODES:
        length = int(r.unpack(">i", f"the int32 length of the {what} buffer"))
    else:
        length = int(r.unpack(">q", f"the int64 length of the {what} buffer"))
    type_at = r.offset
    type_name = r.utf(f"the data type of the {what} buffer")
    if type_name == "COMPRESSED":
        raise r.error(f"unsupported: a COMPRESSED {what} buffer (not written by "
                      f"Nd4j.write)", type_at)
    dtype = _TYPES.get(type_name)
    if dtype is None:
        raise r.error(f"expected a data type ({', '.join(_TYPES)}) for the {what} buffer, "
                      f"found {type_name[:40]!r}", type_at)
    if length < 0:
        raise r.error(f"expected a non-negative {what} length, found {length}", length_at)
    if expected_length is not None and length != expected_length:
        raise r.error(f"expected {expected_length} {what} items, found a header declaring "
                      f"{length}", length_at)
    # Checked before anything is allocated: the declared length must fit in the bytes left.
    if length * dtype.itemsize > r.remaining:
        raise r.error(f"expected {length} {type_name} items ({length * dtype.itemsize} bytes) "
                      f"in the {what} buffer, found {r.remaining} bytes left")
    raw = r.take(length * dtype.itemsize, f"the {what} items")
    items = np.frombuffer(raw, dtype=dtype)
    if type_name == "BFLOAT16":
        return (items.astype(np.uint32) << 16).view(np.float32)
    if type_name == "BOOL":
        return items.astype(np.bool_)
    return items.astype(dtype.newbyteorder("="))


def read_array(r: ByteReader, expected_length: int | None = None) -> np.ndarray:
    """Read one array at the reader's cursor (for formats that embed arrays)."""
    start = r.offset
    info = _read_buffer(r, "shape information")
    if info.dtype.kind not in "iu" or len(info) < 4:
        raise r.error(f"expected an integer shape-information buffer of at least 4 items, "
                      f"found {len(info)} {info.dtype} items", start)
    rank = int(info[0])
    if not 0 <= rank <= _MAX_RANK or len(info) != 2 * rank + 4:
        raise r.error(f"expected shape information of 2 * rank + 4 items, found rank {rank} "
                      f"with {len(info)} items", start)
    shape = tuple(int(d) for d in info[1:1 + rank])
    if any(d < 0 for d in shape):
        raise r.error(f"expected non-negative dimensions, found shape {list(shape)}", start)
    order_code = int(info[-1])
    order = _ORDERS.get(order_code)
    if order is None:
        raise r.error(f"expected order 99 ('c') or 102 ('f'), found {order_code}", start)
    count = 1
    for d in shape:
        count *= d
    if expected_length is not None and count != expected_length:
        raise r.error(f"expected an array of {expected_length} values, found shape "
                      f"{list(shape)}", start)
    strides = tuple(int(s) for s in info[1 + rank:1 + 2 * rank])
    data = _read_buffer(r, "data", expected_length=count)
    if count == 0 or rank == 0:
        return data.reshape(shape, order=order)  # type: ignore[call-overload]
    # NOTE [ Strides, not only the order char ]
    # Nd4j.write stores a view's own strides: DL4J's 1.0.0-alpha RNN output is a permuted
    # [N, C, T] view with strides [1, 30, 3] and order 'c'. The strides are what ND4J reads
    # back, so they place every element (after checking they stay inside the data).
    last = sum((d - 1) * s for d, s in zip(shape, strides))
    if min(strides) < 0 or last >= count:
        raise r.error(f"expected strides that address {count} values, found strides "
                      f"{list(strides)} for shape {list(shape)}", start)
    view = np.lib.stride_tricks.as_strided(
        data, shape, tuple(s * data.itemsize for s in strides), writeable=False)
    return np.array(view, order="C" if order == "C" else "F")


def read_nd4j_array(source: str | os.PathLike[str] | bytes,
                    expected_length: int | None = None) -> np.ndarray:
    """Read an array written by ND4J's ``Nd4j.write`` from a file path or bytes.

    Every header variant is read: int32 lengths (ND4J <= 1.0.0-alpha) and int64 ones
    (``LONG_SHAPE``, ``MIXED_DATA_TYPES``); FLOAT, DOUBLE, HALF, INT, LONG (and the later
    integer types); 'c' and 'f' order; any rank. Values keep their type (DOUBLE stays float64).
    The bytes must hold exactly one array.

    >>> import numpy as np
    >>> read_nd4j_array(encode_nd4j_array(np.eye(2), order="f")).tolist()
    [[1.0, 0.0], [0.0, 1.0]]

    Parameters
    ----------
    source: a path, or the bytes themselves.
    expected_length: when given, the number of values the array must have; the headers are
        checked against it before anything is allocated.

    Raises
    ------
    ModelFileError: truncated or foreign bytes, naming what was expected at which byte offset.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), "<bytes>"
    else:
        name = str(source)
        try:
            data = Path(source).read_bytes()
        except OSError as e:
            raise ModelFileError(f"{name}: cannot read: {e.strerror}") from None
    r = ByteReader(data, name)
    array = read_array(r, expected_length)
    if r.remaining:
        raise r.error(f"expected the end of the array, found {r.remaining} more bytes")
    return array


def _buffer(mode: str, type_name: str, items: np.ndarray) -> bytes:
    mode_raw, type_raw = mode.encode("ascii"), type_name.encode("ascii")
    length = struct.pack(">i" if mode in _INT_LENGTH_MODES else ">q", len(items))
    return (struct.pack(">H", len(mode_raw)) + mode_raw + length
            + struct.pack(">H", len(type_raw)) + type_raw + items.tobytes())


def _strides(shape: list[int], order: str) -> list[int]:
    """ND4J's ``ArrayUtil.calcStrides``: element strides, ``[1, 1]`` for a 2-D vector."""
    if len(shape) == 2 and 1 in shape:
        return [1, 1]
    strides = [1] * len(shape)
    if order == "c":
        for i in range(len(shape) - 2, -1, -1):
            strides[i] = strides[i + 1] * shape[i + 1]
    else:
        for i in range(1, len(shape)):
            strides[i] = strides[i - 1] * shape[i - 1]
    return strides


def encode_nd4j_array(array: np.ndarray, order: str = "c", mode: str = "LONG_SHAPE") -> bytes:
    """The bytes ``Nd4j.write`` produces for ``array`` (see :func:`write_nd4j_array`).

    >>> import numpy as np
    >>> encode_nd4j_array(np.zeros(1, np.float32), mode="JAVACPP")[:9]
    b'\\x00\\x07JAVACPP'
    """
    if mode not in HEADER_MODES:
        raise ValueError(f"mode: expected one of {', '.join(HEADER_MODES)}, found {mode!r}")
    if order not in ("c", "f"):
        raise ValueError(f"order: expected 'c' or 'f', found {order!r}")
    array = np.asarray(array)
    type_name = _TYPE_OF.get(array.dtype)
    if type_name is None:
        raise ValueError(f"array: expected a dtype ND4J writes ({', '.join(_TYPE_OF.values())}), "
                         f"found {array.dtype}")
    shape = list(array.shape)
    strides = _strides(shape, order)
    info = np.array([len(shape), *shape, *strides, 0, 1, 99 if order == "c" else 102])
    long_shape = mode in _LONG_LENGTH_MODES
    info_bytes = _buffer(mode, "LONG" if long_shape else "INT",
                         info.astype(">i8" if long_shape else ">i4"))
    flat = array.reshape(-1, order="C" if order == "c" else "F")
    data_type = flat.dtype.newbyteorder(">") if flat.dtype.itemsize > 1 else flat.dtype
    return info_bytes + _buffer(mode, type_name, flat.astype(data_type))


def write_nd4j_array(array: np.ndarray, path: str | os.PathLike[str], order: str = "c",
                     mode: str = "LONG_SHAPE") -> None:
    """Write ``array`` as ``Nd4j.write`` does: ``mode`` ``LONG_SHAPE`` (int64 headers, the
    current format, the default) or ``JAVACPP`` (int32 headers, ND4J <= 1.0.0-alpha); data in
    ``order`` ('c' or 'f'), the item type from the dtype (float32 -> FLOAT, float64 -> DOUBLE).
    """
    Path(path).write_bytes(encode_nd4j_array(array, order, mode))
