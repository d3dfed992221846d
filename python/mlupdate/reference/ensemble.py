"""Ensembles of reference runs for trajectory-level parity.

Long update tasks are chaotic: a 1e-7 relative change of the initial weights moves the weights after
hundreds of epochs by tens of percent. So a device result is judged against the spread of N reference runs
started from initial weights perturbed by a relative epsilon (seeded), not against one run.

Members run in parallel worker processes (forked, so they share the prepared job's frozen activations
without copying them) and each on one BLAS thread, sequential or not: member i is bit-identical whether it
ran in a worker, in this process, or alone (`member_initial_weights` + `run_prepared(..., blas_threads=1)`).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import warnings
from collections.abc import Collection, Mapping, Sequence
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


def member_initial_weights(job: PreparedJob, runs: int, epsilon: float, seed: int) -> list[dict[str, Params]]:
    """The perturbed initial weights of every member, drawn in member order from one seeded generator."""
    rng = np.random.default_rng(seed)
    initial = {name: job.network.params[name] for name in job.network.updatable}
    return [perturbed(initial, epsilon, rng) for _ in range(runs)]


# The job and settings the forked workers train: set before the pool starts, inherited by fork (no pickling).
_SHARED: tuple[PreparedJob, Collection[str], Semantics | None] | None = None


def _member(initial: dict[str, Params]) -> TrainingResult:
    assert _SHARED is not None
    job, events, semantics = _SHARED
    return run_prepared(job, events=events, semantics=semantics, initial_weights=initial, blas_threads=1)


def default_workers(runs: int) -> int:
    """One worker process per core this process may use (fork-based, so Linux only), at most one per member."""
    if sys.platform != "linux":
        return 1  # macOS's system frameworks are not fork-safe; Windows has no fork
    return max(1, min(runs, len(os.sched_getaffinity(0))))


def _train_members(
    job: PreparedJob,
    initials: Sequence[dict[str, Params]],
    events: Collection[str],
    semantics: Semantics | None,
    workers: int,
) -> tuple[TrainingResult, ...]:
    global _SHARED
    if workers <= 1:
        return tuple(
            run_prepared(job, events=events, semantics=semantics, initial_weights=w, blas_threads=1) for w in initials
        )
    _SHARED = (job, events, semantics)
    try:
        with warnings.catch_warnings():
            # JAX, when a caller has loaded it, warns about fork; the workers never touch it.
            warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                return tuple(pool.map(_member, initials, chunksize=1))
    finally:
        _SHARED = None


def run_ensemble(
    job: PreparedJob,
    *,
    runs: int = 8,
    epsilon: float = 1e-7,
    seed: int = 0,
    events: Collection[str] = EVENT_KINDS,
    semantics: Semantics | None = None,
    workers: int | None = None,
) -> EnsembleResult:
    """`runs` trainings of one prepared job (frozen prefix computed once), each from perturbed initial weights,
    on `workers` processes (default: one per available core)."""
    if runs < 2:
        raise InputError(
            f"an ensemble of {runs} run(s) has no spread", where="ensemble.runs", fix="use at least two runs"
        )
    initial = {name: job.network.params[name] for name in job.network.updatable}
    initials = member_initial_weights(job, runs, epsilon, seed)
    results = _train_members(job, initials, events, semantics, workers or default_workers(runs))
    mean: dict[str, Params] = {}
    spread: dict[str, Params] = {}
    for layer in initial:
        mean[layer], spread[layer] = {}, {}
        for kind in initial[layer]:
            stack = np.stack([r.weights[layer][kind].astype(np.float64) for r in results])
            mean[layer][kind], spread[layer][kind] = stack.mean(axis=0), stack.std(axis=0, ddof=1)
    return EnsembleResult(results, mean, spread, epsilon, seed)
