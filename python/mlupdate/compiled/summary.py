"""What `mlharness inspect` shows for a compiled `.mlmodelc`: type, features, layers and update parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlupdate.compiled.reader import CompiledModel
from mlupdate.models.features import feature_from_description


@dataclass(frozen=True)
class CompiledSummary:
    model: CompiledModel

    def to_dict(self) -> dict[str, Any]:
        model = self.model
        return {
            "path": str(model.path),
            "format": "mlmodelc",
            "kind": model.model_type,
            "inputs": [feature_from_description(d).to_dict() for d in model.description.input],
            "outputs": [feature_from_description(d).to_dict() for d in model.description.output],
            "layers": [
                {
                    "name": layer.scoped_name,
                    "type": layer.type,
                    "output_shape": list(layer.output_shape) if layer.output_shape else None,
                    "weights": {key: list(values.shape) for key, values in layer.weights.items()},
                    "notes": list(layer.notes),
                }
                for layer in model.layers
            ],
            "update_parameters": model.update_parameters.to_dict() if model.update_parameters else None,
        }

    def to_text(self) -> str:
        document = self.to_dict()
        lines = [f"compiled model: {document['path']}", f"kind: {document['kind'] or 'unknown (no metadata.json)'}"]
        for title in ("inputs", "outputs"):
            lines.append(f"{title}:")
            lines += [f"  {feature['name']}: {feature['type']}" for feature in document[title]]
        if document["layers"]:
            lines.append("layers (compiled name: type, output n/k/h/w):")
            lines += [
                f"  {layer['name']}: {layer['type']} {layer['output_shape'] or ''}" for layer in document["layers"]
            ]
        update = document["update_parameters"]
        lines.append("updatable: " + ("yes" if update else "no (no updateParameters folder)"))
        if update:
            lines.append(f"  optimizer {update['optimizer']}, defaults {update['defaults']}")
        return "\n".join(lines)


def summarize(model: CompiledModel) -> CompiledSummary:
    return CompiledSummary(model)
