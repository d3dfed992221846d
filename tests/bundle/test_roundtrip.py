"""Bundles written and read back give every tensor unchanged; writers never leave half a bundle."""

from __future__ import annotations

import gc
import json
import re
import weakref
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlupdate.bundle import ResultsWriter, read_job, read_results, write_job
from mlupdate.bundle.golden_models import image_classifier, index_classifier, knn_pipeline, model_bytes, regressor
from mlupdate.bundle.hashing import sha256_bytes, sha256_file
from mlupdate.contract import (
    TIMED_PHASES,
    DeviceInfo,
    EventKind,
    Producer,
    ProducerName,
    ProgressEvent,
    TaskRecord,
    TaskStatus,
)
from mlupdate.data import (
    ExampleSet,
    SetFeature,
    fit_probe_set,
    fit_training_set,
    from_arrays,
    image_files,
    image_folder,
)
from mlupdate.errors import BundleError, DataError, ModelInvalidError, ParameterError, SchemaError
from mlupdate.models.spec import Spec


def _save(spec: Spec, folder: Path, name: str) -> Path:
    path = folder / f"{name}.mlmodel"
    path.write_bytes(model_bytes(spec))
    return path


def _pixels(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


IMAGE = SetFeature("image", "image", width=4, height=4, color_space="BGR")
LABEL = SetFeature("label", "string")


def test_bgr_image_job_round_trips_in_model_channel_order(tmp_path: Path) -> None:
    rgb = _pixels(1, (5, 4, 4, 3))
    labels = ["cat", "dog", "fish", "dog", "cat"]
    path = write_job(
        tmp_path,
        model_path=_save(image_classifier(), tmp_path, "M"),
        training=from_arrays([IMAGE, LABEL], {"image": rgb, "label": labels}),
        probe=from_arrays([IMAGE], {"image": rgb[:2]}),
        parameters={"learningRate": 0.5},
        job_id="job-1",
    )
    job = read_job(path)
    loaded = job.training.load("image")
    assert loaded.dtype == np.uint8 and loaded.shape == (5, 3, 4, 4)  # type: ignore[union-attr]
    assert np.array_equal(loaded, rgb.transpose(0, 3, 1, 2)[:, ::-1])  # B, G, R planes
    assert job.training.load("label") == labels
    assert job.probe is not None and np.array_equal(job.probe.load("image"), loaded[:2])  # type: ignore[index]
    png = Image.open(path / "train/image/000000.png")
    assert png.mode == "RGB" and np.array_equal(np.asarray(png), rgb[0])  # the PNG itself stays RGB
    assert job.parameters == {"learningRate": 0.5} and job.model_path.read_bytes() == model_bytes(image_classifier())
    assert job.manifest["model"]["sha256"] == sha256_file(job.model_path)


def test_array_jobs_round_trip_every_tensor_bit_exactly(tmp_path: Path) -> None:
    x = np.random.default_rng(2).normal(size=(7, 4)).astype(np.float32)
    target = np.array([[0], [1], [2], [0], [1], [2], [0]], np.int32)
    spec = index_classifier()
    features = [SetFeature("x", "multiArray", (4,), "float32"), SetFeature("probs_true", "multiArray", (1,), "int32")]
    job = read_job(
        write_job(
            tmp_path,
            model_path=_save(spec, tmp_path, "I"),
            training=from_arrays(features, {"x": x, "probs_true": target}),
            job_id="arrays",
        )
    )
    assert np.array_equal(job.training.load("x"), x) and job.training.load("x").dtype == np.float32  # type: ignore[union-attr]
    assert np.array_equal(job.training.load("probs_true"), target)
    y = np.random.default_rng(3).normal(size=(3, 3))
    reg_features = [
        SetFeature("features", "multiArray", (3,), "float64"),
        SetFeature("y_true", "multiArray", (1,), "float64"),
    ]
    reg = read_job(
        write_job(
            tmp_path,
            model_path=_save(regressor(), tmp_path, "R"),
            training=from_arrays(reg_features, {"features": y, "y_true": y[:, :1]}),
            job_id="regression",
        )
    )
    assert np.array_equal(reg.training.load("features"), y) and np.array_equal(reg.training.load("y_true"), y[:, :1])


def test_fitted_image_folder_round_trips_through_a_knn_pipeline_job(tmp_path: Path) -> None:
    for label in ("heart", "star"):
        for index in range(3):
            (tmp_path / "src" / label).mkdir(parents=True, exist_ok=True)
            Image.fromarray(_pixels(index, (9, 7))).save(tmp_path / "src" / label / f"{index}.png")
    spec = knn_pipeline()
    training = fit_training_set(image_folder(tmp_path / "src"), spec, mode="scaleFit")
    job = read_job(write_job(tmp_path / "out", model_path=_save(spec, tmp_path, "K"), training=training, job_id="k"))
    fitted = np.stack([e["drawing"] for e in training])[:, np.newaxis]
    assert np.array_equal(job.training.load("drawing"), fitted)
    assert job.manifest["model"]["update_scope"] == "knn" and job.manifest["model"]["updatable_layers"] == []
    assert [image.shape for image in job.training.iter_images("drawing")] == [(1, 4, 4)] * 6


def test_job_refuses_invalid_model_bad_parameters_and_mismatched_features(real_models: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    training = from_arrays([IMAGE, LABEL], {"image": _pixels(1, (1, 4, 4, 3)), "label": ["cat"]})
    with pytest.raises(ModelInvalidError):
        write_job(out, model_path=real_models / "tictactoe/NNClassifier.mlmodel", training=training, job_id="a")
    model = _save(image_classifier(), tmp_path, "M")
    with pytest.raises(ParameterError):
        write_job(out, model_path=model, training=training, parameters={"numberOfNeighbors": 3}, job_id="b")
    wrong = from_arrays(
        [SetFeature("image", "image", width=5, height=4, color_space="BGR"), LABEL],
        {"image": _pixels(1, (1, 4, 5, 3)), "label": ["cat"]},
    )
    with pytest.raises(DataError, match="the model declares"):
        write_job(out, model_path=model, training=wrong, job_id="c")
    with pytest.raises(DataError, match="features"):
        write_job(out, model_path=model, training=from_arrays([IMAGE], {"image": _pixels(1, (1, 4, 4, 3))}), job_id="d")
    with pytest.raises(BundleError, match="job id"):
        write_job(out, model_path=model, training=training, job_id="../escape")
    assert not out.exists() or not any(out.iterdir())


def test_images_encoded_on_threads_land_in_order_even_from_a_source_that_reuses_its_buffer(tmp_path: Path) -> None:
    images = _pixels(3, (40, 4, 4, 3))

    def produce():  # type: ignore[no-untyped-def]
        buffer = np.empty((4, 4, 3), dtype=np.uint8)
        for image in images:
            buffer[...] = image  # the next example overwrites what the last one yielded
            yield {"image": buffer, "label": "cat"}

    path = write_job(
        tmp_path,
        model_path=_save(image_classifier(), tmp_path, "M"),
        training=ExampleSet((IMAGE, LABEL), len(images), produce, "reused buffer"),
        job_id="threads",
    )
    job = read_job(path)  # checks every file against the hash job.json records
    loaded = job.training.load("image")
    assert np.array_equal(loaded, images.transpose(0, 3, 1, 2)[:, ::-1])  # type: ignore[arg-type]


def test_failure_while_streaming_leaves_no_bundle_and_no_partial_folder(tmp_path: Path) -> None:
    def produce():  # type: ignore[no-untyped-def]
        yield {"image": _pixels(1, (4, 4, 3)), "label": "cat"}
        yield {"image": _pixels(2, (4, 4, 3)), "label": "cat"}
        raise DataError("corrupt image", where="b.png")

    broken = ExampleSet((IMAGE, LABEL), 3, produce, "broken")
    out = tmp_path / "out"
    with pytest.raises(DataError, match="corrupt"):
        write_job(out, model_path=_save(image_classifier(), tmp_path, "M"), training=broken, job_id="j")
    assert list(out.iterdir()) == []


def test_set_that_yields_fewer_examples_than_its_count_is_refused(tmp_path: Path) -> None:
    short = ExampleSet((IMAGE, LABEL), 2, lambda: iter([{"image": _pixels(1, (4, 4, 3)), "label": "cat"}]), "short")
    with pytest.raises(DataError, match="yielded 1 examples"):
        write_job(tmp_path / "o", model_path=_save(image_classifier(), tmp_path, "M"), training=short, job_id="j")


def test_existing_job_folder_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "j").mkdir()
    (tmp_path / "j" / "keep").write_text("old")
    training = from_arrays([IMAGE, LABEL], {"image": _pixels(1, (1, 4, 4, 3)), "label": ["cat"]})
    with pytest.raises(BundleError, match="already exists"):
        write_job(tmp_path, model_path=_save(image_classifier(), tmp_path, "M"), training=training, job_id="j")
    assert (tmp_path / "j" / "keep").read_text() == "old"


DEVICE = DeviceInfo("test", "x", "iOS", "17", "b", is_simulator=True, chip=None, host="linux")
PRODUCER = Producer(ProducerName.REFERENCE, "test", {"cce": "mean"})


def _task(status: str = "succeeded") -> TaskRecord:
    seconds = dict.fromkeys(f"{phase}_seconds" for phase in TIMED_PHASES)
    return TaskRecord(
        0,
        TaskStatus(status),
        **dict.fromkeys(seconds, 0.5),
        memory_before_bytes=1,
        memory_after_bytes=2,
        epochs_completed=1,
        final_loss=0.25,
    )


def finish(writer: ResultsWriter, status: str, tasks: list[TaskRecord]) -> Path:
    return writer.finish(TaskStatus(status), None, DEVICE, tasks, PRODUCER)


def test_results_round_trip_every_tensor_and_event(tmp_path: Path) -> None:
    weights = np.random.default_rng(4).normal(size=(3, 2, 3, 3)).astype(np.float32)
    model = tmp_path / "Updated.mlmodelc"
    (model / "sub").mkdir(parents=True)
    (model / "sub" / "weights.bin").write_bytes(b"\x00\x01")
    events = [
        {"task": 0, "event": "trainingBegin", "epoch": None, "mini_batch": None, "loss": None, "t": 0.0},
        {"task": 0, "event": "miniBatchEnd", "epoch": 0, "mini_batch": 0, "loss": float("nan"), "t": 0.1},
    ]
    with ResultsWriter(tmp_path / "outbox", "job-9") as writer:
        writer.add_events(ProgressEvent.from_json(event) for event in events)
        writer.add_parameter("conv", "model1", "weights", weights)
        writer.add_probe_output("classLabel", "int64", [3, 1])
        writer.add_probe_output("out", "multiArray", np.ones((2, 5)))
        writer.add_model(model)
        path = finish(writer, "succeeded", [_task()])
    assert not (tmp_path / "outbox" / ".job-9.partial").exists()
    done = (path / "DONE").read_text().splitlines()
    assert done == ["job-9", sha256_file(path / "results.json")]
    results = read_results(path, "job-9")
    assert np.array_equal(results.parameters[("model1.conv", "weights")], weights)
    assert results.probe_outputs["classLabel"].values == [3, 1]
    assert np.array_equal(results.probe_outputs["out"].values, np.ones((2, 5), np.float32))
    assert results.events[1].loss is None and results.events[1].mini_batch == 0  # NaN loss is written as null
    assert results.producer.semantics == {"cce": "mean"} and results.tasks[0].final_loss == 0.25
    assert results.model_path is not None and (results.model_path / "sub" / "weights.bin").read_bytes() == b"\x00\x01"


def test_exception_inside_the_results_writer_publishes_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), ResultsWriter(tmp_path, "job-x") as writer:
        writer.add_parameter("dense", "", "biases", np.zeros(3))
        raise RuntimeError("device vanished")
    assert list(tmp_path.iterdir()) == []


def test_results_writer_refuses_bad_events_and_mismatched_probe_rows(tmp_path: Path) -> None:
    with ResultsWriter(tmp_path, "job-y") as writer:
        with pytest.raises(BundleError, match="event"):
            writer.add_events([ProgressEvent(EventKind.EPOCH_END, epoch=-1)])
        writer.add_probe_output("a", "string", ["x", "y"])
        with pytest.raises(BundleError, match="has 1 rows, earlier outputs have 2"):
            writer.add_probe_output("b", "string", ["x"])
    assert list(tmp_path.iterdir()) == []  # never finished: nothing published


def test_reader_refuses_results_without_done_even_if_everything_else_is_there(tmp_path: Path) -> None:
    with ResultsWriter(tmp_path, "job-z") as writer:
        path = finish(writer, "cancelled", [_task("cancelled")])
    (path / "DONE").unlink()
    with pytest.raises(BundleError, match="DONE is missing"):
        read_results(path, "job-z")
    assert json.loads((path / "results.json").read_text())["status"] == "cancelled"


def test_probe_fitting_and_write_job_agree_on_features(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    Image.new("RGB", (6, 6), (1, 2, 3)).save(tmp_path / "p" / "a.png")
    spec = image_classifier()
    probe = fit_probe_set(image_files(tmp_path / "p"), spec)
    training = from_arrays([IMAGE, LABEL], {"image": _pixels(1, (1, 4, 4, 3)), "label": ["cat"]})
    job = read_job(
        write_job(tmp_path / "o", model_path=_save(spec, tmp_path, "M"), training=training, probe=probe, job_id="p")
    )
    assert job.probe is not None and job.probe.load("image")[0, :, 0, 0].tolist() == [3, 2, 1]  # type: ignore[index]


def test_write_job_streams_examples_instead_of_holding_the_set(tmp_path: Path) -> None:
    """While example i is produced, at most the previous one is still alive: the writer keeps no pixels."""
    alive: list[weakref.ref[np.ndarray]] = []
    most_alive = 0

    def produce():  # type: ignore[no-untyped-def]
        nonlocal most_alive
        for index in range(200):
            gc.collect()
            most_alive = max(most_alive, sum(ref() is not None for ref in alive))
            image = np.full((4, 4, 3), index % 256, np.uint8)
            alive.append(weakref.ref(image))
            yield {"image": image, "label": "cat"}

    examples = ExampleSet((IMAGE, LABEL), 200, produce, "generated")
    write_job(tmp_path, model_path=_save(image_classifier(), tmp_path, "M"), training=examples, job_id="stream")
    assert most_alive <= 1


def test_results_writer_refuses_a_job_id_that_is_not_a_plain_name(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"job id '\.\./up' is not allowed"):
        ResultsWriter(tmp_path, "../up")


def test_results_whose_tensors_disagree_with_the_manifest_are_refused_before_reading(tmp_path: Path) -> None:
    with ResultsWriter(tmp_path, "job-t") as writer:
        writer.add_parameter("dense", "", "weights", np.zeros((2, 3)))
        writer.add_probe_output("label", "string", ["a", "b"])
        path = finish(writer, "succeeded", [_task()])
    manifest = json.loads((path / "results.json").read_text())
    for field, value, problem in (
        ("parameters", [{**manifest["parameters"][0], "shape": [3, 2]}], r"parameters\[0\]"),
        ("probe", {**manifest["probe"], "count": 3}, r"probe.outputs\[0\]"),
    ):
        edited = {**manifest, field: value}
        data = (json.dumps(edited) + "\n").encode()
        (path / "results.json").write_bytes(data)
        (path / "DONE").write_text(f"job-t\n{sha256_bytes(data)}\n")
        with pytest.raises(SchemaError) as info:
            read_results(path, "job-t")
        assert re.search(problem, info.value.where or "")
