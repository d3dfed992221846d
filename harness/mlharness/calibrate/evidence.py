"""What a probe's results say, as named numeric components: trained parameters, reported losses, predictions.

The same extraction reads a device's results bundle and the reference's, so observation and predictions are
compared component by component. Only the first task counts (probe jobs run one task).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlharness.errors import HarnessError

if TYPE_CHECKING:
    from mlupdate.bundle import ResultsBundle


class EvidenceMismatch(HarnessError):
    """Device and reference results differ in structure (layers, event counts, outputs), not just in values."""


@dataclass(frozen=True)
class Evidence:
    """Named float64 vectors, in a fixed order."""

    source: str
    components: Mapping[str, np.ndarray[Any, Any]]

    def vector(self) -> np.ndarray[Any, Any]:
        if not self.components:
            return np.zeros(0)
        return np.concatenate([self.components[name] for name in sorted(self.components)])

    def vector_like(self, other: Evidence) -> np.ndarray[Any, Any]:
        """This evidence laid out like `other`; a structural difference is an EvidenceMismatch naming it."""
        if set(self.components) != set(other.components):
            missing = sorted(set(other.components) - set(self.components))
            extra = sorted(set(self.components) - set(other.components))
            raise EvidenceMismatch(
                f"{self.source} and {other.source} report different things: missing {missing}, extra {extra}",
                where=other.source,
                fix="check that both ran the same probe job (same events, same updatable layers)",
            )
        for name in sorted(other.components):
            mine, theirs = self.components[name], other.components[name]
            if mine.shape != theirs.shape:
                raise EvidenceMismatch(
                    f"{name}: {other.source} has {theirs.size} value(s), {self.source} has {mine.size}",
                    where=other.source,
                    fix="a different count of events or outputs is itself a finding: compare the events logs",
                )
        return self.vector()


def evidence_from_results(results: ResultsBundle, source: str, class_labels: Sequence[str | int] = ()) -> Evidence:
    """Parameters, per-event losses of task 0 (with where they are null), and probe outputs (labels one-hot over
    `class_labels`)."""
    components: dict[str, np.ndarray[Any, Any]] = {}
    for (layer, kind), array in results.parameters.items():
        components[f"param:{layer}.{kind}"] = np.asarray(array, dtype=np.float64).ravel()
    losses: dict[str, list[float | None]] = {}
    for event in results.events:
        if event.task == 0:
            losses.setdefault(event.event, []).append(None if event.loss is None else float(event.loss))
    for name, values in losses.items():
        components[f"loss:{name}"], components[f"loss-missing:{name}"] = _losses_in_place(values)
    for name, output in results.probe_outputs.items():
        components[f"probe:{name}"] = _probe_vector(output.values, class_labels, f"{source}: probe {name}")
    return Evidence(source, components)


def _losses_in_place(values: Sequence[float | None]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Every event's loss in its place, a null one (none reported, or not finite: the contract writes inf as null)
    as 0 and flagged in the second vector, so that an observation of an infinite loss lines up with the hypothesis
    that predicts one and differs from those that predict a number."""
    missing = np.array([value is None for value in values], dtype=np.float64)
    return np.array([0.0 if value is None else value for value in values], dtype=np.float64), missing


def _probe_vector(values: np.ndarray[Any, Any] | list[Any], labels: Sequence[str | int], where: str) -> Any:
    if isinstance(values, np.ndarray):
        return np.asarray(values, dtype=np.float64).ravel()
    # Labels one-hot in the model's class order: a different label is a distance of sqrt(2) per example.
    index = {str(label): position for position, label in enumerate(labels)}
    one_hot = np.zeros((len(values), len(labels)))
    for row, value in enumerate(values):
        if str(value) not in index:
            raise EvidenceMismatch(
                f"predicted label {value!r} is not one of the model's class labels {list(labels)}",
                where=where,
                fix="check that the results belong to this probe's model",
            )
        one_hot[row, index[str(value)]] = 1.0
    return one_hot.ravel()
