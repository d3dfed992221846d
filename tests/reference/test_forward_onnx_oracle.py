"""Forward layers against onnxruntime, on the model converted by onnxmltools' Core ML converter.

onnxmltools (Microsoft) reads the Core ML spec with its own code and maps each layer to ONNX operators that
onnxruntime executes: nothing is shared with mlupdate.reference. Its Core ML converter has been unmaintained
since onnxmltools 1.12 (onnx/onnxmltools#735: a removed import, operator registrations never imported); the
`converter` fixture below restores the two missing pieces, changing no conversion. Where the converter's
reading of a layer departs from NeuralNetwork.proto (noted per case), the JAX oracle checks the spec's reading.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from mlupdate._coreml import NeuralNetworkBuilder, datatypes
from mlupdate.reference.network import Network

onnxmltools = pytest.importorskip("onnxmltools")
ort = pytest.importorskip("onnxruntime")

RNG = np.random.default_rng(5)
pytestmark = pytest.mark.slow
N = 3


@pytest.fixture(scope="module")
def converter() -> Callable[[Any], Any]:
    import onnxmltools.convert.coreml._parse as parse
    import onnxmltools.convert.coreml.operator_converters.neural_network
    import onnxmltools.convert.coreml.shape_calculators.neural_network

    # onnxconverter-common's find_type_conversion fails on Core ML inputs; "identity" is what it chose for them.
    parse.find_type_conversion = lambda source_type, target_type: "identity"
    logging.getLogger("onnxmltools").setLevel(logging.ERROR)
    return lambda spec: onnxmltools.convert_coreml(spec, target_opset=11)


@dataclass
class OnnxCase:
    kind: str
    shape: tuple[int, ...]
    add: Callable[[Any], None]
    name: str = ""
    count: int = N
    data: Callable[[tuple[int, ...]], np.ndarray] | None = None


def _w(*shape: int) -> np.ndarray:
    return RNG.normal(size=shape).astype(np.float32)


CASES = [
    OnnxCase(
        "convolution",
        (3, 7, 6),
        lambda b: b.add_convolution(
            "c", 3, 4, 3, 2, 2, 1, "same", 1, _w(3, 2, 3, 4), _w(4), True, input_name="x", output_name="y"
        ),
        "same-stride",
    ),
    OnnxCase(
        "convolution",
        (4, 6, 6),
        lambda b: b.add_convolution(
            "c",
            2,
            4,
            3,
            3,
            1,
            1,
            "valid",
            2,
            _w(3, 3, 2, 4),
            None,
            False,
            input_name="x",
            output_name="y",
            dilation_factors=[2, 1],
        ),
        "groups-dilation",
    ),
    OnnxCase("pooling", (2, 7, 7), lambda b: b.add_pooling("p", 3, 3, 2, 2, "MAX", "VALID", "x", "y"), "max"),
    OnnxCase("pooling", (2, 6, 6), lambda b: b.add_pooling("p", 2, 2, 2, 2, "AVERAGE", "VALID", "x", "y"), "average"),
    OnnxCase(
        "pooling",
        (2, 5, 4),
        lambda b: b.add_pooling("p", 0, 0, 1, 1, "AVERAGE", "VALID", "x", "y", is_global=True),
        "global",
    ),
    OnnxCase("innerProduct", (6,), lambda b: b.add_inner_product("d", _w(4, 6), _w(4), 6, 4, True, "x", "y")),
    # The converter adds an embedding's bias as [N, C] + [C, 1, 1] (a wrong broadcast): the JAX case has the bias.
    OnnxCase(
        "embedding",
        (1,),
        lambda b: b.add_embedding("e", _w(5, 8), None, 8, 5, False, "x", "y"),
        data=lambda s: RNG.integers(0, 8, s).astype(np.float32),
    ),
    OnnxCase(
        "batchnorm",
        (3, 2, 2),
        lambda b: b.add_batchnorm("bn", 3, _w(3), _w(3), _w(3), np.abs(_w(3)) + 0.5, input_name="x", output_name="y"),
    ),
    # ONNX's MeanVarianceNormalization also averages over the batch axis: one example, so both agree.
    OnnxCase(
        "mvn",
        (3, 4, 5),
        lambda b: b.add_mvn("m", "x", "y", across_channels=False, normalize_variance=True, epsilon=1e-9),
        count=1,
    ),
    # onnxmltools normalises along the channel axis only; with H = W = 1 that is the spec's whole [C, H, W].
    OnnxCase("l2normalize", (6, 1, 1), lambda b: b.add_l2_normalize("l", "x", "y", epsilon=1e-12)),
    # ONNX Softmax before opset 13 normalises over C*H*W together: H = W = 1 keeps it the spec's channel softmax.
    OnnxCase("softmax", (5, 1, 1), lambda b: b.add_softmax("s", "x", "y")),
    OnnxCase("lrn", (5, 3, 3), lambda b: b.add_lrn("l", "x", "y", alpha=0.1, beta=0.75, local_size=3, k=2.0)),
    OnnxCase("crop", (3, 6, 5), lambda b: b.add_crop("c", 1, 1, 0, 2, [0, 0], ["x"], "y")),
    OnnxCase("padding", (2, 4, 5), lambda b: b.add_padding("p", 1, 2, 1, 0, 0.5, "x", "y", "constant"), "constant"),
    OnnxCase("padding", (2, 4, 5), lambda b: b.add_padding("p", 1, 2, 2, 1, 0, "x", "y", "reflection"), "reflection"),
    OnnxCase("padding", (2, 4, 5), lambda b: b.add_padding("p", 1, 2, 2, 1, 0, "x", "y", "replication"), "replication"),
    OnnxCase("upsample", (2, 3, 4), lambda b: b.add_upsample("u", 2, 3, "x", "y", mode="NN"), "nearest"),
    OnnxCase("unary", (2, 3, 4), lambda b: b.add_unary("u", "x", "y", mode="abs"), "abs"),
    OnnxCase("add", (2, 3, 4), lambda b: b.add_elementwise("a", ["x", "x"], "y", "ADD")),
    OnnxCase("multiply", (2, 3, 4), lambda b: b.add_elementwise("m", ["x"], "y", "MULTIPLY", alpha=1.5), "scalar"),
    OnnxCase(
        "average",
        (2, 3, 4),
        lambda b: (b.add_unary("u", "x", "ux", mode="abs"), b.add_elementwise("a", ["x", "ux"], "y", "AVE")),
    ),
    OnnxCase(
        "max",
        (2, 3, 4),
        lambda b: (b.add_unary("u", "x", "ux", mode="abs"), b.add_elementwise("a", ["x", "ux"], "y", "MAX")),
    ),
    OnnxCase(
        "min",
        (2, 3, 4),
        lambda b: (b.add_unary("u", "x", "ux", mode="abs"), b.add_elementwise("a", ["x", "ux"], "y", "MIN")),
    ),
    OnnxCase(
        "scale", (3, 2, 2), lambda b: b.add_scale("s", _w(3), _w(3), True, "x", "y", shape_scale=[3], shape_bias=[3])
    ),
    OnnxCase("bias", (3, 2, 2), lambda b: b.add_bias("b", _w(3), "x", "y", shape_bias=[3])),
    OnnxCase("reduce", (3, 4, 5), lambda b: b.add_reduce("r", "x", "y", "HW", "avg"), "average-HW"),
    OnnxCase("reduce", (3, 4, 5), lambda b: b.add_reduce("r", "x", "y", "C", "max"), "max-C"),
    OnnxCase("reshape", (2, 3, 4), lambda b: b.add_reshape("r", "x", "y", (4, 3, 2), 0), "channel-first"),
    OnnxCase("flatten", (2, 3, 4), lambda b: b.add_flatten("f", 0, "x", "y"), "channel-first"),
    OnnxCase("flatten", (2, 3, 4), lambda b: b.add_flatten("f", 1, "x", "y"), "channel-last"),
    OnnxCase("permute", (2, 3, 4), lambda b: b.add_permute("p", (0, 2, 1, 3), "x", "y")),
    OnnxCase(
        "concat",
        (2, 3, 4),
        lambda b: (b.add_unary("u", "x", "ux", mode="abs"), b.add_elementwise("c", ["x", "ux"], "y", "CONCAT")),
    ),
    OnnxCase(
        "reorganizeData",
        (3, 4, 6),
        lambda b: b.add_reorganize_data("r", "x", "y", "SPACE_TO_DEPTH", 2),
        "space-to-depth",
    ),
    OnnxCase(
        "reorganizeData",
        (8, 2, 3),
        lambda b: b.add_reorganize_data("r", "x", "y", "DEPTH_TO_SPACE", 2),
        "depth-to-space",
    ),
    OnnxCase("activation", (2, 3, 4), lambda b: b.add_activation("a", "RELU", "x", "y"), "relu"),
    OnnxCase("activation", (2, 3, 4), lambda b: b.add_activation("a", "SIGMOID", "x", "y"), "sigmoid"),
    OnnxCase("activation", (2, 3, 4), lambda b: b.add_activation("a", "TANH", "x", "y"), "tanh"),
    OnnxCase("activation", (2, 3, 4), lambda b: b.add_activation("a", "LEAKYRELU", "x", "y", [0.3]), "leaky"),
    OnnxCase("reshapeStatic", (2, 3, 4), lambda b: b.add_reshape_static("r", "x", "y", (1, 4, 6))),
]


def _ids() -> list[str]:
    return [f"{c.kind}-{c.name}" if c.name else c.kind for c in CASES]


def _core(shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape without its leading and trailing unit axes (ONNX drops Core ML's trailing [.., 1, 1])."""
    while len(shape) > 1 and shape[0] == 1:
        shape = shape[1:]
    while len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    return shape


@pytest.mark.parametrize("case", CASES, ids=_ids())
def test_forward_layer_matches_onnxruntime_on_the_onnxmltools_conversion(
    case: OnnxCase, converter: Callable[[Any], Any]
) -> None:
    exact = case.kind == "reshapeStatic"
    builder = NeuralNetworkBuilder(
        [("x", datatypes.Array(*case.shape))], [("y", None)], disable_rank5_shape_mapping=exact
    )
    case.add(builder)
    x = (case.data or (lambda s: RNG.normal(size=s).astype(np.float32)))((case.count, *case.shape))
    onnx_model = converter(builder.spec)
    session = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    dims = [d.dim_value for d in onnx_model.graph.input[0].type.tensor_type.shape.dim]
    feed = x.reshape(case.count, *[d or 1 for d in dims[1:]]) if len(dims) > 1 else x
    if onnx_model.graph.input[0].type.tensor_type.elem_type == 7:  # int64: the converter casts indices itself
        feed = feed.astype(np.int64)
    (expected,) = session.run(None, {"x": feed})
    network = Network(builder.spec)
    got = network.forward(network.prepare_inputs({"x": x}))["y"]
    assert _core(got.shape[1:]) == _core(expected.shape[1:]), (got.shape, expected.shape)
    np.testing.assert_allclose(got.reshape(expected.shape), expected, rtol=1e-4, atol=1e-5)
