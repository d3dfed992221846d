"""Scenario `catdog` (seeds 002, 004): relabel predicted pictures with the opposite label and retrain.

A Keras-style CNN (conv-relu-pool x2, dense_5 32, dense_6 2, softmax) is pretrained here on procedural cat
and dog pictures, then shipped with its last two dense layers updatable, CCE + SGD lr 0.01 batch 5, 2 epochs,
as in the seed. The job holds ten new pictures, each labelled with the opposite of what the shipped model
predicts for it (the seed's "retrain with the inverse label"), and the same ten pictures as the probe set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from mlupdate.bundle import write_job
from mlupdate.contract import ALL_PROGRESS_EVENTS
from mlupdate.data import fit_probe_set, fit_training_set, image_files, image_folder
from mlupdate.models.build import Activation, Classifier, Dense, SequentialNetwork, Sgd, Softmax
from mlupdate.models.spec import load_spec, save_spec
from mlupdate.scenarios.common import fresh_folder, save_images, write_readme
from mlupdate.scenarios.pretrain import accuracy, conv_backbone, picture_input, pictures, pretrain, probabilities
from mlupdate.scenarios.registry import ScenarioResult

LABELS = ("Cat", "Dog")
SIZE = 32
SHIPPED = SequentialNetwork(
    inputs=[picture_input(SIZE)],
    layers=[
        *conv_backbone(),
        Dense("dense_5", 32, updatable=True), Activation("relu"),
        Dense("dense_6", 2, updatable=True), Softmax(),
    ],
    head=Classifier(LABELS, predicted_feature_name="classLabel"),
    optimizer=Sgd(lr=0.01, batch=5),
    epochs=2,
)  # fmt: skip
SEED = 2004


def opposite(label: str) -> str:
    return LABELS[1 - LABELS.index(label)]


def build(folder: Path, real_models: Path | None) -> ScenarioResult:  # noqa: ARG001 - generated, no fixture
    fresh_folder(folder)
    rng = np.random.default_rng(SEED)
    pretraining, held_out = pictures(LABELS, 60, SIZE, rng), pictures(LABELS, 30, SIZE, rng)
    spec = pretrain(SHIPPED, pretraining, input_name="image", label_name="classLabel", epochs=6, seed=SEED)
    model = save_spec(spec, folder / "CatDogUpdatable.mlmodel")
    held_out_accuracy = accuracy(spec, held_out, input_name="image", label_name="classLabel")

    new_images, _ = pictures(LABELS, 5, SIZE, rng)
    probs = probabilities(spec, new_images, input_name="image", probs_name="output")
    predicted = [LABELS[i] for i in probs.argmax(axis=1)]
    relabelled = [
        (opposite(p), Image.fromarray(img.transpose(1, 2, 0), "RGB"))
        for p, img in zip(predicted, new_images, strict=True)
    ]
    train_dir = save_images(folder / "images" / "relabelled", relabelled)
    probe_dir = save_images(
        folder / "images" / "probe", [(f"{i:02d}", img) for i, (_, img) in enumerate(relabelled)], layout="names"
    )
    shipped = load_spec(model)
    job = write_job(
        folder / "job",
        model_path=model,
        training=fit_training_set(image_folder(train_dir), shipped),
        probe=fit_probe_set(image_files(probe_dir), shipped),
        events=ALL_PROGRESS_EVENTS,
        job_id="catdog-v1",
    )
    readme = write_readme(
        folder,
        "catdog",
        f"""
The story: a cat-vs-dog classifier whose last two dense layers are updatable; pictures the model
predicted are relabelled with the opposite label and trained on the device, and the model is written to
Documents and reloaded for the next round.

- **Generated**: the pictures (procedural cats with pointed ears and dogs with floppy ears, drawn with pillow,
  `mlupdate/scenarios/photos.py`), and the model: a small CNN pretrained here by the reference trainer with every
  layer updatable (Adam, 6 epochs on 120 pictures; held-out accuracy {held_out_accuracy:.2f} on 60 more), then shipped
  with only `dense_5` and `dense_6` updatable: CCE + SGD lr 0.01, batch 5, 2 epochs, as in the seed.
- **Job** `job/catdog-v1`: 10 new pictures, each labelled with the opposite of the shipped model's prediction
  ({", ".join(f"{p}->{opposite(p)}" for p in predicted)}), and the same 10 pictures as the probe set.
""",
    )
    return ScenarioResult(
        "catdog", folder, model, (job,), readme, {"held_out_accuracy": held_out_accuracy, "predicted_before": predicted}
    )
