"""Job bundle writing: 10,000 28x28 grayscale images fitted and written, streamed vs a naive in-memory loop.

Both sides start from the same memory-mapped `.npy` of pixels and write one PNG per image plus hashes.
The project path (`fit_training_set` + `write_job`) streams one example at a time; the naive baseline
loads every image into a list of Pillow images first, saves them in a loop and hashes the files after.
Throughput is measured without tracemalloc (it slows allocation down); peak memory in a second run with it.
Then 224x224 RGB images written with the PNG encoder on its thread pool against one thread (median of three
alternating runs).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from mlupdate._coreml import NeuralNetworkBuilder, SgdParams, datatypes
from mlupdate.bundle import job_writer, write_job
from mlupdate.bundle.golden_models import model_bytes
from mlupdate.data import SetFeature, array_file, fit_training_set, from_arrays
from mlupdate.models.spec import load_spec

COUNT = 10_000
SIDE = 28
LABELS = [str(d) for d in range(10)]


def _digit_model(path: Path) -> Path:
    with contextlib.redirect_stdout(io.StringIO()):
        builder = NeuralNetworkBuilder(
            [("image", datatypes.Array(1, SIDE, SIDE))], [("probs", datatypes.Array(10))], mode="classifier"
        )
        builder.add_flatten("flatten", 0, "image", "flat")
        weights = np.random.default_rng(0).normal(0, 0.01, (10, SIDE * SIDE)).astype(np.float32)
        builder.add_inner_product("dense", weights, np.zeros(10, np.float32), SIDE * SIDE, 10, True, "flat", "z")
        builder.add_softmax("softmax", "z", "probs")
        builder.set_class_labels(LABELS, predicted_feature_name="label", prediction_blob="probs")
        builder.make_updatable(["dense"])
        builder.set_categorical_cross_entropy_loss("loss", input="probs")
        builder.set_sgd_optimizer(SgdParams(lr=0.01, batch=8))
        builder.set_epochs(1)
    spec = builder.spec
    for description in (*spec.description.input, *spec.description.trainingInput):
        if description.name == "image":
            description.type.imageType.width = SIDE
            description.type.imageType.height = SIDE
            description.type.imageType.colorSpace = 10  # GRAYSCALE
    path.write_bytes(model_bytes(spec))
    return path


def _project(model: Path, pixels: Path, labels: Path, out: Path) -> None:
    training = fit_training_set(array_file(pixels, labels=labels), load_spec(model))
    write_job(out, model_path=model, training=training, job_id="bench")


def _naive(model: Path, pixels: Path, labels: Path, out: Path) -> None:
    array = np.load(pixels)
    images = [Image.fromarray(a).convert("L").resize((SIDE, SIDE)) for a in array]
    target = out / "bench" / "train" / "image"
    target.mkdir(parents=True)
    for index, image in enumerate(images):
        image.save(target / f"{index:06d}.png")
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(target.iterdir())}
    shutil.copyfile(labels, out / "bench" / "train" / "label.json")
    shutil.copyfile(model, out / "bench" / "model.mlmodel")
    (out / "bench" / "job.json").write_text(json.dumps({"files": files}))


def _measure(name: str, write: Callable[[Path, Path, Path, Path], None], work: Path) -> tuple[float, float]:
    inputs = (work / "Digits.mlmodel", work / "pixels.npy", work / "labels.json")
    out = work / f"out-{name}"
    started = time.perf_counter()
    write(*inputs, out)
    seconds = time.perf_counter() - started
    shutil.rmtree(out)
    tracemalloc.start()
    write(*inputs, out)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    shutil.rmtree(out)
    rate = COUNT / seconds
    print(f"   {name:8s} {rate:9.0f} images/s   peak traced memory {peak / 1e6:7.2f} MB", flush=True)
    return rate, peak


def run() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        _digit_model(work / "Digits.mlmodel")
        rng = np.random.default_rng(1)
        np.save(work / "pixels.npy", rng.integers(0, 256, size=(COUNT, SIDE, SIDE), dtype=np.uint8))
        (work / "labels.json").write_text(json.dumps([LABELS[i % 10] for i in range(COUNT)]))
        print(
            f"   job bundle of {COUNT} {SIDE}x{SIDE} grayscale images (fit + PNG + sha256 + job.json); "
            f"all pixels together: {COUNT * SIDE * SIDE / 1e6:.2f} MB"
        )
        project = _measure("mlupdate", _project, work)
        naive = _measure("naive", _naive, work)
        print(
            f"   ratio: {project[0] / naive[0]:.2f}x the naive throughput, "
            f"{project[1] / naive[1]:.2f}x its peak memory",
            flush=True,
        )
        _rgb_threads(work)


def _rgb_threads(work: Path) -> None:
    side, name = 224, "image"
    with contextlib.redirect_stdout(io.StringIO()):
        builder = NeuralNetworkBuilder([(name, datatypes.Array(3, side, side))], [("probs", None)], mode="classifier")
        builder.add_flatten("flatten", 0, name, "flat")
        weights = np.zeros((3, 3 * side * side), np.float32)
        builder.add_inner_product("dense", weights, np.zeros(3), 3 * side * side, 3, True, "flat", "z")
        builder.add_softmax("softmax", "z", "probs")
        builder.set_class_labels(["cat", "dog", "fish"], predicted_feature_name="label", prediction_blob="probs")
        builder.make_updatable(["dense"])
        builder.set_categorical_cross_entropy_loss("loss", input="probs")
        builder.set_sgd_optimizer(SgdParams(lr=0.01, batch=8))
        builder.set_epochs(1)
    spec = builder.spec
    for description in (*spec.description.input, *spec.description.trainingInput):
        if description.name == name:
            description.type.imageType.width = description.type.imageType.height = side
            description.type.imageType.colorSpace = 20  # RGB
    model = work / "Rgb.mlmodel"
    model.write_bytes(model_bytes(spec))
    count = 300
    pixels = np.random.default_rng(2).integers(0, 256, size=(count, 224, 224, 3), dtype=np.uint8)
    labels = [("cat", "dog", "fish")[i % 3] for i in range(count)]
    features = [SetFeature(name, "image", width=224, height=224, color_space="RGB"), SetFeature("label", "string")]
    times: dict[int, list[float]] = {1: [], job_writer.PNG_THREADS: []}
    threads = job_writer.PNG_THREADS
    try:
        for run in range(3):
            for n in (1, threads) if run % 2 == 0 else (threads, 1):
                job_writer.PNG_THREADS = n
                out = work / f"rgb-{n}"
                started = time.perf_counter()
                write_job(out, model_path=model, training=from_arrays(features, {name: pixels, "label": labels}))
                times[n].append(time.perf_counter() - started)
                shutil.rmtree(out)
    finally:
        job_writer.PNG_THREADS = threads
    one, pool = sorted(times[1])[1], sorted(times[threads])[1]
    print(
        f"   {count} 224x224 RGB images: PNG on {threads} threads {count / pool:6.0f} images/s, on 1 thread "
        f"{count / one:6.0f} images/s: {one / pool:.2f}x",
        flush=True,
    )
