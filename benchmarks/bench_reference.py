"""Reference trainer vs a JAX implementation of the same update job: examples per second and their ratio.

Two jobs of 10 epochs (as the digits seed), CCE + SGD (lr 0.01, batch 32, wrap-around, no shuffle), float32:
- mlp: 784 -> 128 (ReLU) -> 10 softmax, both dense layers updatable (nothing frozen);
- conv: a frozen prefix conv 3x3 (16) -> ReLU -> maxpool 2 -> conv 3x3 (32) -> ReLU -> maxpool 2 -> flatten,
  then the same updatable 1568 -> 128 -> 10 head.
The reference's time includes `prepare` (model checks, frozen activations computed once for the job). The JAX
side is a jit-compiled step over the whole network (frozen layers under stop_gradient), timed after one
warm-up step so compilation is not counted. Each side's best of three runs is reported; nothing is asserted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from mlupdate._coreml import NeuralNetworkBuilder, SgdParams, datatypes
from mlupdate.models.spec import Spec, neural_network
from mlupdate.reference.trainer import prepare, run_prepared

EXAMPLES, BATCH, LR = 1024, 32, 0.01
REPEATS = 3  # best of 3, alternating the two: the build machines are shared and noisy
EPOCHS = {"mlp": 10, "conv": 10}  # the digits seed trains 10 epochs


def _weights(rng: np.random.Generator, *shape: int) -> np.ndarray:
    fan_in = int(np.prod(shape[1:]))
    weights: np.ndarray = (rng.normal(size=shape) / np.sqrt(fan_in)).astype(np.float32)
    return weights


def _build(kind: str, rng: np.random.Generator) -> tuple[Spec, dict[str, np.ndarray]]:
    params: dict[str, np.ndarray] = {}
    if kind == "mlp":
        builder = NeuralNetworkBuilder([("x", datatypes.Array(784))], [("probs", None)], mode="classifier")
        features, flat = 784, "x"
    else:
        builder = NeuralNetworkBuilder([("x", datatypes.Array(1, 28, 28))], [("probs", None)], mode="classifier")
        params["c1"], params["c2"] = _weights(rng, 16, 1, 3, 3), _weights(rng, 32, 16, 3, 3)
        for i, (cin, out, src) in enumerate(((1, 16, "x"), (16, 32, "p1")), start=1):
            w = params[f"c{i}"].transpose(2, 3, 1, 0)  # builder takes (kh, kw, in, out)
            builder.add_convolution(
                f"c{i}", cin, out, 3, 3, 1, 1, "same", 1, w, np.zeros(out), True, input_name=src, output_name=f"c{i}o"
            )
            builder.add_activation(f"r{i}", "RELU", f"c{i}o", f"r{i}o")
            builder.add_pooling(f"p{i}", 2, 2, 2, 2, "MAX", "VALID", f"r{i}o", f"p{i}")
        builder.add_flatten("flat", 0, "p2", "f")
        features, flat = 32 * 7 * 7, "f"
    params["d1"], params["d2"] = _weights(rng, 128, features), _weights(rng, 10, 128)
    builder.add_inner_product("d1", params["d1"], np.zeros(128), features, 128, True, flat, "h")
    builder.add_activation("hr", "RELU", "h", "hr")
    builder.add_inner_product("d2", params["d2"], np.zeros(10), 128, 10, True, "hr", "logits")
    builder.add_softmax("sm", "logits", "probs")
    builder.set_class_labels([str(i) for i in range(10)], predicted_feature_name="digit", prediction_blob="probs")
    builder.make_updatable(["d1", "d2"])
    builder.set_categorical_cross_entropy_loss("loss", input="probs")
    builder.set_sgd_optimizer(SgdParams(lr=LR, batch=BATCH))
    builder.set_epochs(EPOCHS[kind])
    neural_network(builder.spec).updateParams.shuffle.defaultValue = False
    return builder.spec, params


def _reference(spec: Spec, x: np.ndarray, labels: list[str]) -> float:
    started = time.perf_counter()
    job = prepare(spec, {"x": x, "digit": labels})
    run_prepared(job, events=())
    return time.perf_counter() - started


def _jax_step(kind: str) -> Callable[..., Any]:
    import jax
    import jax.numpy as jnp

    def features(frozen: dict[str, Any], x: Any) -> Any:
        if kind == "mlp":
            return x
        y = x
        for name in ("c1", "c2"):
            y = jax.lax.conv_general_dilated(
                y, frozen[name], (1, 1), "SAME", dimension_numbers=("NCHW", "OIHW", "NCHW")
            )
            y = jnp.maximum(y, 0)
            y = jax.lax.reduce_window(y, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
        return jax.lax.stop_gradient(y.reshape(y.shape[0], -1))

    def loss(trained: dict[str, Any], frozen: dict[str, Any], x: Any, t: Any) -> Any:
        h = jnp.maximum(features(frozen, x) @ trained["d1"].T + trained["b1"], 0)
        logits = h @ trained["d2"].T + trained["b2"]
        return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(t.shape[0]), t])

    def step(trained: dict[str, Any], frozen: dict[str, Any], x: Any, t: Any) -> Any:
        value, grads = jax.value_and_grad(loss)(trained, frozen, x, t)
        return jax.tree_util.tree_map(lambda w, g: w - LR * g, trained, grads), value

    compiled: Callable[..., Any] = jax.jit(step)
    return compiled


def _jax(kind: str, params: dict[str, np.ndarray], x: np.ndarray, targets: np.ndarray) -> float:
    import jax.numpy as jnp

    step = _jax_step(kind)
    trained = {"d1": jnp.asarray(params["d1"]), "d2": jnp.asarray(params["d2"])}
    trained |= {"b1": jnp.zeros(128, jnp.float32), "b2": jnp.zeros(10, jnp.float32)}
    frozen = {k: jnp.asarray(v) for k, v in params.items() if k.startswith("c")}
    xs, ts = jnp.asarray(x), jnp.asarray(targets)
    order = np.arange(EXAMPLES)
    batches = [order[np.arange(k * BATCH, (k + 1) * BATCH) % EXAMPLES] for k in range(-(-EXAMPLES // BATCH))]
    step(trained, frozen, xs[batches[0]], ts[batches[0]])[1].block_until_ready()  # compile outside the timing
    started = time.perf_counter()
    for _ in range(EPOCHS[kind]):
        for rows in batches:
            trained, value = step(trained, frozen, xs[rows], ts[rows])
    value.block_until_ready()
    return time.perf_counter() - started


def run() -> None:
    rng = np.random.default_rng(0)
    for kind in ("mlp", "conv"):
        spec, params = _build(kind, rng)
        shape = (EXAMPLES, 784) if kind == "mlp" else (EXAMPLES, 1, 28, 28)
        x = rng.uniform(0, 1, size=shape).astype(np.float32)
        targets = rng.integers(0, 10, EXAMPLES)
        ours, theirs = float("inf"), float("inf")
        for _ in range(REPEATS):
            ours = min(ours, _reference(spec, x, [str(t) for t in targets]))
            theirs = min(theirs, _jax(kind, params, x, targets))
        seen = EPOCHS[kind] * EXAMPLES
        print(
            f"   {kind:4s} {EPOCHS[kind]} epochs x {EXAMPLES} examples, batch {BATCH}: "
            f"reference {seen / ours:9.0f} ex/s, jax {seen / theirs:9.0f} ex/s, ratio {theirs / ours:5.2f}x",
            flush=True,
        )
