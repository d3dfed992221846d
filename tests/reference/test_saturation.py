"""A saturated classifier trains, as it does on devices: the CCE loss comes from the softmax's input (a stable
log-softmax), the gradient is p - onehot, and training stops only where a weight stops being finite.

The model is made fully confident (its softmax puts all of float32's probability on "cat") and then trained on
the opposite label, as the relabelling seeds do. The old loss, -log of the float32 probability, is infinite
for that batch: the old trainer stopped there with "the loss became inf".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlupdate.bundle import read_results
from mlupdate.models.build import (
    ArrayInput,
    Classifier,
    Dense,
    Loss,
    Regressor,
    SequentialNetwork,
    Sgd,
    Softmax,
    build_network,
)
from mlupdate.models.spec import Spec
from mlupdate.reference.losses import categorical_cross_entropy
from mlupdate.reference.run import run_reference
from mlupdate.reference.semantics import Semantics
from mlupdate.reference.trainer import prepare, train

GAP = 120.0  # logit difference: e^-120 is below float32's smallest subnormal, so p underflows to exactly 0
LABELS = ("cat", "dog")


def confident_classifier(lr: float = 0.01, epochs: int = 3) -> Spec:
    network = SequentialNetwork(
        inputs=[ArrayInput("x", (4,))],
        layers=[Dense("fc", 2, updatable=True), Softmax()],
        head=Classifier(LABELS),
        loss=Loss("cce"),
        optimizer=Sgd(lr=lr, batch=2),
        epochs=epochs,
        shuffle=False,
    )
    weights = {"fc": {"weights": np.zeros((2, 4)), "biases": np.array([GAP / 2, -GAP / 2])}}
    return build_network(network, seed=0, weights=weights)


def relabelled(count: int = 4, scale: float = 1.0) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    return {"x": rng.uniform(0.5, 1.0, size=(count, 4)) * scale, "label": ["dog"] * count}


def old_loss(probabilities: np.ndarray, targets: np.ndarray) -> float:
    """The loss as the trainer computed it before: -log of the float32 softmax output."""
    p = probabilities.reshape(len(targets), -1)
    with np.errstate(divide="ignore"):
        return float(-np.log(p[np.arange(len(targets)), targets]).mean())


def test_the_old_loss_of_the_saturated_batch_is_infinite_and_the_fused_loss_is_not() -> None:
    job = prepare(confident_classifier(), relabelled())
    env = {name: values[:2] for name, values in job.frontier.items()}
    job.network.forward_live(env)
    loss = job.network.loss
    assert loss is not None and loss.logits is not None
    probabilities, logits, targets = env[loss.input], env[loss.logits], job.targets[:2]
    assert probabilities.dtype == np.float32 and np.all(probabilities.reshape(2, 2)[:, 1] == 0.0)
    assert old_loss(probabilities, targets) == np.inf
    fused, grad = categorical_cross_entropy(logits, probabilities, targets, Semantics())
    assert fused == pytest.approx(GAP, rel=1e-6)
    np.testing.assert_allclose(grad.reshape(2, 2), [[0.5, -0.5], [0.5, -0.5]])  # (p - onehot) / B, finite


def test_a_saturated_classifier_trained_on_the_opposite_label_trains_with_finite_weights() -> None:
    result = train(confident_classifier(lr=0.5, epochs=40), relabelled(), events=("miniBatchEnd",))
    weights = result.weights["fc"]
    assert all(np.isfinite(values).all() for values in weights.values())
    losses = [event.loss for event in result.events if event.event == "miniBatchEnd"]
    assert all(loss is not None and np.isfinite(loss) for loss in losses)
    assert losses[0] == pytest.approx(GAP, rel=1e-6)
    assert losses[-1] < 1.0  # it learned the new label
    assert weights["biases"][1] > weights["biases"][0] - GAP  # the gap closed


def test_raw_pixel_scale_inputs_flip_the_prediction_in_a_few_steps() -> None:
    # 0-255 inputs make every step large; the weights stay finite and the model moves to "dog".
    result = train(confident_classifier(lr=0.01, epochs=2), relabelled(scale=255.0), events=("epochEnd",))
    w, b = result.weights["fc"]["weights"], result.weights["fc"]["biases"]
    logits = relabelled(scale=255.0)["x"] @ w.T + b
    assert np.isfinite(w).all() and np.isfinite(b).all()
    assert np.all(logits.argmax(axis=1) == 1)


@pytest.mark.parametrize(
    "knob, expected",
    [
        ("log_softmax", GAP),
        ("clipped_1e-7", -np.log(1e-7)),
        ("clipped_float_min", -np.log(np.finfo(np.float32).tiny)),
        ("float32_probability", np.inf),  # -log of the float32 softmax output, which is 0 here
    ],
)
def test_the_reported_loss_of_a_saturated_example_follows_the_uncalibrated_knob(knob: str, expected: float) -> None:
    semantics = Semantics(cce_reported_loss=knob)  # type: ignore[arg-type]
    result = train(confident_classifier(lr=0.0, epochs=1), relabelled(count=2), semantics=semantics)
    (loss,) = [event.loss for event in result.events if event.event == "miniBatchEnd"]
    assert loss == pytest.approx(expected, rel=1e-6)
    # the knob changes the reported number only: the weights train the same under every value
    default = train(confident_classifier(lr=0.5, epochs=1), relabelled(count=2))
    other = train(confident_classifier(lr=0.5, epochs=1), relabelled(count=2), semantics=semantics)
    assert default.weights["fc"]["weights"].tobytes() == other.weights["fc"]["weights"].tobytes()


def test_a_loss_beyond_float32_with_finite_weights_does_not_stop_training() -> None:
    # Outputs of 1e20 against targets of 0: (y - t)^2 overflows float32, but with a zero learning rate every
    # weight stays finite, so the task completes (the old trainer stopped with "the loss became inf").
    network = SequentialNetwork(
        inputs=[ArrayInput("x", (2,))],
        layers=[Dense("fc", 1, updatable=True)],
        head=Regressor(),
        loss=Loss("mse"),
        optimizer=Sgd(lr=0.0, batch=1),
        epochs=2,
        shuffle=False,
    )
    spec = build_network(network, seed=0, weights={"fc": {"weights": np.full((1, 2), 1e10), "biases": [0.0]}})
    seen: list[Any] = []
    result = train(spec, {"x": np.full((3, 2), 1e10), "output_true": np.zeros((3, 1))}, on_event=seen.append)
    assert result.epochs_completed == 2
    assert all(np.isfinite(v).all() for v in result.weights["fc"].values())
    assert [e.loss for e in result.events if e.event == "miniBatchEnd"] == [np.inf] * 6
    # the progress callback saw each event once, although the run was replayed to check every weight
    assert [e.event for e in seen].count("miniBatchEnd") == 6


def test_the_golden_raw_pixel_image_classifier_trains_in_the_reference(tmp_path: Path) -> None:
    # 0-255 pixels straight into a dense layer saturate its softmax; the old trainer stopped at the first batch.
    job = Path(__file__).resolve().parents[1] / "data" / "contract" / "jobs" / "golden-classifier-image"
    results = read_results(run_reference(job, tmp_path), "golden-classifier-image")
    assert results.status == "succeeded", results.error
    assert all(np.isfinite(values).all() for values in results.parameters.values())
    assert all(event.loss is not None for event in results.events if event.event == "miniBatchEnd")
