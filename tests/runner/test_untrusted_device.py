"""The device is hostile and slow: pulls never follow links, every call into a target ends at its deadline, a step
given up on cannot write into the output, and what the device wrote is data (never markup, never trusted JSON)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlharness.cli import main
from mlharness.errors import ConfigError, RunFailed, TargetError
from mlharness.runner import Deadlines, run_job
from mlharness.targets import files
from mlharness.targets.base import outbox_path, partial_path
from mlharness.targets.fake import AppOutcome, FakeTarget, Fault, canned_app

FAST = Deadlines(install=5, push=5, launch=5, poll=5, pull=5, job=10, poll_interval=0.01)
QUICK = Deadlines(
    install=5, push=5, launch=5, poll=5, pull=5, job=10, poll_interval=0.01, session=0.5, info=0.5, cleanup=0.5,
    logs=0.5, close=0.5,
)  # fmt: skip


def finishes_within(seconds: float, call: Callable[[], Any]) -> Any:
    """`call()` in a thread; fail (instead of hanging the suite) if it has not returned after `seconds`."""
    outcome: list[Any] = []

    def body() -> None:
        try:
            outcome.append(("value", call()))
        except BaseException as exc:
            outcome.append(("error", exc))

    worker = threading.Thread(target=body, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still running after {seconds} s"
    kind, value = outcome[0]
    if kind == "error":
        raise value
    return value


def app_leaving(link_target: str) -> Callable[[Path, Path, str], None]:
    """A fake app that publishes a valid bundle with a symbolic link planted in it."""

    def app(job_dir: Path, outbox: Path, job_id: str) -> None:
        canned_app(job_dir, outbox, job_id)
        (outbox / job_id / "model").mkdir(exist_ok=True)
        (outbox / job_id / "model" / "secret").symlink_to(link_target)

    return app


@pytest.mark.parametrize("link_target", ["/etc/hostname", "/dev/zero"])
def test_a_link_in_the_apps_outbox_is_refused_not_followed(job_dir: Path, tmp_path: Path, link_target: str) -> None:
    target = FakeTarget(tmp_path / "device", app=app_leaving(link_target))
    with pytest.raises(RunFailed, match="symbolic link") as failed:
        finishes_within(20, lambda: run_job(target, job_dir, tmp_path / "out", deadlines=FAST))
    assert failed.value.state == "finished"  # refused while pulling
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_copy_tree_refuses_fifos_and_stops_once_its_step_is_given_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "outbox"
    source.mkdir()
    for index in range(40):
        (source / f"{index:02d}.bin").write_bytes(b"x")
    checks = iter(range(1000))
    monkeypatch.setattr(files, "cancelled", lambda: next(checks) >= 5)
    with pytest.raises(TargetError, match="deadline passed"):
        files.copy_tree(source, tmp_path / "copy")
    assert len(list((tmp_path / "copy").iterdir())) < 40
    monkeypatch.setattr(files, "cancelled", lambda: False)
    import os

    os.mkfifo(source / "pipe")
    with pytest.raises(TargetError, match="not a regular file"):
        finishes_within(10, lambda: files.copy_tree(source, tmp_path / "again"))


@pytest.mark.parametrize("step", ["session", "info", "logs"])
def test_every_call_into_the_target_ends_at_its_deadline(job_dir: Path, tmp_path: Path, step: str) -> None:
    faults = {step: Fault.HANG}
    outcome = AppOutcome.CRASHES if step == "logs" else AppOutcome.SUCCEEDS  # logs are collected on failure
    target = FakeTarget(tmp_path / "device", faults=faults, outcome=outcome)
    with pytest.raises(RunFailed) as failed:
        finishes_within(15, lambda: run_job(target, job_dir, tmp_path / "out", deadlines=QUICK))
    if step == "logs":
        assert "could not collect the device log" in failed.value.diagnostics["device_log"]
    else:
        assert "within 0.5 s" in failed.value.message


def test_a_cleanup_that_hangs_does_not_hold_a_verified_result(job_dir: Path, tmp_path: Path) -> None:
    target = FakeTarget(tmp_path / "device", faults={"cleanup": Fault.HANG})
    result = finishes_within(15, lambda: run_job(target, job_dir, tmp_path / "out", deadlines=QUICK))
    assert (result.results_path / "DONE").is_file()


class SlowPull(FakeTarget):
    """Pulls one file, then stalls past the pull deadline, then tries to copy the rest (from a copy of the outbox
    it kept: the device's own folders are cleaned up meanwhile)."""

    def pull_results(self, job_id: str, dest: Path) -> Path:
        kept = self.root.parent / "kept-outbox"
        files.copy_tree(self.root / outbox_path(job_id), kept)
        (dest / "early.txt").write_text("before the deadline")
        time.sleep(1.5)
        files.copy_tree(kept, dest / job_id)  # too late: the step was given up on
        return dest / job_id


def test_a_pull_that_timed_out_can_no_longer_write_into_the_output(job_dir: Path, tmp_path: Path) -> None:
    deadlines = Deadlines(install=5, push=5, launch=5, poll=5, pull=0.5, job=10, poll_interval=0.01)
    with pytest.raises(RunFailed, match="pull the results"):
        run_job(SlowPull(tmp_path / "device"), job_dir, tmp_path / "out", deadlines=deadlines)
    time.sleep(2.5)  # the abandoned pull wakes up and tries to copy
    assert list((tmp_path / "out").iterdir()) == []  # no results, no staging folder, no late file


def test_a_job_deadline_times_repeat_beyond_a_week_is_refused_before_anything_runs(
    job_dir: Path, tmp_path: Path
) -> None:
    manifest = json.loads((job_dir / "job.json").read_text())
    manifest["deadline_seconds"] = 1e300
    (job_dir / "job.json").write_text(json.dumps(manifest))
    target = FakeTarget(tmp_path / "device", outcome=AppOutcome.RUNS_FOREVER)
    with pytest.raises(ConfigError, match="deadline_seconds"):
        finishes_within(10, lambda: run_job(target, job_dir, tmp_path / "out", deadlines=Deadlines(poll_interval=0.01)))
    assert target.calls == []


class WrongEventLine(FakeTarget):
    def launch(self, job_id: str, *, arguments: Any, environment: Any) -> int:
        pid = super().launch(job_id, arguments=arguments, environment=environment)
        with (self.root / partial_path(job_id) / "events.jsonl").open("a", encoding="utf-8") as events:
            events.write("[1, 2]\n")  # valid JSON, not an event object
        return pid


def test_a_live_event_line_of_the_wrong_json_type_fails_the_run_with_diagnostics(job_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(RunFailed, match="line 2") as failed:
        run_job(WrongEventLine(tmp_path / "device", polls_to_finish=5), job_dir, tmp_path / "out", deadlines=FAST)
    assert [event["event"] for event in failed.value.diagnostics["last_events"]] == ["trainingBegin"]


class MarkupInLog(FakeTarget):
    def launch(self, job_id: str, *, arguments: Any, environment: Any) -> int:
        self.say("companion: [/] [bold]not markup[/bold]")  # `[/]` made Rich raise MarkupError
        return super().launch(job_id, arguments=arguments, environment=environment)


def test_device_text_is_printed_as_it_is_never_as_markup(
    monkeypatch: pytest.MonkeyPatch, job_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = MarkupInLog(tmp_path / "device", outcome=AppOutcome.CRASHES)
    monkeypatch.setattr("mlharness.targets.open_target", lambda *_args, **_kwargs: target)
    code = main(["run", str(job_dir), "--target", "fake", "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "[/] [bold]not markup[/bold]" in err
