"""k-NN update and prediction as Core ML's KNearestNeighborsClassifier describes them.

Update appends every training example (its feature vector, after any frozen pipeline stages) and its label
to the index. Prediction takes the k nearest stored samples by squared Euclidean distance (ties: the sample
stored first wins), votes uniformly or by inverse distance, and falls back to the default label when the
index is empty. A kd-tree search returns exactly the neighbours the linear search returns.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mlupdate._coreml import Model_pb2
from mlupdate.errors import DataError, ModelInvalidError, UnsupportedError
from mlupdate.models.params import resolve_parameters
from mlupdate.models.spec import KNN_KIND, Spec, model_kind, walk_models
from mlupdate.reference.pipeline import leaf_features
from mlupdate.reference.semantics import Semantics

Matrix = npt.NDArray[np.float64]
Label = str | int


@dataclass(frozen=True)
class KnnModel:
    """The k-NN index and how it predicts."""

    samples: Matrix  # [S, d]
    labels: tuple[Label, ...]
    k: int
    weighting: str  # "uniform" | "inverse_distance"
    index: str  # "linear" | "kd_tree"
    leaf_size: int
    default_label: Label

    def classes(self) -> list[Label]:
        """Distinct labels in the order they were first stored: the probability columns."""
        return list(dict.fromkeys(self.labels)) if self.labels else [self.default_label]


@dataclass(frozen=True)
class KnnPrediction:
    labels: list[Label]
    classes: list[Label]
    probabilities: Matrix  # [M, len(classes)]


def knn_model(spec: Spec) -> KnnModel:
    """The k-NN classifier of `spec` (alone or last in a pipeline), as stored."""
    knn_spec = _knn_spec(spec)
    knn = knn_spec.kNearestNeighborsClassifier
    index = knn.nearestNeighborsIndex
    dimension = int(index.numberOfDimensions)
    samples = np.asarray([list(v.vector) for v in index.floatSamples], dtype=np.float64).reshape(-1, dimension)
    which = knn.WhichOneof("ClassLabels")
    labels: tuple[Label, ...] = ()
    if which == "stringClassLabels":
        labels = tuple(str(v) for v in knn.stringClassLabels.vector)
    elif which == "int64ClassLabels":
        labels = tuple(int(v) for v in knn.int64ClassLabels.vector)
    default: Label = (
        knn.defaultStringLabel if knn.WhichOneof("DefaultClassLabel") == "defaultStringLabel" else knn.defaultInt64Label
    )
    return KnnModel(
        samples=samples,
        labels=labels,
        k=int(knn.numberOfNeighbors.defaultValue),
        weighting="inverse_distance" if knn.WhichOneof("WeightingScheme") == "inverseDistanceWeighting" else "uniform",
        index="kd_tree" if index.WhichOneof("IndexType") == "singleKdTreeIndex" else "linear",
        leaf_size=int(index.singleKdTreeIndex.leafSize or 30),
        default_label=default,
    )


def _knn_spec(spec: Spec) -> Spec:
    leaf = list(walk_models(spec))[-1].spec
    if model_kind(leaf) != KNN_KIND:
        raise UnsupportedError(
            f"expected a k-NN classifier (alone or last in a pipeline), found {model_kind(leaf)!r}",
            where="model",
            fix="use mlupdate.reference.trainer for neural networks",
        )
    return leaf


def _vectors(spec: Spec, features: Mapping[str, Any]) -> Matrix:
    knn_spec = _knn_spec(spec)
    _, env = leaf_features(spec, features, dtype=np.float64)
    name = knn_spec.description.input[0].name
    if name not in env:
        raise DataError(f"the k-NN input {name!r} is missing", where=f"feature {name}", fix="provide it")
    vectors = np.asarray(env[name], dtype=np.float64)
    vectors = vectors.reshape(vectors.shape[0], -1)
    dimension = int(knn_spec.kNearestNeighborsClassifier.nearestNeighborsIndex.numberOfDimensions)
    if vectors.shape[1] != dimension:
        raise DataError(
            f"k-NN input {name!r} has {vectors.shape[1]} values per example, the index has {dimension} dimensions",
            where=f"feature {name}",
            fix=f"give {dimension}-dimensional vectors",
        )
    return vectors


def update(spec: Spec, examples: Mapping[str, Any], parameters: Mapping[str, Any] | None = None) -> Spec:
    """A copy of `spec` whose k-NN index holds the old samples plus every training example, in order."""
    if not spec.isUpdatable:
        raise ModelInvalidError("model", ["the model is not updatable (isUpdatable is false); make it updatable"])
    resolved = resolve_parameters(spec, dict(parameters or {}))
    updated = Model_pb2.Model()
    updated.CopyFrom(spec)
    knn_spec = _knn_spec(updated)
    knn = knn_spec.kNearestNeighborsClassifier
    label_name = knn_spec.description.predictedFeatureName or spec.description.predictedFeatureName
    if label_name not in examples:
        raise DataError(f"the label feature {label_name!r} is missing", where=f"feature {label_name}", fix="add it")
    vectors = _vectors(spec, examples)
    labels = list(examples[label_name])
    if len(labels) != len(vectors):
        raise DataError(f"{len(labels)} labels for {len(vectors)} examples", where=f"feature {label_name}", fix="")
    for vector in vectors:
        knn.nearestNeighborsIndex.floatSamples.add().vector.extend(np.float32(vector).tolist())
    if (
        knn.WhichOneof("ClassLabels") == "int64ClassLabels"
        or knn.WhichOneof("DefaultClassLabel") == "defaultInt64Label"
    ):
        knn.int64ClassLabels.vector.extend(int(v) for v in labels)
    else:
        knn.stringClassLabels.vector.extend(str(v) for v in labels)
    if "numberOfNeighbors" in resolved:
        knn.numberOfNeighbors.defaultValue = int(resolved["numberOfNeighbors"])
    return updated


def predict(spec: Spec, features: Mapping[str, Any], *, semantics: Semantics | None = None) -> KnnPrediction:
    """Labels and class probabilities for every example (pipelines run their frozen stages first)."""
    semantics = semantics or Semantics()
    model = knn_model(spec)
    queries = _vectors(spec, features)
    classes = model.classes()
    if not model.labels:
        probabilities = np.ones((len(queries), 1))
        return KnnPrediction([model.default_label] * len(queries), classes, probabilities)
    column = {label: i for i, label in enumerate(classes)}
    k = min(model.k, len(model.labels))
    search = _kd_tree_neighbours if model.index == "kd_tree" else _linear_neighbours
    out_labels: list[Label] = []
    probabilities = np.zeros((len(queries), len(classes)))
    for row, query in enumerate(queries):
        neighbours = search(model, query, k)
        weights = _vote_weights([d for d, _ in neighbours], model.weighting)
        votes = np.zeros(len(classes))
        for (_, sample), weight in zip(neighbours, weights, strict=True):
            votes[column[model.labels[sample]]] += weight
        out_labels.append(classes[_winner(votes, neighbours, model, column, semantics)])
        if semantics.knn_probabilities == "vote_fraction":
            for _, sample in neighbours:
                probabilities[row, column[model.labels[sample]]] += 1 / k
        else:
            probabilities[row] = votes / votes.sum()
    return KnnPrediction(out_labels, classes, probabilities)


def _vote_weights(distances: Sequence[float], weighting: str) -> list[float]:
    if weighting == "uniform":
        return [1.0] * len(distances)
    if any(d == 0 for d in distances):  # an exact match outweighs everything: 1/0
        return [1.0 if d == 0 else 0.0 for d in distances]
    return [1.0 / d for d in distances]


def _winner(
    votes: Matrix,
    neighbours: list[tuple[float, int]],
    model: KnnModel,
    column: Mapping[Label, int],
    semantics: Semantics,
) -> int:
    best = votes.max()
    tied = {i for i, v in enumerate(votes) if v == best}
    if semantics.knn_tie_break == "first_label" or len(tied) == 1:
        return min(tied)
    return next(column[model.labels[s]] for _, s in neighbours if column[model.labels[s]] in tied)


def _linear_neighbours(model: KnnModel, query: Matrix, k: int) -> list[tuple[float, int]]:
    distances = ((model.samples - query) ** 2).sum(axis=1)
    nearest = np.argsort(distances, kind="stable")[:k]
    return [(float(distances[i]), int(i)) for i in nearest]


def _kd_tree_neighbours(model: KnnModel, query: Matrix, k: int) -> list[tuple[float, int]]:
    """Exact k nearest by (distance, sample index), through a kd-tree with `leaf_size` samples per leaf."""
    heap: list[tuple[float, int]] = []  # max-heap of (-distance, -index): the worst kept neighbour on top
    _search(_build(model.samples, np.arange(len(model.samples)), max(1, model.leaf_size), 0), model, query, k, heap)
    return sorted((-d, -i) for d, i in heap)


@dataclass(frozen=True)
class _Node:
    indices: npt.NDArray[np.int64] | None  # leaf samples
    axis: int = 0
    split: float = 0.0
    low: _Node | None = None
    high: _Node | None = None


def _build(samples: Matrix, indices: npt.NDArray[np.int64], leaf_size: int, depth: int) -> _Node:
    if len(indices) <= leaf_size:
        return _Node(indices)
    axis = depth % samples.shape[1]
    values = samples[indices, axis]
    split = float(np.median(values))
    low, high = indices[values <= split], indices[values > split]
    if len(low) == 0 or len(high) == 0:
        return _Node(indices)
    return _Node(
        None, axis, split, _build(samples, low, leaf_size, depth + 1), _build(samples, high, leaf_size, depth + 1)
    )


def _search(node: _Node, model: KnnModel, query: Matrix, k: int, heap: list[tuple[float, int]]) -> None:
    if node.indices is not None:
        distances = ((model.samples[node.indices] - query) ** 2).sum(axis=1)
        for distance, index in zip(distances, node.indices, strict=True):
            entry = (-float(distance), -int(index))
            if len(heap) < k:
                heapq.heappush(heap, entry)
            elif entry > heap[0]:  # closer, or as close and stored earlier
                heapq.heapreplace(heap, entry)
        return
    assert node.low is not None and node.high is not None
    near, far = (node.low, node.high) if query[node.axis] <= node.split else (node.high, node.low)
    _search(near, model, query, k, heap)
    gap = (query[node.axis] - node.split) ** 2
    if len(heap) < k or gap <= -heap[0][0]:  # equal distances may still win on index
        _search(far, model, query, k, heap)
