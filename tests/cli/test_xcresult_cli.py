"""`mlharness xcresult` on an export folder: a table of outcomes, exit 0 only when every job verified."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from mlharness.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def export(tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    (folder / "attachments").mkdir(parents=True)
    samples = DATA / "recorded" / "xcresulttool"
    shutil.copy(samples / "jobs-mixed.tests.json", folder / "tests.json")
    shutil.copy(samples / "jobs-mixed.manifest.json", folder / "attachments" / "manifest.json")
    bundle = DATA / "contract" / "results" / "succeeded"
    with zipfile.ZipFile(folder / "attachments" / "2F0C9D4E-7A51-4B8C-9E13-5D6A2B7C8F01.zip", "w") as archive:
        for path in bundle.rglob("*"):
            if path.is_file():
                archive.write(path, path.relative_to(bundle).as_posix())
    return folder


def test_every_job_verified_exits_0(export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["xcresult", str(export), "--job", "golden-classifier-image", "-o", str(tmp_path / "out")])

    assert code == 0
    assert "verified" in capsys.readouterr().out
    assert (tmp_path / "out" / "golden-classifier-image" / "DONE").is_file()


def test_a_job_that_did_not_run_exits_2_and_names_its_case(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # one table row per line
    argv = ["xcresult", str(export), "--job", "golden-classifier-image", "--job", "stickers-0007"]
    code = main([*argv, "-o", str(tmp_path / "out")])

    out = capsys.readouterr().out
    assert code == 2
    assert "CaseNotRun" in out and "test_stickers-0007" in out
