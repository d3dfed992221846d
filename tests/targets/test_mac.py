"""The `mac` target: this Mac through companion-macos. Tested like the Simulator target: the facts about the Mac
come from recorded `sw_vers`/`sysctl` output through a scripted runner, and the job runs in a fake companion-macos
that is a real child process (tests/targets/fake_companion_macos.py). The real lane needs macOS and skips here."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from mlharness.errors import JobTimeout, RunFailed, TargetError, TargetUnavailable
from mlharness.process import Reply, ScriptedRunner
from mlharness.runner import Deadlines, run_job
from mlharness.targets import Host, discover, open_target
from mlharness.targets.base import Capability
from mlharness.targets.mac import BUILD_COMMAND, MAC_UDID, MacHost, MacTarget, find_executable

from .fake_companion_macos import make_executable

RECORDED = Path(__file__).resolve().parents[1] / "data" / "recorded" / "mac"
GOLDEN_JOB = Path(__file__).resolve().parents[1] / "data" / "contract" / "jobs" / "golden-classifier-image"
FAST = Deadlines(poll_interval=0.05, job=30.0, launch=20.0, poll=20.0)


def mac_runner(version_file: str = "sw_vers-productVersion.txt") -> ScriptedRunner:
    def reply(name: str) -> Reply:
        return Reply(stdout=(RECORDED / name).read_text(encoding="utf-8"))

    return ScriptedRunner(
        {
            ("sw_vers", "-productVersion"): reply(version_file),
            ("sw_vers", "-buildVersion"): reply("sw_vers-buildVersion.txt"),
            ("sysctl", "-n", "hw.model"): reply("sysctl-hw.model.txt"),
            ("sysctl", "-n", "machdep.cpu.brand_string"): reply("sysctl-machdep.cpu.brand_string.txt"),
        }
    )


class NoUsb:
    def list_udids(self) -> list[str]:
        return []

    def close(self) -> None:
        pass


def host(*, executable: Path | None, runner: ScriptedRunner | None = None, is_mac: bool = True) -> Host:
    return Host(runner or mac_runner(), NoUsb, is_mac=is_mac, has_xcrun=False, companion_macos=executable)  # type: ignore[arg-type]


def test_the_macs_facts_come_from_sw_vers_and_sysctl() -> None:
    facts = MacHost(mac_runner()).facts()
    assert (facts.os_version, facts.os_build, facts.model, facts.chip) == ("15.5", "24F74", "Mac14,9", "Apple M2 Pro")
    assert facts.supported
    assert not MacHost(mac_runner("sw_vers-productVersion-monterey.txt")).facts().supported


def test_output_that_is_not_one_line_is_refused_with_the_command() -> None:
    runner = ScriptedRunner({("sw_vers",): Reply(stdout="ProductName: macOS\nProductVersion: 15.5\n")})
    with pytest.raises(TargetError, match="expected one line") as caught:
        MacHost(runner).facts()
    assert "sw_vers -productVersion" in str(caught.value)


def test_discovery_on_a_mac_with_companion_macos_built(tmp_path: Path) -> None:
    executable = make_executable(tmp_path / "bin", "succeed")
    (candidate,) = [c for c in discover(host(executable=executable)).candidates if c.kind == "mac"]
    assert candidate.usable and candidate.udid == MAC_UDID
    assert candidate.name == "this Mac (Mac14,9)"
    assert candidate.reason == f"Apple M2 Pro, macOS 15.5, {executable}"
    assert isinstance(open_target(MAC_UDID, kind="mac", host=host(executable=executable)), MacTarget)


def test_discovery_says_how_to_build_companion_macos_when_it_is_missing() -> None:
    (candidate,) = discover(host(executable=None)).candidates
    assert not candidate.usable and BUILD_COMMAND in candidate.reason
    with pytest.raises(TargetUnavailable, match="companion-macos is not built"):
        open_target(MAC_UDID, host=host(executable=None))


def test_discovery_refuses_a_mac_older_than_macos_13(tmp_path: Path) -> None:
    runner = mac_runner("sw_vers-productVersion-monterey.txt")
    (candidate,) = discover(host(executable=make_executable(tmp_path, "succeed"), runner=runner)).candidates
    assert not candidate.usable and candidate.reason == "macOS 12.7.4 is older than 13.0"


def test_off_macos_there_is_no_mac_target_and_the_note_says_why() -> None:
    found = discover(host(executable=None, is_mac=False))
    assert [c for c in found.candidates if c.kind == "mac"] == []
    assert any(note.startswith("mac: needs macOS 13+") for note in found.notes)


def test_a_job_runs_through_the_fake_companion_macos_process(tmp_path: Path) -> None:
    executable = make_executable(tmp_path / "bin", "succeed")
    target = MacTarget(MacHost(mac_runner()))
    progress: list[str] = []
    result = run_job(
        target,
        GOLDEN_JOB,
        tmp_path / "out",
        app=executable,
        deadlines=FAST,
        progress=lambda p: progress.append(p.message),
    )
    assert result.results.status == "succeeded"
    assert result.results.producer.name == "companion-macos"
    assert result.target.kind == "mac" and result.target.chip == "Apple M2 Pro"
    assert "trainingBegin" in progress and "epochEnd" in progress  # read live from the partial event log
    assert target.supports(Capability.REAL_HARDWARE) and target.supports(Capability.PARTIAL_EVENTS)


def test_the_session_folder_is_private_and_removed_afterwards(tmp_path: Path) -> None:
    target = MacTarget(MacHost(mac_runner()))
    with target.session():
        root = target._container()
        assert root.is_dir() and root.name.startswith("mlharness-mac-")
    assert not root.exists()
    given = tmp_path / "kept"
    given.mkdir()
    with MacTarget(MacHost(mac_runner()), root=given).session():
        pass
    assert given.is_dir()  # a folder the session did not create is never removed


def test_a_refused_job_publishes_a_failed_bundle_naming_the_rule(tmp_path: Path) -> None:
    executable = make_executable(tmp_path / "bin", "refuse")
    result = run_job(MacTarget(MacHost(mac_runner())), GOLDEN_JOB, tmp_path / "out", app=executable, deadlines=FAST)
    assert result.results.status == "failed"
    assert result.results.error.message  # type: ignore[union-attr].startswith("refused: hashMismatch:")


@pytest.mark.parametrize(
    ("mode", "said"),
    [
        ("refuse-silently", "refused: hashMismatch"),
        ("no-coreml", "companion-macos needs Core ML"),
        ("crash", "exited with 134"),
    ],
)
def test_an_exit_without_done_fails_with_the_process_output(tmp_path: Path, mode: str, said: str) -> None:
    executable = make_executable(tmp_path / "bin", mode)
    with pytest.raises(RunFailed) as caught:
        run_job(MacTarget(MacHost(mac_runner())), GOLDEN_JOB, tmp_path / "out", app=executable, deadlines=FAST)
    cause = caught.value.__cause__
    assert isinstance(cause, TargetError) and said in str(cause)


def test_a_hung_companion_is_stopped_at_the_deadline(tmp_path: Path) -> None:
    executable = make_executable(tmp_path / "bin", "hang")
    target = MacTarget(MacHost(mac_runner()))
    pids: list[int] = []
    original = target.launch

    def launch(job_id: str, **kwargs: object) -> int:
        pid = original(job_id, **kwargs)  # type: ignore[arg-type]
        pids.append(pid)
        return pid

    target.launch = launch  # type: ignore[method-assign]
    deadlines = Deadlines(poll_interval=0.05, job=8.0, launch=20.0, poll=20.0)
    with pytest.raises(RunFailed) as caught:
        run_job(target, GOLDEN_JOB, tmp_path / "out", app=executable, deadlines=deadlines)
    assert isinstance(caught.value.__cause__, JobTimeout)
    assert "trainingBegin" in str(caught.value.diagnostics["last_events"])
    with pytest.raises(ProcessLookupError):
        os.kill(pids[0], 0)  # cleanup terminated the child


def test_installing_something_that_is_not_an_executable_says_how_to_build_it(tmp_path: Path) -> None:
    (tmp_path / "companion-macos").write_text("not executable")
    with pytest.raises(TargetError, match="swift build -c release --product companion-macos"):
        MacTarget(MacHost(mac_runner())).install(tmp_path / "companion-macos")


def test_the_executable_is_found_from_the_environment_path_or_the_swiftpm_build(tmp_path: Path) -> None:
    built = tmp_path / "ios_app" / ".build" / "release" / "companion-macos"
    built.parent.mkdir(parents=True)
    built.write_text("")
    assert find_executable(tmp_path, environ={"PATH": ""}) == built
    on_path = make_executable(tmp_path / "bin", "succeed")
    assert find_executable(tmp_path, environ={"PATH": str(on_path.parent)}) == on_path
    assert find_executable(tmp_path, environ={"MLHARNESS_COMPANION_MACOS": "/opt/x", "PATH": ""}) == Path("/opt/x")


@pytest.mark.skipif(
    sys.platform != "darwin",
    reason=f"the mac lane runs companion-macos with the real Core ML: needs macOS 13+ (this host is {sys.platform})",
)
def test_the_golden_job_trains_with_the_real_core_ml_on_this_mac(tmp_path: Path) -> None:
    from mlharness.targets import default_host

    real = default_host()
    if real.companion_macos is None:
        pytest.skip(f"companion-macos is not built: {BUILD_COMMAND}")
    target = open_target(MAC_UDID, kind="mac", host=real)
    result = run_job(target, GOLDEN_JOB, tmp_path / "out", app=real.companion_macos)
    assert result.results.producer.name == "companion-macos"
    assert result.results.status == "succeeded", result.results.error


def test_the_recorded_no_core_ml_message_is_what_the_linux_build_prints(tmp_path: Path) -> None:
    """The real companion-macos, built here without Core ML, exits 2 with the recorded message, and the mac
    target turns that into an error that says so (a real process, not the fake)."""
    import shutil
    import subprocess

    swift = shutil.which("swift")
    if swift is None or sys.platform == "darwin":
        pytest.skip("needs the Linux Swift toolchain (on a Mac companion-macos has Core ML)")
    package = Path(__file__).resolve().parents[2] / "ios_app"
    build = [swift, "build", "--package-path", str(package), "--product", "companion-macos"]
    subprocess.run(build, check=True, capture_output=True, timeout=1800)
    bin_path = subprocess.run([*build[:-2], "--show-bin-path"], check=True, capture_output=True, text=True).stdout
    executable = Path(bin_path.strip()) / "companion-macos"
    done = subprocess.run([str(executable), str(GOLDEN_JOB), "--out", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr == (RECORDED / "companion-macos-no-coreml.stderr").read_text(encoding="utf-8")
    with pytest.raises(RunFailed) as caught:
        run_job(MacTarget(MacHost(mac_runner())), GOLDEN_JOB, tmp_path / "out", app=executable, deadlines=FAST)
    assert "exited with 2" in str(caught.value.__cause__) and "needs Core ML" in str(caught.value.__cause__)
