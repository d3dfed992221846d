"""Every command that writes a folder keeps the user's files: it replaces only its own earlier output."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlharness.cli import main
from mlupdate.output_folder import MARKER, read_marker

CONTRACT = Path(__file__).resolve().parents[1] / "data" / "contract"
JOB = CONTRACT / "jobs" / "golden-regressor"


def users_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "thesis.tex").write_text("keep me", encoding="utf-8")
    return path


def kept(path: Path) -> bool:
    return (path / "thesis.tex").read_text(encoding="utf-8") == "keep me"


def test_scenario_keeps_a_users_folder_of_the_same_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = users_folder(tmp_path / "lunch")
    assert main(["scenario", "lunch", "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "did not write (it holds thesis.tex)" in err and "--force" in err
    assert kept(mine)


def test_reference_reruns_replace_their_own_results_and_keep_anything_else(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = tmp_path / "golden-regressor"
    shutil.copytree(JOB, job)
    out = tmp_path / "results"
    assert main(["reference", str(job), "-o", str(out)]) == 0
    assert read_marker(out / "golden-regressor") == "reference"
    assert main(["reference", str(job), "-o", str(out)]) == 0  # its own earlier output: replaced

    mine = users_folder(tmp_path / "mine" / "golden-regressor")
    assert main(["reference", str(job), "-o", str(mine.parent)]) == 2
    assert kept(mine)
    assert main(["reference", str(job), "-o", str(tmp_path)]) == 2  # would be the job bundle itself
    assert "input" in capsys.readouterr().err
    assert (job / "job.json").is_file()


def test_parity_and_report_keep_a_users_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job = tmp_path / "golden-regressor"
    shutil.copytree(JOB, job)
    assert main(["reference", str(job), "-o", str(tmp_path / "results")]) == 0
    results = tmp_path / "results" / "golden-regressor"
    mine = users_folder(tmp_path / "report")
    argv = ["parity", str(results), "--job", str(job), "--reference", str(results), "-o", str(mine)]
    assert main(argv) == 2
    assert kept(mine)
    assert main(["report", str(results), "-o", str(mine)]) == 2
    assert kept(mine)
    assert main(["report", str(results), "-o", str(results / "tables")]) == 2  # inside an input
    assert "did not write" in capsys.readouterr().err

    assert main([*argv[:-1], str(tmp_path / "parity")]) == 0
    assert main([*argv[:-1], str(tmp_path / "parity")]) == 0
    assert read_marker(tmp_path / "parity") == "parity"
    assert main(["report", str(tmp_path / "parity"), "-o", str(mine), "--force"]) == 0
    assert {p.name for p in mine.iterdir()} == {"cross-device.md", "cross-device.html", "cross-device.json", MARKER}
