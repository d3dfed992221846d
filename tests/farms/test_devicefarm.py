"""AWS Device Farm runs, offline: botocore's Stubber checks every request against Device Farm's real API model.

Each scenario prints nothing and asserts the report rows it produces: success, a run that times out (and is
stopped), a device that fails mid-run, a missing artefact, throttling retried with back-off, Ctrl-C.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.stub import ANY, Stubber

from mlharness.errors import FarmError
from mlharness.farms.devicefarm import (
    Backoff,
    DeviceFarm,
    FarmDeadlines,
    FarmRunSpec,
    run_on_device_farm,
    write_rows,
)

DATA = Path(__file__).resolve().parents[1] / "data"
ACCOUNT = "arn:aws:devicefarm:us-west-2:123456789012"
PROJECT = f"{ACCOUNT}:project:5e01a8c7-c861-4c0a-b1d5-0123456789ab"
POOL = f"{ACCOUNT}:devicepool:5e01a8c7-c861-4c0a-b1d5-0123456789ab/7f3b2c1d-aaaa-bbbb-cccc-0123456789ab"
RUN = f"{ACCOUNT}:run:5e01a8c7-c861-4c0a-b1d5-0123456789ab/0d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6"
SECRET = "X-Amz-Signature=0123456789abcdef"
JOBS = ("golden-classifier-image", "golden-knn-pipeline", "lunch-0003")
DEVICES = (("Apple iPhone 15 Pro", "17.4"), ("Apple iPad Air (5th Gen)", "18.1"))


class Clock:
    """Time that passes only when the code sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FakeHttp:
    """S3 behind the pre-signed URLs: PUTs are recorded, GETs serve prepared bytes."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.served: dict[str, bytes] = {}

    def put(self, url: str, source: Path, *, timeout: float) -> None:
        assert SECRET in url
        self.sent.append(source.name)

    def get(self, url: str, dest: Path, *, timeout: float, max_bytes: int) -> None:
        dest.write_bytes(self.served[url])


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber]]:
    session = botocore.session.get_session()
    client = session.create_client(
        "devicefarm", region_name="us-west-2", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="not-a-secret"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def spec(tmp_path: Path) -> FarmRunSpec:
    files = {name: tmp_path / name for name in ("MLHarnessCompanion.ipa", "MLHarnessJobTests.zip", "testspec.yml")}
    for path in files.values():
        path.write_bytes(b"artefact")
    return FarmRunSpec(
        project_arn=PROJECT,
        device_pool_arn=POOL,
        pool_name="top-ios",
        app=files["MLHarnessCompanion.ipa"],
        test_package=files["MLHarnessJobTests.zip"],
        test_spec=files["testspec.yml"],
        job_ids=JOBS,
    )


def export_zip() -> bytes:
    """Customer artefacts as Device Farm zips $DEVICEFARM_LOG_DIR: the export folder somewhere inside."""
    samples = DATA / "recorded" / "xcresulttool"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        root = "Host_Machine_Files/$DEVICEFARM_LOG_DIR/mlharness-export"
        archive.write(samples / "jobs-mixed.tests.json", f"{root}/tests.json")
        archive.write(samples / "jobs-mixed.manifest.json", f"{root}/attachments/manifest.json")
        for exported, golden in (
            ("2F0C9D4E-7A51-4B8C-9E13-5D6A2B7C8F01.zip", "succeeded"),
            ("91B7E2A0-3C64-4F0D-8A2E-6B1F9C0D4E75.zip", "reference-knn"),
        ):
            inner = io.BytesIO()
            with zipfile.ZipFile(inner, "w") as bundle:
                folder = DATA / "contract" / "results" / golden
                for path in sorted(folder.rglob("*")):
                    if path.is_file():
                        bundle.write(path, path.relative_to(folder).as_posix())
            archive.writestr(f"{root}/attachments/{exported}", inner.getvalue())
    return buffer.getvalue()


def url(name: str) -> str:
    return f"https://prod-us-west-2-uploads.s3-us-west-2.amazonaws.com/{name}?{SECRET}"


def stub_uploads(stubber: Stubber, *, throttled: int = 0) -> None:
    for index, (name, kind) in enumerate(
        (
            ("MLHarnessCompanion.ipa", "IOS_APP"),
            ("MLHarnessJobTests.zip", "XCTEST_UI_TEST_PACKAGE"),
            ("testspec.yml", "XCTEST_UI_TEST_SPEC"),
        )
    ):
        arn = f"{ACCOUNT}:upload:5e01a8c7-c861-4c0a-b1d5-0123456789ab/00000000-0000-0000-0000-00000000000{index}"
        params = {"projectArn": PROJECT, "name": name, "type": kind}
        for _ in range(throttled if index == 0 else 0):
            stubber.add_client_error(
                "create_upload", "ThrottlingException", "Rate exceeded", 400, expected_params=params
            )
        upload = {"arn": arn, "name": name, "type": kind, "status": "INITIALIZED", "url": url(name)}
        stubber.add_response("create_upload", {"upload": upload}, params)
        stubber.add_response("get_upload", {"upload": {**upload, "status": "PROCESSING"}}, {"arn": arn})
        stubber.add_response("get_upload", {"upload": {**upload, "status": "SUCCEEDED"}}, {"arn": arn})
    schedule = {
        "projectArn": PROJECT,
        "appArn": ANY,
        "devicePoolArn": POOL,
        "name": "mlharness",
        "test": {"type": "XCTEST_UI", "testPackageArn": ANY, "testSpecArn": ANY},
        "executionConfiguration": {"jobTimeoutMinutes": 60},
    }
    stubber.add_response("schedule_run", {"run": {"arn": RUN, "name": "mlharness", "status": "SCHEDULING"}}, schedule)


def stub_completed_run(stubber: Stubber, result: str, jobs: list[dict[str, Any]]) -> None:
    stubber.add_response("get_run", {"run": {"arn": RUN, "status": "RUNNING"}}, {"arn": RUN})
    stubber.add_response("get_run", {"run": {"arn": RUN, "status": "COMPLETED", "result": result}}, {"arn": RUN})
    stubber.add_response("list_jobs", {"jobs": jobs}, {"arn": RUN})


def device_job(index: int, result: str, message: str = "") -> dict[str, Any]:
    name, os = DEVICES[index]
    job = {
        "arn": f"{RUN.replace(':run:', ':job:')}/0000{index}",
        "name": name,
        "status": "COMPLETED",
        "result": result,
        "device": {"name": name, "os": os, "platform": "IOS"},
    }
    return job | ({"message": message} if message else {})


def stub_artifacts(stubber: Stubber, job: dict[str, Any], *, customer: bool) -> None:
    artifacts = [{"arn": job["arn"] + "/log", "name": "Device Log", "type": "DEVICE_LOG", "url": url("log")}]
    if customer:
        artifacts.append(
            {"arn": job["arn"] + "/ca", "name": "Customer Artifacts", "type": "CUSTOMER_ARTIFACT",
             "extension": "zip", "url": url(job["name"].replace(" ", "_"))}
        )  # fmt: skip
    stubber.add_response("list_artifacts", {"artifacts": artifacts}, {"arn": job["arn"], "type": "FILE"})


def farm(client: Any, http: FakeHttp, clock: Clock) -> DeviceFarm:
    return DeviceFarm(client, http=http, sleep=clock.sleep, clock=clock, jitter=lambda: 1.0)


def rows_by(report: Any) -> dict[tuple[str, str], Any]:
    return {(row.device, row.job_id): row for row in report.rows}


def test_a_run_on_two_devices_verifies_each_job_per_device(
    stubbed: tuple[Any, Stubber], spec: FarmRunSpec, tmp_path: Path
) -> None:
    client, stubber = stubbed
    http, clock = FakeHttp(), Clock()
    stub_uploads(stubber)
    jobs = [device_job(0, "PASSED"), device_job(1, "PASSED")]
    stub_completed_run(stubber, "PASSED", jobs)
    for job in jobs:
        stub_artifacts(stubber, job, customer=True)
        http.served[url(job["name"].replace(" ", "_"))] = export_zip()

    report = run_on_device_farm(farm(client, http, clock), spec, tmp_path / "out")

    assert http.sent == ["MLHarnessCompanion.ipa", "MLHarnessJobTests.zip", "testspec.yml"]
    assert report.status == "PASSED"
    rows = rows_by(report)
    assert len(rows) == 6
    row = rows[("Apple iPhone 15 Pro", "golden-classifier-image")]
    assert (row.outcome, row.where) == ("verified", "farm aws-device-farm · pool top-ios · Apple iPhone 15 Pro")
    assert row.results_path == tmp_path / "out" / "Apple-iPhone-15-Pro" / "golden-classifier-image"
    assert (row.results_path / "DONE").is_file()
    assert rows[("Apple iPad Air (5th Gen)", "golden-knn-pipeline")].outcome == "verified"
    # The one job whose case passed without attaching its bundle is reported, on each device.
    assert rows[("Apple iPad Air (5th Gen)", "lunch-0003")].outcome == "AttachmentMissing"


def test_a_run_past_its_deadline_is_stopped_and_every_job_says_so(
    stubbed: tuple[Any, Stubber], spec: FarmRunSpec, tmp_path: Path
) -> None:
    client, stubber = stubbed
    clock = Clock()
    stub_uploads(stubber)
    for _ in range(4):  # polls at 0, 15, 30, 45 s; the deadline is 45 s
        stubber.add_response("get_run", {"run": {"arn": RUN, "status": "RUNNING"}}, {"arn": RUN})
    stubber.add_response("stop_run", {"run": {"arn": RUN, "status": "STOPPING"}}, {"arn": RUN})

    deadlines = FarmDeadlines(run=45.0, poll_interval=15.0)
    report = run_on_device_farm(farm(client, FakeHttp(), clock), spec, tmp_path / "out", deadlines=deadlines)

    assert report.status == "timed out"
    assert [row.outcome for row in report.rows] == ["FarmTimeout"] * 3
    assert "has been stopped" in report.rows[0].detail
    assert report.rows[0].where == "farm aws-device-farm · pool top-ios · -"


def test_a_device_failing_mid_run_gets_its_own_rows_and_the_other_device_still_counts(
    stubbed: tuple[Any, Stubber], spec: FarmRunSpec, tmp_path: Path
) -> None:
    client, stubber = stubbed
    http, clock = FakeHttp(), Clock()
    stub_uploads(stubber)
    jobs = [device_job(0, "PASSED"), device_job(1, "ERRORED", "Device became unavailable during the run")]
    stub_completed_run(stubber, "ERRORED", jobs)
    stub_artifacts(stubber, jobs[0], customer=True)
    http.served[url(jobs[0]["name"].replace(" ", "_"))] = export_zip()
    stub_artifacts(stubber, jobs[1], customer=False)

    report = run_on_device_farm(farm(client, http, clock), spec, tmp_path / "out")

    rows = rows_by(report)
    failed = rows[("Apple iPad Air (5th Gen)", "golden-classifier-image")]
    assert failed.outcome == "FarmError"
    assert "failed mid-run (ERRORED): Device became unavailable" in failed.detail
    assert rows[("Apple iPhone 15 Pro", "golden-classifier-image")].outcome == "verified"
    assert not report.verified


def test_a_device_without_the_exported_results_artefact_is_reported_missing(
    stubbed: tuple[Any, Stubber], spec: FarmRunSpec, tmp_path: Path
) -> None:
    client, stubber = stubbed
    stub_uploads(stubber)
    jobs = [device_job(0, "PASSED")]
    stub_completed_run(stubber, "PASSED", jobs)
    stub_artifacts(stubber, jobs[0], customer=False)

    report = run_on_device_farm(farm(client, FakeHttp(), Clock()), spec, tmp_path / "out")

    assert [row.outcome for row in report.rows] == ["FarmError"] * 3
    assert "no customer artefact" in report.rows[0].detail


def test_throttling_is_retried_with_growing_capped_back_off(
    stubbed: tuple[Any, Stubber], spec: FarmRunSpec, tmp_path: Path
) -> None:
    client, stubber = stubbed
    clock, http = Clock(), FakeHttp()
    stub_uploads(stubber, throttled=3)
    stubber.add_client_error("get_run", "TooManyRequestsException", "Slow down", 429, expected_params={"arn": RUN})
    job = device_job(0, "PASSED")
    stub_completed_run(stubber, "PASSED", [job])
    stubber.add_client_error(
        "list_artifacts", "LimitExceededException", "Too many", 400, expected_params={"arn": job["arn"], "type": "FILE"}
    )
    stub_artifacts(stubber, job, customer=True)
    http.served[url(job["name"].replace(" ", "_"))] = export_zip()

    device_farm = DeviceFarm(
        client, http=http, sleep=clock.sleep, clock=clock, jitter=lambda: 1.0, backoff=Backoff(base=2, cap=5)
    )
    report = run_on_device_farm(device_farm, spec, tmp_path / "out")

    # Three throttled create_upload calls wait 2, 4, then the cap 5; the upload polls wait 5 s each; the throttled
    # get_run waits 2; the run poll 15; the throttled list_artifacts 2.
    assert clock.sleeps[:3] == [2, 4, 5]
    assert clock.sleeps[-1] == 2 and clock.sleeps.count(2) == 3
    assert report.status == "PASSED"
    # The rows are those of a run that was never throttled.
    assert [(row.job_id, row.outcome) for row in report.rows] == [
        ("golden-classifier-image", "verified"),
        ("golden-knn-pipeline", "verified"),
        ("lunch-0003", "AttachmentMissing"),
    ]
    assert report.rows[0].where == "farm aws-device-farm · pool top-ios · Apple iPhone 15 Pro"


def test_throttling_that_never_ends_becomes_an_error_that_says_so(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    for _ in range(3):
        stubber.add_client_error("get_run", "ThrottlingException", "Rate exceeded", 400, expected_params={"arn": RUN})
    clock = Clock()
    device_farm = DeviceFarm(client, http=FakeHttp(), sleep=clock.sleep, clock=clock, backoff=Backoff(attempts=3))

    with pytest.raises(FarmError, match="ThrottlingException") as caught:
        device_farm.call("get_run", arn=RUN)
    assert "kept throttling after 3 attempts" in str(caught.value)
    assert len(clock.sleeps) == 2


def test_a_refused_request_is_an_error_with_the_code_and_the_fix(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_client_error("get_run", "NotFoundException", "Run not found", 404, expected_params={"arn": RUN})

    with pytest.raises(FarmError, match="NotFoundException: Run not found") as caught:
        DeviceFarm(client, http=FakeHttp()).call("get_run", arn=RUN)
    assert "list-device-pools" in str(caught.value)


def test_ctrl_c_while_waiting_stops_the_run(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_response("get_run", {"run": {"arn": RUN, "status": "RUNNING"}}, {"arn": RUN})
    stubber.add_response("stop_run", {"run": {"arn": RUN, "status": "STOPPING"}}, {"arn": RUN})

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        DeviceFarm(client, http=FakeHttp(), sleep=interrupted).wait(RUN, deadline=600, poll_interval=15)


def test_a_refused_upload_names_the_file(stubbed: tuple[Any, Stubber], spec: FarmRunSpec, tmp_path: Path) -> None:
    client, stubber = stubbed
    arn = f"{ACCOUNT}:upload:5e01a8c7-c861-4c0a-b1d5-0123456789ab/00000000-0000-0000-0000-000000000000"
    upload = {"arn": arn, "name": "MLHarnessCompanion.ipa", "type": "IOS_APP", "url": url("app")}
    stubber.add_response("create_upload", {"upload": {**upload, "status": "INITIALIZED"}})
    failed = {**upload, "status": "FAILED", "metadata": '{"errorMessage": "not an ipa"}'}
    stubber.add_response("get_upload", {"upload": failed}, {"arn": arn})

    with pytest.raises(FarmError, match=r"refused MLHarnessCompanion\.ipa"):
        run_on_device_farm(farm(client, FakeHttp(), Clock()), spec, tmp_path / "out")


def test_nothing_secret_reaches_the_log_or_the_report(
    stubbed: tuple[Any, Stubber], spec: FarmRunSpec, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client, stubber = stubbed
    http = FakeHttp()
    stub_uploads(stubber, throttled=1)
    jobs = [device_job(0, "PASSED")]
    stub_completed_run(stubber, "PASSED", jobs)
    stub_artifacts(stubber, jobs[0], customer=True)
    http.served[url(jobs[0]["name"].replace(" ", "_"))] = export_zip()
    caplog.set_level(logging.DEBUG)

    report = run_on_device_farm(farm(client, http, Clock()), spec, tmp_path / "out")

    written = json.dumps(write_rows(report.rows))
    assert "throttled" in caplog.text  # the log was on, at DEBUG
    for text in (caplog.text, written):
        assert SECRET not in text and "not-a-secret" not in text
    assert "amazonaws.com" not in written and "123456789012" not in written  # no URL, no ARN in the report


def test_the_report_rows_are_json_with_where_each_job_ran(
    stubbed: tuple[Any, Stubber], spec: FarmRunSpec, tmp_path: Path
) -> None:
    client, stubber = stubbed
    http = FakeHttp()
    stub_uploads(stubber)
    jobs = [device_job(0, "PASSED")]
    stub_completed_run(stubber, "PASSED", jobs)
    stub_artifacts(stubber, jobs[0], customer=True)
    http.served[url(jobs[0]["name"].replace(" ", "_"))] = export_zip()

    report = run_on_device_farm(farm(client, http, Clock()), spec, tmp_path / "out")

    first = write_rows(report.rows)[0]
    assert first["where"] == "farm aws-device-farm · pool top-ios · Apple iPhone 15 Pro"
    assert (first["os"], first["outcome"]) == ("iOS 17.4", "verified")
    shutil.rmtree(tmp_path / "out")


def test_a_farm_run_joins_the_cross_device_table_with_desk_and_remote_results_each_naming_where_it_ran(
    stubbed: tuple[Any, Stubber], spec: FarmRunSpec, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlharness.cli import main
    from mlharness.farms.report import write_farm_report
    from mlupdate.parity.crossdevice import Where, write_where

    client, stubber = stubbed
    http = FakeHttp()
    stub_uploads(stubber)
    jobs = [device_job(0, "PASSED"), device_job(1, "ERRORED", "Device became unavailable during the run")]
    stub_completed_run(stubber, "ERRORED", jobs)
    stub_artifacts(stubber, jobs[0], customer=True)
    http.served[url(jobs[0]["name"].replace(" ", "_"))] = export_zip()
    stub_artifacts(stubber, jobs[1], customer=False)
    out = tmp_path / "out"
    report = run_on_device_farm(farm(client, http, Clock()), spec, out)
    document = {"farm": "aws-device-farm", "run": report.run_name, "status": report.status}
    where = Where("farm", farm="aws-device-farm", pool="top-ios")
    write_farm_report(out, document | {"rows": write_rows(report.rows, relative_to=out)}, where)
    # The same job on a Simulator on this desk, pulled by `mlharness run` under a cell folder.
    desk = tmp_path / "matrix" / "sim-iphone16"
    shutil.copytree(DATA / "contract" / "results" / "succeeded", desk / "device" / "golden-classifier-image")
    write_where(desk, Where("desk"))
    # ... and on a phone served by the tunneld of another host, pulled the same way under its cell folder.
    remote = tmp_path / "matrix" / "lab-phone"
    shutil.copytree(DATA / "contract" / "results" / "reference-knn", remote / "device" / "golden-knn-pipeline")
    write_where(remote, Where("remote", host="lab-mac.local:49151"))
    moved = tmp_path / "moved"
    out.rename(moved)  # the farm report names its results relative to its own folder
    cells = [str(desk / "device" / "golden-classifier-image"), str(remote / "device" / "golden-knn-pipeline")]

    code = main(["report", "--json", str(moved), *cells])

    assert code == 1, "a farm job without a result counts as a failure"
    table = json.loads(capsys.readouterr().out)
    assert {row["where"] for row in table} == {
        "desk", "remote lab-mac.local:49151", "farm aws-device-farm · pool top-ios"
    }  # fmt: skip
    (remote_row,) = [row for row in table if row["where"].startswith("remote")]
    assert remote_row["job"] == "golden-knn-pipeline"
    rows = {(row["device"], row["job"]): row for row in table if not row["where"].startswith("remote")}
    assert len(rows) == 7
    served = rows[("Apple iPhone 15 Pro", "golden-classifier-image")]
    assert (served["where"], served["result"]) == ("farm aws-device-farm · pool top-ios", "not evaluated")
    dropped = rows[("Apple iPad Air (5th Gen)", "golden-knn-pipeline")]
    assert (dropped["where"], dropped["result"]) == ("farm aws-device-farm · pool top-ios", "error")
    assert dropped["first_failure"].startswith("FarmError: the device failed mid-run (ERRORED)")
    (desk_row,) = [row for row in rows.values() if row["where"] == "desk"]
    assert desk_row["job"] == "golden-classifier-image"
    # One table, written as Markdown too: every route in it, each row naming where it ran.
    assert main(["report", str(moved), *cells, "-o", str(tmp_path / "merged")]) == 1
    capsys.readouterr()
    markdown = (tmp_path / "merged" / "cross-device.md").read_text(encoding="utf-8")
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert len(lines) == 1 + len(table)  # the header and one line per row, in one table
    for label in ("| desk |", "| remote lab-mac.local:49151 |", "| farm aws-device-farm · pool top-ios |"):
        assert any(label in line for line in lines), label
    # A results bundle kept under the farm's folder finds the farm's record too.
    assert main(["report", "--json", str(moved / "Apple-iPhone-15-Pro" / "golden-knn-pipeline")]) == 0
    assert json.loads(capsys.readouterr().out)[0]["where"] == "farm aws-device-farm · pool top-ios"


def test_a_tampered_farm_report_is_refused_naming_the_row(tmp_path: Path) -> None:
    from mlharness.farms.report import farm_rows, write_farm_report
    from mlupdate.parity.crossdevice import Where

    row = {"job": "j", "farm": "f", "pool": "p", "device": "d", "os": "iOS 18", "outcome": "verified", "detail": ""}
    write_farm_report(tmp_path, {"rows": [row | {"results": "../../etc"}]}, Where("farm", farm="f", pool="p"))
    with pytest.raises(FarmError, match="names its results folder inside") as caught:
        farm_rows(tmp_path)
    assert "rows[0]" in (caught.value.where or "")
    (tmp_path / "farm-report.json").write_text('{"rows": []}', encoding="utf-8")
    with pytest.raises(FarmError, match=r"not a mlharness\.farm-report"):
        farm_rows(tmp_path)
