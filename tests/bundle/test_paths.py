"""Path safety: absolute paths, `..`, backslashes and links are refused, naming the entry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mlupdate.bundle import read_job, read_results
from mlupdate.bundle.hashing import sha256_file
from mlupdate.bundle.paths import check_entry, resolve_entry
from mlupdate.bundle.schema import dumps
from mlupdate.errors import IncompleteBundleError, UnsafePathError

CONTRACT = Path(__file__).resolve().parents[1] / "data" / "contract"
JOB = "golden-classifier-image"


@pytest.mark.parametrize(
    "entry",
    ["", "/etc/passwd", "a/../../b", "..", "./a", "a//b", "a/", "a\\b", "C:/x", "a\x00b", "a/./b"],
)
def test_unsafe_entries_are_refused_naming_the_entry(entry: str) -> None:
    with pytest.raises(UnsafePathError) as info:
        check_entry(entry, where="job.json: files")
    assert repr(entry) in info.value.what and info.value.where == "job.json: files"


@pytest.mark.parametrize("entry", ["a", "train/image/000000.png", "model/M.mlmodelc/x.bin", "..a", "a..b"])
def test_plain_relative_entries_are_accepted(entry: str) -> None:
    assert check_entry(entry, where="w") == entry


def _copy(tmp_path: Path, kind: str, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(CONTRACT / kind / name, target)
    return target


def test_symlinked_file_inside_a_job_is_refused(tmp_path: Path) -> None:
    job = _copy(tmp_path, "jobs", JOB)
    label = job / "train" / "label.json"
    (tmp_path / "elsewhere.json").write_bytes(label.read_bytes())  # same bytes: only the link is wrong
    label.unlink()
    label.symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(UnsafePathError, match=r"'train/label.json' is a symbolic link"):
        read_job(job)


def test_symlinked_folder_inside_results_is_refused(tmp_path: Path) -> None:
    results = _copy(tmp_path, "results", "succeeded")
    shutil.move(results / "parameters", tmp_path / "parameters")
    (results / "parameters").symlink_to(tmp_path / "parameters", target_is_directory=True)
    with pytest.raises(UnsafePathError, match="'parameters' is a symbolic link"):
        read_results(results, JOB)


def test_symlinked_manifest_and_bundle_root_are_refused(tmp_path: Path) -> None:
    results = _copy(tmp_path, "results", "failed")
    shutil.move(results / "results.json", tmp_path / "results.json")
    (results / "results.json").symlink_to(tmp_path / "results.json")
    with pytest.raises(UnsafePathError, match="symbolic link"):
        read_results(results, JOB)
    (tmp_path / "link").symlink_to(CONTRACT / "jobs" / JOB, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="bundle folder is a symbolic link"):
        read_job(tmp_path / "link")


def test_dangling_symlink_is_refused(tmp_path: Path) -> None:
    results = _copy(tmp_path, "results", "failed")
    (results / "ghost").symlink_to(tmp_path / "nowhere")
    with pytest.raises(UnsafePathError, match="'ghost' is a symbolic link"):
        read_results(results, JOB)


def test_resolve_entry_refuses_a_file_used_as_a_folder(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("x")
    with pytest.raises(UnsafePathError, match="not a directory"):
        resolve_entry(tmp_path, "a/b", where="w")


def test_job_with_a_compiled_model_folder_is_read_with_its_files_hashed(tmp_path: Path) -> None:
    job = _copy(tmp_path, "jobs", JOB)
    manifest = json.loads((job / "job.json").read_text())
    old = manifest["model"]["path"]
    (job / old).unlink()
    del manifest["files"][old]
    compiled = job / "model" / "M.mlmodelc"
    (compiled / "model").mkdir(parents=True)
    (compiled / "coremldata.bin").write_bytes(b"\x01\x02")
    (compiled / "model" / "coremldata.bin").write_bytes(b"\x03")
    for entry in ("model/M.mlmodelc/coremldata.bin", "model/M.mlmodelc/model/coremldata.bin"):
        manifest["files"][entry] = sha256_file(job / entry)
    manifest["model"] |= {"path": "model/M.mlmodelc", "format": "mlmodelc", "sha256": None}
    (job / "job.json").write_bytes(dumps(manifest))
    assert read_job(job).model_path == compiled
    manifest["model"]["path"] = "model/Other.mlmodelc"
    (job / "job.json").write_bytes(dumps(manifest))
    with pytest.raises(IncompleteBundleError, match="no listed file is inside it"):
        read_job(job)
