"""`model.espresso.net` and `model.espresso.shape`: the compiled network as JSON.

The net lists layers in execution order with their input (`bottom`) and output (`top`) blobs, their sizes and
their weight references (`blob_*` keys holding ids into `model.espresso.weights`). The shape file maps blob
names to `n, k, h, w` sizes. Both are read as plain JSON; only the fields this reader relies on are checked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlupdate import limits
from mlupdate.errors import CompiledModelError

_FIX = "copy the whole .mlmodelc folder again (pull it from the device or recompile the .mlmodel)"


@dataclass(frozen=True)
class EspressoLayer:
    """One entry of the net's `layers` list; `fields` keeps every key for what this reader does not map."""

    name: str
    type: str
    bottoms: tuple[str, ...]
    tops: tuple[str, ...]
    fields: dict[str, Any]

    def int_field(self, key: str, *, where: Path) -> int:
        value = self.fields.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise CompiledModelError(
                f"layer {self.name!r} ({self.type}) has no integer field {key!r} (found {value!r})",
                where=str(where),
                fix=_FIX,
            )
        return value

    def blob_refs(self) -> dict[str, int]:
        """`blob_*` keys and the blob ids they name, e.g. {"blob_weights": 3, "blob_biases": 1}."""
        return {k: v for k, v in self.fields.items() if k.startswith("blob_") and isinstance(v, int)}


def load_json(path: Path, what: str) -> Any:
    """A compiled model's JSON file, within `mlupdate.limits` (size, nesting depth) before it is parsed."""
    try:
        data = limits.read_bounded(path, limits.COMPILED_JSON_BYTES, error=CompiledModelError, what=what, fix=_FIX)
    except FileNotFoundError:
        raise CompiledModelError(f"{what} is missing", where=str(path), fix=_FIX) from None
    limits.check_json_depth(data, error=CompiledModelError, where=str(path), fix=_FIX)
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CompiledModelError(f"cannot read {what}: {exc}", where=str(path), fix=_FIX) from None
    except json.JSONDecodeError as exc:
        raise CompiledModelError(
            f"{what} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); truncated?",
            where=str(path),
            fix=_FIX,
        ) from None


def _blob_names(value: Any) -> tuple[str, ...]:
    # Multi-input layers list their blobs comma-separated in one string.
    if isinstance(value, str):
        return tuple(part for part in value.split(",") if part)
    return ()


def read_net(path: Path) -> tuple[list[EspressoLayer], dict[str, Any]]:
    """The layers, and the net's top-level fields other than `layers` (e.g. `transform_params`)."""
    document = load_json(path, "the network description (model.espresso.net)")
    layers = document.get("layers") if isinstance(document, dict) else None
    if not isinstance(layers, list):
        raise CompiledModelError("has no `layers` list; this is not an espresso network", where=str(path), fix=_FIX)
    parsed: list[EspressoLayer] = []
    for index, entry in enumerate(layers):
        if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
            raise CompiledModelError(f"layers[{index}] has no `type`", where=str(path), fix=_FIX)
        name = entry.get("name") or entry.get("debug_info") or f"layer_{index}"
        parsed.append(
            EspressoLayer(
                name=str(name),
                type=entry["type"],
                bottoms=_blob_names(entry.get("bottom")),
                tops=_blob_names(entry.get("top")),
                fields=dict(entry),
            )
        )
    extra = {k: v for k, v in document.items() if k != "layers"}
    return parsed, extra


def read_shapes(path: Path) -> dict[str, tuple[int, int, int, int]]:
    """Blob name -> (n, k, h, w); empty when the shape file is absent (it only adds information)."""
    if not path.exists():
        return {}
    document = load_json(path, "the shape file (model.espresso.shape)")
    shapes = document.get("layer_shapes") if isinstance(document, dict) else None
    if not isinstance(shapes, dict):
        raise CompiledModelError("has no `layer_shapes` object", where=str(path), fix=_FIX)
    out: dict[str, tuple[int, int, int, int]] = {}
    for blob, dims in shapes.items():
        if isinstance(dims, dict):
            n, k, h, w = (
                _dimension(dims.get(axis, 1), field=f"layer_shapes.{blob}.{axis}", path=path) for axis in "nkhw"
            )
            out[blob] = (n, k, h, w)
    return out


def _dimension(value: Any, *, field: str, path: Path) -> int:
    if type(value) is not int or not 0 <= value <= limits.BLOB_DIMENSION:
        raise CompiledModelError(
            f"{field} is {value!r}, not a size from 0 to {limits.BLOB_DIMENSION}", where=f"{path}: {field}", fix=_FIX
        )
    return value
