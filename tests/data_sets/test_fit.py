"""Fitting sources to real and tiny models: targets mapped as Core ML maps them, errors naming the example."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlupdate._coreml import NeuralNetworkBuilder, SgdParams, datatypes
from mlupdate.bundle.golden_models import image_classifier, index_classifier, knn_pipeline, regressor
from mlupdate.data import (
    RawExample,
    Source,
    array_file,
    csv_table,
    fit_probe_set,
    fit_training_set,
    image_files,
    image_folder,
    labelled_files,
)
from mlupdate.data.arrays import fit_array
from mlupdate.data.examples import SetFeature
from mlupdate.errors import DataError
from mlupdate.models.spec import Spec, load_spec


def _model(real_models: Path, relative: str) -> Spec:
    return load_spec(real_models / relative)


def _png(path: Path, size: tuple[int, int] = (8, 8), color: tuple[int, int, int] = (10, 20, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


def test_string_classifier_from_csv_gets_string_labels_and_double_inputs(real_models: Path, tmp_path: Path) -> None:
    spec = _model(real_models, "tictactoe/UpdatableNNClassifier.mlmodel")
    table = tmp_path / "moves.csv"
    table.write_text("c0,c1,c2,c3,c4,c5,c6,c7,c8,pick\n1,0,0,0,-1,0,0,0,0,top\n0,1,0,0,0,0,0,0,-1,mid\n")
    examples = list(fit_training_set(csv_table(table, target="pick"), spec))
    assert [e["pick"] for e in examples] == ["top", "mid"]
    assert examples[0]["gameboard"].dtype == np.float64 and examples[0]["gameboard"].shape == (9,)


def test_label_outside_the_class_labels_names_the_row_and_the_labels(real_models: Path, tmp_path: Path) -> None:
    spec = _model(real_models, "tictactoe/UpdatableNNClassifier.mlmodel")
    table = tmp_path / "moves.csv"
    table.write_text("c0,c1,c2,c3,c4,c5,c6,c7,c8,pick\n1,0,0,0,-1,0,0,0,0,centre\n")
    with pytest.raises(DataError, match="'centre' is not one of the model's class labels") as info:
        list(fit_training_set(csv_table(table), spec))
    assert info.value.where == f"{table}:2" and "topLeft" in info.value.what


def test_plain_network_target_is_a_zero_based_int32_class_index(real_models: Path, tmp_path: Path) -> None:
    spec = _model(real_models, "prayer-auto-advance/PrayerAutoAdvance.mlmodel")
    np.save(tmp_path / "x.npy", np.ones((3, 10), np.float32))
    source = array_file(tmp_path / "x.npy", labels=[0, 1, "1"])
    targets = [e["probabilities_true"] for e in fit_training_set(source, spec)]
    assert all(t.dtype == np.int32 and t.shape == (1,) for t in targets)
    assert [int(t[0]) for t in targets] == [0, 1, 1]
    named = fit_training_set(
        array_file(tmp_path / "x.npy", labels=["stay", "advance", "stay"]), spec, classes=["stay", "advance"]
    )
    assert [int(e["probabilities_true"][0]) for e in named] == [0, 1, 0]


def test_class_index_out_of_range_of_the_softmax_is_refused(real_models: Path, tmp_path: Path) -> None:
    spec = _model(real_models, "prayer-auto-advance/PrayerAutoAdvance.mlmodel")
    np.save(tmp_path / "x.npy", np.ones((2, 10)))
    with pytest.raises(DataError, match=r"class index 2 is out of range \(0..1\)") as info:
        list(fit_training_set(array_file(tmp_path / "x.npy", labels=[1, 2]), spec))
    assert info.value.where == f"{tmp_path / 'x.npy'}[1]"
    with pytest.raises(DataError, match="needs an integer label"):
        list(fit_training_set(array_file(tmp_path / "x.npy", labels=["a", "b"]), spec))


def test_mse_target_is_a_double_array_of_the_declared_shape(real_models: Path, tmp_path: Path) -> None:
    spec = _model(real_models, "sleep-predictor/SleepPredictorUpdatable.mlmodel")
    np.save(tmp_path / "x.npy", np.zeros((2, 21)))
    examples = list(fit_training_set(array_file(tmp_path / "x.npy", labels=[22.5, "23.25"]), spec))
    assert [e["predictedBedtimeHour_true"].tolist() for e in examples] == [[22.5], [23.25]]
    assert examples[0]["predictedBedtimeHour_true"].dtype == np.float64


def test_nan_in_inputs_or_targets_is_refused_naming_the_example(real_models: Path, tmp_path: Path) -> None:
    spec = _model(real_models, "sleep-predictor/SleepPredictorUpdatable.mlmodel")
    x = np.zeros((3, 21))
    x[2, 5] = np.nan
    np.save(tmp_path / "x.npy", x)
    with pytest.raises(DataError, match="NaN or Inf") as info:
        list(fit_training_set(array_file(tmp_path / "x.npy", labels=[1.0, 2.0, 3.0]), spec))
    assert info.value.where == f"{tmp_path / 'x.npy'}[2]"
    np.save(tmp_path / "ok.npy", np.zeros((1, 21)))
    with pytest.raises(DataError, match="NaN or Inf"):
        list(fit_training_set(array_file(tmp_path / "ok.npy", labels=[float("inf")]), spec))


def test_mixed_shapes_and_wrong_sizes_are_refused(real_models: Path, tmp_path: Path) -> None:
    spec = _model(real_models, "sleep-predictor/SleepPredictorUpdatable.mlmodel")
    np.savez(tmp_path / "mixed.npz", np.zeros(21), np.zeros((3, 7)))
    with pytest.raises(DataError, match="mixed shapes"):
        list(fit_training_set(array_file(tmp_path / "mixed.npz", labels=[1, 2]), spec))
    np.save(tmp_path / "short.npy", np.zeros((2, 20)))
    with pytest.raises(DataError, match="has 20 values"):
        list(fit_training_set(array_file(tmp_path / "short.npy", labels=[1, 2]), spec))


def test_image_folder_fitted_to_a_bgr_classifier(tmp_path: Path) -> None:
    _png(tmp_path / "cat" / "a.png", (8, 6), (255, 0, 0))
    _png(tmp_path / "dog" / "b.png", (4, 4))
    examples = list(fit_training_set(image_folder(tmp_path), image_classifier(), mode="centerCrop"))
    assert [e["label"] for e in examples] == ["cat", "dog"]
    assert examples[0]["image"].shape == (4, 4, 3) and tuple(examples[0]["image"][0, 0]) == (255, 0, 0)


def test_knn_pipeline_learns_new_labels_from_labelled_files(tmp_path: Path) -> None:
    for name in ("heart_0.png", "heart_1.png", "star_0.png"):
        _png(tmp_path / name, (12, 12))
    examples = fit_training_set(labelled_files(tmp_path), knn_pipeline())
    assert [f.name for f in examples.features] == ["drawing", "label"]
    values = list(examples)
    assert [e["label"] for e in values] == ["heart", "heart", "star"] and values[0]["drawing"].shape == (4, 4)


def test_probe_set_has_model_inputs_only(tmp_path: Path) -> None:
    _png(tmp_path / "p.png")
    probe = fit_probe_set(image_files(tmp_path), image_classifier())
    assert [f.name for f in probe.features] == ["image"] and probe.count == 1
    assert list(next(iter(probe))) == ["image"]


def test_corrupt_image_fails_when_reached_and_names_the_file(tmp_path: Path) -> None:
    _png(tmp_path / "cat" / "a.png")
    (tmp_path / "cat" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    examples = fit_training_set(image_folder(tmp_path), image_classifier())  # listing reads no pixels
    iterator = iter(examples)
    assert next(iterator)["label"] == "cat"
    with pytest.raises(DataError) as info:
        next(iterator)
    assert info.value.where == str(tmp_path / "cat" / "b.png")


def test_streaming_yields_fresh_arrays_one_at_a_time(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.arange(12, dtype=np.float32).reshape(3, 4))
    examples = fit_training_set(array_file(tmp_path / "x.npy", labels=[0, 1, 2]), index_classifier())
    first, second = list(examples), list(examples)  # re-iterable: reads the source again
    assert [e["x"].tolist() for e in first] == [e["x"].tolist() for e in second]
    assert first[2]["x"].tolist() == [8, 9, 10, 11] and first[2]["probs_true"].tolist() == [2]


def test_regressor_from_csv_with_target_column(tmp_path: Path) -> None:
    table = tmp_path / "r.csv"
    table.write_text("a,b,c,y\n1,2,3,6\n")
    (example,) = list(fit_training_set(csv_table(table, target="y"), regressor()))
    assert example["features"].tolist() == [1, 2, 3] and example["y_true"].tolist() == [6.0]


def test_unlabelled_source_cannot_train(tmp_path: Path) -> None:
    _png(tmp_path / "p.png")
    with pytest.raises(DataError, match="no label"):
        list(fit_training_set(image_files(tmp_path), image_classifier()))


def _int64_classifier() -> Spec:
    with contextlib.redirect_stdout(io.StringIO()):
        builder = NeuralNetworkBuilder([("x", datatypes.Array(2))], [("p", datatypes.Array(3))], mode="classifier")
        builder.add_inner_product("d", np.zeros((3, 2), np.float32), None, 2, 3, False, "x", "z")
        builder.add_softmax("s", "z", "p")
        builder.set_class_labels([3, 5, 7], predicted_feature_name="digit", prediction_blob="p")
        builder.make_updatable(["d"])
        builder.set_categorical_cross_entropy_loss("loss", input="p")
        builder.set_sgd_optimizer(SgdParams(lr=0.1, batch=1))
    return builder.spec


def test_int64_classifier_labels_become_integers_and_must_be_known() -> None:
    rows = [RawExample("r0", np.array([1.0, 2.0]), "5"), RawExample("r1", np.array([0.0, 1.0]), 7)]
    source = Source("rows", 2, lambda: iter(rows))
    assert [e["digit"] for e in fit_training_set(source, _int64_classifier())] == [5, 7]
    bad = Source("rows", 1, lambda: iter([RawExample("r9", np.array([1.0, 2.0]), "4")]))
    with pytest.raises(DataError, match="label 4 is not one of the model's class labels") as info:
        list(fit_training_set(bad, _int64_classifier()))
    assert info.value.where == "r9"


def test_model_without_training_inputs_is_refused(real_models: Path, tmp_path: Path) -> None:
    _png(tmp_path / "7" / "a.png")
    spec = _model(real_models, "mnist-classifier/MNISTClassifier.mlmodel")
    with pytest.raises(DataError, match="no training inputs"):
        fit_training_set(image_folder(tmp_path), spec)
    probe = list(fit_probe_set(image_files(tmp_path / "7"), spec))  # probing needs no update support
    assert probe[0]["image"].shape == (28, 28)


INT32_PAIR = SetFeature("counts", "multiArray", shape=(2,), dtype="int32")


def test_whole_floats_are_cast_to_an_int32_feature_and_reshaped() -> None:
    fitted = fit_array([[3.0], [-4.0]], INT32_PAIR, where="row 1")
    assert fitted.dtype == np.int32 and fitted.tolist() == [3, -4]


@pytest.mark.parametrize(
    ("value", "message", "fix"),
    [
        (["a", "b"], "feature 'counts' needs numbers, got <U1 values", "convert the values to numbers"),
        ([1.5, 2.0], "feature 'counts' is INT32 but holds fractional values", "pass whole numbers"),
        ([1, 2**31], "feature 'counts' holds values outside INT32", "keep values within [-2147483648, 2147483647]"),
    ],
)
def test_values_an_int32_feature_cannot_hold_are_refused_naming_the_example(
    value: list[object], message: str, fix: str
) -> None:
    with pytest.raises(DataError) as info:
        fit_array(value, INT32_PAIR, where="row 7")
    assert (info.value.what, info.value.where) == (message, "row 7")
    assert info.value.fix is not None and info.value.fix.startswith(fix)
