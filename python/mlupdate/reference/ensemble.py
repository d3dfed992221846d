"""Ensembles of reference runs for trajectory-level parity.

Long update tasks are chaotic: a 1e-7 relative change of the initial weights moves the weights after
hundreds of epochs by tens of percent. So a device result is judged against the spread of N reference runs
started from initial weights perturbed by a relative epsilon (seeded), not against one run.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlupdate.errors import InputError
from mlupdate.reference.layers import Params
from mlupdate.reference.semantics import Semantics
from mlupdate.reference.trainer import EVENT_KINDS, PreparedJob, TrainingResult, run_prepared


@dataclass(frozen=True)
class EnsembleResult:
    """N runs and, per updatable layer and parameter, the mean and standard deviation over the runs."""

    runs: tuple[TrainingResult, ...]
    mean: dict[str, Params]
    spread: dict[str, Params]
    epsilon: float
    seed: int

    def distance(self, weights: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
        """`layer.kind` -> ||w - mean|| / ||spread||: how many spreads `weights` lies from the ensemble mean."""
        out: dict[str, float] = {}
        for layer, arrays in self.mean.items():
            for kind, mean in arrays.items():
                offset = float(np.linalg.norm(np.asarray(weights[layer][kind], dtype=np.float64) - mean))
                spread = float(np.linalg.norm(self.spread[layer][kind]))
                out[f"{layer}.{kind}"] = offset / spread if spread > 0 else (0.0 if offset == 0 else float("inf"))
        return out


def perturbed(weights: Mapping[str, Params], epsilon: float, rng: np.random.Generator) -> dict[str, Params]:
    """Every value multiplied by (1 + epsilon * N(0, 1))."""
    return {
        layer: {
            kind: array * (1 + epsilon * rng.standard_normal(array.shape)).astype(array.dtype)
            for kind, array in arrays.items()
        }
        for layer, arrays in weights.items()
    }


def run_ensemble(
    job: PreparedJob,
    *,
    runs: int = 8,
    epsilon: float = 1e-7,
    seed: int = 0,
    events: Collection[str] = EVENT_KINDS,
    semantics: Semantics | None = None,
) -> EnsembleResult:
    """`runs` trainings of one prepared job (frozen prefix computed once), each from perturbed initial weights."""
    if runs < 2:
        raise InputError(
            f"an ensemble of {runs} run(s) has no spread", where="ensemble.runs", fix="use at least two runs"
        )
    rng = np.random.default_rng(seed)
    initial = {name: job.network.params[name] for name in job.network.updatable}
    results = tuple(
        run_prepared(job, events=events, semantics=semantics, initial_weights=perturbed(initial, epsilon, rng))
        for _ in range(runs)
    )
    mean: dict[str, Params] = {}
    spread: dict[str, Params] = {}
    for layer in initial:
        mean[layer], spread[layer] = {}, {}
        for kind in initial[layer]:
            stack = np.stack([r.weights[layer][kind].astype(np.float64) for r in results])
            mean[layer][kind], spread[layer][kind] = stack.mean(axis=0), stack.std(axis=0, ddof=1)
    return EnsembleResult(results, mean, spread, epsilon, seed)
