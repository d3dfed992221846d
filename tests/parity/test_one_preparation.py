"""A parity run reads its job once, decodes the examples once and computes the frozen prefix once, for the
reference's own run, every ensemble member, the noise pair and every known-wrong alternative.

Each of the three is counted by a wrapper that appends a line to a file, so a call made in a forked ensemble
worker would be counted as well as one made in the parent process.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlharness.cli import EXIT_OK, main
from mlupdate.bundle import job_reader, write_job
from mlupdate.data.examples import from_arrays, set_feature
from mlupdate.models.build import (
    Activation,
    Classifier,
    Conv,
    Dense,
    Flatten,
    ImageInput,
    Loss,
    SequentialNetwork,
    Sgd,
    Softmax,
    build_network,
)
from mlupdate.models.features import training_inputs
from mlupdate.models.spec import save_spec
from mlupdate.parity.run import run_parity
from mlupdate.reference.network import Network
from mlupdate.reference.run import run_reference


def image_job(folder: Path) -> Path:
    """8x8 grayscale PNGs through a frozen convolution into an updatable dense head: 40 examples in batches of 4
    for 25 epochs (250 steps, so parity judges the trajectory and runs an ensemble)."""
    network = SequentialNetwork(
        inputs=[ImageInput("image", 8, 8, scale=1 / 255)],
        layers=[Conv("conv", 2), Activation("relu"), Flatten(), Dense("fc", 3, updatable=True), Softmax()],
        head=Classifier(("a", "b", "c")),
        loss=Loss("cce"),
        optimizer=Sgd(lr=0.05, batch=4),
        epochs=25,
        shuffle=True,
    )
    spec = build_network(network, seed=0)
    model = save_spec(spec, folder / "model" / "Images.mlmodel")
    image, label = (set_feature(f, where="test") for f in training_inputs(spec))
    rng = np.random.default_rng(0)
    values = {image.name: rng.integers(0, 256, (40, 8, 8), dtype=np.uint8), label.name: list("abc" * 13 + "a")}
    return write_job(
        folder / "job", model_path=model, training=from_arrays([image, label], values), job_id="one-preparation"
    )


class Counter:
    """Counts calls of wrapped functions in this process and in forked children: one line per call in a file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.write_text("", encoding="utf-8")

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            with self.path.open("a", encoding="utf-8") as log:
                log.write(name + "\n")
            return function(*args, **kwargs)

        return counted

    def counts(self) -> dict[str, int]:
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return {name: lines.count(name) for name in sorted(set(lines))}


@pytest.fixture
def counter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Counter:
    counter = Counter(tmp_path / "calls.txt")
    monkeypatch.setattr(job_reader, "verify_files", counter.wrap("read job", job_reader.verify_files))
    monkeypatch.setattr(job_reader.ExampleSetView, "load", counter.wrap("decode", job_reader.ExampleSetView.load))
    frozen = counter.wrap("frozen prefix", Network.frozen_activations)
    monkeypatch.setattr(Network, "frozen_activations", frozen)
    return counter


def test_a_parity_run_prepares_the_job_once_for_every_reference_run(tmp_path: Path, counter: Counter) -> None:
    job = image_job(tmp_path)
    device = run_reference(job, tmp_path / "device")
    assert counter.counts() == {"read job": 1, "decode": 2, "frozen prefix": 1}  # image and label, once each
    counter.path.write_text("", encoding="utf-8")

    verdict = run_parity(device, job, tmp_path / "report", ensemble=3).verdict

    assert verdict.level == "trajectory" and verdict.passed
    assert "power" in {check.name for check in verdict.checks}  # the alternatives ran too
    assert counter.counts() == {"read job": 1, "decode": 2, "frozen prefix": 1}


def test_the_counter_sees_a_second_preparation(tmp_path: Path, counter: Counter) -> None:
    """The check above can fail: two reference runs of the same folder read, decode and prepare twice."""
    job = image_job(tmp_path)
    run_reference(job, tmp_path / "first")
    run_reference(job, tmp_path / "second")
    assert counter.counts() == {"read job": 2, "decode": 4, "frozen prefix": 2}


def test_the_parity_command_computes_the_frozen_prefix_once(tmp_path: Path, counter: Counter) -> None:
    """`mlharness parity` as a user runs it: one frozen-prefix pass for the reference, its ensemble (trained in this
    process and in forked helpers) and the alternatives, as `run_parity` above."""
    job = image_job(tmp_path)
    device = run_reference(job, tmp_path / "device")
    counter.path.write_text("", encoding="utf-8")

    code = main(["parity", str(device), "--job", str(job), "--ensemble", "3", "-o", str(tmp_path / "report")])

    assert code == EXIT_OK
    assert counter.counts() == {"read job": 1, "decode": 2, "frozen prefix": 1}


def test_the_parity_command_names_its_default_folder_without_reading_the_job_twice(
    tmp_path: Path, counter: Counter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without -o the report goes to out/parity/<job_id>: the id comes from the manifest, and the job's files are
    hashed once (by the run), not once more for the folder's name."""
    job = image_job(tmp_path)
    device = run_reference(job, tmp_path / "device")
    counter.path.write_text("", encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    code = main(["parity", str(device), "--job", str(job), "--ensemble", "3"])

    assert code == EXIT_OK
    assert (tmp_path / "out" / "parity" / job_reader.read_job_manifest(job)["job_id"] / "report.json").is_file()
    assert counter.counts()["read job"] == 1
