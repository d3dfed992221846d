"""Farm cells of the device matrix: parsed and refused like any cell, skipped without what they need, and run
end to end through the real package and Device Farm code against the fake xcodebuild and botocore's Stubber.

The stubbed farm's "device" trains the job it finds inside the uploaded test package with the reference
trainer (a dry run: parity must pass) and returns it as Device Farm's customer artefacts, in the layout the
test spec exports; a tampered results bundle from the farm must fail the cell, and a device that trains
differently (CCE summed instead of averaged) must fail parity on the host.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.stub import ANY, Stubber

from mlharness.errors import ConfigError
from mlharness.farms import prerequisites
from mlharness.farms.devicefarm import DeviceFarm
from mlharness.matrix import FarmPool, parse_matrix
from mlharness.xctest import package

from .tiny_case import TINY_CASE_MODULE

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "xctest"))
from fake_xcodebuild import make_executable

ACCOUNT = "arn:aws:devicefarm:us-west-2:123456789012"
PROJECT = f"{ACCOUNT}:project:5e01a8c7-c861-4c0a-b1d5-0123456789ab"
POOL = f"{ACCOUNT}:devicepool:5e01a8c7-c861-4c0a-b1d5-0123456789ab/7f3b2c1d-aaaa-bbbb-cccc-0123456789ab"
RUN = f"{ACCOUNT}:run:5e01a8c7-c861-4c0a-b1d5-0123456789ab/0d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6"
JOB = RUN.replace(":run:", ":job:") + "/00000"
DEVICE = "Apple iPhone 15 Pro"
ARTEFACTS_URL = "https://prod-us-west-2-results.s3-us-west-2.amazonaws.com/customer.zip?X-Amz-Signature=0"
FARM_CELL = f"""
devices:
  - name: farm-top-ios
    farm: aws-device-farm
    project_arn: {PROJECT}
    device_pool_arn: {POOL}
    pool: top-ios
    deadline: 600
"""

TEST = (
    TINY_CASE_MODULE
    + """

def test_tiny_on_the_pool(parity_case):
    parity_case(TINY)
"""
)


def matrix(text: str) -> Any:
    import yaml

    return parse_matrix(yaml.safe_load(text), Path("devices.yaml"), {})


# -- parsing ----------------------------------------------------------------------------------------------------


def test_a_farm_cell_names_its_farm_and_pool_and_runs_where_it_says() -> None:
    (cell,) = matrix(FARM_CELL).cells
    assert cell.kind == "device" and cell.udid is None and cell.host is None
    assert cell.farm == FarmPool("aws-device-farm", PROJECT, POOL, "top-ios", "us-west-2", 600.0)
    assert cell.where == "farm aws-device-farm · pool top-ios"


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("    udid: 00008130-001A2B3C4D5E001E", "udid"),
        ("    host: lab-mac.local", "host"),
        ("    kind: simulator", "kind"),
        ("    region: eu-west-1", "region"),
        ("    deadline: 5", "deadline"),
        ("    runtime: com.apple.CoreSimulator.SimRuntime.iOS-18-5", "runtime"),
    ],
)
def test_a_farm_cell_with_a_field_that_does_not_fit_is_refused_naming_it(line: str, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        matrix(FARM_CELL + line + "\n")
    assert caught.value.where == f"devices.yaml: devices[0].{field}"
    assert caught.value.fix


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("farm: aws-device-farm", "farm: browserstack", "farm"),
        (f"project_arn: {PROJECT}", f"project_arn: {POOL}", "project_arn"),
        (f"device_pool_arn: {POOL}", "device_pool_arn: top-ios", "device_pool_arn"),
        ("    farm: aws-device-farm\n", "    kind: device\n    udid: X\n", "deadline"),
    ],
)
def test_a_farm_cell_with_a_wrong_value_is_refused_naming_the_field(old: str, new: str, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        matrix(FARM_CELL.replace(old, new))
    assert caught.value.where == f"devices.yaml: devices[0].{field}"


def test_the_plugin_refuses_a_bad_farm_cell_naming_the_field(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_tiny=TEST)
    devices = pytester.makefile(".yaml", devices=FARM_CELL.replace(POOL, "my-pool"))
    result = pytester.runpytest("--mlh-devices", str(devices))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*devices?0?.device_pool_arn*not a Device Farm devicepool ARN*"])


# -- prerequisites ------------------------------------------------------------------------------------------------


def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_WEB_IDENTITY_TOKEN_FILE", raising=False)


def credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    no_credentials(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret")


def mac_with_fake_xcodebuild(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mode: str = "succeed") -> None:
    monkeypatch.setattr(package, "host_platform", lambda: "darwin")
    bin_dir = make_executable(tmp_path / "bin", mode).parent
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")


POOL_ONLY = FarmPool("aws-device-farm", PROJECT, POOL, "top-ios", "us-west-2")


def test_each_missing_prerequisite_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    no_credentials(monkeypatch, tmp_path)
    monkeypatch.setattr(package, "host_platform", lambda: "linux")
    missing = prerequisites.missing_prerequisites(POOL_ONLY)
    assert [reason.split(" (")[0] for reason in missing] == [
        "no xcodebuild on this host",
        "no AWS credentials in the standard chain",
    ]
    monkeypatch.setitem(sys.modules, "boto3", None)  # import boto3 now raises ImportError
    assert prerequisites.missing_prerequisites(POOL_ONLY)[0].startswith("boto3 is not installed")


def test_a_host_with_everything_misses_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    credentials(monkeypatch, tmp_path)
    mac_with_fake_xcodebuild(monkeypatch, tmp_path)
    assert prerequisites.missing_prerequisites(POOL_ONLY) == []


def test_a_farm_cell_without_its_prerequisites_skips_with_the_reason(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    no_credentials(monkeypatch, tmp_path)
    monkeypatch.setattr(package, "host_platform", lambda: "linux")
    pytester.makepyfile(test_tiny=TEST)
    devices = pytester.makefile(".yaml", devices=FARM_CELL)
    reports = pytester.path / "reports"
    result = pytester.runpytest("--mlh-devices", str(devices), "--mlh-report-dir", str(reports), "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["mlharness:   farm-top-ios: farm aws-device-farm · pool top-ios"])
    result.stdout.fnmatch_lines(
        ["*cell farm-top-ios unavailable: farm aws-device-farm · pool top-ios needs what this host lacks: no "
         "xcodebuild on this host*; no AWS credentials in the standard chain*"]
    )  # fmt: skip
    (cell,) = json.loads((reports / "cells.json").read_text())["cells"]
    assert (cell["where"], cell["available"]) == ("farm aws-device-farm · pool top-ios", False)


# -- a stubbed farm run, end to end --------------------------------------------------------------------------------


class FarmDevice:
    """S3 behind Device Farm's pre-signed URLs, and the pool's one device: it trains the job carried in the
    uploaded test package with the reference trainer and serves the export the test spec would have zipped."""

    def __init__(self, tamper: bool = False, semantics: Any = None) -> None:
        self.tamper = tamper
        self.semantics = semantics  # a wrong trainer stands in for Core ML when set
        self.tests_zip: bytes | None = None
        self.sent: list[str] = []

    def put(self, url: str, source: Path, *, timeout: float) -> None:
        self.sent.append(source.name)
        if source.name == package.TESTS_ZIP:
            self.tests_zip = source.read_bytes()

    def get(self, url: str, dest: Path, *, timeout: float, max_bytes: int) -> None:
        assert url == ARTEFACTS_URL and self.tests_zip is not None
        dest.write_bytes(self._customer_artefacts(self.tests_zip))

    def _customer_artefacts(self, tests_zip: bytes) -> bytes:
        from mlupdate.reference.run import run_reference

        with tempfile.TemporaryDirectory() as scratch:
            root = Path(scratch)
            zipfile.ZipFile(io.BytesIO(tests_zip)).extractall(root / "package")
            (job,) = (root / "package").glob("*.app/PlugIns/*.xctest/Jobs/*")
            bundle = run_reference(job, root / "outbox", semantics=self.semantics)
            if self.tamper:  # one weight changed after the bundle was sealed
                weights = sorted((bundle / "parameters").glob("*.npy"))[0]
                data = bytearray(weights.read_bytes())
                data[-1] ^= 0x01
                weights.write_bytes(bytes(data))
            return export_zip(job.name, bundle)


def export_zip(job_id: str, bundle: Path) -> bytes:
    """$DEVICEFARM_LOG_DIR zipped by Device Farm: the xcresulttool export of one passed case with its attachment."""
    attachment = io.BytesIO()
    with zipfile.ZipFile(attachment, "w") as inner:
        for path in sorted(bundle.rglob("*")):
            if path.is_file():
                inner.write(path, path.relative_to(bundle).as_posix())
    identifier = f"MLHarnessJobTests/test_{job_id}"
    exported = "2F0C9D4E-7A51-4B8C-9E13-5D6A2B7C8F01.zip"
    tests = {"testNodes": [{"nodeType": "Test Case", "name": f"test_{job_id}()", "nodeIdentifier": identifier,
                            "result": "Passed", "durationInSeconds": 1.5}]}  # fmt: skip
    manifest = [{"testIdentifier": identifier, "attachments": [{
        "exportedFileName": exported, "isAssociatedWithFailure": False,
        "suggestedHumanReadableName": f"mlharness-results-{job_id}_0_{exported}"}]}]  # fmt: skip
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        root = "Host_Machine_Files/$DEVICEFARM_LOG_DIR/mlharness-export"
        archive.writestr(f"{root}/tests.json", json.dumps(tests))
        archive.writestr(f"{root}/attachments/manifest.json", json.dumps(manifest))
        archive.writestr(f"{root}/attachments/{exported}", attachment.getvalue())
    return out.getvalue()


def stub_run(stubber: Stubber) -> None:
    """Device Farm's side of one run on a one-device pool, every request checked against its API model."""
    for index, (name, kind) in enumerate(
        ((package.IPA_NAME, "IOS_APP"), (package.TESTS_ZIP, "XCTEST_UI_TEST_PACKAGE"),
         (package.TEST_SPEC, "XCTEST_UI_TEST_SPEC"))
    ):  # fmt: skip
        arn = f"{ACCOUNT}:upload:5e01a8c7-c861-4c0a-b1d5-0123456789ab/00000000-0000-0000-0000-00000000000{index}"
        upload = {"arn": arn, "name": name, "type": kind, "status": "INITIALIZED", "url": f"https://s3/{name}?sig"}
        stubber.add_response("create_upload", {"upload": upload}, {"projectArn": PROJECT, "name": name, "type": kind})
        stubber.add_response("get_upload", {"upload": {**upload, "status": "SUCCEEDED"}}, {"arn": arn})
    test = {"type": "XCTEST_UI", "testPackageArn": ANY, "testSpecArn": ANY}
    schedule = {"projectArn": PROJECT, "appArn": ANY, "devicePoolArn": POOL, "name": "mlharness farm-top-ios tiny",
                "test": test, "executionConfiguration": {"jobTimeoutMinutes": 60}}  # fmt: skip
    stubber.add_response("schedule_run", {"run": {"arn": RUN, "status": "SCHEDULING"}}, schedule)
    stubber.add_response("get_run", {"run": {"arn": RUN, "status": "RUNNING"}}, {"arn": RUN})
    stubber.add_response("get_run", {"run": {"arn": RUN, "status": "COMPLETED", "result": "PASSED"}}, {"arn": RUN})
    device = {"name": DEVICE, "os": "17.4", "platform": "IOS"}
    job = {"arn": JOB, "name": DEVICE, "status": "COMPLETED", "result": "PASSED", "device": device}
    stubber.add_response("list_jobs", {"jobs": [job]}, {"arn": RUN})
    artifact = {"arn": JOB + "/ca", "name": "Customer Artifacts", "type": "CUSTOMER_ARTIFACT", "url": ARTEFACTS_URL}
    stubber.add_response("list_artifacts", {"artifacts": [artifact]}, {"arn": JOB, "type": "FILE"})


class StubbedFarm:
    """The plugin's `pytest_mlh_device_farm` hook: a DeviceFarm over a Stubber-wrapped client and FarmDevice."""

    def __init__(self, device: FarmDevice) -> None:
        client = botocore.session.get_session().create_client(
            "devicefarm", region_name="us-west-2", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x"
        )
        self.stubber = Stubber(client)
        stub_run(self.stubber)
        self.stubber.activate()
        self.farm = DeviceFarm(client, http=device, sleep=lambda seconds: None, jitter=lambda: 0.0)
        self.cells: list[str] = []

    def pytest_mlh_device_farm(self, config: pytest.Config, cell: Any) -> DeviceFarm:
        self.cells.append(cell.name)
        return self.farm


@pytest.fixture
def farm_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Callable[[FarmDevice], tuple[pytest.RunResult, Path]]]:
    credentials(monkeypatch, tmp_path)
    mac_with_fake_xcodebuild(monkeypatch, tmp_path)
    project = pytester.path / "ios_app" / "MLHarnessCompanion.xcodeproj"
    project.mkdir(parents=True)
    (project / "project.pbxproj").write_text("// the fake xcodebuild does not read it\n", encoding="utf-8")
    pytester.makepyfile(test_tiny=TEST)
    devices = pytester.makefile(".yaml", devices=FARM_CELL)
    reports = pytester.path / "reports"
    stubbed: list[StubbedFarm] = []

    def run(device: FarmDevice) -> tuple[pytest.RunResult, Path]:
        stubbed.append(StubbedFarm(device))
        args = ("--mlh-devices", str(devices), "--mlh-report-dir", str(reports), "-p", "no:cacheprovider")
        result = pytester.runpytest(*args, plugins=[stubbed[-1]])
        return result, reports / "test_tiny.py_test_tiny_on_the_pool_farm-top-ios"

    yield run
    for farm in stubbed:
        assert farm.cells == ["farm-top-ios"]
        farm.stubber.assert_no_pending_responses()


@pytest.mark.slow
def test_a_stubbed_farm_cell_passes_end_to_end_and_reports_its_farm_and_pool(farm_run: Any) -> None:
    device = FarmDevice()
    result, case = farm_run(device)
    result.assert_outcomes(passed=1)
    assert device.sent == [package.IPA_NAME, package.TESTS_ZIP, package.TEST_SPEC]
    assert (case / "package" / "package.json").is_file()
    farm_report = json.loads((case / "farm" / "farm-report.json").read_text())
    (row,) = farm_report["rows"]
    assert (row["job"], row["device"], row["outcome"]) == ("tiny", DEVICE, "verified")
    assert "arn:" not in json.dumps(farm_report) and "X-Amz" not in json.dumps(farm_report)
    parity = case / "farm" / row["results"].rsplit("/", 1)[0] / "parity"
    assert json.loads((parity / "report.json").read_text())["passed"] is True

    report = subprocess.run(
        [sys.executable, "-m", "mlharness", "report", "--json", str(case / "farm"), str(parity)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    rows = {(row["device"], row["result"], row["where"]) for row in json.loads(report.stdout)}
    where = "farm aws-device-farm · pool top-ios"
    # The farm's row names the pool's device; the parity row names the device its results bundle records
    # (here the reference trainer that stood in for Core ML) and passes. Both say where they ran.
    assert rows == {(DEVICE, "not evaluated", where), ("mlupdate reference trainer", "pass", where)}


@pytest.mark.slow
def test_a_tampered_results_bundle_from_the_farm_fails_the_cell(farm_run: Any) -> None:
    result, case = farm_run(FarmDevice(tamper=True))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*FarmError*gave no verified result: Apple iPhone 15 Pro: HashMismatchError*"])
    (row,) = json.loads((case / "farm" / "farm-report.json").read_text())["rows"]
    assert row["outcome"] != "verified" and row["results"] is None
    assert not (case / "farm" / "parity").exists()


@pytest.mark.slow
def test_a_farm_device_that_trains_differently_fails_parity_on_the_host(farm_run: Any) -> None:
    from mlupdate.reference.semantics import Semantics

    # Its results bundle is sealed and verified: the farm leg is fine, the host's parity verdict must bite.
    result, case = farm_run(FarmDevice(semantics=Semantics(cce_reduction="sum")))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*parity case 'tiny': expected parity to pass: Apple iPhone 15 Pro: FAIL tiny*"])
    result.stdout.fnmatch_lines(["*likely cause: cce_reduction=sum*"])
    (row,) = json.loads((case / "farm" / "farm-report.json").read_text())["rows"]
    assert row["outcome"] == "verified"
    parity = case / "farm" / row["results"].rsplit("/", 1)[0] / "parity"
    assert json.loads((parity / "report.json").read_text())["passed"] is False
