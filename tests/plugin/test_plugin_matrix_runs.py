"""The pytest plugin driven for real through pytester: options, skipped/xfail cells, loud failures, markers."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

DEVICES = """
devices:
  - name: sim-iphone16
    kind: simulator
    udid: 11111111-AAAA-BBBB-CCCC-000000000001
    features: [simulator]
  - name: dev-iphone15pro
    kind: device
    udid: 00008130-001A2B3C4D5E001E
    features: [ane]
"""

# Discovery answered by a conftest hook: `CANDIDATES` is filled per test.
DISCOVERY_CONFTEST = """
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class Candidate:
    name: str
    kind: str
    udid: str
    usable: bool
    reason: str
    host: str | None = None


CANDIDATES = {candidates}


def pytest_mlh_discover_targets(config):
    return [Candidate(*c) for c in CANDIDATES]


{extra}
"""

# Stands in for a real target: the test receives the cell status the plugin resolved.
ECHO_TARGET = """
@pytest.fixture(scope="session")
def target(request):
    return request.param
"""

TESTS = """
def test_trains_on_cell(target):
    assert target.available

def test_host_only():
    assert 1 + 1 == 2
"""


def setup(pytester: pytest.Pytester, candidates: list[tuple[object, ...]], *, echo: bool = False) -> Path:
    pytester.makeconftest(DISCOVERY_CONFTEST.format(candidates=repr(candidates), extra=ECHO_TARGET if echo else ""))
    pytester.makepyfile(test_cells=TESTS)
    return pytester.makefile(".yaml", devices=DEVICES)


def test_help_lists_every_plugin_option(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["mlharness device matrix:"])
    for option in ("--mlh-devices", "--mlh-select", "--mlh-report-dir", "--mlh-ensemble", "--mlh-min-cells"):
        result.stdout.fnmatch_lines([f"*{option}=*"])


def test_without_devices_file_device_tests_skip_naming_the_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_cells=TESTS)
    result = pytester.runpytest("-v", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*test_trains_on_cell[[]no-devices[]] SKIPPED*"])
    result.stdout.fnmatch_lines(["SKIPPED *no device matrix: pass --mlh-devices FILE*"])


def test_absent_devices_are_skipped_with_reasons_and_the_rest_pass(pytester: pytest.Pytester) -> None:
    devices = setup(pytester, candidates=[])
    result = pytester.runpytest("-v", "-rs", "--mlh-devices", str(devices))
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(
        [
            "*cell sim-iphone16 unavailable: no simulator target found on this host*11111111-AAAA*",
            "*cell dev-iphone15pro unavailable: no device target found on this host*00008130-001A*",
        ]
    )


def test_unusable_device_is_skipped_with_discoverys_reason(pytester: pytest.Pytester) -> None:
    candidates = [("iPhone", "device", "00008130-001A2B3C4D5E001E", False, "Developer Mode is off")]
    devices = setup(pytester, candidates)
    result = pytester.runpytest("-v", "-rs", "--mlh-devices", str(devices), "--mlh-select", "kind=device")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*dev-iphone15pro unavailable*not usable: Developer Mode is off*"])


def test_available_cell_runs_and_absent_cell_skips_in_the_same_run(pytester: pytest.Pytester) -> None:
    candidates = [("iPhone 16", "simulator", "11111111-aaaa-bbbb-cccc-000000000001", True, "")]
    devices = setup(pytester, candidates, echo=True)
    result = pytester.runpytest("-v", "-rs", "--mlh-devices", str(devices))
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(["*test_trains_on_cell[[]sim-iphone16[]] PASSED*"])
    result.stdout.fnmatch_lines(["*test_trains_on_cell[[]dev-iphone15pro[]] SKIPPED*"])


def test_known_bad_cell_is_an_xfail_with_its_reason(pytester: pytest.Pytester) -> None:
    candidates = [("iPhone 16", "simulator", "11111111-AAAA-BBBB-CCCC-000000000001", True, "")]
    pytester.makeconftest(DISCOVERY_CONFTEST.format(candidates=repr(candidates), extra=ECHO_TARGET))
    pytester.makepyfile(test_cells="def test_fails_there(target):\n    assert False, 'crashes'\n")
    devices = pytester.makefile(
        ".yaml",
        devices=DEVICES.replace("features: [simulator]", "features: [simulator]\n    xfail: FB123 update crashes"),
    )
    result = pytester.runpytest("-rx", "--mlh-devices", str(devices), "--mlh-select", "sim-iphone16")
    result.assert_outcomes(xfailed=1)
    result.stdout.fnmatch_lines(["*XFAIL*sim-iphone16*known bad: FB123 update crashes*"])


def test_matrix_with_cells_but_no_collected_device_test_fails_loudly(pytester: pytest.Pytester) -> None:
    devices = setup(pytester, candidates=[])
    result = pytester.runpytest("--mlh-devices", str(devices), "-k", "host_only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*declares 2 device cell(s)*no collected test uses one*"])


def test_selection_matching_no_cell_fails_loudly(pytester: pytest.Pytester) -> None:
    devices = setup(pytester, candidates=[])
    result = pytester.runpytest("--mlh-devices", str(devices), "--mlh-select", "kind=devicectl")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*declares 2 device cell(s) (0 selected by --mlh-select 'kind=devicectl')*"])


def test_min_cells_fails_when_every_cell_is_skipped(pytester: pytest.Pytester) -> None:
    devices = setup(pytester, candidates=[])
    result = pytester.runpytest("--mlh-devices", str(devices), "--mlh-min-cells", "1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--mlh-min-cells 1: only 0 runnable device cell(s)*sim-iphone16: no simulator*"])


@pytest.mark.parametrize("option", [["--mlh-min-cells", "1"], ["--mlh-select", "kind=simulator"]])
def test_matrix_options_without_a_devices_file_are_a_usage_error(pytester: pytest.Pytester, option: list[str]) -> None:
    pytester.makepyfile(test_cells=TESTS)
    result = pytester.runpytest(*option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*need a device matrix: pass --mlh-devices FILE*"])


@pytest.mark.parametrize("runs", ["0", "2"])
def test_an_ensemble_too_small_to_measure_a_spread_is_a_usage_error(pytester: pytest.Pytester, runs: str) -> None:
    pytester.makepyfile(test_cells=TESTS)
    result = pytester.runpytest("--mlh-ensemble", runs)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"*--mlh-ensemble must be at least 3 (an ensemble's spread needs 3 runs), got {runs}*"]
    )


def test_min_cells_is_met_by_one_available_cell(pytester: pytest.Pytester) -> None:
    candidates = [("iPhone 16", "simulator", "11111111-AAAA-BBBB-CCCC-000000000001", True, "")]
    devices = setup(pytester, candidates, echo=True)
    result = pytester.runpytest("--mlh-devices", str(devices), "--mlh-min-cells", "1")
    result.assert_outcomes(passed=2, skipped=1)


def test_device_marker_is_derived_from_the_fixture_closure(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        DISCOVERY_CONFTEST.format(candidates="[]", extra="@pytest.fixture\ndef trained(target):\n    return 1\n")
    )
    pytester.makepyfile(
        test_cells="def test_indirect(trained):\n    pass\n\ndef test_host_only():\n    pass\n",
    )
    result = pytester.runpytest("-m", "not device", "-v")
    result.assert_outcomes(passed=1, deselected=1)
    result.stdout.fnmatch_lines(["*test_host_only PASSED*"])


def test_each_cell_is_its_own_xdist_group(pytester: pytest.Pytester) -> None:
    devices = setup(pytester, candidates=[])
    items, _ = pytester.inline_genitems("--mlh-devices", str(devices))
    groups = {
        item.name: marker.kwargs["name"]
        for item in items
        if (marker := item.get_closest_marker("xdist_group")) is not None
    }
    assert groups == {
        "test_trains_on_cell[sim-iphone16]": "sim-iphone16",
        "test_trains_on_cell[dev-iphone15pro]": "dev-iphone15pro",
    }


def test_required_features_skip_cells_that_lack_them(pytester: pytest.Pytester) -> None:
    candidates = [
        ("iPhone 16", "simulator", "11111111-AAAA-BBBB-CCCC-000000000001", True, ""),
        ("iPhone", "device", "00008130-001A2B3C4D5E001E", True, ""),
    ]
    pytester.makeconftest(DISCOVERY_CONFTEST.format(candidates=repr(candidates), extra=ECHO_TARGET))
    pytester.makepyfile(
        test_cells="import pytest\n\n@pytest.mark.mlh_requires('ane')\ndef test_ane(target):\n    pass\n"
    )
    devices = pytester.makefile(".yaml", devices=DEVICES)
    result = pytester.runpytest("-v", "-rs", "--mlh-devices", str(devices))
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*sim-iphone16 lacks feature(s) [[]'ane'[]]*"])


def test_malformed_requires_marker_is_a_usage_error_quoting_the_signature(pytester: pytest.Pytester) -> None:
    devices = setup(pytester, candidates=[])
    pytester.makepyfile(test_bad="import pytest\n\n@pytest.mark.mlh_requires(3)\ndef test_x(target):\n    pass\n")
    result = pytester.runpytest("--mlh-devices", str(devices))
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*@pytest.mark.mlh_requires('feature', ...)*args=(3,)*"])


def test_bad_devices_file_is_a_usage_error_naming_the_field(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_cells=TESTS)
    devices = pytester.makefile(".yaml", devices="devices:\n  - name: a\n    kind: emulator\n    udid: x\n")
    result = pytester.runpytest("--mlh-devices", str(devices))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*devices.yaml: devices[[]0[]].kind: kind 'emulator' is not one of*"])


def test_missing_devices_file_is_a_usage_error_with_the_fix(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_cells=TESTS)
    result = pytester.runpytest("--mlh-devices", "nowhere.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*nowhere.yaml: cannot read the devices file*", "*fix: pass an existing file*"])


def test_unknown_cell_in_selection_is_a_usage_error_listing_the_names(pytester: pytest.Pytester) -> None:
    devices = setup(pytester, candidates=[])
    result = pytester.runpytest("--mlh-devices", str(devices), "--mlh-select", "sim-iphone99")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*no cell named 'sim-iphone99'*", "*pick from [[]'sim-iphone16', 'dev-iphone15pro'[]]*"]
    )


def test_junit_has_cell_properties_per_testcase_and_the_matrix_per_suite(pytester: pytest.Pytester) -> None:
    candidates = [("iPhone 16", "simulator", "11111111-AAAA-BBBB-CCCC-000000000001", True, "")]
    devices = setup(pytester, candidates, echo=True)
    junit = pytester.path / "junit.xml"
    # Per-testcase properties exist only in the xunit1 flavour of JUnit (the CI workflows pass the same option).
    result = pytester.runpytest("--mlh-devices", str(devices), f"--junitxml={junit}", "-o", "junit_family=xunit1")
    result.assert_outcomes(passed=2, skipped=1)
    root = ET.parse(junit).getroot()
    suite_properties = {p.get("name"): p.get("value") for p in root.iter("testsuite") for p in p.iter("property")}
    assert suite_properties["mlh_cells"] == "sim-iphone16,dev-iphone15pro"
    case = next(c for c in root.iter("testcase") if c.get("name") == "test_trains_on_cell[sim-iphone16]")
    properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert properties["mlh_cell"] == "sim-iphone16"
    assert properties["mlh_kind"] == "simulator"
    assert properties["mlh_udid"] == "11111111-AAAA-BBBB-CCCC-000000000001"


def test_report_dir_gets_a_summary_of_every_cell(pytester: pytest.Pytester) -> None:
    devices = setup(pytester, candidates=[])
    report = pytester.path / "reports"
    pytester.runpytest("--mlh-devices", str(devices), "--mlh-report-dir", str(report))
    summary = json.loads((report / "cells.json").read_text())
    assert [(c["name"], c["available"]) for c in summary["cells"]] == [
        ("sim-iphone16", False),
        ("dev-iphone15pro", False),
    ]
    assert "no device target found" in summary["cells"][1]["reason"]


def test_udid_from_an_unset_variable_skips_the_cell_naming_the_variable(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLH_TEST_SIM_UDID", raising=False)
    pytester.makeconftest(DISCOVERY_CONFTEST.format(candidates="[]", extra=""))
    pytester.makepyfile(test_cells=TESTS)
    devices = pytester.makefile(
        ".yaml", devices="devices:\n  - name: sim-ci\n    kind: simulator\n    udid: ${MLH_TEST_SIM_UDID}\n"
    )
    result = pytester.runpytest("-v", "-rs", "--mlh-devices", str(devices))
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*sim-ci unavailable: udid comes from ${MLH_TEST_SIM_UDID}, which is not set*"])


def test_report_header_names_the_matrix_and_what_is_available(pytester: pytest.Pytester) -> None:
    candidates = [("iPhone 16", "simulator", "11111111-AAAA-BBBB-CCCC-000000000001", True, "")]
    devices = setup(pytester, candidates, echo=True)
    result = pytester.runpytest("--mlh-devices", str(devices))
    result.stdout.fnmatch_lines(["mlharness: *devices.yaml: 2 cell(s), 2 selected, available here: sim-iphone16"])


def test_discovery_that_cannot_run_skips_every_cell_with_its_reason(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        textwrap.dedent(
            """
            from mlharness.errors import TargetUnavailable

            def pytest_mlh_discover_targets(config):
                raise TargetUnavailable("xcrun not found", where="PATH", fix="install Xcode")
            """
        )
    )
    pytester.makepyfile(test_cells=TESTS)
    devices = pytester.makefile(".yaml", devices=DEVICES)
    result = pytester.runpytest("-v", "-rs", "--mlh-devices", str(devices))
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(["*sim-iphone16 unavailable: target discovery failed: xcrun not found*"])


def test_a_remote_cell_runs_on_what_its_host_serves_and_reports_where(pytester: pytest.Pytester) -> None:
    served = [("R", "device", "0000-R", True, "served", "lab-mac.local:49151")]
    pytester.makeconftest(DISCOVERY_CONFTEST.format(candidates=repr(served), extra=ECHO_TARGET))
    pytester.makepyfile(test_cells=TESTS)
    devices = pytester.makefile(
        ".yaml",
        devices=(
            "devices:\n"
            "  - {name: lab-phone, kind: device, udid: 0000-R, host: lab-mac.local}\n"
            "  - {name: desk-phone, kind: device, udid: 0000-R}\n"
        ),
    )
    report = pytester.path / "report"

    result = pytester.runpytest("-v", "-rs", "--mlh-devices", str(devices), "--mlh-report-dir", str(report))

    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(["*test_trains_on_cell[[]lab-phone[]] PASSED*"])
    result.stdout.fnmatch_lines(["*desk-phone unavailable: no device target found on this host*"])
    cells = json.loads((report / "cells.json").read_text(encoding="utf-8"))["cells"]
    assert [(c["name"], c["where"], c["available"]) for c in cells] == [
        ("lab-phone", "remote lab-mac.local:49151", True),
        ("desk-phone", "desk", False),
    ]
