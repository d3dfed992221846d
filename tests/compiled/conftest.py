"""Fixtures for the compiled-model reader: the MNIST fixture pair and a writer for espresso weight files.

The writer exists only to build variants of the real compiled fixture (unpadded biases as Core ML's own writer
leaves them, float16 blobs, folded batch norms) that no fixture on disk shows.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest

MNIST = "mnist-classifier/MNISTClassifier"


def _write_blobs(path: Path, blobs: dict[int, bytes]) -> None:
    ids = sorted(blobs)
    table = struct.pack("<Q", len(ids)) + b"".join(struct.pack("<QQ", i, len(blobs[i])) for i in ids)
    path.write_bytes(table + b"".join(blobs[i] for i in ids))


def _read_blobs(path: Path) -> dict[int, bytes]:
    data = path.read_bytes()
    (count,) = struct.unpack_from("<Q", data, 0)
    offset = 8 + 16 * count
    blobs = {}
    for index in range(count):
        blob_id, size = struct.unpack_from("<QQ", data, 8 + 16 * index)
        blobs[blob_id] = data[offset : offset + size]
        offset += size
    return blobs


BlobsReader = Callable[[Path], dict[int, bytes]]
BlobsWriter = Callable[[Path, dict[int, bytes]], None]


@pytest.fixture
def read_blobs() -> BlobsReader:
    return _read_blobs


@pytest.fixture
def write_blobs() -> BlobsWriter:
    return _write_blobs


@pytest.fixture
def mnist_pair(real_models: Path) -> tuple[Path, Path]:
    return real_models / f"{MNIST}.mlmodel", real_models / f"{MNIST}.mlmodelc"


@pytest.fixture
def mnist_compiled_copy(real_model_copy: Callable[[str], Path]) -> Path:
    return real_model_copy(f"{MNIST}.mlmodelc")
