"""Device output is hostile input: every reader refuses what is too big, too deep or malformed with the project's
own error naming the file and field, before allocating or recursing. Each case here crashed or hung a reader."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mlupdate.bundle import read_results
from mlupdate.bundle.hashing import sha256_bytes, sha256_file
from mlupdate.compiled import read_compiled
from mlupdate.errors import BundleError, CompiledModelError, SchemaError, UnsafePathError
from mlupdate.output_folder import remove_tree

RESULTS = Path(__file__).resolve().parents[1] / "data" / "contract" / "results" / "succeeded"
JOB_ID = json.loads((RESULTS / "results.json").read_text())["job_id"]


@pytest.fixture
def bundle(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "bundle"
    shutil.copytree(RESULTS, root)
    yield root
    remove_tree(root)  # shutil.rmtree recurses: a 1000-deep tree would crash the test's own cleanup


def edit_manifest(root: Path, change: Callable[[dict], None], *, rehash: str | None = None) -> None:  # type: ignore[type-arg]
    manifest = json.loads((root / "results.json").read_text())
    if rehash is not None:
        manifest["files"][rehash] = sha256_file(root / rehash)
    change(manifest)
    (root / "results.json").write_text(json.dumps(manifest))
    (root / "DONE").write_text(f"{JOB_ID}\n{sha256_bytes((root / 'results.json').read_bytes())}\n")


def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def deep_tree(top: Path, depth: int) -> None:
    """`top/d/d/.../d`, made through directory descriptors (by full paths, each mkdir would walk the whole chain)."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(fd)


def refused(root: Path) -> BundleError:
    with pytest.raises(BundleError) as caught:
        results = read_results(root, JOB_ID)
        _ = results.parameters, results.probe_outputs
    return caught.value


def test_a_400_deep_json_value_is_refused_naming_the_file(bundle: Path) -> None:
    edit_manifest(bundle, lambda m: m["device"].update(name=nested(400)))
    error = refused(bundle)
    assert isinstance(error, SchemaError) and "nested 402 deep" in error.what
    assert error.where is not None and error.where.endswith("results.json")


def test_an_unpaired_surrogate_in_the_device_name_is_refused_naming_the_field(bundle: Path) -> None:
    edit_manifest(bundle, lambda m: m["device"].update(name="iPhone \ud800"))
    error = refused(bundle)
    assert "unpaired UTF-16 surrogate" in error.what and (error.where or "").endswith("results.json: device.name")


def test_a_1000_deep_folder_tree_is_refused_without_exhausting_the_stack(bundle: Path) -> None:
    deep_tree(bundle / "model", 1000)
    edit_manifest(bundle, lambda _: None)
    error = refused(bundle)
    assert isinstance(error, UnsafePathError) and "nests folders more than 32 deep" in error.what


def test_an_npy_with_more_than_64_dimensions_is_refused(bundle: Path) -> None:
    entry = next(p for p in json.loads((bundle / "results.json").read_text())["parameters"])["path"]
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + "1, " * 65 + "), }"
    header += " " * (-(10 + len(header) + 1) % 64) + "\n"
    (bundle / entry).write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + bytes(4))

    def declare(manifest: dict) -> None:  # type: ignore[type-arg]
        for parameter in manifest["parameters"]:
            if parameter["path"] == entry:
                parameter["shape"] = [1] * 65

    edit_manifest(bundle, declare, rehash=entry)
    error = refused(bundle)
    assert "65 dimensions" in error.what and (error.where or "").endswith(entry)


def test_an_npy_declaring_2_to_the_60_elements_is_refused_before_allocating(bundle: Path) -> None:
    entry = next(p for p in json.loads((bundle / "results.json").read_text())["parameters"])["path"]
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1073741824, 1073741824), }"
    header += " " * (-(10 + len(header) + 1) % 64) + "\n"
    (bundle / entry).write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode())

    def declare(manifest: dict) -> None:  # type: ignore[type-arg]
        for parameter in manifest["parameters"]:
            if parameter["path"] == entry:
                parameter["shape"] = [1 << 30, 1 << 30]

    edit_manifest(bundle, declare, rehash=entry)
    assert "elements, more than" in refused(bundle).what


def test_a_6_gib_done_file_is_refused_without_reading_it(bundle: Path) -> None:
    with (bundle / "DONE").open("r+b") as handle:
        handle.truncate(6 << 30)  # sparse: costs no disk
    error = refused(bundle)
    assert "DONE is 6442450944 bytes" in error.what


def test_a_fifo_in_place_of_done_is_refused_at_once(bundle: Path) -> None:
    (bundle / "DONE").unlink()
    os.mkfifo(bundle / "DONE")
    assert "not a regular file" in refused(bundle).what


# -- compiled models -------------------------------------------------------------------------------------------


@pytest.fixture
def compiled(real_model_copy: Callable[[str], Path]) -> Path:
    copy = real_model_copy("mnist-classifier/MNISTClassifier.mlmodelc")
    read_compiled(copy)  # the untouched copy reads
    return copy


def edit_json(path: Path, change: Callable[[object], object]) -> None:
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


@pytest.mark.parametrize("value", ["abc", -3, 1.5, True, 2**40])
def test_a_malformed_espresso_shape_is_refused_naming_the_field(compiled: Path, value: object) -> None:
    shape = next(compiled.rglob("model.espresso.shape"))

    def corrupt(document: object) -> object:
        assert isinstance(document, dict)
        first = next(iter(document["layer_shapes"]))
        document["layer_shapes"][first]["n"] = value
        return document

    edit_json(shape, corrupt)
    with pytest.raises(CompiledModelError, match=r"layer_shapes\..*\.n is"):
        read_compiled(compiled)


@pytest.mark.parametrize("model_type", ["neuralNetwork", 7, ["x"], {"name": 3}])
def test_metadata_json_of_the_wrong_types_is_refused_naming_the_field(compiled: Path, model_type: object) -> None:
    (compiled / "metadata.json").write_text(json.dumps([{"modelType": model_type}]))
    with pytest.raises(CompiledModelError, match="modelType"):
        read_compiled(compiled)


def test_a_deeply_nested_espresso_net_is_refused(compiled: Path) -> None:
    net = next(compiled.rglob("model.espresso.net"))
    net.write_text('{"layers": ' + "[" * 5000 + "]" * 5000 + "}")
    with pytest.raises(CompiledModelError, match="nested 5001 deep"):
        read_compiled(compiled)


def test_an_oversized_weights_file_is_refused_before_reading(compiled: Path) -> None:
    weights = next(compiled.rglob("model.espresso.weights"))
    with weights.open("r+b") as handle:
        handle.truncate(5 << 30)  # sparse
    with pytest.raises(CompiledModelError, match="the weights file is 5368709120 bytes"):
        read_compiled(compiled)
