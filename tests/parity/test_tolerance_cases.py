"""Tolerances are chosen by the job's explicit `case` field, never by its id: every entry of the tolerance table
is reached through a job that names it, an Adam model without a case gets `adam`, and a misspelt case is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlupdate.bundle import read_job, write_job
from mlupdate.data.examples import from_arrays, set_feature
from mlupdate.errors import InputError, SchemaError
from mlupdate.models.build import Adam, ArrayInput, Dense, Loss, Regressor, SequentialNetwork, Sgd, build_network
from mlupdate.models.features import training_inputs
from mlupdate.models.spec import save_spec
from mlupdate.parity.run import run_parity
from mlupdate.parity.tolerances import DEFAULT_CASE, OVERRIDES, for_case
from mlupdate.reference.run import run_reference


def job(folder: Path, job_id: str, *, case: str | None = None, adam: bool = False) -> Path:
    network = SequentialNetwork(
        inputs=[ArrayInput("x", (2,))],
        layers=[Dense("fc", 1, updatable=True)],
        head=Regressor(),
        loss=Loss("mse"),
        optimizer=Adam(lr=0.01, batch=2) if adam else Sgd(lr=0.05, batch=2),
        epochs=2,
        shuffle=False,
    )
    spec = build_network(network, seed=0)
    model = save_spec(spec, folder / "model" / "Tiny.mlmodel")
    features = [set_feature(f, where="test") for f in training_inputs(spec)]
    x = np.random.default_rng(0).normal(size=(4, 2))
    training = from_arrays(features, {features[0].name: x, features[1].name: x[:, :1]}, origin="test")
    return write_job(folder / "jobs", model_path=model, training=training, job_id=job_id, case=case)


def verdict_of(job_path: Path, tmp_path: Path) -> tuple[str, dict[str, object]]:
    dry_run = run_reference(job_path, tmp_path / "device")
    verdict = run_parity(dry_run, job_path, tmp_path / "report", power=False).verdict
    return verdict.case, verdict.tolerances


@pytest.mark.parametrize("case", [DEFAULT_CASE, *sorted(OVERRIDES)])
def test_every_entry_of_the_tolerance_table_is_reached_by_a_job_that_names_it(case: str, tmp_path: Path) -> None:
    # The job id says nothing about the case: only the field chooses.
    path = job(tmp_path, "unrelated-id", case=None if case == DEFAULT_CASE else case)
    assert read_job(path).case == (None if case == DEFAULT_CASE else case)
    used, tolerances = verdict_of(path, tmp_path)
    assert used == case
    assert tolerances == for_case(case).to_dict()
    for key, value in OVERRIDES.get(case, {}).items():
        assert tolerances[key] == value


def test_an_adam_model_without_a_case_gets_the_adam_entry(tmp_path: Path) -> None:
    used, tolerances = verdict_of(job(tmp_path, "tiny-1", adam=True), tmp_path)
    assert used == "adam"
    assert tolerances["weight_rtol_per_step"] == OVERRIDES["adam"]["weight_rtol_per_step"]


@pytest.mark.parametrize("job_id", ["adam-1", "sketches.v2", "sketches-old"])
def test_a_job_id_never_chooses_the_case(job_id: str, tmp_path: Path) -> None:
    used, _ = verdict_of(job(tmp_path, job_id), tmp_path)
    assert used == DEFAULT_CASE


def test_a_case_the_table_does_not_know_is_refused_naming_the_entries(tmp_path: Path) -> None:
    path = job(tmp_path, "tiny-2", case="sketchs")
    with pytest.raises(InputError) as caught:
        verdict_of(path, tmp_path)
    assert "no parity case 'sketchs'" in caught.value.what
    assert caught.value.fix is not None and "adam, default, sketches" in caught.value.fix


def test_a_case_must_be_a_plain_name(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="case"):
        job(tmp_path, "tiny-3", case="../adam")
