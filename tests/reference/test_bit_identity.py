"""The trainer's final weights, pinned bit for bit (tests/data/reference/bit_identity.json).

The expected digests were written by the trainer before it was optimised (BLAS threads, preallocated buffers,
the vectorised shuffle, conv without padding copies, chunked inputs). Any later change that alters one bit of
a trained weight fails `test_bit_identity`. Regenerate only for a change that is meant to move the trajectory
(a semantics change), and say so in the commit:

    .venv/bin/python tests/reference/test_bit_identity.py --write

Float32 is pinned with the dense chain's separate SGD update (`DenseChain.FUSED_DTYPES` emptied): the trainer's
own float32 chain folds each SGD update into the gemm that forms its gradient, the same mathematics in another
rounding, so its weights are compared with the pinned path's within float32 rounding instead
(`test_float32_folded_updates_move_weights_by_rounding_only`). Float64 runs as the trainer runs it.

Digests are kept per BLAS kernel (OpenBLAS's Haswell and SkylakeX kernels sum products in different orders,
so the same trainer yields other bits on each); Haswell's and SkylakeX's were both written by the trainer before
it was optimised (commit 800418c). A kernel without pinned digests skips the pin, naming itself.

The cases cover every path the optimisations touch: dense and convolution layers live and frozen, `same` and
`valid` padding, max and average pooling, batchnorm, SGD with and without momentum, Adam, CCE and MSE,
wrap-around and shuffled orders, a seeded shuffle, a batch of one, and products large enough to run on BLAS
threads.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
from threadpoolctl import threadpool_info  # type: ignore[import-untyped]

from mlupdate._coreml import AdamParams, NeuralNetworkBuilder, SgdParams, datatypes
from mlupdate.models.spec import Spec, neural_network
from mlupdate.reference.dense_chain import DenseChain
from mlupdate.reference.parallelism import blas_threads_available
from mlupdate.reference.semantics import Semantics
from mlupdate.reference.trainer import TrainingResult, prepare, run_prepared

EXPECTED = Path(__file__).resolve().parents[1] / "data" / "reference" / "bit_identity.json"


def blas_kernel() -> str:
    """The kernel numpy's BLAS runs (threadpoolctl's `architecture`), e.g. Haswell or SkylakeX."""
    for info in threadpool_info():
        if info["user_api"] == "blas" and "numpy" in info["filepath"]:
            return str(info.get("architecture"))
    return "unknown"


def pinned() -> dict[str, Any]:
    table: dict[str, Any] = json.loads(EXPECTED.read_text(encoding="utf-8"))
    kernel = blas_kernel()
    if kernel not in table:
        pytest.skip(f"weights are pinned for BLAS kernels {sorted(table)}; this numpy's BLAS runs {kernel}")
    return dict(table[kernel])


@dataclass(frozen=True)
class Job:
    spec: Spec
    examples: dict[str, Any]
    parameters: dict[str, Any]


def _dense(rng: np.random.Generator, n_in: int, n_out: int, scale: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    return rng.normal(0, scale / np.sqrt(n_in), (n_out, n_in)), rng.normal(0, 0.1, n_out)


def _conv(
    builder: Any, rng: np.random.Generator, name: str, cin: int, cout: int, k: int, pad: str, src: str, dst: str
) -> None:
    w = rng.normal(0, 0.5 / np.sqrt(cin * k * k), (cout, cin, k, k))
    builder.add_convolution(
        name, cin, cout, k, k, 1, 1, pad, 1, w.transpose(2, 3, 1, 0), rng.normal(0, 0.1, cout), True,
        input_name=src, output_name=dst,
    )  # fmt: skip


def _classifier_head(builder: Any, rng: np.random.Generator, src: str, n_in: int, classes: int, hidden: int) -> None:
    w1, b1 = _dense(rng, n_in, hidden)
    w2, b2 = _dense(rng, hidden, classes)
    builder.add_inner_product("d1", w1, b1, n_in, hidden, True, src, "h")
    builder.add_activation("hr", "RELU", "h", "hr")
    builder.add_inner_product("d2", w2, b2, hidden, classes, True, "hr", "logits")
    builder.add_softmax("sm", "logits", "probs")
    builder.set_class_labels(list(range(classes)), predicted_feature_name="label", prediction_blob="probs")


def _finish(builder: Any, updatable: list[str], optimizer: Any, epochs: int, *, shuffle: bool, cce: bool) -> Spec:
    builder.make_updatable(updatable)
    if cce:
        builder.set_categorical_cross_entropy_loss("loss", input="probs")
    else:
        builder.set_mean_squared_error_loss("loss", input_feature=("y", datatypes.Array(3)))
    if isinstance(optimizer, AdamParams):
        builder.set_adam_optimizer(optimizer)
    else:
        builder.set_sgd_optimizer(optimizer)
    builder.set_epochs(epochs)
    neural_network(builder.spec).updateParams.shuffle.defaultValue = shuffle
    spec: Spec = builder.spec
    return spec


def mlp_sgd() -> Job:
    rng = np.random.default_rng(101)
    builder = NeuralNetworkBuilder([("x", datatypes.Array(20))], [("probs", None)], mode="classifier")
    _classifier_head(builder, rng, "x", 20, 5, 16)
    spec = _finish(builder, ["d1", "d2"], SgdParams(lr=0.1, batch=6), 4, shuffle=True, cce=True)
    return Job(spec, {"x": rng.normal(size=(37, 20)), "label": list(rng.integers(0, 5, 37))}, {})


def mlp_momentum_mse() -> Job:
    rng = np.random.default_rng(102)
    builder = NeuralNetworkBuilder([("x", datatypes.Array(12))], [("y", datatypes.Array(3))])
    w1, b1 = _dense(rng, 12, 10)
    w2, b2 = _dense(rng, 10, 8)
    w3, b3 = _dense(rng, 8, 3)
    builder.add_inner_product("d1", w1, b1, 12, 10, True, "x", "h1")
    builder.add_activation("t", "TANH", "h1", "t1")
    builder.add_inner_product("d2", w2, b2, 10, 8, True, "t1", "h2")
    builder.add_activation("s", "SIGMOID", "h2", "s2")
    builder.add_inner_product("d3", w3, b3, 8, 3, True, "s2", "y")
    spec = _finish(builder, ["d1", "d3"], SgdParams(lr=0.05, batch=5, momentum=0.9), 5, shuffle=True, cce=False)
    neural_network(spec).updateParams.seed.defaultValue = 42
    examples = {"x": rng.normal(size=(23, 12)), "y_true": rng.normal(size=(23, 3))}
    return Job(spec, examples, {})


def mlp_adam_batch_one() -> Job:
    rng = np.random.default_rng(103)
    builder = NeuralNetworkBuilder([("x", datatypes.Array(9))], [("probs", None)], mode="classifier")
    _classifier_head(builder, rng, "x", 9, 4, 7)
    spec = _finish(builder, ["d1", "d2"], AdamParams(lr=0.01, batch=1), 3, shuffle=True, cce=True)
    return Job(spec, {"x": rng.normal(size=(11, 9)), "label": list(rng.integers(0, 4, 11))}, {})


def conv_frozen_prefix() -> Job:
    """Frozen: conv same -> relu -> maxpool same -> conv valid -> batchnorm -> relu -> avgpool; dense head."""
    rng = np.random.default_rng(104)
    builder = NeuralNetworkBuilder([("x", datatypes.Array(2, 11, 11))], [("probs", None)], mode="classifier")
    _conv(builder, rng, "c1", 2, 6, 3, "same", "x", "c1o")
    builder.add_activation("r1", "RELU", "c1o", "r1o")
    builder.add_pooling("p1", 2, 2, 2, 2, "MAX", "SAME", "r1o", "p1o")
    _conv(builder, rng, "c2", 6, 8, 3, "valid", "p1o", "c2o")
    builder.add_batchnorm(
        "bn", 8, rng.uniform(0.5, 1.5, 8), rng.normal(0, 0.1, 8), rng.normal(0, 0.1, 8), rng.uniform(0.5, 2, 8)
    )  # input/output names below
    bn = neural_network(builder.spec).layers[-1]
    bn.input[:] = ["c2o"]
    bn.output[:] = ["bno"]
    builder.add_activation("r2", "RELU", "bno", "r2o")
    builder.add_pooling("p2", 2, 2, 1, 1, "AVERAGE", "VALID", "r2o", "p2o")
    builder.add_flatten("flat", 0, "p2o", "f")
    _classifier_head(builder, rng, "f", 8 * 3 * 3, 4, 12)
    spec = _finish(builder, ["d1", "d2"], SgdParams(lr=0.05, batch=8, momentum=0.5), 3, shuffle=True, cce=True)
    return Job(spec, {"x": rng.normal(size=(45, 2, 11, 11)), "label": list(rng.integers(0, 4, 45))}, {})


def conv_live() -> Job:
    """A frozen conv (same padding) feeding an updatable conv (same padding): the conv backward and its fold."""
    rng = np.random.default_rng(105)
    builder = NeuralNetworkBuilder([("x", datatypes.Array(1, 8, 8))], [("probs", None)], mode="classifier")
    _conv(builder, rng, "c1", 1, 4, 3, "same", "x", "c1o")
    builder.add_activation("r1", "RELU", "c1o", "r1o")
    _conv(builder, rng, "c2", 4, 5, 3, "same", "r1o", "c2o")
    builder.add_activation("r2", "RELU", "c2o", "r2o")
    builder.add_pooling("p2", 2, 2, 2, 2, "MAX", "VALID", "r2o", "p2o")
    builder.add_flatten("flat", 0, "p2o", "f")
    _classifier_head(builder, rng, "f", 5 * 4 * 4, 3, 6)
    spec = _finish(builder, ["c2", "d2"], SgdParams(lr=0.05, batch=4), 3, shuffle=False, cce=True)
    return Job(spec, {"x": rng.normal(size=(13, 1, 8, 8)), "label": list(rng.integers(0, 3, 13))}, {})


def images_with_preprocessing() -> Job:
    """uint8 images through the spec's scaler: the chunked float conversion of the inputs."""
    rng = np.random.default_rng(106)
    builder = NeuralNetworkBuilder([("image", datatypes.Array(1, 10, 10))], [("probs", None)], mode="classifier")
    _conv(builder, rng, "c1", 1, 3, 3, "valid", "image", "c1o")
    builder.add_activation("r1", "RELU", "c1o", "r1o")
    builder.add_flatten("flat", 0, "r1o", "f")
    _classifier_head(builder, rng, "f", 3 * 8 * 8, 3, 8)
    builder.set_pre_processing_parameters(image_input_names=["image"], image_scale=1 / 255.0, gray_bias=-0.5)
    spec = _finish(builder, ["d1", "d2"], SgdParams(lr=0.02, batch=7), 3, shuffle=True, cce=True)
    for description in (*spec.description.input, *spec.description.trainingInput):
        if description.name == "image":
            description.type.imageType.width = 10
            description.type.imageType.height = 10
            description.type.imageType.colorSpace = 10  # GRAYSCALE
    images = rng.integers(0, 256, size=(600, 1, 10, 10), dtype=np.uint8)
    return Job(spec, {"image": images, "label": list(rng.integers(0, 3, 600))}, {})


def wide_head() -> Job:
    """Products large enough (batch 64, 512 x 512) to run on BLAS threads."""
    rng = np.random.default_rng(107)
    builder = NeuralNetworkBuilder([("x", datatypes.Array(512))], [("probs", None)], mode="classifier")
    _classifier_head(builder, rng, "x", 512, 10, 512)
    spec = _finish(builder, ["d1", "d2"], SgdParams(lr=0.05, batch=64), 2, shuffle=True, cce=True)
    return Job(spec, {"x": rng.normal(size=(300, 512)), "label": list(rng.integers(0, 10, 300))}, {})


CASES: dict[str, Callable[[], Job]] = {
    f.__name__: f
    for f in (mlp_sgd, mlp_momentum_mse, mlp_adam_batch_one, conv_frozen_prefix, conv_live, images_with_preprocessing)
}
CASES["wide_head"] = wide_head
DTYPES = {"float64": np.float64, "float32": np.float32}


def digest(array: np.ndarray) -> str:
    """sha256 of dtype, shape and bytes: equal digests mean bit-identical arrays."""
    a = np.ascontiguousarray(array)
    header = f"{a.dtype.str}{a.shape}".encode()
    return hashlib.sha256(header + a.tobytes()).hexdigest()


def trained(case: str, dtype: str, semantics: Semantics | None = None, threads: int | None = None) -> TrainingResult:
    job = CASES[case]()
    prepared = prepare(job.spec, job.examples, job.parameters, dtype=DTYPES[dtype])
    return run_prepared(prepared, semantics=semantics, blas_threads=threads)


def trained_separately(case: str, dtype: str, semantics: Semantics | None = None) -> TrainingResult:
    with mock.patch.object(DenseChain, "FUSED_DTYPES", frozenset()):
        return trained(case, dtype, semantics, None if dtype == "float64" else 1)


def trained_digests(case: str, dtype: str, semantics: Semantics | None = None) -> dict[str, Any]:
    """Float64 with the trainer's own choice of BLAS threads (always one); float32 on one thread, as pinned."""
    result = trained_separately(case, dtype, semantics)
    weights = {f"{layer}.{kind}": digest(v) for layer, arrays in result.weights.items() for kind, v in arrays.items()}
    return {"weights": weights, "final_loss": result.final_loss}


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("case", list(CASES))
def test_trained_weights_are_bit_identical_to_the_pinned_trainer(case: str, dtype: str) -> None:
    expected = pinned()[case][dtype]
    got = trained_digests(case, dtype)
    changed = sorted(name for name, value in expected["weights"].items() if got["weights"].get(name) != value)
    assert not changed, f"{case} ({dtype}): {changed} differ from the pinned trainer's weights"
    assert got["weights"].keys() == expected["weights"].keys()
    # The loss value may be computed in another (equally exact) form; the weights may not move.
    assert got["final_loss"] == pytest.approx(expected["final_loss"], rel=1e-6)


@pytest.mark.parametrize("case", list(CASES))
def test_float32_folded_updates_move_weights_by_rounding_only(case: str) -> None:
    """The trainer's float32 chain (SGD folded into gemm) against the pinned separate update: every weight
    within 2e-6 of its tensor's largest magnitude (measured: at most 1.7e-7, ~1.4 float32 eps, over these cases'
    up to 258 steps)."""
    pinned_path = trained_separately(case, "float32").weights
    trainer_path = trained(case, "float32", threads=1).weights
    for layer, arrays in pinned_path.items():
        for kind, values in arrays.items():
            scale = float(np.max(np.abs(values)))
            assert np.max(np.abs(trainer_path[layer][kind] - values)) <= 2e-6 * scale, f"{case} {layer}.{kind}"


def test_float32_on_blas_threads_differs_from_one_thread_by_rounding_only() -> None:
    """OpenBLAS sums some products in another order on two threads; float32 runs past the crossover use them.
    Measured on wide_head (10 steps): every weight within 1e-7 of its tensor's largest magnitude (< 1 float32
    eps), and the threaded run reproduces itself bit for bit."""
    if blas_threads_available() < 2:
        pytest.skip("one BLAS thread available: nothing to compare")
    one = trained("wide_head", "float32", threads=1).weights
    threaded, again = (trained("wide_head", "float32", threads=2).weights for _ in range(2))
    for layer, arrays in one.items():
        for kind, values in arrays.items():
            scale = float(np.max(np.abs(values)))
            assert np.max(np.abs(threaded[layer][kind] - values)) <= 2 * np.finfo(np.float32).eps * scale
            assert digest(threaded[layer][kind]) == digest(again[layer][kind])


def test_a_change_of_one_rounding_fails_the_pin() -> None:
    """The classic momentum form equals the torch form in exact arithmetic (constant lr) and differs only in
    rounding: the pin must see that."""
    expected = pinned()["mlp_momentum_mse"]["float64"]["weights"]
    got = trained_digests("mlp_momentum_mse", "float64", Semantics(momentum_form="classic"))["weights"]
    assert all(got[name] != value for name, value in expected.items())


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help=f"rewrite {EXPECTED}")
    args = parser.parse_args(argv)
    table = {case: {dtype: trained_digests(case, dtype) for dtype in DTYPES} for case in CASES}
    text = json.dumps(table, indent=1, sort_keys=True) + "\n"
    if args.write:  # this kernel's digests; the other kernels' stay
        kernels = json.loads(EXPECTED.read_text(encoding="utf-8")) if EXPECTED.exists() else {}
        kernels[blas_kernel()] = table
        EXPECTED.write_text(json.dumps(kernels, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
