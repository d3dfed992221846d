"""Fuzzing the readers: random manifests, mutated golden manifests and random folder trees never crash them.

The only exceptions allowed out of read_job / read_results (and of loading what they accepted) are the
project's BundleError subclasses.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlupdate.bundle import read_job, read_results
from mlupdate.bundle.hashing import sha256_bytes
from mlupdate.errors import BundleError

CONTRACT = Path(__file__).resolve().parents[1] / "data" / "contract"
JOB_DIR = CONTRACT / "jobs" / "golden-classifier-image"
RESULTS_DIR = CONTRACT / "results" / "succeeded"
JOB_ID = "golden-classifier-image"
FUZZ = settings(
    max_examples=int(os.environ.get("MLUPDATE_FUZZ_EXAMPLES", "80")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
names = st.text(alphabet="ab.-_/\\ \u00e9", min_size=1, max_size=8)


@contextmanager
def _copy(source: Path) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as scratch:
        target = Path(scratch) / "bundle"
        shutil.copytree(source, target)
        yield target


def _read_everything_job(root: Path) -> None:
    try:
        job = read_job(root)
        for view in (job.training, job.probe):
            for feature in view.features if view is not None else ():
                view.load(feature.name)
    except BundleError:
        pass


def _read_everything_results(root: Path, job_id: str = JOB_ID) -> None:
    try:
        results = read_results(root, job_id)
        _ = results.parameters, results.probe_outputs
    except BundleError:
        pass


def _mutate(document: Any, path: list[int], value: Any) -> Any:
    """Replace the node reached by following `path` (indices into dict keys / list items) with `value`."""
    if not path or not isinstance(document, dict | list) or not document:
        return value
    keys = list(document) if isinstance(document, dict) else list(range(len(document)))
    key = keys[path[0] % len(keys)]
    document[key] = _mutate(document[key], path[1:], value)
    return document


def _reseal(root: Path, job_id: str) -> None:
    (root / "DONE").write_text(f"{job_id}\n{sha256_bytes((root / 'results.json').read_bytes())}\n")


@FUZZ
@given(document=json_values)
def test_random_job_json_is_refused_cleanly(document: Any) -> None:
    with _copy(JOB_DIR) as root:
        (root / "job.json").write_text(json.dumps(document))
        _read_everything_job(root)


@FUZZ
@given(path=st.lists(st.integers(min_value=0, max_value=50), max_size=5), value=json_values)
def test_mutated_golden_job_json_is_refused_cleanly(path: list[int], value: Any) -> None:
    document = _mutate(copy.deepcopy(json.loads((JOB_DIR / "job.json").read_text())), path, value)
    with _copy(JOB_DIR) as root:
        (root / "job.json").write_text(json.dumps(document))
        _read_everything_job(root)


@FUZZ
@given(path=st.lists(st.integers(min_value=0, max_value=50), max_size=5), value=json_values, seal=st.booleans())
def test_mutated_golden_results_json_is_refused_cleanly(path: list[int], value: Any, seal: bool) -> None:
    document = _mutate(copy.deepcopy(json.loads((RESULTS_DIR / "results.json").read_text())), path, value)
    with _copy(RESULTS_DIR) as root:
        (root / "results.json").write_text(json.dumps(document))
        if seal:
            _reseal(root, JOB_ID)
        _read_everything_results(root)


@FUZZ
@given(
    data=st.binary(max_size=200), target=st.sampled_from(["results.json", "DONE", "events.jsonl", "probe/probs.npy"])
)
def test_random_bytes_in_a_results_file_are_refused_cleanly(data: bytes, target: str) -> None:
    with _copy(RESULTS_DIR) as root:
        (root / target).write_bytes(data)
        if target != "DONE":
            _reseal(root, JOB_ID)
        _read_everything_results(root)


tree_entries = st.lists(
    st.tuples(
        st.lists(names, min_size=1, max_size=3).map("/".join),
        st.one_of(st.binary(max_size=40), st.just(None)),  # None: a symbolic link
    ),
    max_size=8,
)


@FUZZ
@given(entries=tree_entries, manifest=json_values, done=st.text(max_size=80), kind=st.sampled_from(["job", "results"]))
def test_random_folder_trees_are_refused_cleanly(
    entries: list[tuple[str, bytes | None]], manifest: Any, done: str, kind: str
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "bundle"
        root.mkdir()
        for entry, content in entries:
            _plant(root, entry, content)
        name = "job.json" if kind == "job" else "results.json"
        if not (root / name).exists():
            (root / name).write_text(json.dumps(manifest))
        if kind == "job":
            _read_everything_job(root)
        else:
            if not (root / "DONE").exists():
                (root / "DONE").write_text(done)
            _read_everything_results(root, "x")


def _plant(root: Path, entry: str, content: bytes | None) -> None:
    """Create `entry` (file or link) when the name is usable on this file system; skip it otherwise."""
    if ".." in entry.split("/"):
        return  # never let the fuzzer write outside its scratch folder
    path = root / entry
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() or path.is_symlink():
            return
        if content is None:
            os.symlink("../" * 3 + "etc", path)
        else:
            path.write_bytes(content)
    except OSError:
        return


def test_a_huge_example_count_is_refused_without_allocating_for_it() -> None:
    # Found by the fuzz test above: a count of ~10**20 made the reader list that many PNG names (OOM).
    document = json.loads((JOB_DIR / "job.json").read_text())
    document["training"]["count"] = 67_569_428_390_390_112_256
    with _copy(JOB_DIR) as root:
        (root / "job.json").write_text(json.dumps(document))
        # Since counts must fit 64 bits (as in Swift), the schema refuses it even before the listing is sized.
        with pytest.raises(BundleError, match=r"training\.count"):
            read_job(root)
