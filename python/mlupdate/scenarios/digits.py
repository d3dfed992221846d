"""Scenario `digits` (seed 001): the MNIST classifier personalised with 10 real handwritten digits per class.

Real: the model (Apple's model-gallery MNISTClassifier, a third-party fixture) and the digits (UCI optdigits
as shipped by scikit-learn). Derived: the updatable model (both innerProduct layers, CCE on the softmax,
SGD lr 0.01 batch 32, 10 epochs, as in Apple's updatable-MNIST notebook) and the 28x28 frames. As in the seed,
the job overrides epochs = 10 and learningRate = 0.02 through MLModelConfiguration.parameters.
"""

from __future__ import annotations

from pathlib import Path

from mlupdate.bundle import write_job
from mlupdate.contract import ALL_PROGRESS_EVENTS
from mlupdate.data import fit_probe_set, fit_training_set, labelled_files
from mlupdate.models.spec import Spec, load_spec, save_spec
from mlupdate.models.updatable import Loss, Sgd, make_updatable
from mlupdate.scenarios.common import fresh_folder, save_images, write_readme
from mlupdate.scenarios.digit_images import load_sklearn_digits, pick_per_class, to_mnist_frame
from mlupdate.scenarios.registry import ScenarioResult

FIXTURE = "mnist-classifier/MNISTClassifier.mlmodel"
DENSE_LAYERS = ("drawing_dense0_fwd", "drawing_dense1_fwd")
PARAMETERS = {"epochs": 10, "learningRate": 0.02}
TRAIN_PER_CLASS, PROBE_PER_CLASS = 10, 3


def updatable_mnist(real_models: Path) -> Spec:
    spec = load_spec(real_models / FIXTURE)
    return make_updatable(
        spec,
        list(DENSE_LAYERS),
        Loss("cce", input="labelProbabilities"),
        Sgd(lr=0.01, batch=32),
        epochs=10,
        epochs_set=(1, 5, 10),
    )


def build(folder: Path, real_models: Path | None) -> ScenarioResult:
    assert real_models is not None  # the registry checks this before calling
    fresh_folder(folder)
    model = save_spec(updatable_mnist(real_models), folder / "UpdatableMNISTClassifier.mlmodel")
    images, labels = load_sklearn_digits()
    train = [(str(labels[i]), to_mnist_frame(images[i])) for i in pick_per_class(labels, TRAIN_PER_CLASS)]
    probe = [(str(labels[i]), to_mnist_frame(images[i])) for i in pick_per_class(labels, PROBE_PER_CLASS, offset=50)]
    train_dir = save_images(folder / "images" / "train", train, layout="names")
    probe_dir = save_images(folder / "images" / "probe", probe, layout="names")
    spec = load_spec(model)
    job = write_job(
        folder / "job",
        model_path=model,
        training=fit_training_set(labelled_files(train_dir), spec),
        probe=fit_probe_set(labelled_files(probe_dir), spec),
        parameters=PARAMETERS,
        events=ALL_PROGRESS_EVENTS,
        job_id="digits-v1",
    )
    readme = write_readme(
        folder,
        "digits",
        f"""
The story: personalise the updatable MNIST digit classifier with {TRAIN_PER_CLASS} images per class, \
{PARAMETERS["epochs"]} epochs, learning rate {PARAMETERS["learningRate"]} set through `MLModelConfiguration.parameters`.

- **Real**: the model `MNISTClassifier.mlmodel` (Apple model gallery, third-party fixture) and the handwritten
  digits (UCI optdigits, the 8x8 set scikit-learn ships).
- **Derived here**: `UpdatableMNISTClassifier.mlmodel` = the real model with `{DENSE_LAYERS[0]}` and
  `{DENSE_LAYERS[1]}` updatable, CCE on `labelProbabilities`, SGD lr 0.01 / batch 32, epochs 10; the digits
  upscaled to MNIST's 20x20-in-28x28 framing (`images/train/<digit>_<i>.png`, the seed's naming).
- **Job** `job/digits-v1`: {TRAIN_PER_CLASS * 10} training images, {PROBE_PER_CLASS * 10} probe images, parameters
  {PARAMETERS}, events trainingBegin, miniBatchEnd, epochEnd (the seed asks for epochEnd; the others feed
  step-level parity).
""",
    )
    return ScenarioResult(
        "digits",
        folder,
        model,
        (job,),
        readme,
        {"train": TRAIN_PER_CLASS * 10, "probe": PROBE_PER_CLASS * 10, "parameters": PARAMETERS},
    )
