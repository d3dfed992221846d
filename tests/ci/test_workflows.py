"""The CI workflows parse, and every make target, file and plugin option they rely on exists."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlharness.pytest_plugin.hooks import pytest_addoption

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
# Repository paths a workflow or the Makefile may name; anything under out/ is produced by the run itself.
REPO_PATH = re.compile(r"(?<![\w/.$-])((?:\.ci|tests|docs|ios_app|harness|python|benchmarks)/[\w./-]*[\w])")
MAKE_CALL = re.compile(r"(?:^|[;&|]\s*|\n\s*)make((?:\s+[A-Za-z0-9_-]+(?![=\w]))+)")


def load(path: Path) -> dict[Any, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), f"{path.name} is not a YAML mapping"
    return document


def steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def run_scripts(workflow: dict[Any, Any]) -> list[str]:
    return [step["run"] for step in steps(workflow) if "run" in step]


def makefile_targets() -> set[str]:
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    return {match.group(1) for match in re.finditer(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, re.MULTILINE)}


def make_calls(script: str) -> list[str]:
    return [target for match in MAKE_CALL.finditer(script) for target in match.group(1).split()]


def test_there_is_a_linux_and_a_simulator_workflow() -> None:
    assert {path.name for path in WORKFLOWS} >= {"linux.yml", "simulator.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_is_well_formed(path: Path) -> None:
    workflow = load(path)
    # PyYAML reads the bare key `on` as the boolean True (YAML 1.1); GitHub reads it as "on".
    assert workflow.get("on", workflow.get(True)), f"{path.name}: no triggers"
    for name, job in workflow["jobs"].items():
        assert "runs-on" in job, f"{path.name}: job {name} has no runs-on"
        assert int(job["timeout-minutes"]) <= 90, f"{path.name}: job {name} needs a timeout"
        for step in job["steps"]:
            assert "name" in step, f"{path.name}: unnamed step {step}"
            assert ("run" in step) != ("uses" in step), f"{path.name}: {step['name']} needs exactly one of run/uses"
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", step["uses"]), f"{step['uses']} is not pinned to a major"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_calls_only_make_targets_that_exist(path: Path) -> None:
    called = {target for script in run_scripts(load(path)) for target in make_calls(script)}
    assert called, f"{path.name} calls no make target: CI should run what developers run"
    assert called <= makefile_targets(), f"{path.name} calls unknown make targets {called - makefile_targets()}"


@pytest.mark.parametrize("path", [*WORKFLOWS, REPO / "Makefile"], ids=lambda p: p.name)
def test_repository_paths_named_in_ci_exist(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".yml":
        text = "\n".join(run_scripts(load(path)))
    named = set(REPO_PATH.findall(text))
    # The Xcode project and its build products appear only once the app is generated / built on a Mac.
    missing = {p for p in named if not (REPO / p).exists() and not p.startswith("ios_app/")}
    assert not missing, f"{path.name} names paths that do not exist: {sorted(missing)}"


def test_uploads_and_cleanup_run_even_when_a_step_failed() -> None:
    for path in WORKFLOWS:
        for step in steps(load(path)):
            uploads = step.get("uses", "").startswith("actions/upload-artifact@")
            cleans = step["name"].lower().startswith("clean up")
            if uploads or cleans:
                assert step.get("if") == "always()", f"{path.name}: {step['name']} must run `if: always()`"


def test_simulator_workflow_boots_under_a_deadline_and_deletes_what_it_created() -> None:
    workflow = load(REPO / ".github" / "workflows" / "simulator.yml")
    script = "\n".join(run_scripts(workflow))
    assert "xcode-select -s" in script
    assert "xcrun simctl list runtimes" in script
    assert re.search(r'udid="\$\(xcrun simctl create ', script)
    assert re.search(r"timeout \d+ xcrun simctl bootstatus \"\$udid\" -b", script)
    assert "MLH_SIM_UDID=$udid" in script, "the devices file reads the Simulator's udid from MLH_SIM_UDID"
    assert 'kill "$(cat "$RUNNER_TEMP/log-stream.pid")"' in script
    assert 'xcrun simctl delete "$MLH_SIM_UDID"' in script
    assert {"app", "sim-e2e"} <= set(make_calls(script))


def test_sim_e2e_target_uses_the_example_matrix_and_real_plugin_options() -> None:
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    recipe = text.split("\nsim-e2e:", 1)[1].split("\n\n", 1)[0]
    used = set(re.findall(r"--mlh-[a-z-]+", recipe))
    registered: set[str] = set()

    class Group:
        def addoption(self, *names: str, **_: object) -> None:
            registered.update(names)

    class Parser:
        def getgroup(self, *_: object) -> Group:
            return Group()

    pytest_addoption(Parser())  # type: ignore[arg-type]
    assert used and used <= registered, f"unknown plugin options in make sim-e2e: {used - registered}"
    assert "tests/device/devices.yaml" in recipe
    devices = yaml.safe_load((REPO / "tests" / "device" / "devices.yaml").read_text(encoding="utf-8"))
    assert any(cell["kind"] == "simulator" and cell["udid"] == "${MLH_SIM_UDID}" for cell in devices["devices"])


def test_make_call_parser_reads_targets_not_variables() -> None:
    assert make_calls("make setup PYTHON=python3\nmake lint && make test-python") == ["setup", "lint", "test-python"]
