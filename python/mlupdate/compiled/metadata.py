"""`metadata.json` of a compiled model: model type and structure, update and model parameters with what is allowed.

Xcode's compiler writes it as a one-element JSON list. A public compiled copy of Apple's UpdatableDrawingClassifier
(a pipeline of a network and an updatable k-NN) shows the layout this module reads::

    "modelType": {"name": "MLModelType_pipelineClassifier",
                  "structure": [{"name": "MLModelType_neuralNetwork"},
                                {"name": "MLModelType_kNearestNeighborsClassifier"}]},
    "isUpdatable": "1",
    "modelParameters": [{"name": "numberOfNeighbors", "scope": "model1", "defaultValue": "5",
                         "allowedRange": "[1, 1000]", "dataType": "Int64"}],
    "updateParameters": [],
    "trainingInputSchema": [{"name": "drawing", ...}, {"name": "label", ...}]

Values are strings. `updateParameters` entries are assumed to have the `modelParameters` layout (no public
compiled network with a non-empty list was found); an allowed set is assumed to read like a range, "[1, 2, 4]".
The file is read within `mlupdate.limits` (`load_json`); a missing file gives empty metadata (Core ML's own
writer may omit it), and fields of an unexpected type are left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlupdate.compiled.network import load_json

METADATA_FILE = "metadata.json"
_NUMBER = re.compile(r"-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class Parameter:
    """A model or update parameter: name, parameter scope, default and the allowed range or set."""

    name: str
    scope: str
    default: float | int | None
    allowed_range: tuple[float, float] | None
    allowed_set: tuple[float, ...] | None
    data_type: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "scope": self.scope,
            "default": self.default,
            "allowed_range": list(self.allowed_range) if self.allowed_range else None,
            "allowed_set": list(self.allowed_set) if self.allowed_set is not None else None,
            "type": self.data_type,
        }


@dataclass(frozen=True)
class Metadata:
    model_type: str | None
    structure: tuple[str, ...]  # sub-model types of a pipeline, in order
    updatable: bool | None
    model_parameters: tuple[Parameter, ...]
    update_parameters: tuple[Parameter, ...]
    training_inputs: tuple[str, ...]


EMPTY = Metadata(None, (), None, (), (), ())


def read_metadata(root: Path) -> Metadata:
    path = root / METADATA_FILE
    if not path.exists():
        return EMPTY
    document = load_json(path, METADATA_FILE)
    entry = document[0] if isinstance(document, list) and document else document
    if not isinstance(entry, dict):
        return EMPTY
    raw_type = entry.get("modelType")
    model_type: dict[str, Any] = raw_type if isinstance(raw_type, dict) else {}
    raw_structure = model_type.get("structure")
    structure: list[Any] = raw_structure if isinstance(raw_structure, list) else []
    return Metadata(
        model_type=_type_name(model_type.get("name")),
        structure=tuple(t for t in (_type_name(s.get("name")) for s in structure if isinstance(s, dict)) if t),
        updatable={"1": True, "0": False}.get(str(entry.get("isUpdatable"))),
        model_parameters=_parameters(entry.get("modelParameters")),
        update_parameters=_parameters(entry.get("updateParameters")),
        training_inputs=tuple(
            str(f["name"]) for f in entry.get("trainingInputSchema") or [] if isinstance(f, dict) and "name" in f
        ),
    )


def _type_name(value: Any) -> str | None:
    return value.removeprefix("MLModelType_") if isinstance(value, str) else None


def _parameters(value: Any) -> tuple[Parameter, ...]:
    if not isinstance(value, list):
        return ()
    found = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        integer = str(item.get("dataType", "")).lower().startswith("int")
        numbers = _numbers(item.get("allowedRange"))
        found.append(
            Parameter(
                name=item["name"],
                scope=str(item.get("scope", "")),
                default=_default(item.get("defaultValue"), integer),
                allowed_range=(numbers[0], numbers[1]) if len(numbers) == 2 else None,
                allowed_set=tuple(_numbers(item["allowedSet"])) if "allowedSet" in item else None,
                data_type=str(item.get("dataType", "")),
            )
        )
    return tuple(found)


def _numbers(text: Any) -> list[float]:
    return [float(v) for v in _NUMBER.findall(text)] if isinstance(text, str) else []


def _default(text: Any, integer: bool) -> float | int | None:
    values = _numbers(str(text)) if text is not None else []
    if not values:
        return None
    return int(values[0]) if integer else values[0]
