"""Scenario `lunch` (seed 003): retrain one photo with the opposite label, watch the probability move, reset.

A binary healthy/unhealthy CNN is pretrained here on procedural plates and shipped with only its last layer
updatable. Two identical jobs train one photo with the label opposite to the shipped model's prediction:
`lunch-retrain` and `lunch-after-reset`. Both start from the shipped model, which is never modified; a
device that keeps state between jobs (no reset) gives different results for the two.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from mlupdate.bundle import write_job
from mlupdate.contract import ALL_PROGRESS_EVENTS
from mlupdate.data import fit_probe_set, fit_training_set, image_files, image_folder
from mlupdate.models.build import Activation, Classifier, Dense, SequentialNetwork, Sgd, Softmax
from mlupdate.models.spec import load_spec, save_spec
from mlupdate.scenarios.common import fresh_folder, save_images, write_readme
from mlupdate.scenarios.pretrain import conv_backbone, picture_input, pictures, pretrain, probabilities
from mlupdate.scenarios.registry import ScenarioResult

LABELS = ("healthy", "unhealthy")
SIZE = 32
SHIPPED = SequentialNetwork(
    inputs=[picture_input(SIZE)],
    layers=[
        *conv_backbone(),
        Dense("features", 16), Activation("relu"),
        Dense("classifier", 2, updatable=True), Softmax(),
    ],
    head=Classifier(LABELS, predicted_feature_name="classLabel"),
    # One epoch at lr 0.001: one photo moves the model by a few percent, as in the seed (95% -> 85%). The
    # features feeding `classifier` have a squared norm near 1,400, so lr 0.01 would flip any photo at once.
    optimizer=Sgd(lr=0.001, batch=1),
    epochs=1,
    epochs_set=(1, 5, 10),
)  # fmt: skip
SEED = 3003
JOBS = ("lunch-retrain", "lunch-after-reset")


def build(folder: Path, real_models: Path | None) -> ScenarioResult:  # noqa: ARG001 - generated, no fixture
    fresh_folder(folder)
    rng = np.random.default_rng(SEED)
    spec = pretrain(
        SHIPPED, pictures(LABELS, 60, SIZE, rng), input_name="image", label_name="classLabel", epochs=6, seed=SEED
    )
    model = save_spec(spec, folder / "LunchClassifier.mlmodel")
    shipped_sha256 = hashlib.sha256(model.read_bytes()).hexdigest()

    # The app's user retrains the photo the model is least sure about; two more photos watch for side effects.
    photos, _ = pictures(LABELS, 30, SIZE, rng)
    confidence = probabilities(spec, photos, input_name="image", probs_name="output").max(axis=1)
    chosen = [int(confidence.argmin()), 0, 1]
    before = probabilities(spec, photos[chosen], input_name="image", probs_name="output")
    predicted = LABELS[int(before[0].argmax())]
    flipped = LABELS[1 - LABELS.index(predicted)]
    images = [Image.fromarray(photos[i].transpose(1, 2, 0), "RGB") for i in chosen]
    train_dir = save_images(folder / "images" / "retrain", [(flipped, images[0])])
    probe_dir = save_images(
        folder / "images" / "probe", [(f"{i:02d}", img) for i, img in enumerate(images)], layout="names"
    )
    shipped = load_spec(model)
    jobs = tuple(
        write_job(
            folder / "jobs",
            model_path=model,
            training=fit_training_set(image_folder(train_dir), shipped),
            probe=fit_probe_set(image_files(probe_dir), shipped),
            events=ALL_PROGRESS_EVENTS,
            job_id=job_id,
        )
        for job_id in JOBS
    )
    readme = write_readme(
        folder,
        "lunch",
        f"""
The story: a healthy-lunch classifier whose last layer is updatable; one photo is retrained with the opposite
label and the app watches its probability move; "reset model" goes back to the shipped model.

- **Generated**: the photos (procedural salad plates and burger-and-fries trays, `mlupdate/scenarios/photos.py`)
  and the model: a small CNN pretrained here by the reference trainer (Adam, every layer updatable), shipped with
  only `classifier` updatable (CCE + SGD lr 0.001, batch 1, 1 epoch).
- **Jobs** `jobs/{JOBS[0]}` and `jobs/{JOBS[1]}` are identical: photo 00 (the shipped model says
  {predicted} with probability {before[0].max():.3f}: the least sure of 60 new photos) labelled {flipped};
  probe = photo 00 and two other photos (01, 02) that should barely move. Each job
  starts from the shipped model (sha256 {shipped_sha256[:16]}...), so a device must give both the same result;
  the seed's memory growth (~250 MB per update task) is what `repeat` and the memory figures look for.
""",
    )
    return ScenarioResult(
        "lunch",
        folder,
        model,
        jobs,
        readme,
        {
            "predicted_before": predicted,
            "probability_before": float(before[0].max()),
            "retrained_label": flipped,
            "shipped_sha256": shipped_sha256,
        },
    )
