"""What a model is and how it would be updated, as text for people and as JSON for tools.

`inspect_model(spec, path)` reports the kind and spec version, the inputs, outputs and training inputs, the
pipeline structure with parameter scopes, the updatable layers with their weight shapes, the loss, the
optimizer with every update parameter (default and allowed range/set), k-NN settings, and the validation
result (the same issues `mlharness validate` lists).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlupdate.errors import ModelLoadError
from mlupdate.models.arrays import weight_shapes
from mlupdate.models.features import Feature, feature_from_description
from mlupdate.models.params import UpdateParameter, update_parameters
from mlupdate.models.spec import (
    KNN_KIND,
    ScopedModel,
    Spec,
    class_labels,
    is_neural_network,
    is_pipeline,
    model_kind,
    neural_network,
    updatable_leaf,
    walk_models,
)
from mlupdate.models.validate import ValidationIssue, validate


@dataclass(frozen=True)
class SubModel:
    """One model of the tree: its parameter scope (`""` at the top), kind, spec version and updatable flag."""

    scope: str
    kind: str
    spec_version: int
    updatable: bool

    def to_dict(self) -> dict[str, Any]:
        return {"scope": self.scope, "kind": self.kind, "spec_version": self.spec_version, "updatable": self.updatable}


@dataclass(frozen=True)
class UpdatableLayer:
    """An updatable layer with its scoped name (`model1.dense_2`), type and weight shapes."""

    name: str
    scoped_name: str
    kind: str
    shapes: dict[str, tuple[int, ...]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "scoped_name": self.scoped_name,
            "type": self.kind,
            "shapes": {key: list(shape) for key, shape in self.shapes.items()},
        }


@dataclass(frozen=True)
class LayerInfo:
    """One layer of a network in the model: where it is, its type, blobs, weights and whether it trains."""

    scope: str
    name: str
    kind: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    updatable: bool
    shapes: dict[str, tuple[int, ...]]  # weight shapes of trainable kinds

    @property
    def scoped_name(self) -> str:
        return f"{self.scope}.{self.name}" if self.scope else self.name

    def to_dict(self, output_shapes: dict[str, tuple[int, ...]] | None = None) -> dict[str, Any]:
        shapes = output_shapes or {}
        return {
            "name": self.name,
            "scoped_name": self.scoped_name,
            "type": self.kind,
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "output_shapes": {
                o: list(shapes[self.scoped_blob(o)]) for o in self.outputs if self.scoped_blob(o) in shapes
            },
            "updatable": self.updatable,
            "can_be_updatable": self.kind in ("innerProduct", "convolution"),
            "weights": {key: list(shape) for key, shape in self.shapes.items()},
        }

    def scoped_blob(self, blob: str) -> str:
        return f"{self.scope}.{blob}" if self.scope else blob


@dataclass(frozen=True)
class LossInfo:
    name: str
    kind: str  # "categoricalCrossEntropy" / "meanSquaredError"
    input: str
    target: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.kind, "input": self.input, "target": self.target}


@dataclass(frozen=True)
class KnnInfo:
    dimension: int
    weighting: str
    index: str
    leaf_size: int | None
    label_kind: str
    default_label: str | int | None
    stored_examples: int

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass(frozen=True)
class ModelReport:
    path: str | None
    kind: str
    spec_version: int
    updatable: bool
    update_scope: str
    inputs: tuple[Feature, ...]
    outputs: tuple[Feature, ...]
    training_inputs: tuple[Feature, ...]
    class_labels: tuple[str | int, ...] | None
    models: tuple[SubModel, ...]
    updatable_layers: tuple[UpdatableLayer, ...]
    loss: LossInfo | None
    optimizer: str | None
    parameters: tuple[UpdateParameter, ...]
    knn: KnnInfo | None
    issues: tuple[ValidationIssue, ...]
    layers: tuple[LayerInfo, ...] = ()
    program: str | None = None  # an ML Program's functions and operations, in one line
    reference: Any = None  # mlupdate.reference.readiness.ReferenceCheck, when the caller asked for it

    @property
    def valid(self) -> bool:
        return not self.issues

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "spec_version": self.spec_version,
            "updatable": self.updatable,
            "update_scope": self.update_scope,
            "inputs": [f.to_dict() for f in self.inputs],
            "outputs": [f.to_dict() for f in self.outputs],
            "training_inputs": [f.to_dict() for f in self.training_inputs],
            "class_labels": list(self.class_labels) if self.class_labels is not None else None,
            "models": [m.to_dict() for m in self.models],
            "updatable_layers": [layer.to_dict() for layer in self.updatable_layers],
            "loss": self.loss.to_dict() if self.loss else None,
            "optimizer": self.optimizer,
            "parameters": [p.to_dict() for p in self.parameters],
            "knn": self.knn.to_dict() if self.knn else None,
            "valid": self.valid,
            "issues": [issue.to_dict() for issue in self.issues],
            "layers": [layer.to_dict(self._output_shapes()) for layer in self.layers],
            "program": self.program,
            "reference": self.reference.to_dict() if self.reference is not None else None,
        }

    def _output_shapes(self) -> dict[str, tuple[int, ...]]:
        return dict(getattr(self.reference, "shapes", None) or {})

    def to_text(self) -> str:
        lines = [
            f"model: {self.path or '<spec>'}",
            f"kind: {self.kind} (spec version {self.spec_version}), "
            + ("updatable" if self.updatable else "not updatable"),
        ]
        if len(self.models) > 1:
            lines.append("pipeline:")
            lines += [
                f"  {m.scope or '(top)'}: {m.kind} v{m.spec_version}{' [updatable]' if m.updatable else ''}"
                for m in self.models
            ]
        lines += _feature_lines("inputs", self.inputs)
        lines += _feature_lines("outputs", self.outputs)
        lines += _feature_lines("training inputs", self.training_inputs)
        if self.class_labels is not None:
            shown = ", ".join(str(v) for v in self.class_labels[:20])
            more = f" … ({len(self.class_labels)} in all)" if len(self.class_labels) > 20 else ""
            lines.append(f"class labels: {shown or '(none yet)'}{more}")
        if self.updatable_layers:
            lines.append("updatable layers:")
            lines += [
                f"  {layer.scoped_name} ({layer.kind}): "
                + ", ".join(f"{key} {list(shape)}" for key, shape in layer.shapes.items())
                for layer in self.updatable_layers
            ]
        if self.program:
            lines.append(f"ML Program: {self.program}")
        if self.layers:
            lines.append("layers (name: type -> output [shape per example], updatable):")
            shapes = self._output_shapes()
            for layer in self.layers:
                out = ", ".join(
                    f"{o} {list(shapes[layer.scoped_blob(o)])}" if layer.scoped_blob(o) in shapes else o
                    for o in layer.outputs
                )
                flag = " [updatable]" if layer.updatable else (" (can be made updatable)" if layer.shapes else "")
                lines.append(f"  {layer.scoped_name}: {layer.kind} -> {out}{flag}")
        if self.loss:
            lines.append(f"loss: {self.loss.name} {self.loss.kind}(input={self.loss.input}, target={self.loss.target})")
        if self.optimizer:
            lines.append(f"optimizer: {self.optimizer}")
        if self.knn:
            knn = self.knn
            index = knn.index + (f" (leaf size {knn.leaf_size})" if knn.leaf_size is not None else "")
            lines.append(
                f"k-NN: dimension {knn.dimension}, {knn.weighting} weighting, {index} index, {knn.label_kind} labels, "
                f"default label {knn.default_label!r}, {knn.stored_examples} stored examples"
            )
        if self.parameters:
            lines.append("update parameters (default; allowed):")
            lines += [f"  {p.key}: {p.default!r} ({p.kind}); {p.describe_allowed()}" for p in self.parameters]
        if self.valid:
            lines.append("validation: valid updatable model")
        else:
            lines.append(f"validation: {len(self.issues)} problem(s)")
            lines += [f"  - {issue}" for issue in self.issues]
        if self.reference is not None:
            lines.append(self.reference.describe())
        return "\n".join(lines)


def _feature_lines(title: str, features: tuple[Feature, ...]) -> list[str]:
    if not features:
        return [f"{title}: (none)"]
    return [f"{title}:"] + [f"  {_describe_feature(f)}" for f in features]


def _describe_feature(feature: Feature) -> str:
    if feature.kind == "multiArray":
        return f"{feature.name}: multiArray {feature.dtype} {list(feature.shape)}"
    if feature.kind == "image":
        return f"{feature.name}: image {feature.width}x{feature.height} {feature.color_space}"
    if feature.kind == "dictionary":
        return f"{feature.name}: dictionary ({feature.key_kind} keys)"
    return f"{feature.name}: {feature.kind}"


def inspect_model(spec: Spec, path: str | None = None, *, reference: Any = None) -> ModelReport:
    """A report on `spec` (read from `path`, which is only quoted); `reference` is a readiness check to show."""
    tree = list(walk_models(spec))
    leaf = _leaf(spec)
    description = spec.description
    return ModelReport(
        path=path,
        kind=model_kind(spec),
        spec_version=int(spec.specificationVersion),
        updatable=bool(spec.isUpdatable),
        update_scope=".".join(leaf.scope),
        inputs=tuple(feature_from_description(d) for d in description.input),
        outputs=tuple(feature_from_description(d) for d in description.output),
        training_inputs=tuple(feature_from_description(d) for d in description.trainingInput),
        class_labels=_labels(spec),
        models=tuple(
            SubModel(".".join(m.scope), model_kind(m.spec), int(m.spec.specificationVersion), bool(m.spec.isUpdatable))
            for m in tree
        ),
        updatable_layers=_updatable_layers(leaf.spec, leaf.scope_prefix),
        loss=_loss(leaf.spec),
        optimizer=_optimizer(leaf.spec),
        parameters=() if is_pipeline(leaf.spec) else tuple(update_parameters(leaf.spec).values()),
        knn=_knn(leaf.spec),
        issues=tuple(validate(spec)),
        layers=_all_layers(spec),
        program=_program(spec),
        reference=reference,
    )


def _all_layers(spec: Spec) -> tuple[LayerInfo, ...]:
    """Every layer of every network in the model, updatable or not (the names `make-updatable --layers` takes)."""
    found = []
    for scoped in walk_models(spec):
        if not is_neural_network(scoped.spec):
            continue
        for layer in neural_network(scoped.spec).layers:
            kind = str(layer.WhichOneof("layer"))
            shapes = weight_shapes(layer) if kind in ("innerProduct", "convolution") else {}
            found.append(
                LayerInfo(
                    ".".join(scoped.scope),
                    layer.name,
                    kind,
                    tuple(layer.input),
                    tuple(layer.output),
                    bool(layer.isUpdatable),
                    shapes,
                )
            )
    return tuple(found)


def _program(spec: Spec) -> str | None:
    if model_kind(spec) != "mlProgram":
        return None
    parts = []
    for name, function in spec.mlProgram.functions.items():
        ops = [op.type for block in function.block_specializations.values() for op in block.operations]
        kinds = sorted(set(ops))
        shown = ", ".join(kinds[:12]) + (", ..." if len(kinds) > 12 else "")
        parts.append(f"function {name}: {len(ops)} operations ({shown})")
    return "; ".join(parts) or "no functions"


def _leaf(spec: Spec) -> ScopedModel:
    try:
        return updatable_leaf(spec)
    except ModelLoadError:  # an empty pipeline: report it as it is (validation names the problem)
        return ScopedModel((), spec)


def _labels(spec: Spec) -> tuple[str | int, ...] | None:
    target = _leaf(spec).spec if model_kind(spec) == "pipelineClassifier" else spec
    if is_pipeline(target):
        return None
    labels = class_labels(target)
    return tuple(labels) if labels is not None else None


def _updatable_layers(spec: Spec, prefix: str) -> tuple[UpdatableLayer, ...]:
    if not is_neural_network(spec):
        return ()
    found = []
    for layer in neural_network(spec).layers:
        if not layer.isUpdatable:
            continue
        kind = str(layer.WhichOneof("layer"))
        shapes = weight_shapes(layer) if kind in ("innerProduct", "convolution") else {}
        found.append(UpdatableLayer(layer.name, f"{prefix}{layer.name}", kind, shapes))
    return tuple(found)


def _loss(spec: Spec) -> LossInfo | None:
    if not is_neural_network(spec):
        return None
    losses = neural_network(spec).updateParams.lossLayers
    if not losses:
        return None
    which = losses[0].WhichOneof("LossLayerType")
    if which is None:
        return LossInfo(losses[0].name, "unknown", "", "")
    body = getattr(losses[0], which)
    return LossInfo(losses[0].name, which.removesuffix("LossLayer"), body.input, body.target)


def _optimizer(spec: Spec) -> str | None:
    if not is_neural_network(spec):
        return None
    which = neural_network(spec).updateParams.optimizer.WhichOneof("OptimizerType")
    return {"sgdOptimizer": "SGD", "adamOptimizer": "Adam"}.get(which or "")


def _knn(spec: Spec) -> KnnInfo | None:
    if model_kind(spec) != KNN_KIND:
        return None
    knn = spec.kNearestNeighborsClassifier
    index = knn.nearestNeighborsIndex
    which_index = index.WhichOneof("IndexType")
    default_kind = knn.WhichOneof("DefaultClassLabel")
    default: str | int | None = getattr(knn, default_kind) if default_kind else None
    labels_kind = knn.WhichOneof("ClassLabels") or default_kind or ""
    return KnnInfo(
        dimension=int(index.numberOfDimensions),
        weighting={"uniformWeighting": "uniform", "inverseDistanceWeighting": "inverse_distance"}.get(
            knn.WhichOneof("WeightingScheme") or "", "unset"
        ),
        index={"linearIndex": "linear", "singleKdTreeIndex": "kd_tree"}.get(which_index or "", "unset"),
        leaf_size=int(index.singleKdTreeIndex.leafSize) if which_index == "singleKdTreeIndex" else None,
        label_kind="Int64" if "nt64" in labels_kind else "String",
        default_label=default,
        stored_examples=len(index.floatSamples),
    )
