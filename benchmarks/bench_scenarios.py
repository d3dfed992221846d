"""The reference trainer vs JAX on the seed scenarios' own jobs: `digits` (the real MNISTClassifier, a frozen
three-convolution prefix and two updatable dense layers) and `catdog` (a frozen two-convolution prefix).

Both sides train the job's updatable layers with its optimizer, batch size, epochs and learning rate, in
Core ML's order with shuffling off (so the mini-batches are identical) and wrap-around batches. Both timings
include reading the weights from the spec; JAX's compilation is not timed. The JAX side interprets the network
itself and shares no code with the reference; like any framework without per-job caching it runs the frozen
prefix on every step. The final losses of the
two are printed side by side to show they trained the same job.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from mlupdate.bundle import read_job
from mlupdate.errors import InputError
from mlupdate.models.arrays import layer_weights
from mlupdate.models.params import resolve_parameters
from mlupdate.models.spec import Spec, load_spec, neural_network
from mlupdate.reference.run import load_examples
from mlupdate.reference.trainer import prepare, run_prepared
from mlupdate.scenarios import build_scenario

REPEATS = 7  # whole jobs take tens of milliseconds: the best of several runs
SCENARIO_JOBS = (("digits", "digits-v1"), ("catdog", "catdog-v1"))


class _JaxJob:
    """A JAX forward pass and SGD step for the sequential conv/pool/flatten/dense/softmax networks of the
    scenarios, compiled once; `load()` reads the weights from the spec (timed, as the reference's is)."""

    def __init__(self, spec: Spec, lr: float) -> None:
        import jax
        import jax.numpy as jnp

        network = neural_network(spec)
        self.layers = [(layer.WhichOneof("layer"), layer) for layer in network.layers]
        scaler = network.preprocessing[0].scaler if network.preprocessing else None
        layers = self.layers

        def forward(params: dict[str, Any], x: Any) -> Any:
            y = x * scaler.channelScale + scaler.grayBias if scaler is not None else x
            for kind, layer in layers:
                if kind == "convolution":
                    conv = layer.convolution
                    padding = "SAME" if conv.WhichOneof("ConvolutionPaddingType") == "same" else "VALID"
                    y = jax.lax.conv_general_dilated(
                        y, params[layer.name]["weights"], tuple(conv.stride), padding,
                        dimension_numbers=("NCHW", "OIHW", "NCHW"),
                    )  # fmt: skip
                    y = y + params[layer.name]["biases"][None, :, None, None]
                elif kind == "activation":
                    y = jnp.maximum(y, 0)
                elif kind == "pooling":
                    window, stride = (1, 1, *layer.pooling.kernelSize), (1, 1, *layer.pooling.stride)
                    y = jax.lax.reduce_window(y, -jnp.inf, jax.lax.max, window, stride, "VALID")
                elif kind == "flatten":
                    y = y.reshape(y.shape[0], -1)
                elif kind == "innerProduct":
                    y = y.reshape(y.shape[0], -1) @ params[layer.name]["weights"].T + params[layer.name]["biases"]
                elif kind == "softmax":
                    y = jax.nn.log_softmax(y, axis=-1)
                else:
                    raise InputError(f"the JAX benchmark network has no {kind} layer", where=layer.name)
            return y

        def loss(trained: dict[str, Any], frozen: dict[str, Any], x: Any, t: Any) -> Any:
            return -jnp.mean(forward(trained | frozen, x)[jnp.arange(t.shape[0]), t])

        def step(trained: dict[str, Any], frozen: dict[str, Any], x: Any, t: Any) -> Any:
            value, grads = jax.value_and_grad(loss)(trained, frozen, x, t)
            return jax.tree_util.tree_map(lambda w, g: w - lr * g, trained, grads), value

        self.step = jax.jit(step)

    def load(self) -> tuple[dict[str, Any], dict[str, Any]]:
        import jax.numpy as jnp

        trained: dict[str, Any] = {}
        frozen: dict[str, Any] = {}
        for kind, layer in self.layers:
            if kind in ("convolution", "innerProduct"):
                weights = {k: jnp.asarray(v) for k, v in layer_weights(layer).items()}
                (trained if layer.isUpdatable else frozen)[layer.name] = weights
        return trained, frozen


def _jax_seconds(job: _JaxJob, images: np.ndarray, targets: np.ndarray, batch: int, epochs: int) -> tuple[float, float]:
    import jax.numpy as jnp

    count = len(images)
    batches = [np.arange(k * batch, (k + 1) * batch) % count for k in range(-(-count // batch))]
    started = time.perf_counter()
    trained, frozen = job.load()
    xs, ts = jnp.asarray(images.astype(np.float32)), jnp.asarray(targets)
    value = None
    for _ in range(epochs):
        for rows in batches:
            trained, value = job.step(trained, frozen, xs[rows], ts[rows])
    assert value is not None
    return time.perf_counter() - started, float(value.block_until_ready())


def _reference_seconds(spec: Spec, examples: dict[str, Any], parameters: dict[str, Any]) -> tuple[float, float]:
    started = time.perf_counter()
    result = run_prepared(prepare(spec, examples, parameters), events=())
    assert result.final_loss is not None
    return time.perf_counter() - started, result.final_loss


def _measure(job_dir: Path) -> str:
    job = read_job(job_dir)
    spec = load_spec(job.model_path)
    parameters = {**job.parameters, "shuffle": False}
    resolved = resolve_parameters(spec, parameters)
    examples = load_examples(job.training)
    image_name = next(f.name for f in job.training.features if f.kind == "image")
    label_name = next(f.name for f in job.training.features if f.kind != "image")
    labels = list(spec.neuralNetworkClassifier.stringClassLabels.vector) or list(
        spec.neuralNetworkClassifier.int64ClassLabels.vector
    )
    targets = np.array([labels.index(v) for v in examples[label_name]])
    lr, batch, epochs = float(resolved["learningRate"]), int(resolved["miniBatchSize"]), int(resolved["epochs"])
    jax_job = _JaxJob(spec, lr)
    _jax_seconds(jax_job, examples[image_name], targets, batch, epochs)  # compiles; not timed below
    ours = theirs = float("inf")
    for _ in range(REPEATS):
        seconds, our_loss = _reference_seconds(spec, examples, parameters)
        ours = min(ours, seconds)
        seconds, their_loss = _jax_seconds(jax_job, examples[image_name], targets, batch, epochs)
        theirs = min(theirs, seconds)
    seen = epochs * -(-job.training.count // batch) * batch
    return (
        f"reference {seen / ours:8.0f} ex/s, jax {seen / theirs:8.0f} ex/s, ratio {theirs / ours:5.2f}x "
        f"(final loss {our_loss:.6g} vs {their_loss:.6g}; {epochs} epochs, batch {batch}, "
        f"{job.training.count} examples)"
    )


def run() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        for name, job_id in SCENARIO_JOBS:
            try:
                result = build_scenario(name, Path(scratch))
            except InputError as exc:
                print(f"   {name:7s} skipped: {exc.what} ({exc.fix})", flush=True)
                continue
            job_dir = next(p for p in result.jobs if p.name == job_id)
            print(f"   {name:7s} {_measure(job_dir)}", flush=True)
