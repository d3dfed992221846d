"""Pretraining for the generated-image scenarios: the reference trainer with every layer updatable.

The `catdog` and `lunch` stories start from a model that already knows its classes. We have no Keras model
to convert, so we pretrain a small CNN on procedural pictures with our own reference trainer (every conv and
dense layer updatable, Adam), then rebuild it with the trained weights and only the head updatable: the
model the app ships.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from mlupdate.models.build import (
    Activation,
    Adam,
    Conv,
    Dense,
    Flatten,
    ImageInput,
    Layer,
    Pool,
    SequentialNetwork,
    build_network,
)
from mlupdate.models.spec import Spec
from mlupdate.reference.predict import predict
from mlupdate.reference.trainer import train
from mlupdate.scenarios.photos import draw_photo

Pictures = tuple[np.ndarray, list[str]]  # uint8 [N, C, H, W], labels


def picture_input(size: int) -> ImageInput:
    return ImageInput("image", size, size, "RGB", scale=1 / 255)


def conv_backbone() -> list[Layer]:
    """The frozen feature extractor both picture scenarios share: (conv 3x3, ReLU, 2x2 max pool) x 2, flatten."""
    return [
        Conv("conv_1", 8, (3, 3), padding="same"), Activation("relu"), Pool("max"),
        Conv("conv_2", 16, (3, 3), padding="same"), Activation("relu"), Pool("max"),
        Flatten(),
    ]  # fmt: skip


def pictures(labels: Sequence[str], per_class: int, size: int, rng: np.random.Generator) -> Pictures:
    """`per_class` pictures of each label, interleaved (a, b, a, b ...) so no class comes in a block."""
    images, names = [], []
    for _ in range(per_class):
        for label in labels:
            images.append(np.asarray(draw_photo(label, size, rng), dtype=np.uint8).transpose(2, 0, 1))
            names.append(label)
    return np.stack(images), names


def all_updatable(network: SequentialNetwork) -> SequentialNetwork:
    layers = [replace(layer, updatable=True) if isinstance(layer, Dense | Conv) else layer for layer in network.layers]
    return replace(network, layers=layers)


def pretrain(
    shipped: SequentialNetwork,
    data: Pictures,
    *,
    input_name: str,
    label_name: str,
    epochs: int,
    seed: int,
    lr: float = 0.003,
    batch: int = 16,
) -> Spec:
    """Train every layer of `shipped` on `data`, then build `shipped` (its own updatable layers) with those weights."""
    trainable = replace(
        all_updatable(shipped),
        optimizer=Adam(lr=lr, batch=batch),
        epochs=epochs,
        epochs_set=None,
        shuffle=True,
        seed=None,
    )
    spec = build_network(trainable, seed=seed)
    images, labels = data
    result = train(spec, {input_name: images, label_name: labels}, events=())
    return build_network(shipped, seed=seed, weights=result.weights)


def accuracy(spec: Spec, data: Pictures, *, input_name: str, label_name: str) -> float:
    images, labels = data
    outputs = {o.name: o for o in predict(spec, {input_name: images})}
    predicted = outputs[label_name].values
    return float(np.mean([p == t for p, t in zip(predicted, labels, strict=True)]))


def probabilities(spec: Spec, images: np.ndarray, *, input_name: str, probs_name: str) -> np.ndarray:
    outputs = {o.name: o for o in predict(spec, {input_name: images})}
    values: np.ndarray = np.asarray(outputs[probs_name].values)
    return values
