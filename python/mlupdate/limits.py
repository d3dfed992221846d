"""Limits on what the readers accept from a device (and from any bundle or compiled model handed to them).

A results bundle and a compiled model come from a device: hostile input. Every number a reader would allocate
from (a file size, a nesting depth, a tensor's dimensions and element count, a folder's depth and entry count) is
checked against a limit here *before* anything is allocated or recursed into, and a refusal is the reader's own
error naming the file and the field. The limits sit far above anything Core ML writes for a model that fits on a
phone; they exist so that a 6 GiB `DONE`, a 5,000-deep JSON value or a 65-dimensional tensor ends in a sentence,
not in a MemoryError, a RecursionError or a machine swapping for an hour.

The readers call the helpers below with their own error class (`SchemaError` for bundles, `CompiledModelError`
for compiled models), so a refusal keeps the meaning of the reader that made it.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mlupdate.errors import MlupdateError

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30

# -- bundles (job.json, results.json, DONE, events.jsonl, label lists, .npy) ------------------------------------
DONE_BYTES = 1 * KiB  # two lines: a job id (<= 128 characters) and a sha256
MANIFEST_BYTES = 64 * MiB  # job.json / results.json; a manifest listing 100,000 files is ~10 MiB
EVENTS_BYTES = 512 * MiB  # ~5 million progress events
LABELS_BYTES = 64 * MiB  # one JSON list of probe labels or training labels
JSON_DEPTH = 64  # the contract's documents nest 5 deep
TENSOR_DIMENSIONS = 32  # Core ML's tensors have rank <= 5; numpy's own limit is 64
TENSOR_ELEMENTS = 1 << 31  # 8 GiB of float32
TREE_DEPTH = 32  # folders inside a bundle or a compiled model
TREE_ENTRIES = 1_000_000  # files and folders inside a bundle or a compiled model

# -- user inputs -------------------------------------------------------------------------------------------------
IMAGE_SIDE = 1 << 14  # a model's declared image input: 16384 pixels a side ...
IMAGE_PIXELS = 1 << 26  # ... and 67 million pixels (an 8192 x 8192 picture; Core ML models use 224 to 1024)

# -- compiled models (.mlmodelc) --------------------------------------------------------------------------------
COMPILED_JSON_BYTES = 256 * MiB  # model.espresso.net / .shape, metadata.json
COMPILED_BINARY_BYTES = 4 * GiB  # model.espresso.weights, coremldata.bin
BLOB_DIMENSION = 1 << 31  # one of n, k, h, w in model.espresso.shape

ErrorFactory = Callable[..., MlupdateError]  # (what, *, where, fix) -> the reader's error


def read_bounded(path: Path, limit: int, *, error: ErrorFactory, what: str, fix: str) -> bytes:
    """The bytes of the regular file `path`, refused before reading when it is larger than `limit`.

    Never follows a link and never blocks on a FIFO: a pipe, socket, device or link is refused like an oversized
    file. FileNotFoundError is left to the caller (each reader words a missing file its own way).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror}", where=str(path), fix=fix) from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{what} is not a regular file", where=str(path), fix=fix)
        if info.st_size > limit:
            raise error(
                f"{what} is {info.st_size} bytes, more than the {limit} this reader accepts", where=str(path), fix=fix
            )
        data = handle.read(limit + 1)
    if len(data) > limit:  # it grew while being read
        raise error(f"{what} is more than the {limit} bytes this reader accepts", where=str(path), fix=fix)
    return data


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OPENERS = np.frombuffer(b"[{", np.uint8)
_CLOSERS = np.frombuffer(b"]}", np.uint8)


def json_depth(data: bytes) -> int:
    """How deep the arrays and objects of a JSON text nest (0 for a scalar), without parsing it."""
    structure = np.frombuffer(_JSON_STRING.sub(b"", data), np.uint8)
    steps = np.isin(structure, _OPENERS).astype(np.int64) - np.isin(structure, _CLOSERS).astype(np.int64)
    return int(np.cumsum(steps).max(initial=0))


def check_json_depth(data: bytes, *, error: ErrorFactory, where: str, fix: str, limit: int = JSON_DEPTH) -> None:
    depth = json_depth(data)
    if depth > limit:
        raise error(f"JSON nested {depth} deep, more than the {limit} this reader accepts", where=where, fix=fix)


def first_lone_surrogate(value: Any) -> str | None:
    """The path (`a.b[2]`) of the first string holding an unpaired UTF-16 surrogate such as "\\ud800", else None.

    JSON's `\\uXXXX` escapes can spell one, but it is no character: it cannot be written as UTF-8, so a report
    naming it would fail long after the bundle was accepted. Call on parsed JSON whose depth was checked."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _has_surrogate(item):
                return path or "(top level)"
        elif isinstance(item, dict):
            for key, child in item.items():
                if not key.isascii() and _has_surrogate(key):
                    return f"{path}.{key!a}" if path else f"{key!a}"
                stack.append((f"{path}.{key}" if path else str(key), child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{index}]", child) for index, child in enumerate(item))
    return None


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_tensor_shape(shape: tuple[int, ...], *, error: ErrorFactory, where: str, fix: str) -> None:
    """A tensor's declared shape within the limits: rank, and element count (computed without overflow)."""
    if len(shape) > TENSOR_DIMENSIONS:
        raise error(
            f"the tensor has {len(shape)} dimensions, more than the {TENSOR_DIMENSIONS} this reader accepts",
            where=where,
            fix=fix,
        )
    elements = 1
    for size in shape:
        elements *= size
    if elements > TENSOR_ELEMENTS:
        raise error(
            f"shape {list(shape)} declares {elements} elements, more than the {TENSOR_ELEMENTS} this reader accepts",
            where=where,
            fix=fix,
        )
