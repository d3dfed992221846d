"""`parity_case` end to end without a device: the runner drives the in-process FakeTarget, parity judges.

One cell's fake app trains with the reference trainer (a dry run: parity must pass), the other's app trains
nothing (parity must fail and the test must say why); a third cell is a remote device (its fake app trains
like the first). All go through the real plugin, runner and parity code, and the cross-device report of the
run names where each cell ran.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .tiny_case import TINY_CASE_MODULE

CONFTEST = """
from dataclasses import dataclass

import pytest

from mlharness.pytest_plugin import CellTarget
from mlharness.targets.fake import FakeTarget, canned_app
from mlupdate.reference.run import run_reference


def reference_app(job_dir, outbox, job_id):
    # Stands in for Core ML: the reference trainer writes the results bundle the app would.
    run_reference(job_dir, outbox)


@dataclass(frozen=True)
class Candidate:
    name: str
    kind: str
    udid: str
    usable: bool
    reason: str
    host: str | None = None


def pytest_mlh_discover_targets(config):
    return [
        Candidate("fake", "simulator", "FAKE-REF", True, ""),
        Candidate("fake", "simulator", "FAKE-NONE", True, ""),
        Candidate("FAKE-REMOTE", "device", "FAKE-REMOTE", True, "", host="lab-mac.local:49151"),
    ]


@pytest.fixture(scope="session")
def target(request, tmp_path_factory):
    status = request.param
    app = canned_app if status.udid == "FAKE-NONE" else reference_app
    fake = FakeTarget(tmp_path_factory.mktemp(status.cell.name), app=app, polls_to_finish=1)
    with fake.session() as opened:
        yield CellTarget(cell=status.cell, target=opened, info=opened.info(), app=None)
"""

DEVICES = """
devices:
  - name: trains-like-reference
    kind: simulator
    udid: FAKE-REF
  - name: trains-nothing
    kind: simulator
    udid: FAKE-NONE
  - name: lab-phone
    kind: device
    udid: FAKE-REMOTE
    host: lab-mac.local
"""

TEST = (
    TINY_CASE_MODULE
    + """

def test_tiny_trains_like_the_reference(parity_case):
    outcome = parity_case(TINY)
    assert outcome.reports.is_dir()
"""
)


@pytest.mark.slow
def test_parity_case_passes_on_a_reference_cell_and_fails_on_an_untrained_one(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_tiny=TEST)
    devices = pytester.makefile(".yaml", devices=DEVICES)
    reports = pytester.path / "reports"
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest(
        "--mlh-devices", str(devices), "--mlh-report-dir", str(reports),
        f"--junitxml={junit}", "-o", "junit_family=xunit1",
    )  # fmt: skip
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: parity case 'tiny': expected parity to pass: FAIL tiny*"])

    cases = {case.get("name"): case for case in ET.parse(junit).getroot().iter("testcase")}
    good = {
        p.get("name"): p.get("value")
        for p in cases["test_tiny_trains_like_the_reference[trains-like-reference]"].iter("property")
    }
    assert good["mlh_verdict"] == "pass"
    assert good["mlh_parity_level"] == "step"
    assert len(good["mlh_model_sha256"]) == 64

    folder = reports / "test_tiny.py_test_tiny_trains_like_the_reference_trains-like-reference"
    assert (folder / "job" / "tiny" / "job.json").is_file()
    assert (folder / "device" / "tiny" / "DONE").is_file()
    report = json.loads((folder / "parity" / "report.json").read_text())
    assert (report["passed"], report["dry_run"]) == (True, True)

    # One table for the whole matrix run: every cell's parity report and raw results, each naming where it ran.
    tests = sorted(reports.glob("test_tiny.py_*"))
    assert len(tests) == 3
    folders = [*(str(t / "parity") for t in tests), str(tests[0] / "device" / "tiny")]
    report_run = subprocess.run(
        [sys.executable, "-m", "mlharness", "report", "--json", *folders],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert report_run.returncode == 1, report_run.stderr
    rows = json.loads(report_run.stdout)
    where = {(Path(row["source"]).parent.name.rsplit("_", 1)[-1], row["result"]): row["where"] for row in rows}
    assert where == {
        ("lab-phone", "pass"): "remote lab-mac.local:49151",
        ("trains-like-reference", "pass"): "desk",
        ("trains-nothing", "fail"): "desk",
        ("device", "not evaluated"): "remote lab-mac.local:49151",
    }
