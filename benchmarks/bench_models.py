"""Model toolkit: validate + inspect every real model, and make MNIST updatable (ours vs coremltools' builder).

coremltools' `NeuralNetworkBuilder.make_updatable` + loss + optimizer is the independent implementation of the
same job (it validates nothing on Linux; ours also copies the spec and runs every Core ML rule).
"""

from __future__ import annotations

import contextlib
import io
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from mlupdate._coreml import Model_pb2, NeuralNetworkBuilder, SgdParams
from mlupdate.models.inspect import inspect_model
from mlupdate.models.knn import cut_embedding, drawing_classifier
from mlupdate.models.spec import load_spec
from mlupdate.models.updatable import Sgd, make_updatable
from mlupdate.models.validate import validate

REAL_MODELS = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "real-models"
MNIST_DENSE = ["drawing_dense0_fwd", "drawing_dense1_fwd"]


def _median_ms(job: Callable[[], Any], repeat: int = 15) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        job()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _coremltools_make_updatable(spec: Any) -> Any:
    copy = Model_pb2.Model()
    copy.CopyFrom(spec)
    builder = NeuralNetworkBuilder(spec=copy)
    builder.make_updatable(MNIST_DENSE)
    with contextlib.redirect_stdout(io.StringIO()):  # the builder prints a line per loss layer
        builder.set_categorical_cross_entropy_loss("lossLayer", input="labelProbabilities")
    builder.set_sgd_optimizer(SgdParams(lr=0.01, batch=8))
    builder.set_epochs(10)
    return builder.spec


def run() -> None:
    if not REAL_MODELS.is_dir():
        print(f"   skipped: no real models at {REAL_MODELS}")
        return
    for path in sorted(REAL_MODELS.glob("*/*.mlmodel")):
        spec = load_spec(path)
        validate_ms = _median_ms(partial(validate, spec))
        inspect_ms = _median_ms(partial(inspect_model, spec, str(path)))
        print(f"   {path.name:34s} validate {validate_ms:7.2f} ms   inspect {inspect_ms:7.2f} ms")
    mnist = load_spec(REAL_MODELS / "mnist-classifier" / "MNISTClassifier.mlmodel")
    ours = _median_ms(lambda: make_updatable(mnist, MNIST_DENSE, "cce", Sgd(lr=0.01, batch=8), epochs=10))
    theirs = _median_ms(lambda: _coremltools_make_updatable(mnist))
    print(
        f"   make_updatable MNIST: ours {ours:.2f} ms (incl. validation), coremltools {theirs:.2f} ms, "
        f"ratio {ours / theirs:.2f}"
    )
    drawing = _median_ms(lambda: drawing_classifier(cut_embedding(mnist, "drawing_dense0_relu_fwd")))
    print(f"   drawing classifier from MNIST (cut + k-NN pipeline + validation): {drawing:.2f} ms")
