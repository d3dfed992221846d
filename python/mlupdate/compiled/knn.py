"""A compiled k-NN classifier stage: its stored examples, labels, k and what k may be.

A public compiled copy of Apple's UpdatableDrawingClassifier shows the layout: the k-NN stage folder (`model1/`)
holds a `coremldata.bin` and `modelParameters/numberOfNeighbors/coremldata.bin`, and `metadata.json` lists
`numberOfNeighbors` with its default and allowed range. The bytes of those two files were not available, so how
they are read is an assumption, stated here and checked only against folders the tests build the same way:
the stage's `coremldata.bin` holds a length-prefixed serialized `KNearestNeighborsClassifier` message (u64
length, then the message) after a short header, as the top-level `coremldata.bin` holds the description; the
parameter file holds an `Int64Parameter` the same way. The metadata's range is used when the file says nothing.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from google.protobuf.message import DecodeError

from mlupdate._coreml import NearestNeighbors_pb2, Parameters_pb2
from mlupdate.compiled.metadata import Metadata
from mlupdate.errors import CompiledModelError

_U64 = struct.Struct("<Q")
_SEARCH_LIMIT = 4096
K_FILE = Path("modelParameters") / "numberOfNeighbors" / "coremldata.bin"


@dataclass(frozen=True)
class CompiledKnn:
    scope: str
    dimension: int
    examples: npt.NDArray[np.float32]  # [stored, dimension]
    labels: tuple[str | int, ...]
    k: int | None
    k_range: tuple[int, int] | None
    k_set: tuple[int, ...] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "dimension": self.dimension,
            "stored_examples": int(self.examples.shape[0]),
            "labels": sorted({str(label) for label in self.labels}),
            "k": self.k,
            "k_range": list(self.k_range) if self.k_range else None,
            "k_set": list(self.k_set) if self.k_set is not None else None,
        }


def read_knn(stage: Path, scope: str, metadata: Metadata) -> CompiledKnn:
    path = stage / "coremldata.bin"
    message = _find(_read(path), NearestNeighbors_pb2.KNearestNeighborsClassifier, _plausible_knn)
    if message is None:
        raise CompiledModelError(
            "no k-NN classifier found in the stage's coremldata.bin (truncated, or a layout this reader does not know)",
            where=str(path),
            fix="copy the .mlmodelc again; if it is complete, read the .mlmodel it was compiled from instead",
        )
    index = message.nearestNeighborsIndex
    examples = np.asarray([list(s.vector) for s in index.floatSamples], dtype=np.float32).reshape(
        -1, int(index.numberOfDimensions)
    )
    which = message.WhichOneof("ClassLabels")
    labels: tuple[str | int, ...] = tuple(getattr(message, which).vector) if which else ()
    k_message = message.numberOfNeighbors if message.HasField("numberOfNeighbors") else None
    if (stage / K_FILE).exists():
        k_message = (
            _find(_read(stage / K_FILE), Parameters_pb2.Int64Parameter, lambda p: p.defaultValue > 0) or k_message
        )
    k, k_range, k_set = _k(k_message)
    from_metadata = next((p for p in metadata.model_parameters if p.name == "numberOfNeighbors"), None)
    if from_metadata is not None:
        k = k if k is not None else int(from_metadata.default or 0) or None
        if k_range is None and from_metadata.allowed_range:
            k_range = (int(from_metadata.allowed_range[0]), int(from_metadata.allowed_range[1]))
    return CompiledKnn(scope, int(index.numberOfDimensions), examples, labels, k, k_range, k_set)


def _k(message: Any) -> tuple[int | None, tuple[int, int] | None, tuple[int, ...] | None]:
    if message is None:
        return None, None, None
    which = message.WhichOneof("AllowedValues")
    k_range = (int(message.range.minValue), int(message.range.maxValue)) if which == "range" else None
    k_set = tuple(int(v) for v in message.set.values) if which == "set" else None
    return int(message.defaultValue) or None, k_range, k_set


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CompiledModelError(
            f"cannot read {path.name}: {exc.strerror}", where=str(path), fix="copy it again"
        ) from None


def _plausible_knn(message: Any) -> bool:
    index = message.nearestNeighborsIndex
    dimension = int(index.numberOfDimensions)
    if dimension <= 0 or index.WhichOneof("IndexType") is None:
        return False
    which = message.WhichOneof("ClassLabels")
    labels = len(getattr(message, which).vector) if which else 0
    samples = len(index.floatSamples)
    return labels in (0, samples) and all(len(s.vector) == dimension for s in index.floatSamples)


def _find(data: bytes, kind: Any, plausible: Any) -> Any:
    """The first u64-length-prefixed `kind` message in the file's header region that looks real."""
    for offset in range(min(len(data) - _U64.size, _SEARCH_LIMIT) + 1):
        (length,) = _U64.unpack_from(data, offset)
        start = offset + _U64.size
        if length == 0 or start + length > len(data):
            continue
        message = kind()
        try:
            message.ParseFromString(data[start : start + length])
        except DecodeError:
            continue
        if plausible(message):
            return message
    return None
