"""The job life cycle driven through FakeTarget: every step can fail or hang, and every failure ends in
RunFailed with diagnostics, after cleanup, without a result."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from mlharness.errors import AppCrashed, JobTimeout, RunFailed, TargetError
from mlharness.runner import Deadlines, Progress, RunResult, State, run_job
from mlharness.targets.fake import AppOutcome, FakeTarget, Fault, reference_app
from mlupdate.errors import BundleError, HashMismatchError, OutputFolderError

FAST = Deadlines(install=5, push=5, launch=5, poll=5, pull=5, job=10, poll_interval=0.01)
SHORT = Deadlines(install=0.2, push=0.2, launch=0.2, poll=0.2, pull=0.2, job=10, poll_interval=0.01)


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def run(target: FakeTarget, job_dir: Path, tmp_path: Path, deadlines: Deadlines = FAST, **kwargs: Any) -> RunResult:
    return run_job(target, job_dir, tmp_path / "out", deadlines=deadlines, **kwargs)


def test_successful_run_returns_verified_results_and_reports_every_state(job_dir: Path, tmp_path: Path) -> None:
    target = FakeTarget(tmp_path / "device")
    seen: list[Progress] = []

    result = run(target, job_dir, tmp_path, app=tmp_path / "MLHarnessCompanion.app", progress=seen.append)

    assert result.results.job_id == "tictactoe-0001"
    assert result.results_path == tmp_path / "out" / "tictactoe-0001"
    assert (result.results_path / "DONE").is_file()
    assert [t.state for t in result.transitions] == [
        State.INSTALLED,
        State.PUSHED,
        State.RUNNING,
        State.FINISHED,
        State.PULLED,
        State.VERIFIED,
    ]
    events = [p.event.event for p in seen if p.event is not None]
    assert events == ["trainingBegin", "completion"]
    assert target.launched_with == [(["--job", "tictactoe-0001"], {"MLHARNESS_JOB": "tictactoe-0001"})]
    assert target.calls.count("cleanup") == 1
    assert not (target.root / "Documents" / "inbox" / "tictactoe-0001").exists()


def test_without_partial_events_the_progress_still_reports_events_from_the_verified_bundle(
    job_dir: Path, tmp_path: Path
) -> None:
    seen: list[Progress] = []
    run(FakeTarget(tmp_path / "device", partial_events=False), job_dir, tmp_path, progress=seen.append)
    assert [p.event.event for p in seen if p.event is not None] == ["trainingBegin", "completion"]


@pytest.mark.parametrize(
    ("step", "state_reached"),
    [
        ("install", "prepared"),
        ("push", "installed"),
        ("launch", "pushed"),
        ("poll", "running"),
        ("pull", "finished"),
    ],
)
def test_a_failing_step_ends_in_run_failed_after_cleanup(
    job_dir: Path, tmp_path: Path, step: str, state_reached: str
) -> None:
    target = FakeTarget(tmp_path / "device", faults={step: Fault.FAIL})

    with pytest.raises(RunFailed) as caught:
        run(target, job_dir, tmp_path, app=tmp_path / "App.app")

    assert caught.value.state == state_reached
    assert isinstance(caught.value.__cause__, TargetError)
    assert caught.value.diagnostics["error"]["type"] == "TargetError"
    assert "cleanup" in target.calls
    assert not (tmp_path / "out" / "tictactoe-0001").exists()


@pytest.mark.parametrize("step", ["install", "push", "launch", "poll", "pull"])
def test_a_hanging_step_hits_its_deadline_and_still_cleans_up(job_dir: Path, tmp_path: Path, step: str) -> None:
    target = FakeTarget(tmp_path / "device", faults={step: Fault.HANG})

    with pytest.raises(RunFailed) as caught:
        run(target, job_dir, tmp_path, deadlines=SHORT, app=tmp_path / "App.app")

    assert isinstance(caught.value.__cause__, JobTimeout)
    assert "within 0.2 s" in caught.value.message
    assert "cleanup" in target.calls


def test_a_failing_session_is_a_run_failure_before_anything_ran(job_dir: Path, tmp_path: Path) -> None:
    target = FakeTarget(tmp_path / "device", faults={"session": Fault.FAIL})

    with pytest.raises(RunFailed) as caught:
        run(target, job_dir, tmp_path)

    assert caught.value.state == "prepared"
    assert "launch" not in target.calls


def test_an_app_that_crashes_before_done_is_reported_with_its_log_and_last_events(
    job_dir: Path, tmp_path: Path
) -> None:
    target = FakeTarget(tmp_path / "device", outcome=AppOutcome.CRASHES)

    with pytest.raises(RunFailed) as caught:
        run(target, job_dir, tmp_path)

    assert isinstance(caught.value.__cause__, AppCrashed)
    assert caught.value.state == "running"
    assert "EXC_BAD_ACCESS" in caught.value.diagnostics["device_log"]
    assert [e["event"] for e in caught.value.diagnostics["last_events"]] == ["trainingBegin"]
    assert "cleanup" in target.calls


def test_an_app_that_never_finishes_times_out_and_is_stopped(job_dir: Path, tmp_path: Path) -> None:
    target = FakeTarget(tmp_path / "device", outcome=AppOutcome.RUNS_FOREVER)
    deadlines = Deadlines(job=0.3, poll_interval=0.01)

    with pytest.raises(RunFailed) as caught:
        run(target, job_dir, tmp_path, deadlines=deadlines)

    assert isinstance(caught.value.__cause__, JobTimeout)
    assert "no DONE after 0.3 s" in caught.value.message
    assert target.calls.count("launch") == 1
    assert "cleanup" in target.calls


def test_a_partial_pull_is_refused_and_never_reported_as_a_result(job_dir: Path, tmp_path: Path) -> None:
    target = FakeTarget(tmp_path / "device", outcome=AppOutcome.PARTIAL_PULL)

    with pytest.raises(RunFailed) as caught:
        run(target, job_dir, tmp_path)

    assert caught.value.state == "pulled"
    assert isinstance(caught.value.__cause__, BundleError)
    assert "events.jsonl" in caught.value.message


def test_a_result_file_changed_after_hashing_is_refused(job_dir: Path, tmp_path: Path) -> None:
    target = FakeTarget(tmp_path / "device", outcome=AppOutcome.TAMPERED)

    with pytest.raises(RunFailed) as caught:
        run(target, job_dir, tmp_path)

    assert isinstance(caught.value.__cause__, HashMismatchError)


def test_install_is_retried_once_because_reinstalling_is_harmless(job_dir: Path, tmp_path: Path) -> None:
    target = FakeTarget(tmp_path / "device", install_failures=1)

    run(target, job_dir, tmp_path, app=tmp_path / "App.app")

    assert target.calls.count("install") == 2


def test_install_failing_twice_gives_up(job_dir: Path, tmp_path: Path) -> None:
    target = FakeTarget(tmp_path / "device", install_failures=2)

    with pytest.raises(RunFailed):
        run(target, job_dir, tmp_path, app=tmp_path / "App.app")

    assert target.calls.count("install") == 2
    assert "launch" not in target.calls


def test_a_failed_launch_is_never_repeated(job_dir: Path, tmp_path: Path) -> None:
    target = FakeTarget(tmp_path / "device", faults={"launch": Fault.FAIL})

    with pytest.raises(RunFailed):
        run(target, job_dir, tmp_path)

    assert target.calls.count("launch") == 1


def test_a_cleanup_failure_is_reported_next_to_the_cause_not_instead_of_it(job_dir: Path, tmp_path: Path) -> None:
    target = FakeTarget(tmp_path / "device", faults={"poll": Fault.FAIL, "cleanup": Fault.FAIL})

    with pytest.raises(RunFailed) as caught:
        run(target, job_dir, tmp_path)

    assert caught.value.diagnostics["error"]["what"] == "poll failed (simulated)"
    assert "could not remove" in caught.value.diagnostics["cleanup_error"]


def test_the_job_bundle_on_the_host_is_never_modified(job_dir: Path, tmp_path: Path) -> None:
    before = tree_digest(job_dir)

    run(FakeTarget(tmp_path / "device"), job_dir, tmp_path)

    assert tree_digest(job_dir) == before


def test_a_broken_job_is_refused_before_the_target_is_touched(job_dir: Path, tmp_path: Path) -> None:
    (job_dir / "train" / "pick.json").write_text('["top", "top", "top", "top"]', encoding="utf-8")
    target = FakeTarget(tmp_path / "device")

    with pytest.raises(HashMismatchError):
        run(target, job_dir, tmp_path)

    assert target.calls == []


def test_an_earlier_runs_results_are_replaced_not_merged(job_dir: Path, tmp_path: Path) -> None:
    first = run(FakeTarget(tmp_path / "device"), job_dir, tmp_path)
    (first.results_path / "stale.txt").write_text("from an earlier run", encoding="utf-8")

    result = run(FakeTarget(tmp_path / "device"), job_dir, tmp_path)

    assert result.results_path == first.results_path
    assert not (result.results_path / "stale.txt").exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["tictactoe-0001"]  # no staging left behind


def test_a_folder_the_runner_did_not_write_is_refused_before_anything_runs(job_dir: Path, tmp_path: Path) -> None:
    mine = tmp_path / "out" / "tictactoe-0001"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("the user's", encoding="utf-8")
    target = FakeTarget(tmp_path / "device")

    with pytest.raises(OutputFolderError, match="did not write") as refused:
        run(target, job_dir, tmp_path)

    assert "--force" in (refused.value.fix or "")
    assert target.calls == []
    assert (mine / "notes.txt").read_text(encoding="utf-8") == "the user's"


def test_results_pulled_into_the_folder_holding_the_job_are_refused(job_dir: Path, tmp_path: Path) -> None:
    before = tree_digest(job_dir)
    with pytest.raises(OutputFolderError, match="input"):
        run_job(FakeTarget(tmp_path / "device"), job_dir, job_dir.parent, deadlines=FAST, force=True)
    assert tree_digest(job_dir) == before


def test_a_failed_rerun_keeps_the_verified_results_of_the_earlier_run(job_dir: Path, tmp_path: Path) -> None:
    first = run(FakeTarget(tmp_path / "device"), job_dir, tmp_path)
    before = tree_digest(first.results_path)

    with pytest.raises(RunFailed):
        run(FakeTarget(tmp_path / "device", outcome=AppOutcome.TAMPERED), job_dir, tmp_path)

    assert tree_digest(first.results_path) == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["tictactoe-0001"]


def test_the_reference_app_trains_the_pushed_job_for_a_dry_run(job_dir: Path, tmp_path: Path) -> None:
    result = run(FakeTarget(tmp_path / "device", app=reference_app), job_dir, tmp_path)

    assert result.results.producer.name == "mlupdate-reference"
    assert result.results.tasks[0].epochs_completed > 0


def test_push_clears_a_stale_partial_folder_like_every_real_target(job_dir: Path, tmp_path: Path) -> None:
    target = FakeTarget(tmp_path / "device")
    stale = target.root / "Documents" / "outbox" / ".tictactoe-0001.partial"
    stale.mkdir(parents=True)
    (stale / "leftover.npy").write_bytes(b"half")

    target.push_job(job_dir, "tictactoe-0001")

    assert not stale.exists()
    assert (target.root / "Documents" / "inbox" / "tictactoe-0001" / "job.json").is_file()
