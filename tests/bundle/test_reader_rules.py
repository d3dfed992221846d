"""Rules the Python reader shares with the Swift reader (CompanionKit) so both judge every bundle alike; each was
a disagreement found by running both over the shared corpus (tests/contract/test_fuzz_corpus.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mlupdate.bundle import read_job, read_results
from mlupdate.bundle.hashing import sha256_bytes
from mlupdate.bundle.schema import parse_json
from mlupdate.errors import SchemaError, UnsafePathError

CONTRACT = Path(__file__).resolve().parents[1] / "data" / "contract"
JOB = CONTRACT / "jobs" / "golden-index-classifier"
RESULTS = CONTRACT / "results" / "succeeded"
RESULTS_JOB = "golden-classifier-image"


def copy(source: Path, tmp_path: Path) -> Path:
    shutil.copytree(source, tmp_path / source.name)
    return tmp_path / source.name


def reseal(root: Path) -> None:
    (root / "DONE").write_text(f"{RESULTS_JOB}\n{sha256_bytes((root / 'results.json').read_bytes())}\n")


def test_two_names_on_disk_equal_after_normalisation_are_refused(tmp_path: Path) -> None:
    root = copy(RESULTS, tmp_path)
    (root / "caf\u00e9").write_text("1")
    (root / "cafe\u0301").write_text("2")  # on APFS these are one file; Swift's dictionaries trapped on them
    with pytest.raises(UnsafePathError, match="equal after Unicode normalisation"):
        read_results(root, RESULTS_JOB)


def test_json_keys_equal_after_normalisation_are_refused() -> None:
    with pytest.raises(SchemaError, match="duplicate key"):
        parse_json('{"caf\u00e9": 1, "cafe\u0301": 2}'.encode(), where="x.json")


def test_an_integral_float_counts_as_an_integer_and_comes_out_as_one(tmp_path: Path) -> None:
    root = copy(JOB, tmp_path)
    document = json.loads((root / "job.json").read_text())
    document["repeat"] = 2.0  # Swift's JSONDecoder reads 2.0 into an Int: so must this reader
    (root / "job.json").write_text(json.dumps(document))
    job = read_job(root)
    assert job.repeat == 2 and type(job.repeat) is int


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 1e300])
def test_integers_beyond_64_bits_are_refused(tmp_path: Path, value: float) -> None:
    root = copy(JOB, tmp_path)
    document = json.loads((root / "job.json").read_text())
    document["repeat"] = value
    (root / "job.json").write_text(json.dumps(document))
    with pytest.raises(SchemaError, match="repeat"):
        read_job(root)


def test_event_lines_are_split_at_newlines_only(tmp_path: Path) -> None:
    root = copy(RESULTS, tmp_path)
    events = (root / "events.jsonl").read_bytes()
    # A `\r` between two fields is JSON whitespace, not a line break (str.splitlines() took it for one; Swift
    # splits at `\n` only).
    first, rest = events.split(b"\n", 1)
    (root / "events.jsonl").write_bytes(first.replace(b", ", b",\r", 1) + b"\n" + rest)
    manifest = json.loads((root / "results.json").read_text())
    manifest["files"]["events.jsonl"] = sha256_bytes((root / "events.jsonl").read_bytes())
    (root / "results.json").write_text(json.dumps(manifest))
    reseal(root)
    assert len(read_results(root, RESULTS_JOB).events) == manifest["events"]["count"]


def rewrite(root: Path, name: str, data: bytes) -> None:
    """Replace a listed file of a results bundle and record its new hash, so only the content rule can object."""
    (root / name).write_bytes(data)
    manifest = json.loads((root / "results.json").read_text())
    manifest["files"][name] = sha256_bytes(data)
    (root / "results.json").write_text(json.dumps(manifest))
    reseal(root)


@pytest.mark.parametrize("dump", ["parameters/dense.biases.npy", "parameters/reloaded/dense.biases.npy"])
def test_an_npy_holding_more_data_than_its_header_promises_is_refused_by_a_header_read(
    tmp_path: Path, dump: str
) -> None:
    # The reloaded dumps are only ever header-read; Swift checked their size, this reader did not.
    root = copy(RESULTS, tmp_path)
    rewrite(root, dump, (root / dump).read_bytes() + b"\0" * 16)
    with pytest.raises(SchemaError, match="holds 28 bytes, its header promises 12"):
        read_results(root, RESULTS_JOB)


def test_a_folder_where_a_listed_file_should_be_is_an_unsafe_path_not_a_missing_file(tmp_path: Path) -> None:
    root = copy(RESULTS, tmp_path)
    (root / "parameters/dense.biases.npy").unlink()
    (root / "parameters/dense.biases.npy").mkdir()  # what Swift calls "listed as a file but is a directory"
    with pytest.raises(UnsafePathError, match="listed in `files` as a file but is a folder"):
        read_results(root, RESULTS_JOB)
