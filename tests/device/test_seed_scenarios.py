"""The four seed user stories (python/mlupdate/scenarios) trained on each device cell and judged for parity.

stickers: frozen drawing embedding + k-NN, three sketches per new sticker (seed 000); digits: MNISTClassifier
made updatable, 10 real digits per class, 10 epochs at lr 0.02 (seed 001); catdog: a CNN's last two dense layers
retrained on relabelled pictures (seeds 002, 004); lunch: one photo retrained with the opposite label (seed
003). The first job each scenario writes is run. Without a device the cells are collected and skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mlharness.pytest_plugin import CaseOutcome, ParityCase
from mlupdate.scenarios import SCENARIOS, build_scenario

RunCase = Callable[[ParityCase], CaseOutcome]
NEEDS_REAL_MODELS = {"stickers", "digits"}


def scenario_case(name: str, job: int) -> ParityCase:
    """Job number `job` of scenario `name`, built afresh into the case folder."""

    def build(folder: Path) -> Path:
        jobs = build_scenario(name, folder).jobs
        if job >= len(jobs):
            pytest.fail(f"scenario {name} wrote {len(jobs)} job(s), the case asks for job {job}")
        return jobs[job]

    return ParityCase(name=f"{name}-{job}", build_job=build)


@pytest.fixture
def scenario_models(request: pytest.FixtureRequest, name: str) -> None:
    # Only stickers and digits start from the real MNISTClassifier; the others build their models here.
    if name in NEEDS_REAL_MODELS:
        request.getfixturevalue("real_models")


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_first_job_trains_like_the_reference(scenario_models: None, name: str, parity_case: RunCase) -> None:
    parity_case(scenario_case(name, 0))


def test_scenarios_cover_the_four_seed_stories() -> None:
    assert set(SCENARIOS) == {"stickers", "digits", "catdog", "lunch"}
