"""`mlharness job --events`: the event names come from the contract; a misspelt or repeated one is refused
naming it and listing the names a job can ask for (their JSON spellings, not Python enum reprs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlharness.cli import build_parser, main
from mlupdate.bundle import read_job
from mlupdate.contract import EventKind

MODEL = Path(__file__).resolve().parents[1] / "data" / "contract" / "jobs" / "golden-regressor" / "model"
ASKABLE = "trainingBegin, epochEnd, miniBatchEnd"


def job(tmp_path: Path, *options: str) -> list[str]:
    return ["job", str(MODEL / "TinyRegressor.mlmodel"), "--synthetic", "4", "-o", str(tmp_path / "job"), *options]


def test_by_default_a_job_asks_for_every_progress_event(tmp_path: Path) -> None:
    assert main(job(tmp_path)) == 0
    assert read_job(tmp_path / "job").events == tuple(EventKind.requestable())
    assert build_parser().parse_args(job(tmp_path)).events == ["trainingBegin", "epochEnd", "miniBatchEnd"]


@pytest.mark.parametrize(
    "events, what",
    [("epochend", "unknown event(s) 'epochend'"), ("epochEnd,epochEnd", "listed twice: epochEnd")],
)
def test_a_wrong_event_list_names_the_wrong_name_and_the_right_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], events: str, what: str
) -> None:
    assert main(job(tmp_path, "--events", events)) == 2
    err = capsys.readouterr().err
    assert f"job.json: events: {what}" in err
    assert f"fix: use each of {ASKABLE} at most once" in err and "EventKind" not in err
    assert not (tmp_path / "job").exists()
