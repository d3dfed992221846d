"""Whole training runs against JAX (float64): same model, data, order and optimiser -> same weights and losses.

The JAX side shares no code with mlupdate.reference: it gets the initial weights as the numpy arrays the test
put into the spec, builds batches itself (wrap-around last batch), differentiates with jax.grad, and steps its
own SGD / momentum / Adam. Only the epoch orders come from the libc++ shuffle port, which test_shuffle pins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mlupdate._coreml import AdamParams, NeuralNetworkBuilder, SgdParams, datatypes
from mlupdate.models.spec import neural_network
from mlupdate.reference.shuffle import EpochOrder, engine_for
from mlupdate.reference.trainer import train

pytestmark = pytest.mark.slow
RTOL = 1e-6


@dataclass
class Case:
    spec: Any
    examples: dict[str, Any]
    initial: dict[str, dict[str, np.ndarray]]  # layer -> weights/biases, spec layout
    frozen: dict[str, dict[str, np.ndarray]]
    forward: Callable[[dict[str, Any], Any], Any]  # (params, x) -> logits or outputs
    loss: str
    optimizer: dict[str, float]
    batch: int
    epochs: int
    shuffle: bool


def _dense(rng: np.random.Generator, n_in: int, n_out: int) -> dict[str, np.ndarray]:
    return {"weights": rng.normal(0, 0.5, (n_out, n_in)), "biases": rng.normal(0, 0.1, n_out)}


def _conv_weights(rng: np.random.Generator, n_out: int, n_in: int, k: int) -> dict[str, np.ndarray]:
    return {"weights": rng.normal(0, 0.4, (n_out, n_in, k, k)), "biases": rng.normal(0, 0.1, n_out)}


def _set_optimizer(builder: Any, optimizer: dict[str, float], batch: int, epochs: int, shuffle: bool) -> None:
    if "beta1" in optimizer:
        params = AdamParams(lr=optimizer["lr"], batch=batch, beta1=optimizer["beta1"], beta2=optimizer["beta2"])
        builder.set_adam_optimizer(params)
    else:
        builder.set_sgd_optimizer(SgdParams(lr=optimizer["lr"], batch=batch, momentum=optimizer.get("momentum", 0.0)))
    builder.set_epochs(epochs)
    neural_network(builder.spec).updateParams.shuffle.defaultValue = shuffle


def _mlp_case(loss: str, optimizer: dict[str, float], *, n: int = 10, batch: int = 4, shuffle: bool = True) -> Case:
    rng = np.random.default_rng(7)
    w1, w2 = _dense(rng, 6, 8), _dense(rng, 8, 3 if loss == "cce" else 2)
    x = rng.normal(size=(n, 6))
    if loss == "cce":
        builder = NeuralNetworkBuilder([("x", datatypes.Array(6))], [("probs", None)], mode="classifier")
    else:
        builder = NeuralNetworkBuilder([("x", datatypes.Array(6))], [("y", datatypes.Array(2))])
    builder.add_inner_product("d1", w1["weights"], w1["biases"], 6, 8, True, "x", "h")
    builder.add_activation("act", "RELU" if loss == "cce" else "TANH", "h", "h_act")
    out = "logits" if loss == "cce" else "y"
    builder.add_inner_product("d2", w2["weights"], w2["biases"], 8, w2["weights"].shape[0], True, "h_act", out)
    if loss == "cce":
        builder.add_softmax("sm", "logits", "probs")
        builder.set_class_labels(["a", "b", "c"], predicted_feature_name="label", prediction_blob="probs")
        builder.make_updatable(["d1", "d2"])
        builder.set_categorical_cross_entropy_loss("loss", input="probs")
        labels = rng.integers(0, 3, n)
        examples: dict[str, Any] = {"x": x, "label": [["a", "b", "c"][i] for i in labels]}
        targets = labels
    else:
        builder.make_updatable(["d1", "d2"])
        builder.set_mean_squared_error_loss("loss", input_feature=("y", datatypes.Array(2)))
        targets = rng.normal(size=(n, 2))
        examples = {"x": x, "y_true": targets}
    _set_optimizer(builder, optimizer, batch, 3, shuffle)

    def forward(params: dict[str, Any], inputs: Any) -> Any:
        h = inputs @ params["d1"]["weights"].T + params["d1"]["biases"]
        h = jnp.maximum(h, 0) if loss == "cce" else jnp.tanh(h)
        return h @ params["d2"]["weights"].T + params["d2"]["biases"]

    case = Case(builder.spec, examples, {"d1": w1, "d2": w2}, {}, forward, loss, optimizer, batch, 3, shuffle)
    case.examples["__x"], case.examples["__t"] = x, targets
    return case


def _conv_case(optimizer: dict[str, float], *, frozen_conv: bool) -> Case:
    """x [2, 6, 6] -> conv 3x3 same (3) -> relu -> maxpool 2 -> flatten -> dense (4) -> softmax."""
    rng = np.random.default_rng(11)
    n = 7
    conv, dense = _conv_weights(rng, 3, 2, 3), _dense(rng, 27, 4)
    x = rng.normal(size=(n, 2, 6, 6))
    builder = NeuralNetworkBuilder([("x", datatypes.Array(2, 6, 6))], [("probs", None)], mode="classifier")
    builder.add_convolution(
        "conv", 2, 3, 3, 3, 1, 1, "same", 1, conv["weights"].transpose(2, 3, 1, 0), conv["biases"], True,
        input_name="x", output_name="c",
    )  # fmt: skip
    builder.add_activation("relu", "RELU", "c", "r")
    builder.add_pooling("pool", 2, 2, 2, 2, "MAX", "VALID", "r", "p")
    builder.add_flatten("flat", 0, "p", "f")
    builder.add_inner_product("dense", dense["weights"], dense["biases"], 27, 4, True, "f", "logits")
    builder.add_softmax("sm", "logits", "probs")
    builder.set_class_labels([0, 1, 2, 3], predicted_feature_name="digit", prediction_blob="probs")
    builder.make_updatable(["dense"] if frozen_conv else ["conv", "dense"])
    builder.set_categorical_cross_entropy_loss("loss", input="probs")
    _set_optimizer(builder, optimizer, 3, 3, True)
    labels = rng.integers(0, 4, n)

    def forward(params: dict[str, Any], inputs: Any) -> Any:
        c = params["conv"]
        # same padding for 3x3 stride 1: one pixel each side
        y = jax.lax.conv_general_dilated(
            inputs, c["weights"], (1, 1), [(1, 1), (1, 1)], dimension_numbers=("NCHW", "OIHW", "NCHW")
        )
        y = jnp.maximum(y + c["biases"][None, :, None, None], 0)
        y = jax.lax.reduce_window(y, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
        flat = y.reshape(y.shape[0], -1)
        return flat @ params["dense"]["weights"].T + params["dense"]["biases"]

    trained = {"dense": dense} if frozen_conv else {"conv": conv, "dense": dense}
    frozen = {"conv": conv} if frozen_conv else {}
    case = Case(builder.spec, {"x": x, "digit": [int(v) for v in labels]}, trained, frozen, forward, "cce",
                optimizer, 3, 3, True)  # fmt: skip
    case.examples["__x"], case.examples["__t"] = x, labels
    return case


def _oracle(case: Case) -> tuple[dict[str, Any], list[float]]:
    """Train with JAX: own batching (wrap-around), own optimisers, jax.grad."""
    with jax.enable_x64(True):
        x, t = jnp.asarray(case.examples["__x"]), jnp.asarray(case.examples["__t"])
        # the spec stores float32 weights: start from exactly those values
        params = {
            k: {n: jnp.asarray(np.float32(v), jnp.float64) for n, v in d.items()} for k, d in case.initial.items()
        }
        frozen = {k: {n: jnp.asarray(np.float32(v), jnp.float64) for n, v in d.items()} for k, d in case.frozen.items()}

        def loss_fn(p: dict[str, Any], xb: Any, tb: Any) -> Any:
            out = case.forward({**frozen, **p}, xb)
            if case.loss == "cce":
                logp = jax.nn.log_softmax(out, axis=1)
                return -jnp.mean(logp[jnp.arange(out.shape[0]), tb])
            return jnp.mean(jnp.sum((out - tb) ** 2, axis=1))

        grad_fn = jax.jit(jax.value_and_grad(loss_fn))
        state = {"velocity": _zeros(params), "m": _zeros(params), "v": _zeros(params), "step": 0}
        count = x.shape[0]
        orders = EpochOrder(count, shuffle=case.shuffle, engine=engine_for(None))
        losses: list[float] = []
        for _ in range(case.epochs):
            order = np.asarray(orders.order)
            for k in range(-(-count // case.batch)):
                rows = order[[(k * case.batch + j) % count for j in range(case.batch)]]
                loss, grads = grad_fn(params, x[rows], t[rows])
                losses.append(float(loss))
                params = _step(params, grads, state, case.optimizer)
            orders.reshuffle()
        return {k: {n: np.asarray(a) for n, a in d.items()} for k, d in params.items()}, losses


def _zeros(params: dict[str, Any]) -> Any:
    return jax.tree_util.tree_map(jnp.zeros_like, params)


def _step(params: Any, grads: Any, state: dict[str, Any], opt: dict[str, float]) -> Any:
    """PyTorch-form SGD with momentum, or Adam with bias correction; `state` carries the moments."""
    tree_map, lr = jax.tree_util.tree_map, opt["lr"]
    state["step"] += 1
    if "beta1" not in opt:
        mu = opt.get("momentum", 0.0)
        state["velocity"] = tree_map(lambda a, g: mu * a + g, state["velocity"], grads)
        return tree_map(lambda w, a: w - lr * a, params, state["velocity"])
    b1, b2, step = opt["beta1"], opt["beta2"], state["step"]
    state["m"] = tree_map(lambda a, g: b1 * a + (1 - b1) * g, state["m"], grads)
    state["v"] = tree_map(lambda a, g: b2 * a + (1 - b2) * g * g, state["v"], grads)
    return tree_map(
        lambda w, m, v: w - lr * (m / (1 - b1**step)) / (jnp.sqrt(v / (1 - b2**step)) + 1e-8),
        params,
        state["m"],
        state["v"],
    )


def _compare(case: Case) -> None:
    examples = {k: v for k, v in case.examples.items() if not k.startswith("__")}
    result = train(case.spec, examples, dtype=np.float64)
    expected_weights, expected_losses = _oracle(case)
    losses = [e.loss for e in result.events if e.event == "miniBatchEnd"]
    assert len(losses) == len(expected_losses) == case.epochs * -(-len(case.examples["__t"]) // case.batch)
    # events report float32 losses, as Core ML does
    np.testing.assert_allclose(losses, np.float32(expected_losses), rtol=RTOL)
    assert set(result.weights) == set(expected_weights)
    for layer, arrays in expected_weights.items():
        for name, array in arrays.items():
            np.testing.assert_allclose(result.weights[layer][name], array, rtol=RTOL, atol=1e-12, err_msg=layer)
        moved = np.abs(result.weights[layer]["weights"] - case.initial[layer]["weights"]).max()
        assert moved > 1e-3, f"{layer} did not train"


@pytest.mark.parametrize(
    ("loss", "optimizer"),
    [
        ("cce", {"lr": 0.1}),
        ("cce", {"lr": 0.05, "momentum": 0.9}),
        ("cce", {"lr": 0.02, "beta1": 0.9, "beta2": 0.999}),
        ("mse", {"lr": 0.05}),
        ("mse", {"lr": 0.02, "momentum": 0.8}),
        ("mse", {"lr": 0.01, "beta1": 0.8, "beta2": 0.99}),
    ],
)
def test_dense_network_trains_like_jax_with_partial_batches_and_shuffle(loss: str, optimizer: dict[str, float]) -> None:
    _compare(_mlp_case(loss, optimizer))


def test_dense_network_without_shuffle_trains_like_jax() -> None:
    _compare(_mlp_case("cce", {"lr": 0.1}, shuffle=False))


@pytest.mark.parametrize("optimizer", [{"lr": 0.05, "momentum": 0.5}, {"lr": 0.01, "beta1": 0.9, "beta2": 0.999}])
def test_updatable_convolution_trains_like_jax(optimizer: dict[str, float]) -> None:
    _compare(_conv_case(optimizer, frozen_conv=False))


def test_dense_head_over_frozen_convolution_trains_like_jax() -> None:
    _compare(_conv_case({"lr": 0.1}, frozen_conv=True))
