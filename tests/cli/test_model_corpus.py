"""A corpus of real-model shapes, built here with coremltools' NeuralNetworkBuilder and MIL converter: each
builds, is made updatable, validates, inspects with "reference: ready", becomes a job with `--synthetic`, and
trains in the reference, all from the command line.

The shapes are the ones public updatable models have: a Keras text classifier (embedding + LSTM, rank 5), a
PyTorch/TF2-style ND network (embeddingND, transpose, batchedMatmul, expandDims, reductions), a CNN with
batchnorm, padding, upsampling and L2-normalised features, quantized frozen layers, a bidirectional LSTM and a
GRU, and a model converted by coremltools' own MIL -> NeuralNetwork backend (whose output renaming layer
follows the trained layer).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlharness.cli import main
from mlupdate._coreml import NeuralNetworkBuilder, coremltools, datatypes
from mlupdate.bundle import read_job, read_results
from mlupdate.models.spec import Spec, save_spec
from mlupdate.models.updatable import Loss, Sgd, make_updatable

pytestmark = pytest.mark.slow
RNG = np.random.default_rng(23)


def _w(*shape: int) -> np.ndarray:
    return (RNG.normal(size=shape) / np.sqrt(shape[-1])).astype(np.float32)


def _classifier_head(builder: Any, source: str, width: int, classes: int = 3) -> None:
    builder.add_inner_product("head", _w(classes, width), np.zeros(classes), width, classes, True, source, "logits")
    builder.add_softmax("probs_softmax", "logits", "probs")
    builder.set_class_labels([f"c{i}" for i in range(classes)], predicted_feature_name="label", prediction_blob="probs")


def keras_text_classifier() -> Spec:
    """Keras 2 text model through the legacy converter: word index -> embedding -> LSTM -> dense softmax."""
    builder = NeuralNetworkBuilder([("word", datatypes.Array(1))], [("probs", None)], mode="classifier")
    builder.add_embedding("embed", _w(8, 20), None, 20, 8, False, "word", "e")
    h = 6
    builder.add_unilstm(
        "lstm", [_w(h, h) for _ in range(4)], [_w(h, 8) for _ in range(4)], [np.zeros(h) for _ in range(4)], h, 8,
        ["e"], ["lstm_out"],
    )  # fmt: skip
    _classifier_head(builder, "lstm_out", h)
    return builder.spec


def nd_sequence_classifier() -> Spec:
    """The ND layers TF2/PyTorch conversions emit: tokens -> embeddingND -> transpose -> matmul -> mean."""
    builder = NeuralNetworkBuilder(
        [("tokens", datatypes.Array(5, 1))], [("probs", None)], mode="classifier", disable_rank5_shape_mapping=True
    )
    builder.add_embedding_nd("embed", "tokens", "e", 30, 8, _w(8, 30))  # [5, 8]
    builder.add_transpose("t", [1, 0], "e", "et")  # [8, 5]
    builder.add_batched_mat_mul("mix", ["et"], "m", weight_matrix_rows=5, weight_matrix_columns=4, W=_w(5, 4))  # [8, 4]
    builder.add_activation("gelu_ish", "TANH", "m", "mt")
    builder.add_reduce_mean("pool", "mt", "pooled", axes=[-1], keepdims=False)  # [8]
    builder.add_load_constant_nd("shift", "bias", _w(8), (8,))
    builder.add_add_broadcastable("shifted", ["pooled", "bias"], "sb")
    builder.add_expand_dims("to_rank4", "sb", "x4", axes=[0, -1, -2])  # [1, 8, 1, 1]
    _classifier_head(builder, "x4", 8)
    return builder.spec


def cnn_feature_classifier() -> Spec:
    """A picture CNN: conv + batchnorm + ReLU, padding, pooling, upsample, L2-normalised features, dense head."""
    builder = NeuralNetworkBuilder([("image", datatypes.Array(3, 12, 12))], [("probs", None)], mode="classifier")
    builder.add_convolution("c1", 3, 4, 3, 3, 1, 1, "same", 1, _w(3, 3, 3, 4), None, False, input_name="image",
                            output_name="c1")  # fmt: skip
    builder.add_batchnorm("bn", 4, _w(4) + 1, _w(4), _w(4), np.abs(_w(4)) + 0.5, input_name="c1", output_name="b1")
    builder.add_activation("r1", "RELU", "b1", "r1")
    builder.add_padding("pad", 1, 1, 1, 1, 0, "r1", "p1", "reflection")
    builder.add_pooling("mp", 2, 2, 2, 2, "MAX", "VALID", "p1", "m1")  # [4, 7, 7]
    builder.add_upsample("up", 2, 2, "m1", "u1", mode="BILINEAR")  # [4, 14, 14]
    builder.add_pooling("gap", 0, 0, 1, 1, "AVERAGE", "VALID", "u1", "g", is_global=True)  # [4, 1, 1]
    builder.add_l2_normalize("norm", "g", "feat")
    builder.add_flatten("flat", 0, "feat", "f")
    _classifier_head(builder, "f", 4)
    builder.set_pre_processing_parameters(image_input_names=["image"], image_scale=1 / 255)
    return builder.spec


def quantized_frozen_regressor() -> Spec:
    """Frozen layers quantized to 8 and 4 bits (to shrink the app), a float dense head regressing one value."""
    from coremltools.models.neural_network import quantization_utils

    builder = NeuralNetworkBuilder([("x", datatypes.Array(10))], [("y", datatypes.Array(1))])
    builder.add_inner_product("q1", _w(16, 10), _w(16), 10, 16, True, "x", "h1")
    builder.add_activation("a1", "RELU", "h1", "a1")
    builder.add_inner_product("q2", _w(12, 16), _w(12), 16, 12, True, "a1", "h2")
    builder.add_activation("a2", "SIGMOID", "h2", "a2")
    logging.getLogger("coremltools").setLevel(logging.ERROR)
    quantization_utils._quantize_nn_spec(
        builder.spec.neuralNetwork, 4, coremltools.models._QUANTIZATION_MODE_LOOKUP_TABLE_LINEAR
    )
    builder.add_inner_product("out", _w(1, 12), np.zeros(1), 12, 1, True, "a2", "y")
    return builder.spec


def bidirectional_gru_tagger() -> Spec:
    """Sequence features through a bidirectional LSTM and a GRU (rank-5 sequence input), dense softmax head."""
    builder = NeuralNetworkBuilder(
        [("frames", datatypes.Array(4, 1, 3, 1, 1))], [("probs", None)], mode="classifier",
        disable_rank5_shape_mapping=True,
    )  # fmt: skip
    h = 4
    lstm = ([_w(h, h) for _ in range(4)], [_w(h, 3) for _ in range(4)], [np.zeros(h) for _ in range(4)])
    back = ([_w(h, h) for _ in range(4)], [_w(h, 3) for _ in range(4)], [np.zeros(h) for _ in range(4)])
    builder.add_bidirlstm("bi", *lstm, *back, h, 3, ["frames"], ["bi_out"], output_all=True)  # [4, 1, 8, 1, 1]
    gru = ([_w(h, h) for _ in range(3)], [_w(h, 2 * h) for _ in range(3)], [np.zeros(h) for _ in range(3)])
    builder.add_gru("gru", *gru, h, 2 * h, ["bi_out"], ["gru_out"])  # [1, 1, 4, 1, 1]
    _classifier_head(builder, "gru_out", h)
    return builder.spec


def mil_converted_regressor() -> Spec:
    """coremltools' own MIL -> NeuralNetwork backend (what ct.convert emits for neuralnetwork targets)."""
    from coremltools.converters.mil import Builder as mb

    w1, w2 = _w(6, 4), _w(1, 6)

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 4))])
    def program(x: Any) -> Any:
        hidden = mb.relu(x=mb.linear(x=x, weight=w1))
        scaled = mb.mul(x=mb.transpose(x=mb.expand_dims(x=hidden, axes=[-1]), perm=[0, 2, 1]), y=np.float32(0.5))
        flat = mb.reshape(x=scaled, shape=[1, 6])
        return mb.linear(x=flat, weight=w2, name="prediction")

    logging.getLogger("coremltools").setLevel(logging.ERROR)
    spec = coremltools.convert(program, convert_to="neuralnetwork").get_spec()
    # The converter leaves the output's shape undeclared; a job carries the MSE target with a declared shape.
    spec.description.output[0].type.multiArrayType.shape.extend([1, 1])
    return spec


CORPUS: dict[str, tuple[Callable[[], Spec], list[str], Loss, str | None]] = {
    "keras-text-lstm": (keras_text_classifier, ["head"], Loss("cce"), None),
    "nd-sequence": (nd_sequence_classifier, ["head"], Loss("cce"), None),
    "cnn-features": (cnn_feature_classifier, ["head"], Loss("cce"), None),
    "quantized-frozen": (quantized_frozen_regressor, ["out"], Loss("mse"), None),
    "bilstm-gru": (bidirectional_gru_tagger, ["head"], Loss("cce"), None),
    "mil-converted": (mil_converted_regressor, [], Loss("mse"), "prediction"),
}


def _updatable(name: str) -> Spec:
    build, layers, loss, loss_input = CORPUS[name]
    spec = build()
    from mlupdate.models.spec import neural_network

    network_layers = list(neural_network(spec).layers)
    if not layers:  # the converter names layers itself: train the one producing the chosen output
        layers = [next(layer.name for layer in network_layers if loss_input in layer.output)]
    return make_updatable(spec, layers, loss, Sgd(lr=0.01, batch=4), epochs=2, loss_input=loss_input)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_model_validates_inspects_becomes_a_synthetic_job_and_trains(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = save_spec(_updatable(name), tmp_path / f"{name}.mlmodel")
    assert main(["validate", str(model)]) == 0, capsys.readouterr().out
    assert "reference: ready" in capsys.readouterr().out
    assert main(["inspect", str(model), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["reference"]["ready"] and report["valid"]
    assert any(layer["updatable"] for layer in report["layers"])
    job_dir = tmp_path / "job"
    assert main(["job", str(model), "--synthetic", "10", "--probe-synthetic", "3", "-o", str(job_dir)]) == 0
    job = read_job(job_dir)
    assert job.training.count == 10 and job.probe is not None
    assert main(["reference", str(job_dir), "-o", str(tmp_path / "out")]) == 0, capsys.readouterr()
    results = read_results(tmp_path / "out" / job.job_id, job.job_id)
    assert results.status == "succeeded"
    assert all(task.final_loss is not None and np.isfinite(task.final_loss) for task in results.tasks)
