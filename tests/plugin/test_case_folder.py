"""A case's folders under --mlh-report-dir (job, device, parity): what an earlier run of the case left there is
removed before the case runs again, so a failed rerun never shows an earlier verdict; a folder of those names
that the plugin did not write is refused and kept (it was deleted)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mlharness.pytest_plugin import ParityCase
from mlharness.pytest_plugin.cases import run_parity_case
from mlharness.targets.base import Target
from mlharness.targets.fake import FakeTarget
from mlupdate.data.examples import ExampleSet, from_arrays, set_feature
from mlupdate.errors import OutputFolderError
from mlupdate.models.build import ArrayInput, Classifier, Dense, SequentialNetwork, Sgd, Softmax, build_network
from mlupdate.models.features import training_inputs
from mlupdate.models.spec import load_spec, save_spec


def model(folder: Path) -> Path:
    network = SequentialNetwork(
        inputs=[ArrayInput("x", (4,))],
        layers=[Dense("fc", 3, updatable=True), Softmax()],
        head=Classifier(("a", "b", "c")),
        optimizer=Sgd(lr=0.1, batch=2),
        epochs=1,
        shuffle=False,
    )
    return save_spec(build_network(network, seed=3), folder / "Tiny.mlmodel")


def training(model_path: Path) -> ExampleSet:
    features = [set_feature(f, where="tiny") for f in training_inputs(load_spec(model_path))]
    x = np.random.default_rng(0).uniform(-1, 1, size=(4, 4))
    return from_arrays(features, {features[0].name: x, features[1].name: ["a", "b", "c", "a"]})


TINY = ParityCase.of("tiny", model=model, training=training)


@pytest.fixture
def fake_target(tmp_path: Path) -> Iterator[Target]:
    fake = FakeTarget(tmp_path / "fake-device", polls_to_finish=1)  # the canned app: judged, never trained
    with fake.session() as opened:
        yield opened


def run(target: Target, folder: Path) -> Path:
    return run_parity_case(TINY, target, folder, app=None, ensemble=3).device_results


def test_a_rerun_replaces_what_the_earlier_run_of_the_case_left(fake_target: Target, tmp_path: Path) -> None:
    folder = tmp_path / "test_tiny"
    run(fake_target, folder)
    (folder / "device" / "another-job").mkdir()  # results of a job the case no longer builds

    results = run(fake_target, folder)

    assert (results / "DONE").is_file()
    assert sorted(p.name for p in (folder / "device").iterdir() if not p.name.startswith(".")) == ["tiny"]
    assert (folder / "parity" / "report.json").is_file()


@pytest.mark.parametrize("name", ["job", "device", "parity"])
def test_a_folder_the_plugin_did_not_write_is_refused_and_kept(fake_target: Target, tmp_path: Path, name: str) -> None:
    folder = tmp_path / "test_tiny"
    (folder / name).mkdir(parents=True)
    (folder / name / "notes.txt").write_text("mine")

    with pytest.raises(OutputFolderError, match="--mlh-report-dir") as refused:
        run(fake_target, folder)

    assert (folder / name / "notes.txt").read_text() == "mine"
    assert refused.value.where == str(folder / name)
    assert not (folder / "job" / "tiny").exists()  # refused before anything was built or run
