"""Results bundles for parity tests, written and read through the real contract (ResultsWriter/read_results).

The "reference" bundle carries the MNIST classifier's own dense-layer parameters and its `.mlmodel`; the
"device" bundle carries the same parameters and the Xcode-compiled `.mlmodelc` of the same model, so the
app-dump-vs-compiled-model check runs against a real compiled file. Tests perturb one ingredient at a time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlupdate.bundle import ResultsBundle, ResultsWriter, read_results
from mlupdate.contract import DeviceInfo, DumpSource, Producer, ProgressEvent, RunError, TaskRecord, TaskStatus
from mlupdate.models.spec import layers_by_name, load_spec, save_spec

MNIST = "mnist-classifier/MNISTClassifier"
LAYERS = ("drawing_dense0_fwd", "drawing_dense1_fwd")
CLASSES = tuple(range(10))

REFERENCE_PRODUCER = {
    "name": "mlupdate-reference",
    "version": "0.1.0",
    "semantics": {
        "knobs": {"batch_reduction": "mean", "cce_reduction": "mean", "momentum_form": "torch"},
        "calibrated": {"batch_reduction": True, "cce_reduction": False, "momentum_form": False},
    },
}
DEVICE_PRODUCER = {"name": "companion-ios", "version": "0.1.0"}
IPHONE = {
    "name": "Test iPhone",
    "model": "iPhone16,1",
    "os_name": "iOS",
    "os_version": "17.4",
    "os_build": "21E219",
    "is_simulator": False,
    "chip": "A17 Pro",
    "host": None,
}
HOST = IPHONE | {"name": "reference", "model": "host", "os_name": "Linux", "os_version": "6", "os_build": ""}


def mnist_parameters(spec_path: Path) -> dict[tuple[str, str], np.ndarray]:
    layers = layers_by_name(load_spec(spec_path))
    out = {}
    for name in LAYERS:
        body = layers[name].innerProduct
        out[(name, "weights")] = np.asarray(body.weights.floatValue, np.float32).reshape(
            body.outputChannels, body.inputChannels
        )
        out[(name, "biases")] = np.asarray(body.bias.floatValue, np.float32)
    return out


def training_events(tasks: int = 1, epochs: int = 2, batches: int = 3) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for task in range(tasks):
        t, loss = 0.0, 2.3
        events.append({"task": task, "event": "trainingBegin", "epoch": None, "mini_batch": None, "loss": None, "t": t})
        for epoch in range(epochs):
            for batch in range(batches):
                t += 0.01
                loss *= 0.9
                events.append(
                    {"task": task, "event": "miniBatchEnd", "epoch": epoch, "mini_batch": batch, "loss": loss, "t": t}
                )
            t += 0.002
            events.append({"task": task, "event": "epochEnd", "epoch": epoch, "mini_batch": None, "loss": loss, "t": t})
        events.append({"task": task, "event": "completion", "epoch": None, "mini_batch": None, "loss": loss, "t": t})
    return events


def task_record(index: int, *, final_loss: float | None = 1.2, memory_after: int = 200_000_000) -> dict[str, Any]:
    return {
        "index": index,
        "status": "succeeded",
        "error": None,
        "compile_seconds": 0.5 + 0.01 * index,
        "load_seconds": 0.1,
        "train_seconds": 1.0 + 0.1 * index,
        "write_seconds": 0.05,
        "probe_seconds": 0.02,
        "memory_before_bytes": 100_000_000,
        "memory_after_bytes": memory_after,
        "epochs_completed": 2,
        "final_loss": final_loss,
    }


def probabilities(count: int = 6) -> np.ndarray:
    rng = np.random.default_rng(11)
    logits = rng.normal(size=(count, 10)) * 3
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


@dataclass
class Ingredients:
    """Everything a results bundle holds; a test changes one field and writes the bundle."""

    job_id: str
    producer: dict[str, Any]
    device: dict[str, Any]
    model: Path
    parameters: dict[tuple[str, str], np.ndarray]
    events: list[dict[str, Any]]
    probabilities: np.ndarray
    labels: list[int]
    tasks: list[dict[str, Any]] = field(default_factory=lambda: [task_record(0)])
    status: str = "succeeded"
    error: dict[str, Any] | None = None
    with_probe: bool = True  # False: an app that recorded no probe predictions
    # The app's second read of the updated layers (from the written model); when set, `parameters` is the
    # context dump and both are written with their source.
    cross_check: dict[tuple[str, str], np.ndarray] | None = None

    def copy(self, **changes: Any) -> Ingredients:
        deep = {
            "parameters": {k: v.copy() for k, v in self.parameters.items()},
            "events": [dict(e) for e in self.events],
            "probabilities": self.probabilities.copy(),
            "labels": list(self.labels),
            "tasks": [dict(t) for t in self.tasks],
        }
        return dataclasses.replace(self, **(deep | changes))


Writer = Callable[[Ingredients, str], ResultsBundle]


@pytest.fixture
def write_results(tmp_path: Path) -> Writer:
    def write(ingredients: Ingredients, folder: str) -> ResultsBundle:
        parent = tmp_path / folder
        with ResultsWriter(parent, ingredients.job_id) as writer:
            writer.add_events(ProgressEvent.from_json(event) for event in ingredients.events)
            dumps = [(ingredients.parameters, None)]
            if ingredients.cross_check is not None:
                dumps = [(ingredients.parameters, DumpSource.CONTEXT), (ingredients.cross_check, DumpSource.RELOADED)]
            for dump, source in dumps:
                for (layer, kind), values in dump.items():
                    writer.add_parameter(layer, "", kind, values, source=source)
            if ingredients.with_probe:
                writer.add_probe_output("labelProbabilities", "dictionary", ingredients.probabilities, CLASSES)
                writer.add_probe_output("classLabel", "int64", ingredients.labels)
            writer.add_model(ingredients.model)
            final = writer.finish(
                TaskStatus(ingredients.status),
                RunError.from_json(ingredients.error) if ingredients.error else None,
                DeviceInfo.from_json(ingredients.device),
                [TaskRecord.from_json(task) for task in ingredients.tasks],
                Producer.from_json(ingredients.producer),
            )
        return read_results(final, ingredients.job_id)

    return write


@pytest.fixture
def reference_ingredients(real_models: Path) -> Ingredients:
    spec_path = real_models / f"{MNIST}.mlmodel"
    probs = probabilities()
    return Ingredients(
        job_id="digits-001",
        producer=REFERENCE_PRODUCER,
        device=HOST,
        model=spec_path,
        parameters=mnist_parameters(spec_path),
        events=training_events(),
        probabilities=probs,
        labels=[int(i) for i in probs.argmax(axis=1)],
    )


@pytest.fixture
def device_ingredients(reference_ingredients: Ingredients, real_models: Path) -> Ingredients:
    return reference_ingredients.copy(
        producer=DEVICE_PRODUCER,
        device=IPHONE,
        model=real_models / f"{MNIST}.mlmodelc",
        events=training_events(tasks=2),
        tasks=[task_record(0), task_record(1, memory_after=450_000_000)],
    )


ModelWriter = Callable[..., Path]


@pytest.fixture
def written_model(reference_ingredients: Ingredients, tmp_path: Path) -> ModelWriter:
    """The MNIST classifier as an app would write it: the dense layers' weights replaced by `values`, stored as
    float16 (`float16Value`, one rounding to 11 significant bits) or float32, saved as `tmp_path/name`."""

    def write(name: str, values: dict[tuple[str, str], np.ndarray], *, float16: bool) -> Path:
        spec = load_spec(reference_ingredients.model)
        layers = layers_by_name(spec)
        for layer in LAYERS:
            weights = layers[layer].innerProduct.weights
            array = np.asarray(values[(layer, "weights")], np.float32).ravel()
            weights.ClearField("floatValue")
            weights.ClearField("float16Value")
            if float16:
                weights.float16Value = array.astype("<f2").tobytes()
            else:
                weights.floatValue.extend(array.tolist())
        return save_spec(spec, tmp_path / name)

    return write
