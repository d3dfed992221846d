"""Loading, saving and navigating Core ML specs (the protobuf `Model` message).

Everything else in mlupdate reaches into specs through these helpers, so the rules for "which message holds
the network" and "which sub-model of a pipeline is the updatable one" live in one place.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError

from mlupdate._coreml import Model_pb2
from mlupdate.errors import ModelLoadError
from mlupdate.models.package import MANIFEST, package_model_file, write_package
from mlupdate.output_folder import write_atomic

Spec = Any  # Model_pb2.Model; protobuf classes carry no static types

NEURAL_NETWORK_KINDS = ("neuralNetwork", "neuralNetworkClassifier", "neuralNetworkRegressor")
PIPELINE_KINDS = ("pipeline", "pipelineClassifier", "pipelineRegressor")
KNN_KIND = "kNearestNeighborsClassifier"


def load_spec(path: str | os.PathLike[str]) -> Spec:
    """Read a `.mlmodel` file or the model inside an `.mlpackage`; every failure is a ModelLoadError.

    `mlupdate.models.open_model` also opens compiled `.mlmodelc` folders; this function returns specs only.
    """
    path = Path(path)
    if path.is_dir():
        if path.suffix == ".mlmodelc":
            raise ModelLoadError(
                "this is a compiled model folder, not a model spec",
                where=str(path),
                fix="pass the .mlmodel or .mlpackage it was compiled from (`mlharness inspect` reads .mlmodelc too)",
            )
        if path.suffix == ".mlpackage" or (path / MANIFEST).exists():
            model_file = package_model_file(path)
            return parse_spec(_read(model_file), where=f"{path} ({model_file.relative_to(path)})")
        from mlupdate.bundle.kinds import not_a_model

        raise not_a_model(path)
    return parse_spec(_read(path), where=str(path))


# protobuf cannot parse a message above 2 GiB; a bigger "model" is not one.
MAX_MODEL_BYTES = 2**31 - 1


def _read(path: Path) -> bytes:
    """The bytes of a regular file; a FIFO or device is refused at once (opening one to read could block)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ModelLoadError("no such file", where=str(path), fix="check the path") from None
    except OSError as exc:
        raise ModelLoadError(
            f"cannot read the file: {exc.strerror}", where=str(path), fix="check the path and its permissions"
        ) from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ModelLoadError(
                "is not a regular file (a pipe, socket or device)", where=str(path), fix="pass a .mlmodel file"
            )
        if info.st_size > MAX_MODEL_BYTES:
            raise ModelLoadError(
                f"is {info.st_size} bytes, more than a Core ML model can be (2 GiB)",
                where=str(path),
                fix="pass a .mlmodel file",
            )
        try:
            return handle.read()
        except OSError as exc:
            raise ModelLoadError(
                f"cannot read the file: {exc.strerror}", where=str(path), fix="check the file"
            ) from None


def parse_spec(data: bytes, *, where: str = "<bytes>") -> Spec:
    if not data:
        raise ModelLoadError("the file is empty", where=where, fix="pass a complete .mlmodel file")
    spec = Model_pb2.Model()
    try:
        spec.ParseFromString(data)
    except DecodeError:
        raise ModelLoadError(
            "not a Core ML model: the protobuf cannot be decoded (truncated or another kind of file)",
            where=where,
            fix="re-export or re-download the .mlmodel; check that the copy is complete",
        ) from None
    if spec.WhichOneof("Type") is None or spec.specificationVersion <= 0:
        raise ModelLoadError(
            "not a Core ML model: no model type or specification version in the file",
            where=where,
            fix="pass a .mlmodel file written by coremltools or Xcode",
        )
    return spec


def save_spec(spec: Spec, path: str | os.PathLike[str]) -> Path:
    """Write atomically (temporary file + rename), so an interrupted save never leaves a half model.

    A path ending in `.mlpackage` gets a package holding the spec (`mlupdate.models.package.write_package`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".mlpackage":
        return write_package(spec.SerializeToString(), path)
    return write_atomic(path, spec.SerializeToString())


def model_kind(spec: Spec) -> str:
    kind = spec.WhichOneof("Type")
    return str(kind)


def is_neural_network(spec: Spec) -> bool:
    return model_kind(spec) in NEURAL_NETWORK_KINDS


def is_pipeline(spec: Spec) -> bool:
    return model_kind(spec) in PIPELINE_KINDS


def neural_network(spec: Spec) -> Any:
    """The NeuralNetwork / NeuralNetworkClassifier / NeuralNetworkRegressor message of a network spec."""
    kind = model_kind(spec)
    if kind not in NEURAL_NETWORK_KINDS:
        raise ModelLoadError(
            f"expected a neural network model, found {kind!r}",
            where="Model.Type",
            fix=f"pass a model of one of the kinds {sorted(NEURAL_NETWORK_KINDS)}",
        )
    return getattr(spec, kind)


def pipeline_message(spec: Spec) -> Any:
    kind = model_kind(spec)
    if kind not in PIPELINE_KINDS:
        raise ModelLoadError(
            f"expected a pipeline model, found {kind!r}",
            where="Model.Type",
            fix=f"pass a model of one of the kinds {sorted(PIPELINE_KINDS)}",
        )
    # A plain `pipeline` is the Pipeline message itself; classifier/regressor pipelines wrap one.
    return spec.pipeline if kind == "pipeline" else getattr(spec, kind).pipeline


def pipeline_names(spec: Spec) -> list[str]:
    """Sub-model names used to scope parameters: `Pipeline.names`, or `model0 … modelN-1` when unset."""
    pipeline = pipeline_message(spec)
    count = len(pipeline.models)
    names = list(pipeline.names)
    return names if len(names) == count else [f"model{i}" for i in range(count)]


@dataclass(frozen=True)
class ScopedModel:
    """A (sub-)model and the parameter scope that reaches it: `()` for the top level, `("model1",)` inside."""

    scope: tuple[str, ...]
    spec: Spec

    @property
    def scope_prefix(self) -> str:
        return "".join(f"{name}." for name in self.scope)


def walk_models(spec: Spec, scope: tuple[str, ...] = ()) -> Iterator[ScopedModel]:
    """Every model in the tree, depth first, pipelines before their children."""
    yield ScopedModel(scope, spec)
    if is_pipeline(spec):
        for name, child in zip(pipeline_names(spec), pipeline_message(spec).models, strict=True):
            yield from walk_models(child, (*scope, name))


def updatable_leaf(spec: Spec) -> ScopedModel:
    """The model an update task trains: the spec itself, or the last model of (nested) pipelines."""
    scope: tuple[str, ...] = ()
    while is_pipeline(spec):
        pipeline = pipeline_message(spec)
        if not pipeline.models:
            raise ModelLoadError(
                "the pipeline has no models", where="pipeline.models", fix="add at least one model to the pipeline"
            )
        scope = (*scope, pipeline_names(spec)[-1])
        spec = pipeline.models[-1]
    return ScopedModel(scope, spec)


def class_labels(spec: Spec) -> list[str] | list[int] | None:
    """Class labels of a network classifier or k-NN classifier, in index order; None for other models."""
    kind = model_kind(spec)
    if kind == "neuralNetworkClassifier" or kind == KNN_KIND:
        message = getattr(spec, kind)
        which = message.WhichOneof("ClassLabels")
        if which == "stringClassLabels":
            return [str(v) for v in message.stringClassLabels.vector]
        if which == "int64ClassLabels":
            return [int(v) for v in message.int64ClassLabels.vector]
        return [] if kind == KNN_KIND else None
    if kind == "pipelineClassifier":
        return class_labels(updatable_leaf(spec).spec)
    return None


def layers_by_name(spec: Spec) -> dict[str, Any]:
    return {layer.name: layer for layer in neural_network(spec).layers}
