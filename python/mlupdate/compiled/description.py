"""The model description (`ModelDescription` protobuf) inside a compiled model's top-level `coremldata.bin`.

Xcode's compiler writes a fixed header, then the serialized description at byte 0x53 with its u64 length at
0x4b. Other compiler versions may move it, so when the known offset does not hold a description we search for
a u64 length followed by that many bytes that decode as a description with at least one input.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError

from mlupdate import limits
from mlupdate._coreml import Model_pb2
from mlupdate.errors import CompiledModelError

KNOWN_LENGTH_OFFSET = 0x4B
# The description follows a short header; searching further would cost a protobuf parse per byte of a large
# file for nothing.
SEARCH_LIMIT = 4096
_U64 = struct.Struct("<Q")


def read_description(path: Path) -> Any:
    """The `ModelDescription` message; CompiledModelError naming the file when none can be found."""
    try:
        data = limits.read_bounded(
            path,
            limits.COMPILED_BINARY_BYTES,
            error=CompiledModelError,
            what="coremldata.bin",
            fix="copy the whole .mlmodelc folder again",
        )
    except FileNotFoundError:
        raise CompiledModelError(
            "coremldata.bin is missing, so the model description cannot be read",
            where=str(path),
            fix="copy the whole .mlmodelc folder; coremldata.bin sits at its top level",
        ) from None
    found = find_description(data)
    if found is None:
        raise CompiledModelError(
            f"no length-prefixed ModelDescription found in {len(data)} bytes (truncated or not a compiled model)",
            where=str(path),
            fix="recompile the model or copy the .mlmodelc again",
        )
    return found[1]


def find_description(data: bytes) -> tuple[int, Any] | None:
    """(offset of the length field, description): the known offset first, then the others in the header."""
    last = min(len(data) - _U64.size, SEARCH_LIMIT)
    offsets = [KNOWN_LENGTH_OFFSET, *(i for i in range(last) if i != KNOWN_LENGTH_OFFSET)]
    for offset in offsets:
        description = _description_at(data, offset)
        if description is not None:
            return offset, description
    return None


def _description_at(data: bytes, offset: int) -> Any:
    if offset + _U64.size > len(data):
        return None
    (length,) = _U64.unpack_from(data, offset)
    start = offset + _U64.size
    if length == 0 or start + length > len(data):
        return None
    description = Model_pb2.ModelDescription()
    try:
        description.ParseFromString(data[start : start + length])
    except DecodeError:
        return None
    # Arbitrary bytes sometimes decode as a protobuf; a real description always names its inputs.
    if not description.input or not all(feature.name for feature in description.input):
        return None
    return description
