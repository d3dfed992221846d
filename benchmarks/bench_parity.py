"""Parity: reading a compiled model and comparing parameters, against independent baselines.

1. `read_compiled` on the real Xcode-compiled MNIST classifier vs decoding its `.mlmodel` protobuf and turning
   the same five layers into arrays (what a reader without the compiled format would do).
2. `compare_arrays` (names, shapes, dtypes, element-wise tolerance, worst element, per-tensor errors) on
   2.9 million float32 parameters vs a bare `np.allclose` over the same tensors.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mlupdate.compiled import read_compiled
from mlupdate.models.spec import load_spec, neural_network
from mlupdate.parity.compare import compare_arrays
from mlupdate.parity.tolerances import Tolerance

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real-models" / "mnist-classifier"
REPEATS = 20


def _best(function: Callable[[], object], repeats: int = REPEATS) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def _spec_arrays(path: Path) -> dict[str, np.ndarray]:
    out = {}
    for layer in neural_network(load_spec(path)).layers:
        kind = layer.WhichOneof("layer")
        if kind in ("convolution", "innerProduct"):
            out[layer.name] = np.asarray(getattr(layer, kind).weights.floatValue, dtype=np.float32)
    return out


def _bench_reader() -> None:
    compiled, spec = FIXTURES / "MNISTClassifier.mlmodelc", FIXTURES / "MNISTClassifier.mlmodel"
    if not compiled.is_dir():
        print(f"   reader: skipped, fixture not found at {compiled}")
        return
    ours = _best(lambda: read_compiled(compiled).parameters())
    baseline = _best(lambda: _spec_arrays(spec))
    print(f"   read_compiled(MNISTClassifier.mlmodelc): {ours * 1e3:.2f} ms (best of {REPEATS})")
    print(f"   load_spec + arrays from the .mlmodel:    {baseline * 1e3:.2f} ms; ratio {baseline / ours:.1f}x")


def _bench_compare() -> None:
    rng = np.random.default_rng(0)
    shapes = {"conv.weights": (256, 128, 3, 3), "dense0.weights": (1024, 2048), "dense1.weights": (512, 1024)}
    expected = {name: rng.normal(size=shape).astype(np.float32) for name, shape in shapes.items()}
    actual = {name: values * np.float32(1 + 1e-7) for name, values in expected.items()}
    count = sum(v.size for v in expected.values())
    tolerance = Tolerance(rtol=1e-5, atol=1e-6)
    ours = _best(lambda: compare_arrays(expected, actual, tolerance, what="bench"), 5)
    baseline = _best(lambda: all(np.allclose(actual[n], expected[n], 1e-5, 1e-6) for n in expected), 5)
    print(f"   compare_arrays on {count / 1e6:.1f} M parameters: {ours * 1e3:.0f} ms ({count / ours / 1e6:.0f} M/s)")
    print(f"   np.allclose on the same tensors:   {baseline * 1e3:.0f} ms; compare_arrays costs {ours / baseline:.1f}x")


def run() -> None:
    _bench_reader()
    _bench_compare()
