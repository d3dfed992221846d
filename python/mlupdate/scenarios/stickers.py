"""Scenario `stickers` (seed 000): Apple's updatable drawing classifier, three drawings per new sticker.

The real MNISTClassifier is cut at its 128-wide dense layer into a frozen embedding network, followed by an
empty updatable k-NN classifier (the shape of Apple's UpdatableDrawingClassifier). The job adds three sketches
for each of three new stickers; the probe set holds two fresh sketches of each and one of a shape never taught.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlupdate.bundle import write_job
from mlupdate.data import fit_probe_set, fit_training_set, image_files, image_folder
from mlupdate.models.knn import cut_embedding, drawing_classifier
from mlupdate.models.spec import load_spec, save_spec
from mlupdate.scenarios.common import fresh_folder, save_images, write_readme
from mlupdate.scenarios.registry import ScenarioResult
from mlupdate.scenarios.sketches import draw_sketch

FIXTURE = "mnist-classifier/MNISTClassifier.mlmodel"
EMBEDDING_LAYER = "drawing_dense0_relu_fwd"  # ReLU after the 128-wide dense layer
STICKERS = ("star", "heart", "house")
UNTAUGHT = "smiley"
DRAWINGS_PER_STICKER = 3
SEED = 1000


def build(folder: Path, real_models: Path | None) -> ScenarioResult:
    assert real_models is not None  # the registry checks this before calling
    fresh_folder(folder)
    embedding = cut_embedding(load_spec(real_models / FIXTURE), EMBEDDING_LAYER)
    spec = drawing_classifier(embedding, default_label="unknown", k=3, weighting="inverse_distance")
    model = save_spec(spec, folder / "UpdatableDrawingClassifier.mlmodel")
    rng = np.random.default_rng(SEED)
    train = [(s, draw_sketch(s, rng)) for s in STICKERS for _ in range(DRAWINGS_PER_STICKER)]
    probe = [(f"{i:02d}", draw_sketch(s, rng)) for i, s in enumerate([*STICKERS, *STICKERS, UNTAUGHT])]
    train_dir = save_images(folder / "images" / "drawings", train)
    probe_dir = save_images(folder / "images" / "probe", probe, layout="names")
    shipped = load_spec(model)
    job = write_job(
        folder / "job",
        model_path=model,
        training=fit_training_set(image_folder(train_dir), shipped),
        probe=fit_probe_set(image_files(probe_dir), shipped),
        events=(),
        job_id="stickers-v1",
        case="sketches",
    )
    readme = write_readme(
        folder,
        "stickers",
        f"""
The story (Apple's drawing-classifier sample): the user adds a sticker and draws it three times; the app updates the
drawing classifier (frozen embedding + k-NN) with an `MLUpdateTask`, saves and reloads it.

- **Real**: the embedding is Apple's model-gallery MNISTClassifier (third-party fixture), cut at
  `{EMBEDDING_LAYER}` (the 128-wide dense layer after its ReLU), as Apple's updatable drawing classifier does.
- **Generated**: `UpdatableDrawingClassifier.mlmodel` = PipelineClassifier(embedding, empty k-NN, k = 3,
  inverse-distance, linear index, default label "unknown"), and the sketches: white strokes drawn with pillow
  with random jitter, scale, rotation and stroke width (`mlupdate/scenarios/sketches.py`).
- **Job** `job/stickers-v1`: {DRAWINGS_PER_STICKER} drawings of each of {", ".join(STICKERS)}; probe = two fresh
  drawings of each and one {UNTAUGHT} (never taught). k-NN updates emit no progress events.
""",
    )
    return ScenarioResult("stickers", folder, model, (job,), readme, {"stickers": STICKERS})
