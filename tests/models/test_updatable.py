"""make_updatable: networks, classifiers, regressors and pipelines; bad requests; coremltools quirks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mlupdate._coreml import FeatureTypes_pb2, Model_pb2
from mlupdate.errors import ModelBuildError
from mlupdate.models.arrays import layer_weights
from mlupdate.models.spec import layers_by_name, neural_network
from mlupdate.models.updatable import Adam, Loss, Sgd, make_updatable
from mlupdate.models.validate import validate


def frozen(spec: Any) -> Any:
    """A non-updatable copy of a network spec, as a converter would have written it."""
    copy = Model_pb2.Model()
    copy.CopyFrom(spec)
    copy.isUpdatable = False
    copy.specificationVersion = 1
    network = neural_network(copy)
    network.ClearField("updateParams")
    del copy.description.trainingInput[:]
    for layer in network.layers:
        layer.isUpdatable = False
    return copy


def test_make_updatable_never_changes_the_callers_spec(cce: Any) -> None:
    source = frozen(cce)
    before = source.SerializeToString()
    result = make_updatable(source, ["fc2"], "cce", Sgd())
    assert source.SerializeToString() == before
    assert result is not source and validate(result) == []


def test_only_the_named_layers_stay_updatable(cce: Any) -> None:
    result = make_updatable(cce, ["fc2"], "cce", Sgd())
    layers = layers_by_name(result)
    assert not layers["fc1"].isUpdatable and not layers["fc1"].innerProduct.weights.isUpdatable
    assert layers["fc2"].isUpdatable and layers["fc2"].innerProduct.bias.isUpdatable
    assert validate(result) == []


def test_unknown_layer_name_lists_the_trainable_layers(cce: Any) -> None:
    with pytest.raises(ModelBuildError) as caught:
        make_updatable(cce, ["fc9"], "cce", Sgd())
    assert "fc9" in caught.value.what and "fc1, relu, fc2, softmax" in caught.value.what
    assert caught.value.fix is not None and "fc1, fc2" in caught.value.fix


def test_layers_other_than_inner_product_and_convolution_are_refused(cce: Any) -> None:
    with pytest.raises(ModelBuildError, match="activation layer"):
        make_updatable(cce, ["relu"], "cce", Sgd())


def test_no_layers_is_refused(cce: Any) -> None:
    with pytest.raises(ModelBuildError, match="no layers chosen"):
        make_updatable(cce, [], "cce", Sgd())


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: Sgd(lr=2.0), "Sgd.lr"),
        (lambda: Sgd(momentum=-0.1), "Sgd.momentum"),
        (lambda: Sgd(lr=0.5, lr_range=(1.0, 0.0)), "Sgd.lr"),
        (lambda: Sgd(batch=4, batch_set=(1, 2)), "Sgd.batch"),
        (lambda: Sgd(batch=0), "Sgd.batch"),
        (lambda: Adam(beta1=1.5), "Adam.beta1"),
        (lambda: Adam(eps=float("nan")), "Adam.eps"),
    ],
)
def test_optimizer_values_outside_their_ranges_are_refused_unlike_coremltools(make: Any, field: str) -> None:
    with pytest.raises(ModelBuildError) as caught:
        make()
    assert caught.value.where == field


def test_epochs_outside_the_allowed_set_are_refused(cce: Any) -> None:
    with pytest.raises(ModelBuildError, match="epochs=5"):
        make_updatable(cce, ["fc2"], "cce", Sgd(), epochs=5, epochs_set=[1, 2])


def test_optimizer_epochs_shuffle_and_seed_are_written(cce: Any) -> None:
    adam = Adam(lr=0.001, batch=4, batch_set=(1, 4, 8), beta2=0.99, eps=1e-6)
    result = make_updatable(cce, ["fc1", "fc2"], Loss("cce"), adam, epochs=3, shuffle=False, seed=42, epochs_set=[1, 3])
    params = neural_network(result).updateParams
    assert params.optimizer.adamOptimizer.learningRate.defaultValue == pytest.approx(0.001)
    assert list(params.optimizer.adamOptimizer.miniBatchSize.set.values) == [1, 4, 8]
    assert params.optimizer.adamOptimizer.beta2.defaultValue == pytest.approx(0.99)
    assert list(params.epochs.set.values) == [1, 3]
    assert params.shuffle.defaultValue is False
    assert params.seed.defaultValue == 42
    assert validate(result) == []


def test_fp16_weights_of_chosen_layers_are_widened_to_float32(cce: Any) -> None:
    source = frozen(cce)
    layer = layers_by_name(source)["fc2"]
    expected = layer_weights(layer)["weights"].astype(np.float16)
    layer.innerProduct.weights.ClearField("floatValue")
    layer.innerProduct.weights.float16Value = expected.tobytes()
    result = make_updatable(source, ["fc2"], "cce", Sgd())
    widened = layers_by_name(result)["fc2"].innerProduct.weights
    assert not widened.float16Value
    np.testing.assert_array_equal(np.asarray(widened.floatValue, np.float32), expected.astype(np.float32).ravel())
    assert validate(result) == []


def test_quantized_weights_are_refused(cce: Any) -> None:
    layers_by_name(cce)["fc2"].innerProduct.weights.quantization.numberOfBits = 8
    with pytest.raises(ModelBuildError, match="quantized"):
        make_updatable(cce, ["fc2"], "cce", Sgd())


def test_cce_without_a_softmax_is_refused(mse: Any) -> None:
    with pytest.raises(ModelBuildError, match="softmax"):
        make_updatable(mse, ["d2"], "cce", Sgd())


def test_cce_loss_input_that_is_no_softmax_output_is_refused_naming_the_softmax_outputs(cce: Any) -> None:
    for wrong in ("nosuch", "fc2_output"):
        with pytest.raises(
            ModelBuildError, match=f"the CCE loss input '{wrong}' is not the output of a `softmax`"
        ) as e:
            make_updatable(cce, ["fc2"], "cce", Sgd(), loss_input=wrong)
        assert e.value.fix is not None and "softmax outputs ['probs']" in e.value.fix
    named = make_updatable(cce, ["fc2"], "cce", Sgd(), loss_input="probs")
    assert neural_network(named).updateParams.lossLayers[0].categoricalCrossEntropyLossLayer.input == "probs"


def test_mse_defaults_to_the_only_output_and_targets_a_double_array(mse: Any) -> None:
    result = make_updatable(frozen(mse), ["d2"], "mse", Sgd())
    target = result.description.trainingInput[1]
    assert target.name == "y_true"
    assert list(target.type.multiArrayType.shape) == [2]
    assert validate(result) == []


def test_mse_on_an_internal_blob_is_refused_for_its_unknown_shape(mse: Any) -> None:
    with pytest.raises(ModelBuildError, match="not a multiArray output"):
        make_updatable(mse, ["d2"], "mse", Sgd(), loss_input="d1_output")


def test_classifier_cce_trains_on_the_label_not_an_index(classifier: Any) -> None:
    result = make_updatable(frozen(classifier), ["fc2"], "cce", Sgd())
    assert [(f.name, f.type.WhichOneof("Type")) for f in result.description.trainingInput] == [
        ("x", "multiArrayType"),
        ("label", "stringType"),
    ]


def test_plain_network_cce_trains_on_an_int32_index(cce: Any) -> None:
    result = make_updatable(frozen(cce), ["fc2"], "cce", Sgd())
    target = result.description.trainingInput[1]
    assert target.name == "probs_true"
    assert target.type.multiArrayType.dataType == FeatureTypes_pb2.ArrayFeatureType.INT32


@pytest.mark.parametrize("kind", ["pipeline", "pipelineClassifier"])
def test_pipeline_whose_last_model_is_a_network_is_made_updatable(kind: str, network_pipeline: Any) -> None:
    spec = network_pipeline(kind)
    assert [i.rule for i in validate(spec)] == ["not-updatable"]
    result = make_updatable(spec, ["fc"], "cce", Sgd(lr=0.1, batch=2), epochs=2)
    assert validate(result) == []
    assert result.isUpdatable and result.specificationVersion >= 4
    models = (result.pipeline if kind == "pipeline" else result.pipelineClassifier.pipeline).models
    assert [m.isUpdatable for m in models] == [False, True]
    assert all(m.specificationVersion >= 4 for m in models)
    assert [(f.name, f.type.WhichOneof("Type")) for f in result.description.trainingInput] == [
        ("x", "multiArrayType"),
        ("label", "stringType"),
    ]


def test_pipeline_ending_in_knn_is_sent_to_the_knn_builder(pipeline: Any) -> None:
    with pytest.raises(ModelBuildError, match="k-NN"):
        make_updatable(pipeline, ["x"], "cce", Sgd())
