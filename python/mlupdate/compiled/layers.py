"""Espresso layers mapped back to Core ML spec layouts.

Inner product weights come back as `[out, in]`, convolution weights as `[C_out, C_in/groups, kh, kw]` (the
layouts of the `.mlmodel` and of the results bundle's parameter dump), biases as `[out]`. What the compiler
changed on the way is said in `notes`: fused activations, bias padding that was trimmed, float16 storage, and
batch norms folded into a convolution.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from mlupdate.compiled.network import EspressoLayer
from mlupdate.compiled.weights import BlobTable
from mlupdate.errors import CompiledModelError

FloatArray = npt.NDArray[np.float32]
StoragePrecision = Literal["float32", "float16"]

_WEIGHT_KEYS = {"blob_weights": "<f4", "blob_weights_f16": "<f2"}
_BIAS_KEYS = {"blob_biases": "<f4", "blob_biases_f16": "<f2"}
_PRECISION: dict[str, StoragePrecision] = {"<f4": "float32", "<f2": "float16"}
_FUSED_FLAGS = {
    "fused_relu": "relu",
    "has_relu": "relu",
    "fused_tanh": "tanh",
    "has_tanh": "tanh",
    "has_prelu": "prelu",
    "fused_sigmoid": "sigmoid",
}


@dataclass(frozen=True)
class CompiledLayer:
    """One layer of the compiled network; `weights` is keyed "weights"/"biases" (or the raw blob name), and
    `precision` says how each of them is stored (float16 blobs are widened exactly to float32 arrays)."""

    name: str
    type: str
    scope: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    weights: dict[str, FloatArray] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    output_shape: tuple[int, int, int, int] | None = None  # n, k, h, w of the first output blob
    precision: dict[str, StoragePrecision] = field(default_factory=dict)

    def storage(self, kind: str) -> StoragePrecision:
        return self.precision.get(kind, "float32")

    @property
    def scoped_name(self) -> str:
        return f"{self.scope}.{self.name}" if self.scope else self.name


def map_layer(
    layer: EspressoLayer,
    blobs: BlobTable,
    *,
    scope: str,
    net_path: Path,
    shapes: dict[str, tuple[int, int, int, int]],
) -> CompiledLayer:
    notes = [f"fused {act} activation" for flag, act in _FUSED_FLAGS.items() if layer.fields.get(flag)]
    if layer.fields.get("has_batch_norm"):
        notes.append("batch norm fused into this layer by the compiler (has_batch_norm)")
    weights: dict[str, FloatArray] = {}
    precision: dict[str, StoragePrecision] = {}
    if layer.type == "inner_product":
        out, fan_in = layer.int_field("nC", where=net_path), layer.int_field("nB", where=net_path)
        weights |= _mapped(layer, blobs, (out, fan_in), notes, precision)
    elif layer.type == "convolution":
        out, fan_in = layer.int_field("C", where=net_path), layer.int_field("K", where=net_path)
        groups = int(layer.fields.get("n_groups", 1) or 1)
        kh, kw = layer.int_field("Ny", where=net_path), layer.int_field("Nx", where=net_path)
        weights |= _mapped(layer, blobs, (out, fan_in // groups, kh, kw), notes, precision)
    else:
        for key, blob_id in layer.blob_refs().items():
            weights[key.removeprefix("blob_")] = blobs.floats(blob_id, layer=layer.name, field=key).astype(np.float32)
        if weights:
            notes.append("weights kept as raw float32 blobs: no spec layout is known for this layer type")
    shape = shapes.get(layer.tops[0]) if layer.tops else None
    return CompiledLayer(
        name=layer.name,
        type=layer.type,
        scope=scope,
        inputs=layer.bottoms,
        outputs=layer.tops,
        weights=weights,
        notes=tuple(notes),
        output_shape=shape,
        precision=precision,
    )


def _mapped(
    layer: EspressoLayer,
    blobs: BlobTable,
    weight_shape: tuple[int, ...],
    notes: list[str],
    precision: dict[str, StoragePrecision],
) -> dict[str, FloatArray]:
    out: dict[str, FloatArray] = {}
    weights = _first_blob(layer, blobs, _WEIGHT_KEYS, notes, precision, "weights")
    if weights is not None:
        if weights.size != int(np.prod(weight_shape)):
            raise CompiledModelError(
                f"layer {layer.name!r}: the weight blob holds {weights.size} values, the layer's sizes "
                f"{list(weight_shape)} need {int(np.prod(weight_shape))}",
                where=str(blobs.path),
                fix="the weights file does not belong to this network; copy the .mlmodelc again",
            )
        out["weights"] = weights.reshape(weight_shape)
    if layer.fields.get("has_biases", 1):
        biases = _first_blob(layer, blobs, _BIAS_KEYS, notes, precision, "biases")
        if biases is not None:
            out["biases"] = _trim_bias(layer, biases, weight_shape[0], blobs.path, notes)
    return out


def _first_blob(
    layer: EspressoLayer,
    blobs: BlobTable,
    keys: dict[str, str],
    notes: list[str],
    precision: dict[str, StoragePrecision],
    kind: str,
) -> FloatArray | None:
    for key, dtype in keys.items():
        blob_id = layer.fields.get(key)
        if isinstance(blob_id, int):
            values = blobs.floats(blob_id, layer=layer.name, field=key, dtype=dtype)
            precision[kind] = _PRECISION[dtype]
            if dtype == "<f2":
                notes.append(f"{kind} stored as float16 (widened exactly to float32)")
            return values.astype(np.float32)
    return None


def _trim_bias(layer: EspressoLayer, biases: FloatArray, out: int, path: Path, notes: list[str]) -> FloatArray:
    """Xcode pads inner-product biases with zeros (to 4 x out); Core ML's own writer does not."""
    if biases.size == out:
        return biases
    padding = biases[out:]
    if biases.size < out or np.any(padding != 0):
        raise CompiledModelError(
            f"layer {layer.name!r}: the bias blob holds {biases.size} values for {out} outputs"
            + ("" if biases.size < out else " and its padding is not zero"),
            where=str(path),
            fix="the weights file does not belong to this network; copy the .mlmodelc again",
        )
    notes.append(f"bias padded to {biases.size} values; {padding.size} trailing zeros trimmed")
    return biases[:out]
