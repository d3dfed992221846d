"""`validate` suggests a fix that works for the model at hand, and `inspect`/`validate` say whether the reference
can run the model, naming each layer it cannot run, before anything trains."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlharness.cli import main
from mlupdate._coreml import Model_pb2, NeuralNetworkBuilder, coremltools, datatypes
from mlupdate.models.inspect import inspect_model
from mlupdate.models.spec import Spec, load_spec, save_spec
from mlupdate.models.validate import validate
from mlupdate.reference.readiness import check_reference

NN = "tictactoe/NNClassifier.mlmodel"


def _fix(spec: Spec) -> str:
    (issue,) = [i for i in validate(spec) if i.rule == "not-updatable"]
    return issue.fix


def test_a_network_is_told_which_of_its_layers_make_updatable_takes(real_models: Path) -> None:
    fix = _fix(load_spec(real_models / NN))
    assert "mlharness make-updatable MODEL --layers dense_4 --loss cce" in fix
    assert "dense_1, dense_2, dense_3, dense_4" in fix


def test_a_regressor_network_is_told_to_use_mse() -> None:
    builder = NeuralNetworkBuilder([("x", datatypes.Array(3))], [("y", None)])
    builder.add_inner_product("fit", np.ones((1, 3)), None, 3, 1, False, "x", "y")
    assert "--layers fit --loss mse" in _fix(builder.spec)


def test_a_network_without_trainable_layers_is_not_told_to_pick_none() -> None:
    builder = NeuralNetworkBuilder([("x", datatypes.Array(3))], [("y", None)])
    builder.add_activation("act", "RELU", "x", "y")
    fix = _fix(builder.spec)
    assert "--layers" not in fix and "no innerProduct or convolution layer" in fix


def _tree_ensemble() -> Spec:
    tree = coremltools.models.tree_ensemble.TreeEnsembleClassifier(
        [("x", datatypes.Double())], class_labels=["a", "b"], output_features=[("label", datatypes.String())]
    )
    tree.add_leaf_node(0, 0, 0.5)
    return tree.spec


def _text_classifier() -> Spec:
    spec = Model_pb2.Model()
    spec.specificationVersion = 4
    spec.textClassifier.revision = 1
    spec.textClassifier.stringClassLabels.vector.extend(["spam", "ham"])
    text = spec.description.input.add()
    text.name = "text"
    text.type.stringType.SetInParent()
    label = spec.description.output.add()
    label.name = "label"
    label.type.stringType.SetInParent()
    return spec


@pytest.mark.parametrize(
    ("build", "kind"), [(_tree_ensemble, "treeEnsembleClassifier"), (_text_classifier, "textClassifier")]
)
def test_models_core_ml_cannot_update_are_not_told_to_run_make_updatable(build, kind: str) -> None:  # type: ignore[no-untyped-def]
    spec = build()
    fix = _fix(spec)
    assert "make-updatable" not in fix
    assert kind in fix and "cannot update" in fix
    check = check_reference(spec)
    assert not check.ready and kind in check.problems[0]


# coremltools keeps an ML Program's weights in a temporary folder that it leaves to the garbage collector.
@pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_ml_program_is_described_and_told_the_conversion_route(tmp_path: Path) -> None:
    from coremltools.converters.mil import Builder as mb

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 4))])
    def program(x):  # type: ignore[no-untyped-def]
        return mb.softmax(x=mb.linear(x=x, weight=np.ones((2, 4), np.float32)), axis=-1)

    model = coremltools.convert(program, convert_to="mlprogram")
    spec = model.get_spec()
    fix = _fix(spec)
    assert "convert_to='neuralnetwork'" in fix and "ML Programs cannot be updated" in fix
    report = inspect_model(spec)
    assert report.kind == "mlProgram" and report.program is not None and "linear" in report.program
    assert "ML Program: function main" in report.to_text()


def test_inspect_lists_every_layer_of_a_model_not_yet_updatable(real_models: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["inspect", str(real_models / NN), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [layer["name"] for layer in data["layers"]][::2] == ["dense_1", "dense_2", "dense_3", "dense_4"]
    dense = data["layers"][0]
    assert dense["type"] == "innerProduct" and dense["updatable"] is False and dense["can_be_updatable"]
    assert dense["weights"] == {"weights": [9, 9], "biases": [9]}
    assert dense["output_shapes"] == {"dense_1_output": [1, 1, 9, 1, 1]}
    assert data["reference"] == {"ready": True, "problems": []}


def _with_custom_layer(tmp_path: Path) -> Path:
    builder = NeuralNetworkBuilder([("x", datatypes.Array(3))], [("y", None)], disable_rank5_shape_mapping=True)
    layer = builder.nn_spec.layers.add()
    layer.name, layer.custom.className = "myLayer", "AppsOwnLayer"
    layer.input.append("x")
    layer.output.append("h")
    builder.add_inner_product("head", np.ones((2, 3)), None, 3, 2, False, "h", "y")
    return save_spec(builder.spec, tmp_path / "Custom.mlmodel")


def test_a_layer_the_reference_cannot_run_is_named_by_inspect_and_validate(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    model = _with_custom_layer(tmp_path)
    assert main(["validate", str(model)]) == 1
    out = capsys.readouterr().out
    assert "reference: cannot run this model" in out
    assert "myLayer (custom): the reference cannot run layer 'myLayer' of type custom" in out
    assert main(["inspect", str(model)]) == 0
    assert "myLayer (custom)" in capsys.readouterr().out
