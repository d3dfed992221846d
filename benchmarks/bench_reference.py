"""The reference trainer against peers that get every advantage it gets, with the machine's own limits.

Every peer trains the same job in float32 from the same frozen activations the reference computed once (so
nothing measures caching), in the same mini-batch order (shuffle off, Core ML's wrap-around last batch), at its
best thread count, and prints its final loss next to ours to show it trained the same job:
- numpy: a minimal hand-written loop (forward, fused softmax/CCE gradient, backward, SGD) on 1 and on all BLAS
  threads, the better one counting;
- JAX: the whole epoch under one `jax.jit` (`lax.scan` over the mini-batches), compiled before timing; XLA
  picks its own threads per operation (it cannot be changed after start-up);
- PyTorch is not a peer here: PyPI has only its CUDA wheels, and `pip install --no-deps torch` (2.15) fails on
  import without the CUDA runtime packages (libcudart.so.13, libcublasLt), which are several GB.

Printed in one run: machine load, the BLAS library and kernel (threadpoolctl), the measured sgemm peak, the
thread crossover of step-sized products, then per case the median of alternating repetitions (contenders
rotate within each repetition), ratios peer / reference (> 1: the reference is faster), the reference's
GFLOP/s and its share of the peak. Then an ensemble of 8 against one run, the peak memory of preparing and of
training the conv job, and a summary table (each case against its fastest caching peer). Finally the table again
(without ensemble and memory) from a child process with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (in that
command only), so both kernels are on record. Nothing is asserted.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

from mlupdate._coreml import NeuralNetworkBuilder, SgdParams, datatypes
from mlupdate.bundle import read_job
from mlupdate.errors import InputError
from mlupdate.models.spec import Spec, load_spec, neural_network
from mlupdate.reference.ensemble import run_ensemble
from mlupdate.reference.layers import Activation, InnerProduct
from mlupdate.reference.network import _CHUNK
from mlupdate.reference.parallelism import usable_cores
from mlupdate.reference.run import load_examples
from mlupdate.reference.trainer import PreparedJob, blas_threads_for, prepare, run_prepared
from mlupdate.scenarios import build_scenario

PINNED = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
BLAS = ThreadpoolController()
CORES = usable_cores()

Head = list[tuple[np.ndarray, np.ndarray, bool]]  # (weights [out, in], biases, ReLU after it)


@dataclass
class Case:
    name: str
    job: PreparedJob
    prepare_seconds: float
    features: np.ndarray  # the frozen frontier, [N, F] float32
    targets: np.ndarray
    head: Head
    batch: int
    epochs: int
    lr: float
    momentum: float

    @property
    def batches(self) -> np.ndarray:
        count = len(self.features)
        steps = -(-count // self.batch)
        return (np.arange(steps * self.batch) % count).reshape(steps, self.batch)

    def flops(self) -> float:
        """Per training run: forward, weight gradient and (but for the first layer) input gradient products."""
        per_step = sum((2 if i == 0 else 3) * 2 * self.batch * w.size for i, (w, _, _) in enumerate(self.head))
        return float(per_step * len(self.batches) * self.epochs)


# --- cases -----------------------------------------------------------------------------------------------


def _weights(rng: np.random.Generator, *shape: int) -> np.ndarray:
    weights: np.ndarray = (rng.normal(size=shape) / np.sqrt(np.prod(shape[1:]))).astype(np.float32)
    return weights


def _classifier(builder: Any, rng: np.random.Generator, src: str, n_in: int, hidden: int, lr: float, batch: int,
                epochs: int) -> Spec:  # fmt: skip
    builder.add_inner_product("d1", _weights(rng, hidden, n_in), np.zeros(hidden), n_in, hidden, True, src, "h")
    builder.add_activation("hr", "RELU", "h", "hr")
    builder.add_inner_product("d2", _weights(rng, 10, hidden), np.zeros(10), hidden, 10, True, "hr", "logits")
    builder.add_softmax("sm", "logits", "probs")
    builder.set_class_labels(list(range(10)), predicted_feature_name="label", prediction_blob="probs")
    builder.make_updatable(["d1", "d2"])
    builder.set_categorical_cross_entropy_loss("loss", input="probs")
    builder.set_sgd_optimizer(SgdParams(lr=lr, batch=batch))
    builder.set_epochs(epochs)
    neural_network(builder.spec).updateParams.shuffle.defaultValue = False
    spec: Spec = builder.spec
    return spec


def _mlp(rng: np.random.Generator, n_in: int, hidden: int, batch: int, epochs: int) -> Spec:
    builder = NeuralNetworkBuilder([("x", datatypes.Array(n_in))], [("probs", None)], mode="classifier")
    return _classifier(builder, rng, "x", n_in, hidden, 0.01, batch, epochs)


def _conv3(rng: np.random.Generator, epochs: int) -> Spec:
    """1x28x28 -> 3 frozen convs (16, 32, 64; 3x3 same, ReLU, 2x2 max pool after the first two) -> dense head."""
    builder = NeuralNetworkBuilder([("x", datatypes.Array(1, 28, 28))], [("probs", None)], mode="classifier")
    src, channels = "x", 1
    for i, out in enumerate((16, 32, 64)):
        w = _weights(rng, out, channels, 3, 3).transpose(2, 3, 1, 0)
        builder.add_convolution(f"c{i}", channels, out, 3, 3, 1, 1, "same", 1, w, np.zeros(out), True,
                                input_name=src, output_name=f"c{i}o")  # fmt: skip
        builder.add_activation(f"r{i}", "RELU", f"c{i}o", f"r{i}o")
        src, channels = f"r{i}o", out
        if i < 2:
            builder.add_pooling(f"p{i}", 2, 2, 2, 2, "MAX", "VALID", src, f"p{i}o")
            src = f"p{i}o"
    builder.add_flatten("flat", 0, src, "f")
    return _classifier(builder, rng, "f", 64 * 7 * 7, 128, 0.01, 32, epochs)


def _head(job: PreparedJob) -> Head:
    head: Head = []
    for layer in job.network.live:
        if isinstance(layer, InnerProduct):
            params = job.network.params[layer.name]
            head.append((params["weights"], params["biases"], False))
        elif isinstance(layer, Activation) and layer.function == "ReLU" and head:
            head[-1] = (head[-1][0], head[-1][1], True)
        elif layer.kind != "softmax":
            raise InputError(f"the peers train dense/ReLU heads, not a live {layer.kind}", where=layer.name)
    return head


def _case(name: str, spec: Spec, examples: dict[str, Any], parameters: dict[str, Any]) -> Case:
    started = time.perf_counter()
    job = prepare(spec, examples, parameters)
    seconds = time.perf_counter() - started
    (frontier,) = job.frontier.values()
    p = job.parameters
    features, targets = frontier.reshape(len(frontier), -1), np.asarray(job.targets)
    numbers = int(p["miniBatchSize"]), int(p["epochs"]), float(p["learningRate"]), float(p.get("momentum", 0.0))
    return Case(name, job, seconds, features, targets, _head(job), *numbers)


def _labelled(rng: np.random.Generator, x: np.ndarray) -> dict[str, Any]:
    return {"x": x, "label": list(rng.integers(0, 10, len(x)))}


def cases(scratch: Path) -> list[Case]:
    rng = np.random.default_rng(0)
    out = []
    x = rng.uniform(0, 1, (4096, 784)).astype(np.float32)
    out.append(_case("mlp 784-128-10, 4096 ex, batch 32, 5 ep", _mlp(rng, 784, 128, 32, 5), _labelled(rng, x), {}))
    try:
        job_dir = next(p for p in build_scenario("digits", scratch).jobs if p.name == "digits-v1")
        job = read_job(job_dir)
        out.append(_case(f"digits job ({job.training.count} ex, frozen 3 convs)", load_spec(job.model_path),
                         load_examples(job.training), {**job.parameters, "shuffle": False}))  # fmt: skip
    except InputError as exc:
        print(f"   digits job skipped: {exc.what}", flush=True)
    images = rng.integers(0, 256, (5000, 1, 28, 28)).astype(np.float32) / 255
    out.append(_case("3 frozen convs + head, 5k ex, 20 ep", _conv3(rng, 20), _labelled(rng, images), {}))
    x = rng.normal(size=(2048, 2048)).astype(np.float32)
    out.append(_case("2048x2048 head, batch 64, 2048 ex, 2 ep", _mlp(rng, 2048, 2048, 64, 2), _labelled(rng, x), {}))
    return out


# --- contenders -------------------------------------------------------------------------------------------


def reference(case: Case, threads_used: list[int] | None = None) -> float:
    """One run as a user's: the trainer picks its BLAS threads (recorded in `threads_used`)."""
    threads = blas_threads_for(case.job)
    if threads_used is not None:
        threads_used.append(threads)
    result = run_prepared(case.job, events=(), blas_threads=threads)
    assert result.final_loss is not None
    return result.final_loss


def numpy_loop(case: Case, threads: int) -> float:
    """The minimal loop an engineer would write for this head; float32 throughout."""
    weights = [(w.copy(), b.copy(), relu) for w, b, relu in case.head]
    velocity = [(np.zeros_like(w), np.zeros_like(b)) for w, b, _ in weights]
    x, t, lr, mu = case.features, case.targets, np.float32(case.lr), np.float32(case.momentum)
    rows_b = np.arange(case.batch)
    loss = np.nan
    with BLAS.limit(limits=threads, user_api="blas"):
        for _ in range(case.epochs):
            for rows in case.batches:
                acts = [x[rows]]
                for w, b, relu in weights:
                    z = acts[-1] @ w.T
                    z += b
                    acts.append(np.maximum(z, 0, out=z) if relu else z)
                z = acts.pop()
                z -= z.max(axis=1, keepdims=True)
                np.exp(z, out=z)
                z /= z.sum(axis=1, keepdims=True)
                loss = -np.log(z[rows_b, t[rows]]).mean()
                z[rows_b, t[rows]] -= 1
                g = z / np.float32(case.batch)
                for i in range(len(weights) - 1, -1, -1):
                    w, b, _ = weights[i]
                    dw, db = g.T @ acts[i], g.sum(axis=0)
                    if i:
                        g = g @ w
                        g *= acts[i] > 0
                    if mu:
                        vw, vb = velocity[i]
                        vw *= mu
                        vw += dw
                        vb *= mu
                        vb += db
                        dw, db = vw, vb
                    w -= lr * dw
                    b -= lr * db
    return float(loss)


class JaxEpochs:
    """The head's SGD epoch as one jitted `lax.scan`; the frozen activations live on the device once."""

    def __init__(self, case: Case) -> None:
        import jax
        import jax.numpy as jnp

        relus = [relu for _, _, relu in case.head]
        lr, mu = case.lr, case.momentum

        def loss(params: Any, x: Any, t: Any) -> Any:
            a = x
            for (w, b), relu in zip(params, relus, strict=True):
                a = a @ w.T + b
                a = jnp.maximum(a, 0) if relu else a
            return -jnp.mean(jax.nn.log_softmax(a)[jnp.arange(t.shape[0]), t])

        def epoch(state: Any, xs: Any, ts: Any, batches: Any) -> Any:
            def step(state: Any, rows: Any) -> Any:
                params, velocity = state
                value, grads = jax.value_and_grad(loss)(params, xs[rows], ts[rows])
                velocity = jax.tree_util.tree_map(lambda v, g: mu * v + g, velocity, grads)
                params = jax.tree_util.tree_map(lambda p, v: p - lr * v, params, velocity)
                return (params, velocity), value

            return jax.lax.scan(step, state, batches)

        self.epoch = jax.jit(epoch)
        self.xs, self.ts = jnp.asarray(case.features), jnp.asarray(case.targets)
        self.batches = jnp.asarray(case.batches)
        self.initial = [(jnp.asarray(w), jnp.asarray(b)) for w, b, _ in case.head]
        self.epochs = case.epochs
        self()  # compile outside the timing

    def __call__(self) -> float:
        import jax

        state = (self.initial, jax.tree_util.tree_map(lambda a: a * 0, self.initial))
        losses = None
        for _ in range(self.epochs):
            state, losses = self.epoch(state, self.xs, self.ts, self.batches)
        assert losses is not None
        return float(losses[-1].block_until_ready())


# --- measuring ------------------------------------------------------------------------------------------


def alternate(contenders: dict[str, Callable[[], Any]], repeats: int) -> tuple[dict[str, float], dict[str, Any]]:
    """Median seconds of each contender over `repeats` rounds; the order rotates from round to round."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    last: dict[str, Any] = {}
    names = list(contenders)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            started = time.perf_counter()
            last[name] = contenders[name]()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(v) for name, v in times.items()}, last


def sgemm_peak() -> tuple[float, int]:
    """Median GFLOP/s of a 2048^3 float32 product at the best thread count, and that count."""
    a, b = np.ones((2048, 2048), np.float32), np.ones((2048, 2048), np.float32)
    flops = 2 * 2048.0**3

    def at(threads: int) -> Callable[[], None]:
        def run() -> None:
            with BLAS.limit(limits=threads, user_api="blas"):
                a @ b

        return run

    medians, _ = alternate({str(t): at(t) for t in range(1, CORES + 1)}, REPEATS)
    best = min(medians, key=lambda k: medians[k])
    return flops / medians[best] / 1e9, int(best)


def crossover() -> None:
    rng = np.random.default_rng(1)
    print(f"   BLAS thread crossover (step-sized float32 products, GFLOP/s at 1 / {CORES} threads):", flush=True)
    for m, k, n in ((32, 784, 128), (64, 784, 128), (32, 3136, 128), (64, 1024, 1024), (64, 2048, 2048)):
        a, b = rng.normal(size=(m, k)).astype(np.float32), rng.normal(size=(n, k)).astype(np.float32)
        reps = max(1, int(5e7 // (2 * m * k * n)))

        def at(threads: int, a: np.ndarray = a, b: np.ndarray = b, reps: int = reps) -> Callable[[], None]:
            def run() -> None:
                with BLAS.limit(limits=threads, user_api="blas"):
                    for _ in range(reps):
                        a @ b.T

            return run

        medians, _ = alternate({"1": at(1), str(CORES): at(CORES)}, REPEATS)
        rates = {t: 2 * m * k * n * reps / s / 1e9 for t, s in medians.items()}
        print(f"     {m:4d} x {k:5d} x {n:5d} ({m * k * n / 1e6:6.1f} M multiply-adds): "
              f"{rates['1']:6.1f} / {rates[str(CORES)]:6.1f}", flush=True)  # fmt: skip


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text(encoding="ascii").split()[:3])


def blas_info() -> str:
    rows = [f"{i['internal_api']} {i.get('version')} kernel {i.get('architecture')}, {i['num_threads']} threads"
            for i in BLAS.info() if i["user_api"] == "blas"]  # fmt: skip
    return "; ".join(rows) or "no BLAS found by threadpoolctl"


@dataclass(frozen=True)
class Row:
    """One case's line in the summary table."""

    case: str
    reference_ms: float
    peer: str  # the fastest caching peer
    ratio: float  # peer seconds / reference seconds: >= 1 means the reference is at least as fast
    gflops: float
    share: float  # of the sgemm peak


def measure_case(case: Case, peak: float) -> Row:
    threads_used: list[int] = []
    contenders: dict[str, Callable[[], Any]] = {"reference": lambda: reference(case, threads_used)}
    contenders["numpy 1 thread"] = lambda: numpy_loop(case, 1)
    if CORES > 1:
        contenders[f"numpy {CORES} threads"] = lambda: numpy_loop(case, CORES)
    try:
        contenders["jax jit"] = JaxEpochs(case)
    except ImportError:
        print("     jax not installed: that peer is skipped", flush=True)
    repeats = REPEATS if case.flops() < 5e10 else max(3, REPEATS // 2)
    medians, losses = alternate(contenders, repeats)
    ours = medians["reference"]
    steps = len(case.batches) * case.epochs
    threads = ", ".join(f"{t} in {threads_used.count(t)}" for t in sorted(set(threads_used)))
    print(f"   {case.name}: prepare (frozen prefix once) {case.prepare_seconds:.2f} s; training, median of "
          f"{repeats}: {steps} steps, reference runs by BLAS threads chosen: {threads}", flush=True)  # fmt: skip
    numpy_best = min((n for n in medians if n.startswith("numpy")), key=lambda n: medians[n])
    for name, seconds in medians.items():
        ratio = "" if name == "reference" else f"  ratio {seconds / ours:5.2f}x"
        mark = " (best numpy)" if name == numpy_best and CORES > 1 else ""
        print(f"     {name:18s} {seconds * 1e3:9.1f} ms {steps * case.batch / seconds:10.0f} ex/s{ratio}"
              f"  final loss {losses[name]:.6g}{mark}", flush=True)  # fmt: skip
    gflops = case.flops() / ours / 1e9
    print(f"     reference {gflops:6.1f} GFLOP/s = {100 * gflops / peak:4.1f}% of the sgemm peak", flush=True)
    fastest = min((n for n in medians if n != "reference"), key=lambda n: medians[n])
    return Row(case.name, ours * 1e3, fastest, medians[fastest] / ours, gflops, gflops / peak)


def summary(rows: list[Row], peak: float) -> None:
    """The table the goals are read from: each case against its fastest caching peer, and its share of the peak."""
    print(f"   summary (sgemm peak {peak:.1f} GFLOP/s; ratio = fastest caching peer's time / the reference's, "
          "goal >= 1; large head goal >= 50% of the peak):", flush=True)  # fmt: skip
    print(f"     {'case':44s} {'reference':>10s}  {'fastest caching peer':20s} {'ratio':>6s} {'GFLOP/s':>8s} "
          f"{'% peak':>6s}")  # fmt: skip
    for row in rows:
        print(f"     {row.case:44s} {row.reference_ms:8.1f} ms  {row.peer:20s} {row.ratio:5.2f}x {row.gflops:8.1f} "
              f"{100 * row.share:5.1f}%", flush=True)  # fmt: skip


def ensemble(case: Case) -> None:
    """8 members (each on one BLAS thread, in its own summation order) against one run; the floor is what 8 such
    members cost spread evenly over the cores, with nothing else: 8 / cores x one member alone."""
    single = lambda: run_prepared(case.job, events=())  # noqa: E731
    alone = lambda: run_prepared(case.job, events=(), blas_threads=1, summation_seed=1)  # noqa: E731
    members = lambda: run_ensemble(case.job, runs=8, events=())  # noqa: E731
    in_turn = lambda: run_ensemble(case.job, runs=8, events=(), workers=1)  # noqa: E731
    contenders = {"one run": single, "one member": alone, "8 members": members, "8 in turn": in_turn}
    medians, _ = alternate(contenders, max(3, REPEATS // 2))
    one, parallel, turn = medians["one run"], medians["8 members"], medians["8 in turn"]
    member = medians["one member"]
    print(f"   ensemble of 8 on {CORES} cores ({case.name}): one run {one * 1e3:.0f} ms; 8 members in parallel "
          f"{parallel / one:.2f}x one run (floor {8 / CORES * member / one:.2f}x: 8 / {CORES} cores x one member "
          f"alone, {member * 1e3:.0f} ms on one BLAS thread); 8 in turn {turn / one:.2f}x", flush=True)  # fmt: skip


def memory() -> None:
    """Peak traced memory (numpy buffers included) of preparing the conv job on 5k images (the frozen prefix,
    chunk by chunk) and, apart, of training it one epoch, against the cached activations + one chunk + model."""
    rng = np.random.default_rng(2)
    spec = _conv3(rng, 1)
    for feature in (*spec.description.input, *spec.description.trainingInput):  # 8-bit grayscale, scaled to 0..1
        if feature.name == "x":
            feature.type.imageType.width, feature.type.imageType.height = 28, 28
            feature.type.imageType.colorSpace = 10  # GRAYSCALE
    neural_network(spec).preprocessing.add(featureName="x").scaler.channelScale = 1 / 255
    images = rng.integers(0, 256, (5000, 1, 28, 28), dtype=np.uint8)
    examples = _labelled(rng, images)
    tracemalloc.start()
    job = prepare(spec, examples, {"learningRate": 0.01})
    _, preparing = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    run_prepared(job, events=())
    _, training = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    cached = sum(a.nbytes for a in job.frontier.values())
    model = sum(a.nbytes for arrays in job.network.params.values() for a in arrays.values())
    trained = sum(a.nbytes for name in job.network.updatable for a in job.network.params[name].values())
    chunk = _CHUNK * 28 * 28 * 4
    budget = cached + chunk + model
    print(f"   peak memory, conv job (5k uint8 images, given): cached activations {cached / 1e6:.1f} MB + one "
          f"float32 input chunk {chunk / 1e6:.1f} MB + model {model / 1e6:.1f} MB = {budget / 1e6:.1f} MB; "
          f"training {training / 1e6:.1f} MB traced ({training / budget:.2f}x that; the job keeps its initial "
          f"weights while the task trains its copy of the updatable layers, {trained / 1e6:.1f} MB, and one "
          f"mini-batch's buffers); preparing (the frozen prefix chunk by chunk) {preparing / 1e6:.1f} MB "
          f"({preparing / budget:.2f}x)", flush=True)  # fmt: skip


def table(*, kernel_only: bool = False) -> None:
    """The whole table; `kernel_only` leaves out the ensemble and the memory, which the BLAS kernel does not move."""
    print(f"   load average {load_average()} on {CORES} cores; BLAS: {blas_info()}; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')} "
          f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '(unset)')}", flush=True)  # fmt: skip
    peak, peak_threads = sgemm_peak()
    print(f"   sgemm peak (2048^3 float32, median of {REPEATS}): {peak:.1f} GFLOP/s on {peak_threads} thread(s)")
    crossover()
    with tempfile.TemporaryDirectory() as scratch:
        all_cases = cases(Path(scratch))
        rows = [measure_case(case, peak) for case in all_cases]
        if not kernel_only:
            ensemble(all_cases[0])
            memory()
    summary(rows, peak)
    print(f"   load average at the end {load_average()}", flush=True)


def run() -> None:
    print("   -- environment as set", flush=True)
    table()
    env = {k: v for k, v in os.environ.items() if k not in PINNED}
    print(f"   -- again with {' and '.join(PINNED)} unset (child process)", flush=True)
    subprocess.run([sys.executable, "-m", "benchmarks.bench_reference"], env=env, check=True, timeout=3600)


if __name__ == "__main__":
    table(kernel_only=True)
