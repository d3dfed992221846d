"""`mlharness devicefarm` end to end against a stubbed Device Farm: a run past its deadline is stopped and reported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.stub import ANY, Stubber

from mlharness.cli import main
from mlharness.farms import devicefarm
from mlharness.farms.devicefarm import DeviceFarm
from mlupdate.output_folder import read_marker

ACCOUNT = "arn:aws:devicefarm:us-west-2:123456789012"
PROJECT = f"{ACCOUNT}:project:5e01a8c7-c861-4c0a-b1d5-0123456789ab"
POOL = f"{ACCOUNT}:devicepool:5e01a8c7-c861-4c0a-b1d5-0123456789ab/7f3b2c1d-aaaa-bbbb-cccc-0123456789ab"
RUN = f"{ACCOUNT}:run:5e01a8c7-c861-4c0a-b1d5-0123456789ab/0d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6"


def test_a_run_past_its_deadline_exits_2_with_a_report_naming_the_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client: Any = botocore.session.get_session().create_client(
        "devicefarm", region_name="us-west-2", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x"
    )
    stubber = Stubber(client)
    for index, kind in enumerate(("IOS_APP", "XCTEST_UI_TEST_PACKAGE", "XCTEST_UI_TEST_SPEC")):
        arn = f"{ACCOUNT}:upload:5e01a8c7-c861-4c0a-b1d5-0123456789ab/00000000-0000-0000-0000-00000000000{index}"
        upload = {"arn": arn, "type": kind, "status": "SUCCEEDED", "url": "https://s3.example/u?X-Amz-Signature=s"}
        stubber.add_response("create_upload", {"upload": upload})
        stubber.add_response("get_upload", {"upload": upload}, {"arn": arn})
    schedule = {"projectArn": PROJECT, "appArn": ANY, "devicePoolArn": POOL, "name": ANY, "test": ANY}
    stubber.add_response(
        "schedule_run", {"run": {"arn": RUN, "status": "SCHEDULING"}}, schedule | {"executionConfiguration": ANY}
    )
    for _ in range(2):  # polls at 0 and 15 s; the deadline is 15 s
        stubber.add_response("get_run", {"run": {"arn": RUN, "status": "PENDING_DEVICE"}}, {"arn": RUN})
    stubber.add_response("stop_run", {"run": {"arn": RUN, "status": "STOPPING"}}, {"arn": RUN})
    stubber.activate()

    class NoHttp:
        def put(self, url: str, source: Path, *, timeout: float) -> None:
            pass

    class Clock:
        now = 0.0

        def __call__(self) -> float:
            return self.now

        def sleep(self, seconds: float) -> None:
            self.now += seconds

    clock = Clock()
    monkeypatch.setattr(devicefarm, "client", lambda **_: client)
    monkeypatch.setattr(
        devicefarm, "DeviceFarm", lambda c: DeviceFarm(c, http=NoHttp(), clock=clock, sleep=clock.sleep)
    )
    monkeypatch.setenv("COLUMNS", "250")
    files = []
    for name in ("app.ipa", "tests.zip", "testspec.yml"):
        (tmp_path / name).write_bytes(b"x")
        files.append(str(tmp_path / name))
    argv = ["devicefarm", "--project-arn", PROJECT, "--pool-arn", POOL, "--pool-name", "top-ios"]
    argv += ["--app", files[0], "--tests", files[1], "--spec", files[2], "--job", "tictactoe-0001"]

    code = main([*argv, "-o", str(tmp_path / "out"), "--deadline", "15"])

    assert code == 2
    stubber.assert_no_pending_responses()
    report = json.loads((tmp_path / "out" / "farm-report.json").read_text(encoding="utf-8"))
    assert report["status"] == "timed out"
    (row,) = report["rows"]
    assert (row["job"], row["pool"], row["outcome"]) == ("tictactoe-0001", "top-ios", "FarmTimeout")
    assert read_marker(tmp_path / "out") == "devicefarm"


def test_a_folder_it_did_not_write_is_refused_before_anything_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_farm(**_: Any) -> Any:
        raise AssertionError("the farm must not be contacted")

    monkeypatch.setattr(devicefarm, "client", no_farm)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep", encoding="utf-8")
    files = []
    for name in ("app.ipa", "tests.zip", "testspec.yml"):
        (tmp_path / name).write_bytes(b"x")
        files.append(str(tmp_path / name))
    argv = ["devicefarm", "--project-arn", PROJECT, "--pool-arn", POOL, "--app", files[0], "--tests", files[1]]

    assert main([*argv, "--spec", files[2], "--job", "tictactoe-0001", "-o", str(mine)]) == 2

    assert "did not write (it holds notes.txt)" in capsys.readouterr().err
    assert (mine / "notes.txt").read_text(encoding="utf-8") == "keep"
