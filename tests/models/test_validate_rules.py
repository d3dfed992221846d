"""One model per Core ML rule for updatable models: each breaks exactly that rule and gets Core ML's message."""

from __future__ import annotations

from typing import Any

import pytest

from mlupdate._coreml import FeatureTypes_pb2, Model_pb2, NeuralNetworkBuilder, SgdParams
from mlupdate.errors import ModelInvalidError
from mlupdate.models.spec import neural_network
from mlupdate.models.validate import ValidationIssue, ensure_valid, is_updatable, validate


def only(spec: Any, rule: str) -> ValidationIssue:
    issues = validate(spec)
    assert [issue.rule for issue in issues] == [rule], [str(i) for i in issues]
    return issues[0]


def layer(spec: Any, name: str) -> Any:
    return next(item for item in neural_network(spec).layers if item.name == name)


def params(spec: Any) -> Any:
    return neural_network(spec).updateParams


# --- every starting model is valid -------------------------------------------------------------------------------


def test_the_starting_models_are_valid(cce: Any, classifier: Any, mse: Any, knn: Any, pipeline: Any) -> None:
    for spec in (cce, classifier, mse, knn, pipeline):
        assert validate(spec) == []
        assert is_updatable(spec)
        ensure_valid(spec, "starting model")


def test_not_updatable_model_gets_a_single_not_updatable_issue(cce: Any) -> None:
    cce.isUpdatable = False
    issue = only(cce, "not-updatable")
    assert "not marked as updatable" in issue.message
    assert not is_updatable(cce)


def test_ensure_valid_raises_model_invalid_error_listing_the_issues(cce: Any) -> None:
    cce.specificationVersion = 3
    with pytest.raises(ModelInvalidError) as caught:
        ensure_valid(cce, "m.mlmodel")
    assert caught.value.where == "m.mlmodel"
    assert [issue.rule for issue in caught.value.issues] == ["spec-version"]
    assert "[spec-version]" in caught.value.message


# --- rules 1-2 ----------------------------------------------------------------------------------------------------


def test_rule_spec_version_below_4(cce: Any) -> None:
    cce.specificationVersion = 3
    issue = only(cce, "spec-version")
    assert issue.message == "Model specification version for an updatable model must be '4' or above."
    assert issue.where == "specificationVersion"


@pytest.mark.parametrize("kind", ["mlProgram", "identity", "glmClassifier"])
def test_rule_model_type_not_updatable_kind(kind: str) -> None:
    spec = Model_pb2.Model()
    spec.specificationVersion = 7
    spec.isUpdatable = True
    getattr(spec, kind).SetInParent()
    issue = only(spec, "model-type")
    assert issue.message == "This model type is not supported for on-device update."
    if kind == "mlProgram":
        assert "neuralnetwork" in issue.fix


# --- rule 3: pipelines --------------------------------------------------------------------------------------------


def test_rule_pipeline_only_last_model_updatable(pipeline: Any) -> None:
    pipeline.pipelineClassifier.pipeline.models[0].isUpdatable = True
    issue = only(pipeline, "pipeline-only-last-updatable")
    assert issue.message == (
        "Only the last model in the pipeline can be updatable. Model at position '0' is marked as updatable."
    )
    assert issue.where == "model0"


def test_rule_pipeline_last_model_must_be_updatable(pipeline: Any) -> None:
    pipeline.pipelineClassifier.pipeline.models[1].isUpdatable = False
    issue = only(pipeline, "pipeline-last-not-updatable")
    assert issue.message == "Last model in an updatable pipeline model should be marked as updatable."


def test_rule_updatable_model_inside_frozen_pipeline(pipeline: Any) -> None:
    pipeline.isUpdatable = False
    issues = validate(pipeline)
    assert [i.rule for i in issues] == ["not-updatable", "pipeline-updatable-in-frozen"]
    assert issues[1].message == "Found an updatable model at '1' inside a non-updatable pipeline."


def test_rule_pipeline_without_models() -> None:
    spec = Model_pb2.Model()
    spec.specificationVersion = 4
    spec.isUpdatable = True
    spec.pipeline.SetInParent()
    assert only(spec, "pipeline-empty").message == "Pipeline must contain one or more models."


def test_rule_pipeline_wiring_input_not_produced(pipeline: Any) -> None:
    pipeline.pipelineClassifier.pipeline.models[1].description.input[0].name = "nowhere"
    pipeline.pipelineClassifier.pipeline.models[1].description.trainingInput[0].name = "nowhere"
    issue = only(pipeline, "pipeline-wiring")
    assert "the input 'nowhere' of model 'model1' does not present in pipeline input" in issue.message


def test_rule_pipeline_wiring_type_mismatch(pipeline: Any) -> None:
    knn = pipeline.pipelineClassifier.pipeline.models[1]
    for feature in (knn.description.input[0], knn.description.trainingInput[0]):
        feature.type.multiArrayType.dataType = FeatureTypes_pb2.ArrayFeatureType.DOUBLE
    assert "does not match the type previously specified" in only(pipeline, "pipeline-wiring").message


def test_rule_pipeline_names_unique(pipeline: Any) -> None:
    pipeline.pipelineClassifier.pipeline.names.extend(["same", "same"])
    assert only(pipeline, "pipeline-names").where == "pipeline/names"


def test_pipeline_issues_inside_the_updatable_model_carry_its_scope(pipeline: Any) -> None:
    pipeline.pipelineClassifier.pipeline.models[1].specificationVersion = 3
    assert only(pipeline, "spec-version").where == "model1/specificationVersion"


# --- rules 4-5: updatable layers and their weights ------------------------------------------------------------


def test_rule_no_updatable_layer(cce: Any) -> None:
    for item in neural_network(cce).layers:
        item.isUpdatable = False
    issue = only(cce, "no-updatable-layer")
    assert issue.message == "The model is marked as updatable, but none of the layers are updatable."


def test_rule_updatable_layer_type(cce: Any) -> None:
    layer(cce, "relu").isUpdatable = True
    issue = only(cce, "updatable-layer-type")
    assert issue.message == (
        "The layer named 'relu' is marked as updatable, however, it is not supported as the type of this layer is "
        "neither convolution nor inner-product."
    )
    assert issue.where == "layers/relu"


def test_rule_weights_not_marked_updatable(cce: Any) -> None:
    layer(cce, "fc2").innerProduct.bias.isUpdatable = False
    issue = only(cce, "weights-not-updatable")
    assert issue.message == "An updatable layer, named 'fc2', has a weight/bias param which is not marked as updatable."


def test_rule_quantized_weights(cce: Any) -> None:
    layer(cce, "fc2").innerProduct.weights.quantization.numberOfBits = 8
    issue = only(cce, "weights-quantized")
    assert issue.message == (
        "An updatable layer, named 'fc2', has quantized weights/bias param. Quantized weights/bias not supported "
        "for update."
    )


def test_rule_fp16_weights(cce: Any) -> None:
    weights = layer(cce, "fc2").innerProduct.weights
    count = len(weights.floatValue)
    weights.ClearField("floatValue")
    weights.float16Value = b"\x00\x3c" * count
    assert "FP16" in only(cce, "weights-fp16").message


# --- rules 6-7: names and loss count -----------------------------------------------------------------------------


def test_rule_name_collision_between_layer_and_loss(cce: Any) -> None:
    params(cce).lossLayers[0].name = "fc1"
    issue = only(cce, "name-collision")
    assert issue.message == (
        "The updatable model has a name collision for: 'fc1', i.e., there are more than one layers or loss layers "
        "with this name."
    )


def test_rule_more_than_one_loss(cce: Any) -> None:
    second = params(cce).lossLayers.add()
    second.CopyFrom(params(cce).lossLayers[0])
    second.name = "loss2"
    issue = only(cce, "one-loss")
    assert issue.message == "This model has more than one loss layers specified, which is not supported at the moment."


def test_rule_loss_missing(cce: Any) -> None:
    params(cce).ClearField("lossLayers")
    assert only(cce, "loss-missing").where == "updateParams/lossLayers"


def test_rule_loss_type_not_set(cce: Any) -> None:
    params(cce).lossLayers[0].ClearField("categoricalCrossEntropyLossLayer")
    assert only(cce, "loss-type").message == (
        "Loss function is not recognized in the loss layer named 'lossLayer', only cross entropy loss and MSE are "
        "supported."
    )


# --- rules 8-9: loss inputs and targets --------------------------------------------------------------------------


def test_rule_cce_input_not_from_softmax(cce: Any) -> None:
    params(cce).lossLayers[0].categoricalCrossEntropyLossLayer.input = "fc2_output"
    issue = only(cce, "cce-input-softmax")
    assert issue.message == (
        "For the categorical cross entropy loss layer named 'lossLayer', input is not generated from a softmax output."
    )


def test_softmax_nd_before_cce_breaks_the_softmax_rule_and_the_backprop_path(cce: Any) -> None:
    softmax = layer(cce, "softmax")
    softmax.softmaxND.axis = -1
    assert [issue.rule for issue in validate(cce)] == ["cce-input-softmax", "backprop-path"]


def test_rule_cce_target_produced_in_graph(cce: Any) -> None:
    params(cce).lossLayers[0].categoricalCrossEntropyLossLayer.target = "relu_output"
    cce.description.trainingInput[1].name = "relu_output"
    issue = only(cce, "cce-target-in-graph")
    assert issue.message == "For the cross entropy loss layer named 'lossLayer', target is generated within the graph."


def test_rule_mse_input_not_produced_in_graph(mse: Any) -> None:
    params(mse).lossLayers[0].meanSquaredErrorLossLayer.input = "f"
    issue = only(mse, "mse-input-not-in-graph")
    assert issue.message == "For the MSE loss layer named 'lossLayer', input is not generated within the graph."


def test_rule_mse_target_produced_in_graph(mse: Any) -> None:
    params(mse).lossLayers[0].meanSquaredErrorLossLayer.target = "d1_output"
    mse.description.trainingInput[1].name = "d1_output"
    issue = only(mse, "mse-target-in-graph")
    assert issue.message == "For the MSE loss layer named 'lossLayer', target is generated within the graph."


# --- rules 10-12: optimizer, epochs, parameter ranges/sets ---------------------------------------------------


def test_rule_optimizer_missing(cce: Any) -> None:
    params(cce).ClearField("optimizer")
    assert only(cce, "optimizer-missing").message == "Optimizer is not recognized."


def test_rule_sgd_requires_mini_batch_size(cce: Any) -> None:
    params(cce).optimizer.sgdOptimizer.ClearField("miniBatchSize")
    issue = only(cce, "optimizer-field-missing")
    assert issue.message == "SGD optimizer should include miniBatchSize parameter."


def test_sgd_without_momentum_is_valid(cce: Any) -> None:
    params(cce).optimizer.sgdOptimizer.ClearField("momentum")
    assert validate(cce) == []


def test_rule_adam_requires_beta2(cce: Any) -> None:
    optimizer = params(cce).optimizer
    optimizer.adamOptimizer.learningRate.defaultValue = 0.01
    optimizer.adamOptimizer.miniBatchSize.defaultValue = 2
    optimizer.adamOptimizer.beta1.defaultValue = 0.9
    optimizer.adamOptimizer.eps.defaultValue = 1e-8
    issue = only(cce, "optimizer-field-missing")
    assert issue.message == "ADAM optimizer should include beta2 parameter."


def test_rule_epochs_missing(cce: Any) -> None:
    params(cce).ClearField("epochs")
    assert only(cce, "epochs-missing").message == "Epochs should be included in neural network update parameters."


def test_rule_learning_rate_outside_range(cce: Any) -> None:
    params(cce).optimizer.sgdOptimizer.learningRate.defaultValue = 2.0
    issue = only(cce, "parameter-out-of-range")
    assert issue.message == "Specified Default Value (2.000000) out of Allowed Value Range for 'learningRate'"
    assert issue.where == "updateParams/optimizer/sgdOptimizer/learningRate"


def test_coremltools_sgd_params_lr_2_is_accepted_by_coremltools_but_rejected_here(cce: Any) -> None:
    # SgdParams(lr=2.0) keeps its default range [0, 1]: coremltools writes it, Core ML refuses the model.

    builder = NeuralNetworkBuilder(spec=cce)
    builder.set_sgd_optimizer(SgdParams(lr=2.0, batch=2))
    assert only(builder.spec, "parameter-out-of-range").message.startswith("Specified Default Value (2.000000)")


def test_rule_epochs_default_not_in_set(cce: Any) -> None:
    params(cce).epochs.defaultValue = 3
    issue = only(cce, "parameter-not-in-set")
    assert issue.message == "Specified Default Value (3) not found in Allowed Values Set for 'epochs'"


def test_rule_batch_default_not_positive(cce: Any) -> None:
    params(cce).optimizer.sgdOptimizer.miniBatchSize.defaultValue = 0
    issue = only(cce, "parameter-not-positive")
    assert issue.message == "Default Value (0) for 'miniBatchSize' expected to be a positive value."


def test_rule_non_positive_value_in_set_before_the_default(cce: Any) -> None:
    batch = params(cce).optimizer.sgdOptimizer.miniBatchSize
    batch.set.ClearField("values")
    batch.set.values.extend([0, 2])
    issue = only(cce, "parameter-set-not-positive")
    assert issue.message == "Non-positive value (0) in Allowed Values Set for 'miniBatchSize' is not allowed."


def test_rule_non_positive_range_for_epochs(cce: Any) -> None:
    epochs = params(cce).epochs
    epochs.range.minValue, epochs.range.maxValue = 0, 10
    issue = only(cce, "parameter-range-not-positive")
    assert issue.message == "Non-positive min value (0) in Allowed Value Range for 'epochs' is not allowed."


def test_rule_seed_outside_its_range_but_negative_seeds_allowed(cce: Any) -> None:
    seed = params(cce).seed
    seed.defaultValue = -5
    assert validate(cce) == []
    seed.range.minValue, seed.range.maxValue = 0, 10
    assert only(cce, "parameter-out-of-range").message == (
        "Specified Default Value (-5) out of Allowed Value Range for 'seed'"
    )


# --- rule 13: the back-propagation path --------------------------------------------------------------------------


def test_rule_backprop_path_through_a_non_backpropagable_activation(cce: Any) -> None:
    layer(cce, "relu").activation.leakyReLU.alpha = 0.1
    issue = only(cce, "backprop-path")
    assert issue.message == (
        "There is a layer (relu), which does not support backpropagation, between an updatable marked layer and the "
        "loss function."
    )
    assert issue.where == "layers/relu"


def test_non_backpropagable_layer_upstream_of_all_updatable_layers_is_allowed(cce: Any) -> None:
    layer(cce, "relu").activation.leakyReLU.alpha = 0.1
    layer(cce, "fc1").isUpdatable = False
    assert validate(cce) == []


# --- rule 14: training inputs ------------------------------------------------------------------------------------


def test_rule_training_inputs_need_two(cce: Any) -> None:
    del cce.description.trainingInput[1:]
    assert only(cce, "training-inputs-count").message == (
        "Must provide training inputs for updatable neural network (expecting both input and target for loss function)."
    )


def test_rule_training_inputs_without_a_target(cce: Any) -> None:
    cce.description.trainingInput[1].CopyFrom(cce.description.input[0])
    assert only(cce, "training-inputs-no-target").message == (
        "Training inputs don't describe required inputs for the loss (needs both the input and the target)."
    )


def test_rule_training_inputs_without_a_model_input(cce: Any) -> None:
    cce.description.trainingInput[0].type.multiArrayType.dataType = FeatureTypes_pb2.ArrayFeatureType.FLOAT32
    assert only(cce, "training-inputs-no-model-input").message.startswith(
        "The training inputs must include at least one input from the model itself"
    )


def test_rule_training_target_missing(cce: Any) -> None:
    cce.description.trainingInput[1].name = "something_else"
    assert only(cce, "training-target-missing").message == (
        "The training inputs don't include the loss layer's target: probs_true"
    )


def test_rule_classifier_label_training_input_of_the_wrong_type(classifier: Any) -> None:
    classifier.description.trainingInput[1].type.int64Type.SetInParent()
    assert only(classifier, "training-target-type").message == (
        "The type of the training input provided: label doesn't match the expected type of the classifier. "
        "Found: Int64, expected: String."
    )


def test_rule_classifier_without_label_or_target(classifier: Any) -> None:
    classifier.description.trainingInput[1].name = "other"
    assert only(classifier, "training-target-missing").message == (
        "The training inputs don't include the target of the classifier: label"
    )


# --- rule 15: k-NN -----------------------------------------------------------------------------------------------


def test_rule_knn_number_of_neighbors_positive(knn: Any) -> None:
    knn.kNearestNeighborsClassifier.numberOfNeighbors.defaultValue = 0
    assert only(knn, "parameter-not-positive").message == (
        "Default Value (0) for 'numberOfNeighbors' expected to be a positive value."
    )


def test_rule_knn_weighting_required(knn: Any) -> None:
    knn.kNearestNeighborsClassifier.ClearField("uniformWeighting")
    assert only(knn, "knn-weighting").message == "KNearestNeighborsClassifier requires a weighting scheme to be set."


def test_rule_knn_default_label_required_without_labels(knn: Any) -> None:
    knn.kNearestNeighborsClassifier.ClearField("defaultStringLabel")
    assert only(knn, "knn-default-label").message == (
        "KNearestNeighborsClassifier should specify default class labels when class labels are not specified."
    )


def test_rule_knn_default_label_type_matches_labels(knn: Any) -> None:
    knn.kNearestNeighborsClassifier.int64ClassLabels.SetInParent()
    assert only(knn, "knn-default-label").message == (
        "KNearestNeighborsClassifier's class label and default class label have different types."
    )


def test_rule_knn_one_label_per_sample(knn: Any) -> None:
    knn.kNearestNeighborsClassifier.nearestNeighborsIndex.floatSamples.add().vector.extend([0.0] * 4)
    assert only(knn, "knn-samples").message == 'Unexpected number of labels "0" for the given number of examples: "1.'


def test_rule_knn_sample_length_matches_dimension(knn: Any) -> None:
    classifier = knn.kNearestNeighborsClassifier
    classifier.nearestNeighborsIndex.floatSamples.add().vector.extend([0.0] * 3)
    classifier.stringClassLabels.vector.append("a")
    assert only(knn, "knn-dimension").message.startswith("Unexpected length")


def test_rule_knn_index_required(knn: Any) -> None:
    knn.kNearestNeighborsClassifier.nearestNeighborsIndex.ClearField("linearIndex")
    assert only(knn, "knn-index").message == "KNearestNeighborsClassifier has no index type specified."


def test_rule_knn_kd_tree_leaf_size_positive(knn: Any) -> None:
    knn.kNearestNeighborsClassifier.nearestNeighborsIndex.singleKdTreeIndex.leafSize = 0
    assert only(knn, "knn-leaf-size").message == (
        "KNearestNeighborsClassifier requires leaf size to be a positive integer."
    )


def test_rule_knn_distance_required(knn: Any) -> None:
    knn.kNearestNeighborsClassifier.nearestNeighborsIndex.ClearField("squaredEuclideanDistance")
    assert only(knn, "knn-distance").message == "KNearestNeighborsClassifier requires a distance function to be set."
