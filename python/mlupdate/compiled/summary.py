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
            "knn": model.knn.to_dict() if model.knn else None,
            "structure": list(model.metadata.structure) if model.metadata else [],
            "model_parameters": [p.to_dict() for p in model.metadata.model_parameters] if model.metadata else [],
        }

    def to_text(self) -> str:
        document = self.to_dict()
        lines = [f"compiled model: {document['path']}", f"kind: {document['kind'] or 'unknown (no metadata.json)'}"]
        if document["structure"]:
            lines.append("pipeline: " + " -> ".join(document["structure"]))
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
            lines.append(
                f"  optimizer {update['optimizer']}, defaults {update['defaults']}, allowed {update['allowed']}"
            )
        knn = document["knn"]
        if knn:
            lines.append(
                f"k-NN ({knn['scope'] or 'top level'}): {knn['stored_examples']} stored examples of dimension "
                f"{knn['dimension']}, labels {knn['labels']}, k {knn['k']} (allowed {knn['k_range'] or knn['k_set']})"
            )
        return "\n".join(lines)


def summarize(model: CompiledModel) -> CompiledSummary:
    return CompiledSummary(model)
