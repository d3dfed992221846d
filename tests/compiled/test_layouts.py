"""Compiled layouts a user meets beyond a plain network: pipelines with the network in a sub-folder, Create ML
image classifiers (feature print + GLM, no network to read), a compiled k-NN with its stored examples and k, and
the allowed ranges and sets of the update parameters.

The folder layouts and metadata.json follow a public compiled copy of Apple's UpdatableDrawingClassifier
(model0/ network, model1/ k-NN with modelParameters/numberOfNeighbors/); the bytes inside the k-NN files follow
the assumption documented in mlupdate.compiled.knn (no public copy of those bytes was available).
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from mlupdate._coreml import NearestNeighbors_pb2, Parameters_pb2
from mlupdate.compiled import read_compiled
from mlupdate.errors import CompiledModelError
from mlupdate.models.spec import load_spec

HEADER = b"\x01\x00\x00\x00" * 4  # a short header before the length-prefixed message


def _prefixed(message: bytes) -> bytes:
    return HEADER + struct.pack("<Q", len(message)) + message


def _metadata(root: Path, name: str, structure: list[str], **extra: object) -> None:
    entry = {
        "modelType": {"name": f"MLModelType_{name}", "structure": [{"name": f"MLModelType_{s}"} for s in structure]},
        **extra,
    }
    (root / "metadata.json").write_text(json.dumps([entry]))


def _knn_message(samples: np.ndarray, labels: list[str]) -> NearestNeighbors_pb2.KNearestNeighborsClassifier:
    knn = NearestNeighbors_pb2.KNearestNeighborsClassifier()
    index = knn.nearestNeighborsIndex
    index.numberOfDimensions = samples.shape[1]
    index.linearIndex.SetInParent()
    index.squaredEuclideanDistance.SetInParent()
    for sample in samples:
        index.floatSamples.add().vector.extend(sample.tolist())
    knn.stringClassLabels.vector.extend(labels)
    knn.numberOfNeighbors.defaultValue = 3
    knn.numberOfNeighbors.range.minValue, knn.numberOfNeighbors.range.maxValue = 1, 10
    knn.uniformWeighting.SetInParent()
    return knn


@pytest.fixture
def drawing_pipeline(mnist_pair: tuple[Path, Path], tmp_path: Path) -> tuple[Path, np.ndarray]:
    """UpdatableDrawingClassifier's layout: the MNIST network in model0/, a k-NN with 4 stored drawings in model1/."""
    root = tmp_path / "UpdatableDrawingClassifier.mlmodelc"
    root.mkdir()
    shutil.copyfile(mnist_pair[1] / "coremldata.bin", root / "coremldata.bin")
    shutil.copytree(mnist_pair[1], root / "model0")
    (root / "model0" / "metadata.json").unlink()
    samples = np.random.default_rng(0).normal(size=(4, 10)).astype(np.float32)
    stage = root / "model1"
    (stage / "modelParameters" / "numberOfNeighbors").mkdir(parents=True)
    (stage / "coremldata.bin").write_bytes(
        _prefixed(_knn_message(samples, ["star", "star", "heart", "moon"]).SerializeToString())
    )
    k = Parameters_pb2.Int64Parameter(defaultValue=5)
    k.range.minValue, k.range.maxValue = 1, 1000
    (stage / "modelParameters" / "numberOfNeighbors" / "coremldata.bin").write_bytes(_prefixed(k.SerializeToString()))
    _metadata(
        root,
        "pipelineClassifier",
        ["neuralNetwork", "kNearestNeighborsClassifier"],
        isUpdatable="1",
        modelParameters=[
            {
                "name": "numberOfNeighbors",
                "scope": "model1",
                "defaultValue": "5",
                "allowedRange": "[1, 1000]",
                "dataType": "Int64",
            }
        ],
        updateParameters=[],
    )
    return root, samples


def test_a_compiled_knn_pipeline_reads_its_network_and_its_stored_examples(
    drawing_pipeline: tuple[Path, np.ndarray],
) -> None:
    root, samples = drawing_pipeline
    compiled = read_compiled(root)
    assert compiled.model_type == "pipelineClassifier"
    assert compiled.layer("model0.drawing_dense1_fwd").scope == "model0"
    knn = compiled.knn
    assert knn is not None and knn.scope == "model1" and knn.dimension == 10
    np.testing.assert_array_equal(knn.examples, samples)
    assert knn.labels == ("star", "star", "heart", "moon")
    assert (knn.k, knn.k_range) == (5, (1, 1000))  # the parameter file's k and range, not the message default
    assert compiled.metadata is not None and compiled.metadata.updatable is True


def test_the_metadata_range_stands_in_when_the_parameter_file_is_absent(
    drawing_pipeline: tuple[Path, np.ndarray],
) -> None:
    root, _ = drawing_pipeline
    shutil.rmtree(root / "model1" / "modelParameters")
    knn = read_compiled(root).knn
    assert knn is not None and knn.k == 3 and knn.k_range == (1, 10)  # from the k-NN message itself


def test_a_knn_stage_without_a_readable_classifier_is_refused(drawing_pipeline: tuple[Path, np.ndarray]) -> None:
    root, _ = drawing_pipeline
    (root / "model1" / "coremldata.bin").write_bytes(b"\0" * 40)
    with pytest.raises(CompiledModelError, match="no k-NN classifier found") as info:
        read_compiled(root)
    assert info.value.where is not None and info.value.where.endswith("model1/coremldata.bin")


def test_a_create_ml_image_classifier_has_no_network_to_read(mnist_pair: tuple[Path, Path], tmp_path: Path) -> None:
    root = tmp_path / "ImageClassifier.mlmodelc"
    for stage in ("model0", "model1"):
        (root / stage).mkdir(parents=True)
        (root / stage / "coremldata.bin").write_bytes(b"\x02" * 32)
    shutil.copyfile(mnist_pair[1] / "coremldata.bin", root / "coremldata.bin")
    _metadata(root, "pipelineClassifier", ["visionFeaturePrint", "glmClassifier"])
    compiled = read_compiled(root)
    assert compiled.layers == () and compiled.knn is None and compiled.update_parameters is None
    assert compiled.metadata is not None and compiled.metadata.structure == ("visionFeaturePrint", "glmClassifier")


def test_a_pipeline_whose_network_stage_lost_its_files_is_named_incomplete(
    drawing_pipeline: tuple[Path, np.ndarray],
) -> None:
    root, _ = drawing_pipeline
    for name in ("model.espresso.net", "model.espresso.shape", "model.espresso.weights"):
        (root / "model0" / name).unlink()
    with pytest.raises(CompiledModelError, match=r"model\.espresso\.net is missing"):
        read_compiled(root)


def test_update_parameters_keep_their_allowed_ranges_and_sets(mnist_compiled_copy: Path, real_models: Path) -> None:
    spec = load_spec(real_models / "sleep-predictor" / "SleepPredictorUpdatable.mlmodel")
    target = mnist_compiled_copy / "updateParameters" / "NetworkUpdateParameters"
    target.mkdir(parents=True)
    (target / "coremldata.bin").write_bytes(spec.neuralNetwork.updateParams.SerializeToString())
    update = read_compiled(mnist_compiled_copy).update_parameters
    assert update is not None
    assert update.allowed["miniBatchSize"] == {"set": [16]}
    assert update.allowed["epochs"] == {"set": [50]}
    assert update.allowed["learningRate"] == {"range": [0.0, 1.0]}
    assert update.to_dict()["allowed"]["miniBatchSize"] == {"set": [16]}


def test_inspect_describes_a_compiled_knn_pipeline(drawing_pipeline: tuple[Path, np.ndarray], capsys) -> None:  # type: ignore[no-untyped-def]
    from mlharness.cli import main

    root, _ = drawing_pipeline
    assert main(["inspect", str(root)]) == 0
    out = capsys.readouterr().out
    assert "pipeline: neuralNetwork -> kNearestNeighborsClassifier" in out
    assert "k-NN (model1): 4 stored examples of dimension 10, labels ['heart', 'moon', 'star'], k 5" in out
