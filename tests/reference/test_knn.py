"""k-NN update and prediction: appends, votes, default label, kd-tree = linear, pipelines embed first."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlupdate.errors import ParameterError
from mlupdate.models.knn import cut_embedding, drawing_classifier, knn_classifier
from mlupdate.models.spec import load_spec
from mlupdate.reference.knn import knn_model, predict, update
from mlupdate.reference.semantics import Semantics

RNG = np.random.default_rng(5)


def test_empty_knn_predicts_the_default_label() -> None:
    spec = knn_classifier(3, "unknown", k=3)
    prediction = predict(spec, {"input": RNG.normal(size=(2, 3))})
    assert prediction.labels == ["unknown", "unknown"]


def test_update_appends_examples_and_labels_in_order() -> None:
    spec = knn_classifier(2, "none", k=1)
    first = update(spec, {"input": np.array([[0.0, 0.0], [5.0, 5.0]]), "label": ["a", "b"]})
    second = update(first, {"input": np.array([[9.0, 9.0]]), "label": ["c"]})
    model = knn_model(second)
    assert model.labels == ("a", "b", "c")
    np.testing.assert_array_equal(model.samples, [[0, 0], [5, 5], [9, 9]])
    assert knn_model(spec).labels == ()  # the input spec is not modified
    assert predict(second, {"input": np.array([[8.0, 8.5], [0.4, -0.2]])}).labels == ["c", "a"]


def test_uniform_majority_and_inverse_distance_can_disagree() -> None:
    samples = np.array([[0.0], [3.0], [3.2], [-0.1]])
    labels = ["near", "far", "far", "near2"]
    query = {"input": np.array([[0.5]])}
    uniform = update(knn_classifier(1, "x", k=3, weighting="uniform"), {"input": samples, "label": labels})
    inverse = update(knn_classifier(1, "x", k=3, weighting="inverse_distance"), {"input": samples, "label": labels})
    # neighbours of 0.5: 0.0 (near, d=0.25), -0.1 (near2, d=0.36), 3.0 (far, d=6.25)
    assert predict(uniform, query).labels == ["near"]  # three-way tie of one vote each: nearest wins
    assert predict(uniform, query, semantics=Semantics(knn_tie_break="first_label")).labels == ["near"]
    result = predict(inverse, query)
    assert result.labels == ["near"]
    expected = np.array([1 / 0.25, 1 / 6.25, 1 / 0.36])
    np.testing.assert_allclose(result.probabilities[0], expected / expected.sum())
    assert result.classes == ["near", "far", "near2"]


def test_numberOfNeighbors_override_is_checked_and_applied() -> None:
    spec = knn_classifier(1, "x", k=1, k_range=(1, 5))
    samples = {"input": np.array([[0.0], [1.0], [1.1]]), "label": ["a", "b", "b"]}
    assert predict(update(spec, samples), {"input": np.array([[0.2]])}).labels == ["a"]
    assert predict(update(spec, samples, {"numberOfNeighbors": 3}), {"input": np.array([[0.2]])}).labels == ["b"]
    with pytest.raises(ParameterError, match=r"numberOfNeighbors=9 is outside what the model allows: in \[1, 5\]"):
        update(spec, samples, {"numberOfNeighbors": 9})


def test_kd_tree_gives_the_same_answers_as_linear_search_including_ties() -> None:
    samples = np.round(RNG.normal(size=(300, 3)), 1)  # rounding makes equal distances common
    labels = [str(v) for v in RNG.integers(0, 4, 300)]
    queries = {"input": np.round(RNG.normal(size=(60, 3)), 1)}
    for weighting in ("uniform", "inverse_distance"):
        linear = update(knn_classifier(3, "x", k=7, weighting=weighting), {"input": samples, "label": labels})
        tree = update(
            knn_classifier(3, "x", k=7, weighting=weighting, index="kd_tree", leaf_size=4),
            {"input": samples, "label": labels},
        )
        a, b = predict(linear, queries), predict(tree, queries)
        assert a.labels == b.labels
        np.testing.assert_array_equal(a.probabilities, b.probabilities)


def test_drawing_pipeline_runs_the_frozen_embedding_before_the_knn(real_models: Path) -> None:
    mnist = load_spec(real_models / "mnist-classifier" / "MNISTClassifier.mlmodel")
    spec = drawing_classifier(cut_embedding(mnist, "drawing_dense0_relu_fwd"), default_label="unknown", k=1)
    images = RNG.integers(0, 256, (4, 1, 28, 28), dtype=np.uint8)
    updated = update(spec, {"image": images, "label": ["w", "x", "y", "z"]})
    assert knn_model(updated).samples.shape == (4, 128)
    assert predict(updated, {"image": images[::-1]}).labels == ["z", "y", "x", "w"]
