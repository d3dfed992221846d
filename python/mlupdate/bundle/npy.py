"""`.npy` version 1.0 files as the contract allows them: C order, little endian, f4/f8/i4/i8.

The writer takes rows one at a time, so a tensor of N examples is written without building [N, ...] in memory.
The reader refuses anything else (pickles, big endian, Fortran order, other dtypes) with a SchemaError.
"""

from __future__ import annotations

import ast
import io
import math
import os
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import numpy as np

from mlupdate import limits
from mlupdate.errors import SchemaError

ALLOWED_DTYPES: dict[str, np.dtype[Any]] = {
    "<f4": np.dtype("<f4"),
    "<f8": np.dtype("<f8"),
    "<i4": np.dtype("<i4"),
    "<i8": np.dtype("<i8"),
}
_MAGIC = b"\x93NUMPY\x01\x00"
_FIX = "write tensors as .npy version 1.0, C order, little-endian float32/float64/int32/int64"


def _header(dtype: np.dtype[Any], shape: tuple[int, ...]) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype.str, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


class Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


class NpyRowWriter:
    """Writes `rows` arrays of `row_shape` one after another into one `.npy` file [rows, *row_shape]."""

    def __init__(self, handle: Writable, dtype: np.dtype[Any], rows: int, row_shape: tuple[int, ...]) -> None:
        self._handle = handle
        self._dtype = dtype.newbyteorder("<")
        self._row_shape = row_shape
        handle.write(_header(self._dtype, (rows, *row_shape)))

    def write(self, row: np.ndarray) -> None:
        if row.shape != self._row_shape:
            raise ValueError(f"row shape {row.shape} != {self._row_shape}")
        self._handle.write(np.ascontiguousarray(row, dtype=self._dtype).tobytes())


def save(path: Path, array: np.ndarray) -> None:
    """Write a whole array (little endian, C order, version 1.0)."""
    array = np.ascontiguousarray(array)
    array = array.astype(array.dtype.newbyteorder("<"), copy=False)
    if array.dtype.str not in ALLOWED_DTYPES:
        raise ValueError(f"dtype {array.dtype} is not allowed in a bundle")
    with path.open("wb") as handle:
        handle.write(_header(array.dtype, array.shape))
        handle.write(array.tobytes())


def load(path: Path, *, where: str) -> np.ndarray:
    """Read a contract `.npy` file; anything outside the contract is a SchemaError naming the entry."""
    with path.open("rb") as handle:
        dtype, shape = _read_header(handle, where)
        expected = _check_data_size(handle, dtype, shape, where)
        data = handle.read(expected)
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def read_header(path: Path, *, where: str) -> tuple[np.dtype[Any], tuple[int, ...]]:
    """The dtype and shape of a contract `.npy` file, without reading its data; the file must hold exactly the
    data they need (as `load` requires: a reader that only looks at headers judges a file as one that loads it)."""
    with path.open("rb") as handle:
        dtype, shape = _read_header(handle, where)
        _check_data_size(handle, dtype, shape, where)
        return dtype, shape


def _check_data_size(handle: BinaryIO, dtype: np.dtype[Any], shape: tuple[int, ...], where: str) -> int:
    """The data bytes `shape` and `dtype` need, which must be the bytes after the header."""
    expected = math.prod(shape) * dtype.itemsize
    available = os.fstat(handle.fileno()).st_size - handle.tell()
    if available != expected:
        raise SchemaError(
            f"the .npy data holds {available} bytes, its header promises {expected}", where=where, fix=_FIX
        )
    return expected


def _read_header(handle: BinaryIO, where: str) -> tuple[np.dtype[Any], tuple[int, ...]]:
    magic = handle.read(len(_MAGIC) + 2)
    if len(magic) < len(_MAGIC) + 2 or magic[: len(_MAGIC)] != _MAGIC:
        raise SchemaError("not a .npy version 1.0 file", where=where, fix=_FIX)
    length = int.from_bytes(magic[len(_MAGIC) :], "little")
    raw = handle.read(length)
    try:
        header = ast.literal_eval(raw.decode("latin1"))
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        header = None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise SchemaError("the .npy header cannot be parsed", where=where, fix=_FIX)
    descr, fortran, shape = header["descr"], header["fortran_order"], header["shape"]
    if not isinstance(descr, str) or descr not in ALLOWED_DTYPES:
        raise SchemaError(f"dtype {descr!r} is not allowed (use <f4, <f8, <i4 or <i8)", where=where, fix=_FIX)
    if fortran is not False:
        raise SchemaError("Fortran order is not allowed", where=where, fix=_FIX)
    if not isinstance(shape, tuple) or not all(type(d) is int and d >= 0 for d in shape):
        raise SchemaError(f"bad shape {shape!r} in the .npy header", where=where, fix=_FIX)
    limits.check_tensor_shape(shape, error=SchemaError, where=where, fix=_FIX)
    return ALLOWED_DTYPES[descr], shape
