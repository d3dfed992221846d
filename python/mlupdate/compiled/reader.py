"""`read_compiled(path)`: a compiled Core ML model (`.mlmodelc` folder) read back on any OS.

A compiled network keeps its description in `coremldata.bin`, its layers in `model.espresso.net` (+ `.shape`),
its weights in `model.espresso.weights`, and, when updatable, its update parameters in
`updateParameters/NetworkUpdateParameters/coremldata.bin`. A pipeline is assumed to keep one such folder per
network sub-model below the top level; its relative path, dotted, is the layer's parameter scope.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlupdate import limits
from mlupdate.compiled.description import read_description
from mlupdate.compiled.folding import Fold, find_folds
from mlupdate.compiled.knn import CompiledKnn, read_knn
from mlupdate.compiled.layers import CompiledLayer, FloatArray, map_layer
from mlupdate.compiled.layout import check_complete
from mlupdate.compiled.metadata import Metadata, read_metadata
from mlupdate.compiled.network import load_json, read_net, read_shapes
from mlupdate.compiled.update_params import UpdateParameters, read_update_parameters
from mlupdate.compiled.weights import read_blob_table
from mlupdate.errors import CompiledModelError
from mlupdate.models.spec import Spec

log = logging.getLogger(__name__)

NET_FILE = "model.espresso.net"
SHAPE_FILE = "model.espresso.shape"
WEIGHTS_FILE = "model.espresso.weights"


@dataclass(frozen=True)
class CompiledModel:
    path: Path
    description: Any  # Model_pb2.ModelDescription
    layers: tuple[CompiledLayer, ...]
    update_parameters: UpdateParameters | None
    model_type: str | None  # from metadata.json when present, e.g. "neuralNetworkClassifier"
    transform_params: dict[str, Any]
    unreferenced_blobs: dict[str, tuple[int, ...]]  # weights file (relative) -> ids of blobs no layer uses
    folds: tuple[Fold, ...] = ()
    metadata: Metadata | None = None  # metadata.json: structure, model and update parameters with allowed values
    knn: CompiledKnn | None = None  # the k-NN classifier (top level or a pipeline stage), with its stored examples

    def layer(self, name: str) -> CompiledLayer:
        """A layer by scoped name (`dense_1`, `model1.dense_1`) or, when unambiguous, by bare name."""
        matches = [layer for layer in self.layers if name in (layer.scoped_name, layer.name)]
        exact = [layer for layer in matches if layer.scoped_name == name]
        if exact or len(matches) == 1:
            return (exact or matches)[0]
        known = ", ".join(layer.scoped_name for layer in self.layers)
        what = f"{len(matches)} layers match {name!r}" if matches else f"no layer {name!r}"
        raise CompiledModelError(f"{what} in the compiled network", where=str(self.path), fix=f"use one of: {known}")

    def weights_for(self, name: str) -> dict[str, FloatArray]:
        return dict(self.layer(name).weights)

    def parameters(self) -> dict[tuple[str, str], FloatArray]:
        """(scoped layer, "weights"/"biases") -> array for trainable layer kinds: the results bundle's keys."""
        out: dict[tuple[str, str], FloatArray] = {}
        for layer in self.layers:
            if layer.type in ("inner_product", "convolution"):
                for kind, values in layer.weights.items():
                    out[(layer.scoped_name, kind)] = values
        return out


def read_compiled(path: str | Path, *, spec: Spec | None = None) -> CompiledModel:
    """Read a `.mlmodelc`; with the spec it was compiled from, folded batch norms are recognised and noted."""
    root = Path(path)
    if not root.is_dir():
        state = "is a file, not a compiled model folder" if root.exists() else "no such folder"
        raise CompiledModelError(state, where=str(root), fix="pass the .mlmodelc folder")
    check_complete(root)
    description = read_description(root / "coremldata.bin")
    model_type = _metadata_model_type(root)
    metadata = read_metadata(root)
    layers: list[CompiledLayer] = []
    unreferenced: dict[str, tuple[int, ...]] = {}
    transform: dict[str, Any] = {}
    update_parameters = None
    for model_dir in _network_dirs(root, model_type, metadata.structure):
        scope = ".".join(model_dir.relative_to(root).parts)
        mapped, extra, spare = _read_network(model_dir, scope)
        layers.extend(mapped)
        transform |= extra.get("transform_params") or {}
        if spare:
            unreferenced[str((model_dir / WEIGHTS_FILE).relative_to(root))] = tuple(spare)
        update_parameters = read_update_parameters(model_dir) or update_parameters
    model = CompiledModel(
        path=root,
        description=description,
        layers=tuple(layers),
        update_parameters=update_parameters,
        model_type=model_type,
        transform_params=transform,
        unreferenced_blobs=unreferenced,
        metadata=metadata,
        knn=_knn_stage(root, model_type, metadata),
    )
    return _with_folds(model, spec) if spec is not None else model


_KNN = "kNearestNeighborsClassifier"


def _knn_stage(root: Path, model_type: str | None, metadata: Metadata) -> CompiledKnn | None:
    """The k-NN: the model itself, or the pipeline stage folder `model<i>` the metadata's structure names."""
    if model_type == _KNN:
        return read_knn(root, "", metadata)
    for position, kind in enumerate(metadata.structure):
        if kind == _KNN and (root / f"model{position}").is_dir():
            return read_knn(root / f"model{position}", f"model{position}", metadata)
    return None


def _read_network(model_dir: Path, scope: str) -> tuple[list[CompiledLayer], dict[str, Any], list[int]]:
    net_path = model_dir / NET_FILE
    espresso_layers, extra = read_net(net_path)
    shapes = read_shapes(model_dir / SHAPE_FILE)
    if not shapes:
        log.info("%s: no shape file; layer output shapes are unknown", model_dir)
    blobs = read_blob_table(model_dir / WEIGHTS_FILE)
    mapped = [map_layer(layer, blobs, scope=scope, net_path=net_path, shapes=shapes) for layer in espresso_layers]
    referenced = {blob_id for layer in espresso_layers for blob_id in layer.blob_refs().values()}
    return mapped, extra, blobs.unreferenced(referenced)


def _network_dirs(root: Path, model_type: str | None, structure: tuple[str, ...] = ()) -> list[Path]:
    if (root / NET_FILE).exists():
        return [root]
    nested = sorted(p.parent for p in _find(root, NET_FILE))
    if nested:
        return nested
    if model_type is not None and "neuralNetwork" not in model_type and "pipeline" not in model_type.lower():
        return []  # e.g. a k-NN classifier: no network to read
    if structure and not any("neuralNetwork" in kind for kind in structure):
        return []  # a pipeline without a network stage, e.g. Create ML's feature print + GLM classifier
    raise CompiledModelError(
        f"{NET_FILE} is missing (model type {model_type or 'unknown'})",
        where=str(root / NET_FILE),
        fix="copy the whole .mlmodelc folder again; a compiled neural network always has its espresso files",
    )


def _find(root: Path, name: str) -> list[Path]:
    """Files called `name` below `root`, walked without recursion and within `mlupdate.limits` (depth, entries)."""
    found: list[Path] = []
    pending, seen = [(root, 0)], 0
    while pending:
        folder, depth = pending.pop()
        with os.scandir(folder) as listing:
            entries = list(listing)
        seen += len(entries)
        if seen > limits.TREE_ENTRIES or depth > limits.TREE_DEPTH:
            raise CompiledModelError(
                f"holds more than {limits.TREE_ENTRIES} entries or nests deeper than {limits.TREE_DEPTH} folders",
                where=str(root),
                fix="pass the .mlmodelc folder itself; a compiled model is a small, shallow tree",
            )
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                pending.append((Path(entry.path), depth + 1))
            elif entry.name == name and entry.is_file(follow_symlinks=False):
                found.append(Path(entry.path))
    return found


def _metadata_model_type(root: Path) -> str | None:
    path = root / "metadata.json"
    if not path.exists():
        return None  # metadata only adds information; Core ML's own writer may omit it
    document = load_json(path, "metadata.json")
    entry = document[0] if isinstance(document, list) and document else document
    model_type = entry.get("modelType") if isinstance(entry, dict) else None
    if model_type is None:
        return None
    name = model_type.get("name") if isinstance(model_type, dict) else None
    if not isinstance(name, str):
        raise CompiledModelError(
            f"modelType is {json.dumps(model_type)[:80]}, not an object with a string `name`",
            where=f"{path}: modelType",
            fix="copy the whole .mlmodelc folder again (pull it from the device or recompile the .mlmodel)",
        )
    return name.removeprefix("MLModelType_")


def _with_folds(model: CompiledModel, spec: Spec) -> CompiledModel:
    folds = find_folds(spec, (layer.scoped_name for layer in model.layers))
    by_conv = {(fold.scope, fold.convolution): fold for fold in folds}
    layers = []
    for layer in model.layers:
        fold = by_conv.get((layer.scope, layer.name))
        if fold is not None:
            note = (
                f"batch norm {fold.batchnorm!r} folded into this convolution: weights and bias are the spec's "
                "scaled by gamma/sqrt(var+eps); compare with mlupdate.compiled.folded_values"
            )
            layer = dataclasses.replace(layer, notes=(*layer.notes, note))
        layers.append(layer)
    return dataclasses.replace(model, layers=tuple(layers), folds=tuple(folds))
