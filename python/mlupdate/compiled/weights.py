"""`model.espresso.weights`: the blob table and the raw blobs.

Layout (little endian): u64 blob count, then count x (u64 blob id, u64 byte size), then the blobs back to back
in id order. The table accounts for every byte of the file, so any disagreement means a truncated or foreign
file, never something to guess around.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlupdate import limits
from mlupdate.errors import CompiledModelError

_U64 = struct.Struct("<Q")
_ENTRY = struct.Struct("<QQ")
_FIX = "copy the .mlmodelc again (pull it from the device or recompile the .mlmodel); the copy is incomplete"


@dataclass(frozen=True)
class BlobTable:
    """The blobs of one weights file: id -> raw bytes (read-only views of the file's contents)."""

    path: Path
    blobs: dict[int, bytes]

    def raw(self, blob_id: int, *, layer: str, field: str) -> bytes:
        try:
            return self.blobs[blob_id]
        except KeyError:
            raise CompiledModelError(
                f"layer {layer!r} refers to blob {blob_id} ({field}), which the weights file does not hold",
                where=str(self.path),
                fix=_FIX,
            ) from None

    def floats(self, blob_id: int, *, layer: str, field: str, dtype: str = "<f4") -> np.ndarray:
        """The blob as a 1-D array of `dtype` (float32 or float16), refusing a size that is not a whole count."""
        data = self.raw(blob_id, layer=layer, field=field)
        itemsize = np.dtype(dtype).itemsize
        if len(data) % itemsize:
            raise CompiledModelError(
                f"blob {blob_id} ({field} of layer {layer!r}) has {len(data)} bytes, not a whole number of "
                f"{itemsize}-byte values",
                where=str(self.path),
                fix=_FIX,
            )
        return np.frombuffer(data, dtype=dtype)

    def unreferenced(self, referenced: set[int]) -> list[int]:
        """Blob ids with content that no layer refers to (empty blobs are placeholders and not listed)."""
        return sorted(i for i, data in self.blobs.items() if data and i not in referenced)


def read_blob_table(path: Path) -> BlobTable:
    try:
        data = limits.read_bounded(
            path, limits.COMPILED_BINARY_BYTES, error=CompiledModelError, what="the weights file", fix=_FIX
        )
    except FileNotFoundError:
        raise CompiledModelError("the weights file is missing", where=str(path), fix=_FIX) from None
    return parse_blob_table(data, path)


def parse_blob_table(data: bytes, path: Path) -> BlobTable:
    if len(data) < _U64.size:
        raise CompiledModelError(
            f"truncated: {len(data)} bytes, shorter than the 8-byte blob count", where=str(path), fix=_FIX
        )
    (count,) = _U64.unpack_from(data, 0)
    table_end = _U64.size + count * _ENTRY.size
    if table_end > len(data):
        raise CompiledModelError(
            f"truncated: the blob table of {count} entries needs {table_end} bytes, the file has {len(data)}",
            where=str(path),
            fix=_FIX,
        )
    entries = [_ENTRY.unpack_from(data, _U64.size + i * _ENTRY.size) for i in range(count)]
    ids = [blob_id for blob_id, _ in entries]
    if ids != sorted(set(ids)):
        raise CompiledModelError(
            "the blob table's ids are not unique and increasing; this is not an espresso weights file",
            where=str(path),
            fix=_FIX,
        )
    expected = table_end + sum(size for _, size in entries)
    if expected != len(data):
        state = "truncated" if expected > len(data) else "has trailing bytes"
        raise CompiledModelError(
            f"{state}: the blob table accounts for {expected} bytes, the file has {len(data)}",
            where=str(path),
            fix=_FIX,
        )
    view = memoryview(data)
    blobs: dict[int, bytes] = {}
    offset = table_end
    for blob_id, size in entries:
        blobs[blob_id] = bytes(view[offset : offset + size])
        offset += size
    return BlobTable(path=path, blobs=blobs)
