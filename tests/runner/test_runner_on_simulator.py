"""The runner over the real simctl layer, with simctl replayed from recorded output and the app emulated."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from mlharness.errors import RunFailed
from mlharness.process import Completed, Reply, ScriptedRunner
from mlharness.runner import Deadlines, Progress, run_job
from mlharness.targets.fake import canned_app
from mlharness.targets.simulator import Simctl, SimulatorTarget

BOOTED = "5C1E7A2B-9D4F-4B8E-A1C3-2F6D8E0B4A17"
XS = ("xcrun", "simctl")
RECORDED = Path(__file__).resolve().parents[1] / "data" / "recorded" / "simctl"
FAST = Deadlines(job=10, poll_interval=0.01)


class SimulatedApp(ScriptedRunner):
    """simctl replayed from recordings; the "app" writes its partial events, then its results, as polls go by."""

    def __init__(self, container: Path, **overrides: Reply) -> None:
        rules: dict[tuple[str, ...], Reply] = {
            (*XS, "list"): Reply(stdout=(RECORDED / "list-devices.json").read_text()),
            (*XS, "install"): Reply(),
            (*XS, "get_app_container"): Reply(stdout=f"{container}\n"),
            (*XS, "launch"): Reply(stdout=(RECORDED / "launch.stdout").read_text()),
            (*XS, "spawn"): Reply(),
            (*XS, "terminate"): Reply(),
        }
        rules.update({(*XS, name): reply for name, reply in overrides.items()})
        super().__init__(rules, background=(RECORDED / "log-stream.txt").read_text())
        self.container = container
        self.liveness_checks = 0

    def run(self, argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None) -> Completed:
        if list(argv[2:3]) == ["spawn"]:
            self.liveness_checks += 1
            self._app_step()
        return super().run(argv, timeout=timeout, env=env)

    def _app_step(self) -> None:
        documents = self.container / "Documents"
        job_id = "tictactoe-0001"
        if self.liveness_checks == 1:
            partial = documents / "outbox" / f".{job_id}.partial"
            partial.mkdir(parents=True)
            begin = {"task": 0, "event": "trainingBegin", "epoch": None, "mini_batch": None, "loss": None, "t": 0.0}
            (partial / "events.jsonl").write_text(json.dumps(begin) + "\n")
        elif self.liveness_checks == 2:
            canned_app(documents / "inbox" / job_id, documents / "outbox", job_id)


def test_a_job_runs_end_to_end_over_simctl(job_dir: Path, tmp_path: Path) -> None:
    runner = SimulatedApp(tmp_path / "container")
    seen: list[Progress] = []

    result = run_job(
        SimulatorTarget(BOOTED, Simctl(runner)),
        job_dir,
        tmp_path / "out",
        app=tmp_path / "MLHarnessCompanion.app",
        deadlines=FAST,
        progress=seen.append,
    )

    assert result.target.kind == "simulator"
    assert result.results.status == "succeeded"
    assert [p.event.event for p in seen if p.event is not None] == ["trainingBegin", "completion"]
    commands = [argv[2] for argv, _ in runner.calls]
    assert commands.count("launch") == 1
    assert commands[-1] == "terminate"
    assert runner.started[0].stopped
    assert not (tmp_path / "container" / "Documents" / "inbox" / "tictactoe-0001").exists()


def test_a_failed_simctl_step_leaves_command_exit_code_stderr_and_log_in_the_diagnostics(
    job_dir: Path, tmp_path: Path
) -> None:
    shutdown = (RECORDED / "install-shutdown.stderr").read_text()
    runner = SimulatedApp(tmp_path / "container", launch=Reply(stderr=shutdown, returncode=149))

    with pytest.raises(RunFailed) as caught:
        run_job(SimulatorTarget(BOOTED, Simctl(runner)), job_dir, tmp_path / "out", deadlines=FAST)

    diagnostics = caught.value.diagnostics
    assert caught.value.state == "pushed"
    assert diagnostics["command"][:3] == ["xcrun", "simctl", "launch"]
    assert diagnostics["exit_code"] == 149
    assert "Unable to lookup in current state: Shutdown" in diagnostics["stderr"]
    assert f"xcrun simctl bootstatus {BOOTED} -b" in caught.value.message
    assert diagnostics["target"]["udid"] == BOOTED
