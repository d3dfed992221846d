"""A job case's attachment made by the Swift code is what the host's xcresult reader accepts.

`companion-cli run-case` does what one XCTest job case does (CompanionKit's `JobCases`/`CarriedJob`: find the
carried job, run it, check the sealed bundle, zip it with `ZipArchive`), with the synthetic fixture in place of
Core ML. The zip it makes is put where `xcresulttool export attachments` puts an attachment, in an export
built from the recorded samples, and `mlharness.xctest.read_export` must verify it. Skips without Swift.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mlharness.xctest import names, read_export
from mlupdate.bundle import read_results
from mlupdate.errors import BundleError

REPO = Path(__file__).resolve().parents[2]
CONTRACT = REPO / "tests" / "data" / "contract"
XCRESULTTOOL = REPO / "tests" / "data" / "recorded" / "xcresulttool"
JOB = "golden-classifier-image"
# Where the derived sample's manifest says xcresulttool exported this job's attachment.
EXPORTED = "2F0C9D4E-7A51-4B8C-9E13-5D6A2B7C8F01.zip"


def run_case(cli: Path, tmp_path: Path, status: str = "succeeded") -> tuple[list[str], Path]:
    resources = tmp_path / "MLHarnessJobTests.xctest"
    shutil.copytree(CONTRACT / "jobs" / JOB, resources / "Jobs" / JOB)
    done = subprocess.run(
        [str(cli), "run-case", "--resources", str(resources), "--job-id", JOB, "--workspace", str(tmp_path / "case"),
         "--status", status],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    case, attachment, archive = done.stdout.splitlines()
    return [case, attachment], Path(archive)


def export_with(archive: Path, tmp_path: Path) -> Path:
    export = tmp_path / "export"
    (export / "attachments").mkdir(parents=True)
    shutil.copy(XCRESULTTOOL / "jobs-mixed.tests.json", export / "tests.json")
    shutil.copy(XCRESULTTOOL / "jobs-mixed.manifest.json", export / "attachments" / "manifest.json")
    shutil.copy(archive, export / "attachments" / EXPORTED)
    return export


def test_the_swift_case_names_itself_as_the_host_expects(companion_cli: Path, tmp_path: Path) -> None:
    (case, attachment), archive = run_case(companion_cli, tmp_path)
    assert case == names.case_identifier(JOB)
    assert attachment == names.attachment_name(JOB)
    assert names.is_results_attachment(f"{attachment}_0_{EXPORTED}", JOB)
    assert archive.name == f"{attachment}.zip"


@pytest.mark.parametrize("status", ["succeeded", "failed"])
def test_a_zip_the_swift_case_made_is_verified_by_the_xcresult_reader(
    companion_cli: Path, tmp_path: Path, status: str
) -> None:
    _, archive = run_case(companion_cli, tmp_path, status)

    (outcome,) = read_export(export_with(archive, tmp_path), [JOB], tmp_path / "out")

    assert outcome.verified, outcome.error
    # A failed training run is a result like any other: the case passed, parity is decided here.
    bundle = read_results(tmp_path / "out" / JOB, JOB)
    assert (bundle.status, bundle.producer.name) == (status, "companion-cli")


def test_a_byte_changed_in_the_swift_zip_is_refused(companion_cli: Path, tmp_path: Path) -> None:
    _, archive = run_case(companion_cli, tmp_path)
    data = bytearray(archive.read_bytes())
    at = data.index(b"events.jsonl") + len(b"events.jsonl") + 5  # inside the first stored file's bytes
    data[at] ^= 0xFF
    archive.write_bytes(bytes(data))

    (outcome,) = read_export(export_with(archive, tmp_path), [JOB], tmp_path / "out")

    assert not outcome.verified
    assert isinstance(outcome.error, BundleError)
    assert not (tmp_path / "out" / JOB).exists()
