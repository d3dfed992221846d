"""The compiled-model reader against the real Xcode-compiled MNIST classifier and variants of it."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlupdate._coreml import NeuralNetwork_pb2
from mlupdate.compiled import read_compiled
from mlupdate.errors import CompiledModelError
from mlupdate.models.spec import load_spec, neural_network

TRAINABLE = ("convolution", "innerProduct")


def spec_arrays(spec_path: Path) -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for layer in neural_network(load_spec(spec_path)).layers:
        kind = layer.WhichOneof("layer")
        if kind in TRAINABLE:
            body = getattr(layer, kind)
            out[layer.name] = {
                "weights": np.asarray(body.weights.floatValue, dtype=np.float32),
                "biases": np.asarray(body.bias.floatValue, dtype=np.float32),
            }
    return out


def test_fixture_mlmodelc_weights_are_bit_identical_to_the_mlmodel(mnist_pair: tuple[Path, Path]) -> None:
    spec_path, compiled_path = mnist_pair
    expected = spec_arrays(spec_path)
    compiled = read_compiled(compiled_path)
    assert set(expected) == {name for name, _ in compiled.parameters()}
    for name, arrays in expected.items():
        got = compiled.weights_for(name)
        for kind in ("weights", "biases"):
            assert got[kind].dtype == np.float32
            assert got[kind].ravel().tobytes() == arrays[kind].tobytes(), f"{name}.{kind} differs"


def test_fixture_layers_come_back_in_spec_layout(mnist_pair: tuple[Path, Path]) -> None:
    compiled = read_compiled(mnist_pair[1])
    assert compiled.weights_for("drawing_conv1_fwd")["weights"].shape == (32, 16, 3, 3)
    assert compiled.weights_for("drawing_dense0_fwd")["weights"].shape == (128, 576)
    dense1 = compiled.layer("drawing_dense1_fwd")
    assert dense1.weights["biases"].shape == (10,)
    assert any("30 trailing zeros trimmed" in note for note in dense1.notes)
    assert "fused relu activation" in compiled.layer("drawing_conv0_fwd").notes
    assert compiled.layer("drawing_dense0_fwd").output_shape == (1, 128, 1, 1)
    assert compiled.transform_params["image"]["scale"] == pytest.approx(1 / 255)


def test_fixture_blobs_with_content_that_no_layer_uses_are_listed(mnist_pair: tuple[Path, Path]) -> None:
    # Checked by hand against model.espresso.net: its layers refer to the odd ids 1..19; of the rest, only
    # blob 0 (56 bytes) and blob 18 (32 bytes) hold data - the even ids in between are empty.
    assert read_compiled(mnist_pair[1]).unreferenced_blobs == {"model.espresso.weights": (0, 18)}


def test_fixture_description_matches_the_spec(mnist_pair: tuple[Path, Path]) -> None:
    spec = load_spec(mnist_pair[0])
    compiled = read_compiled(mnist_pair[1])
    assert compiled.description == spec.description
    assert compiled.model_type == "neuralNetworkClassifier"
    assert compiled.update_parameters is None


def test_description_is_found_when_the_header_is_longer(
    mnist_compiled_copy: Path, mnist_pair: tuple[Path, Path]
) -> None:
    path = mnist_compiled_copy / "coremldata.bin"
    data = path.read_bytes()
    path.write_bytes(data[:0x40] + b"\x00" * 12 + data[0x40:])
    assert read_compiled(mnist_compiled_copy).description == load_spec(mnist_pair[0]).description


def test_truncated_weights_file_is_refused_naming_the_file(mnist_compiled_copy: Path) -> None:
    path = mnist_compiled_copy / "model.espresso.weights"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CompiledModelError, match="truncated") as info:
        read_compiled(mnist_compiled_copy)
    assert info.value.where == str(path)


def test_truncated_blob_table_is_refused(mnist_compiled_copy: Path) -> None:
    path = mnist_compiled_copy / "model.espresso.weights"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CompiledModelError, match="blob table of 20 entries"):
        read_compiled(mnist_compiled_copy)


@pytest.mark.parametrize("name", ["model.espresso.weights", "model.espresso.net", "coremldata.bin"])
def test_missing_file_is_refused_naming_it(mnist_compiled_copy: Path, name: str) -> None:
    (mnist_compiled_copy / name).unlink()
    with pytest.raises(CompiledModelError, match="missing") as info:
        read_compiled(mnist_compiled_copy)
    assert info.value.where is not None
    assert info.value.where.endswith(name)


def test_truncated_net_json_is_refused(mnist_compiled_copy: Path) -> None:
    path = mnist_compiled_copy / "model.espresso.net"
    path.write_text(path.read_text()[:500])
    with pytest.raises(CompiledModelError, match="not valid JSON") as info:
        read_compiled(mnist_compiled_copy)
    assert info.value.where == str(path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda net: {"storage": net["storage"]}, "has no `layers` list; this is not an espresso network"),
        (lambda net: {**net, "layers": [{"name": "untyped"}]}, "layers[0] has no `type`"),
    ],
)
def test_net_json_without_typed_layers_is_refused(
    mnist_compiled_copy: Path, edit: Callable[[dict[str, Any]], dict[str, Any]], message: str
) -> None:
    path = mnist_compiled_copy / "model.espresso.net"
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    with pytest.raises(CompiledModelError, match=re.escape(message)) as info:
        read_compiled(mnist_compiled_copy)
    assert info.value.where == str(path)


def test_coremldata_without_a_description_is_refused(mnist_compiled_copy: Path) -> None:
    path = mnist_compiled_copy / "coremldata.bin"
    path.write_bytes(path.read_bytes()[:0x60])
    with pytest.raises(CompiledModelError, match="no length-prefixed ModelDescription"):
        read_compiled(mnist_compiled_copy)


def test_missing_folder_and_file_paths_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CompiledModelError, match="no such folder"):
        read_compiled(tmp_path / "Absent.mlmodelc")
    model_file = tmp_path / "Model.mlmodel"
    model_file.write_bytes(b"x")
    with pytest.raises(CompiledModelError, match="is a file"):
        read_compiled(model_file)


def test_unknown_layer_name_lists_the_known_ones(mnist_pair: tuple[Path, Path]) -> None:
    with pytest.raises(CompiledModelError, match="no layer 'dense_9'") as info:
        read_compiled(mnist_pair[1]).weights_for("dense_9")
    assert info.value.fix is not None
    assert "drawing_dense1_fwd" in info.value.fix


def test_unpadded_biases_as_core_ml_writes_them_read_the_same(
    mnist_compiled_copy: Path, mnist_pair: tuple[Path, Path], read_blobs: Any, write_blobs: Any
) -> None:
    path = mnist_compiled_copy / "model.espresso.weights"
    blobs = read_blobs(path)
    blobs[17] = blobs[17][: 10 * 4]
    blobs[13] = blobs[13][: 128 * 4]
    write_blobs(path, blobs)
    dense1 = read_compiled(mnist_compiled_copy).layer("drawing_dense1_fwd")
    assert dense1.weights["biases"].tobytes() == spec_arrays(mnist_pair[0])["drawing_dense1_fwd"]["biases"].tobytes()
    assert not any("trimmed" in note for note in dense1.notes)


def test_nonzero_bias_padding_is_refused(mnist_compiled_copy: Path, read_blobs: Any, write_blobs: Any) -> None:
    path = mnist_compiled_copy / "model.espresso.weights"
    blobs = read_blobs(path)
    blobs[17] = blobs[17][:-4] + np.float32(1.0).tobytes()
    write_blobs(path, blobs)
    with pytest.raises(CompiledModelError, match="padding is not zero"):
        read_compiled(mnist_compiled_copy)


def test_weight_blob_of_the_wrong_size_is_refused(mnist_compiled_copy: Path, read_blobs: Any, write_blobs: Any) -> None:
    path = mnist_compiled_copy / "model.espresso.weights"
    blobs = read_blobs(path)
    blobs[19] = blobs[19][:-8]
    write_blobs(path, blobs)
    with pytest.raises(CompiledModelError, match=r"drawing_dense1_fwd.*1278 values"):
        read_compiled(mnist_compiled_copy)


def test_float16_weight_blobs_are_widened_and_noted(
    mnist_compiled_copy: Path, read_blobs: Any, write_blobs: Any, mnist_pair: tuple[Path, Path]
) -> None:
    weights_path = mnist_compiled_copy / "model.espresso.weights"
    blobs = read_blobs(weights_path)
    expected = np.frombuffer(blobs[19], dtype="<f4").astype("<f2")
    blobs[19] = expected.tobytes()
    write_blobs(weights_path, blobs)
    net_path = mnist_compiled_copy / "model.espresso.net"
    net = json.loads(net_path.read_text())
    dense1 = next(layer for layer in net["layers"] if layer["name"] == "drawing_dense1_fwd")
    dense1["blob_weights_f16"] = dense1.pop("blob_weights")
    net_path.write_text(json.dumps(net))
    layer = read_compiled(mnist_compiled_copy).layer("drawing_dense1_fwd")
    assert layer.weights["weights"].dtype == np.float32
    np.testing.assert_array_equal(layer.weights["weights"].ravel(), expected.astype(np.float32))
    assert any("float16" in note for note in layer.notes)
    # typed on the layer, so parity gives it the float16 tolerance (a note's text is for people, not for checks)
    assert (layer.storage("weights"), layer.storage("biases")) == ("float16", "float32")


def test_update_parameters_of_an_updatable_model_are_read(mnist_compiled_copy: Path, real_models: Path) -> None:
    # The tictactoe model's real update parameters, stored where a compiled updatable model keeps them.
    spec = load_spec(real_models / "tictactoe" / "UpdatableNNClassifier.mlmodel")
    params = spec.neuralNetworkClassifier.updateParams
    target = mnist_compiled_copy / "updateParameters" / "NetworkUpdateParameters"
    target.mkdir(parents=True)
    (target / "coremldata.bin").write_bytes(params.SerializeToString())
    update = read_compiled(mnist_compiled_copy).update_parameters
    assert update is not None
    assert update.optimizer == "sgd"
    assert update.defaults["learningRate"] == pytest.approx(0.05)
    assert update.defaults["miniBatchSize"] == 1
    assert update.defaults["epochs"] == 10
    assert update.defaults["shuffle"] is True
    assert [loss.kind for loss in update.losses] == ["categoricalCrossEntropy"]
    assert update.losses[0].target == "pickProbabilities_true"


def test_adam_update_parameters_are_read(mnist_compiled_copy: Path, real_models: Path) -> None:
    spec = load_spec(real_models / "prayer-auto-advance" / "PrayerAutoAdvance.mlmodel")
    target = mnist_compiled_copy / "updateParameters" / "NetworkUpdateParameters"
    target.mkdir(parents=True)
    (target / "coremldata.bin").write_bytes(spec.neuralNetwork.updateParams.SerializeToString())
    update = read_compiled(mnist_compiled_copy).update_parameters
    assert update is not None
    assert update.optimizer == "adam"
    assert update.defaults["beta2"] == pytest.approx(0.999)
    assert update.defaults["eps"] == pytest.approx(1e-8)


def test_empty_update_parameters_file_is_refused(mnist_compiled_copy: Path) -> None:
    target = mnist_compiled_copy / "updateParameters" / "NetworkUpdateParameters"
    target.mkdir(parents=True)
    (target / "coremldata.bin").write_bytes(NeuralNetwork_pb2.NetworkUpdateParameters().SerializeToString())
    with pytest.raises(CompiledModelError, match="neither a loss nor an optimizer"):
        read_compiled(mnist_compiled_copy)


def test_pipeline_sub_model_layers_are_scoped_by_folder(mnist_pair: tuple[Path, Path], tmp_path: Path) -> None:
    root = tmp_path / "Pipeline.mlmodelc"
    root.mkdir()
    shutil.copyfile(mnist_pair[1] / "coremldata.bin", root / "coremldata.bin")
    shutil.copytree(mnist_pair[1], root / "model1")
    compiled = read_compiled(root)
    assert compiled.layer("model1.drawing_dense1_fwd").scope == "model1"
    assert ("model1.drawing_dense1_fwd", "biases") in compiled.parameters()
