"""Training targets mapped the way Core ML reads them.

- Classifier (network or k-NN, also inside a pipeline): the target is the predicted-label feature, a String
  or Int64 class label that must be one of the model's class labels. A k-NN that has no labels yet accepts
  any label (that is how it learns new ones).
- Plain network with a categorical cross-entropy loss: the target `<softmax output>_true` is INT32 [1]
  holding the 0-based class index. Labels may be indices, or names looked up in `classes`.
- Mean squared error: the target is a DOUBLE (or FLOAT32) array of the declared shape. Converters may leave
  that shape undeclared (and the network's output shape with it); the target then has the shape of the loss's
  input, which is the model output's declared shape or, failing that, the shape the reference's dry run of the
  network computes for it. A device compares the two element by element, so no other shape can train.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from mlupdate.data.arrays import fit_array
from mlupdate.data.examples import SetFeature
from mlupdate.errors import DataError
from mlupdate.models.features import outputs
from mlupdate.models.spec import Spec, class_labels, is_neural_network, neural_network, updatable_leaf

_SHOWN = 12


@dataclass(frozen=True)
class TargetMapping:
    """How raw labels become values of the target feature."""

    feature: SetFeature
    class_labels: tuple[str | int, ...] | None = None  # classifier targets; () = any label (empty k-NN)
    classes: tuple[str, ...] | None = None  # names of class indices (CCE index targets)
    class_count: int | None = None  # number of classes of an index target, when the model declares it

    def map(self, label: Any, *, where: str) -> Any:
        if label is None:
            raise DataError(
                f"the example has no label for target {self.feature.name!r}",
                where=where,
                fix="use a labelled source for training sets",
            )
        if self.feature.kind in ("string", "int64"):
            return self._class_label(label, where)
        if self.feature.dtype == "int32":
            return np.array([self._class_index(label, where)], dtype=np.int32).reshape(self.feature.shape)
        return fit_array(_number(label, self.feature.name, where), self.feature, where=where)

    def _class_label(self, label: Any, where: str) -> str | int:
        value: str | int
        value = str(label) if self.feature.kind == "string" else _integer(label, self.feature.name, where)
        if self.class_labels and value not in self.class_labels:
            raise DataError(
                f"label {value!r} is not one of the model's class labels {_show(self.class_labels)}",
                where=where,
                fix="relabel the example, or remove it (network classifiers cannot learn new classes)",
            )
        return value

    def _class_index(self, label: Any, where: str) -> int:
        if self.classes is not None:
            if str(label) not in self.classes:
                raise DataError(
                    f"label {label!r} is not among the class names {_show(self.classes)}",
                    where=where,
                    fix="relabel the example, or pass classes= with every name in index order",
                )
            return self.classes.index(str(label))
        index = _integer(label, self.feature.name, where)
        if index < 0 or (self.class_count is not None and index >= self.class_count):
            limit = f"0..{self.class_count - 1}" if self.class_count is not None else ">= 0"
            raise DataError(
                f"class index {index} is out of range ({limit})",
                where=where,
                fix=f"use 0-based class indices for {self.feature.name!r}, or pass classes= to map names",
            )
        return index


def _show(values: Sequence[Any]) -> str:
    shown = ", ".join(repr(v) for v in values[:_SHOWN])
    return f"[{shown}{', …' if len(values) > _SHOWN else ''}]"


def _integer(label: Any, name: str, where: str) -> int:
    if isinstance(label, bool):
        raise DataError(
            f"target {name!r} needs an integer, got {label!r}",
            where=where,
            fix="use integer labels (e.g. 0-9), not booleans",
        )
    if isinstance(label, int | np.integer):
        return int(label)
    if isinstance(label, float) and label.is_integer():
        return int(label)
    if isinstance(label, str):
        try:
            return int(label.strip())
        except ValueError:
            pass
    raise DataError(
        f"target {name!r} needs an integer label, got {label!r}", where=where, fix="use integer labels (e.g. 0-9)"
    )


def _number(label: Any, name: str, where: str) -> Any:
    if isinstance(label, str):
        try:
            return float(label)
        except ValueError:
            raise DataError(
                f"target {name!r} needs a number, got {label!r}", where=where, fix="use numeric targets"
            ) from None
    return label


def target_mapping(spec: Spec, feature: SetFeature, classes: Sequence[str] | None, *, where: str) -> TargetMapping:
    """The mapping for the model's target feature `feature` (a training input that is not a model input)."""
    if feature.kind in ("string", "int64"):
        labels = class_labels(spec)
        return TargetMapping(feature, class_labels=tuple(labels) if labels is not None else ())
    if feature.kind == "multiArray" and feature.dtype == "int32":
        return TargetMapping(
            feature, classes=tuple(classes) if classes is not None else None, class_count=_class_count(spec)
        )
    if feature.kind == "multiArray":
        return TargetMapping(resolved_target_feature(spec, feature, where=where))
    raise DataError(
        f"target {feature.name!r} is a {feature.kind}; expected a class label or a multiArray",
        where=where,
        fix="check the model's training inputs",
    )


def _class_count(spec: Spec) -> int | None:
    """Classes of a CCE loss: the size of the softmax output that feeds it, when that is a model output."""
    leaf = updatable_leaf(spec).spec
    if not is_neural_network(leaf):
        return None
    for loss in neural_network(leaf).updateParams.lossLayers:
        if loss.WhichOneof("LossLayerType") == "categoricalCrossEntropyLossLayer":
            source = loss.categoricalCrossEntropyLossLayer.input
            for output in (*outputs(leaf), *outputs(spec)):
                if output.name == source and output.kind == "multiArray" and output.shape:
                    return math.prod(output.shape)
    return None


def resolved_target_feature(spec: Spec, feature: SetFeature, *, where: str) -> SetFeature:
    """A multiArray target `feature` with a shape: its declared one, else that of the loss input it meets."""
    if feature.shape:
        return feature
    leaf = updatable_leaf(spec)
    source = _mse_input(leaf.spec, feature.name)
    if source is not None:
        for output in (*outputs(leaf.spec), *outputs(spec)):
            if output.name == source and output.kind == "multiArray" and output.shape:
                return replace(feature, shape=output.shape)
        # Imported here: the reference's dry run fits synthetic examples with this package.
        from mlupdate.reference.readiness import check_reference

        shape = check_reference(spec).shapes.get(f"{leaf.scope_prefix}{source}")
        if shape:
            return replace(feature, shape=shape)
    raise DataError(
        f"target {feature.name!r} has no declared shape, and the shape of the loss input it is compared with "
        f"({source or 'no mean-squared-error loss reads it'}) cannot be worked out",
        where=where,
        fix=f"declare the shape of training input {feature.name!r} in the model (its multiArrayType.shape)",
    )


def _mse_input(leaf: Spec, target: str) -> str | None:
    if not is_neural_network(leaf):
        return None
    for loss in neural_network(leaf).updateParams.lossLayers:
        if loss.WhichOneof("LossLayerType") == "meanSquaredErrorLossLayer":
            mse = loss.meanSquaredErrorLossLayer
            if mse.target == target:
                return str(mse.input)
    return None
