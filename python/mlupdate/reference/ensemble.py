"""Ensembles of reference runs for trajectory-level parity.

Long update tasks are chaotic: a 1e-7 relative change of the initial weights moves the weights after
hundreds of epochs by tens of percent. So a device result is judged against the spread of N reference runs
started from initial weights perturbed by a relative epsilon (seeded), not against one run.

Each member also sums its mini-batches in its own order (`summation_seed`): the same mathematics in another
float32 rounding, as a device's kernels round differently from numpy's, so the spread holds that noise too.

Members run in this process and in forked helper processes (one per core; forked, so they share the prepared
job's frozen activations without copying them), each on one BLAS thread, in parallel or not: member i is
bit-identical whether it ran in a helper, in this process, or alone (`member_initial_weights`,
`member_summation_seeds` and `run_prepared(..., blas_threads=1, summation_seed=...)`). `run_variants` trains any
set of variants of a job (other semantics, parameters, initial weights) the same way.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import sys
import traceback
import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import numpy as np

from mlupdate.errors import InputError, MlupdateError, TrainingError
from mlupdate.reference.layers import Params
from mlupdate.reference.parallelism import blas_limit
from mlupdate.reference.semantics import Semantics
from mlupdate.reference.trainer import EVENT_KINDS, PreparedJob, TrainingResult, run_prepared


@dataclass(frozen=True)
class EnsembleResult:
    """N runs and, per updatable layer and parameter, the element-wise mean and standard deviation over the runs.

    How far a result lies from an ensemble, in spread units, is defined once, in `mlupdate.parity.spread`."""

    runs: tuple[TrainingResult, ...]
    mean: dict[str, Params]
    spread: dict[str, Params]
    epsilon: float
    seed: int


@dataclass(frozen=True)
class Variant:
    """One reference run of a prepared job: its initial weights, semantics, parameter overrides and the float32
    summation order of its mini-batches (None: the plain order). Everything left None is the job's own."""

    initial_weights: dict[str, Params] | None = None
    semantics: Semantics | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    summation_seed: int | None = None


# The variant's result, or the TrainingError that stopped it (a wrong semantics may diverge).
Outcome = TrainingResult | TrainingError


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


def member_summation_seeds(runs: int, seed: int) -> list[int]:
    """The summation-order seed of every member: member i sums its mini-batches in its own order."""
    return [int(v) for v in np.random.default_rng([seed, 1]).integers(0, 2**63 - 1, size=runs)]


def _train(job: PreparedJob, events: Collection[str], variant: Variant, *, catch: bool) -> Outcome:
    prepared = (
        dataclasses.replace(job, parameters={**job.parameters, **variant.parameters}) if variant.parameters else job
    )
    try:
        return run_prepared(
            prepared,
            events=events,
            semantics=variant.semantics,
            initial_weights=variant.initial_weights,
            blas_threads=1,
            summation_seed=variant.summation_seed,
        )
    except TrainingError as error:
        if not catch:
            raise
        return error


def default_workers(runs: int) -> int:
    """One process per core this process may use (itself and forked helpers, so Linux only), at most one per member."""
    if sys.platform != "linux":
        return 1  # macOS's system frameworks are not fork-safe; Windows has no fork
    return max(1, min(runs, len(os.sched_getaffinity(0))))


# What one process trained of its share: outcomes by variant index, and the error that stopped it by index.
_Share = tuple[dict[int, Outcome], dict[int, Exception]]


class _Variants:
    """Variants trained by this process and forked helpers together, each process taking the next variant nobody
    has taken (a counter in shared memory), so a process slowed by other work takes fewer. Made before the fork:
    the helpers inherit the job (its frozen activations too) and the variants, nothing is pickled to them."""

    def __init__(self, job: PreparedJob, events: Collection[str], variants: Sequence[Variant], catch: bool) -> None:
        self.job, self.events, self.variants, self.catch = job, events, variants, catch
        self.context = multiprocessing.get_context("fork")
        self.taken = self.context.Value("q", 0)

    def _take(self) -> int | None:
        with self.taken.get_lock():
            index = int(self.taken.value)
            if index >= len(self.variants):
                return None
            self.taken.value = index + 1
            return index

    def _stop(self) -> None:
        with self.taken.get_lock():
            self.taken.value = len(self.variants)

    def share(self) -> _Share:
        """Train variants until none is left. An error stops every process after the variant it is training: the
        variants taken before the failed one all finish, so the first error in variant order is the one raised,
        as when they run in turn."""
        outcomes: dict[int, Outcome] = {}
        while (index := self._take()) is not None:
            try:
                outcomes[index] = _train(self.job, self.events, self.variants[index], catch=self.catch)
            except Exception as error:
                self._stop()
                return outcomes, {index: error}
        return outcomes, {}

    def run(self, helpers: int) -> tuple[Outcome, ...]:
        """This process's share and that of `helpers` forked processes, in variant order."""
        channels: list[tuple[BaseProcess, Connection]] = []
        with warnings.catch_warnings():
            # JAX, when a caller has loaded it, warns about fork; the helpers never touch it.
            warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
            for _ in range(helpers):
                # A pipe per helper: messages this large from two processes into one pipe interleave.
                receive, send = self.context.Pipe(duplex=False)
                helper = self.context.Process(target=_help, args=(self, send), daemon=True)
                helper.start()
                send.close()  # the helper's end, closed before the next fork: reading ends if the helper does
                channels.append((helper, receive))
        try:
            outcomes, errors = self.share()
            for process, receive in channels:
                theirs, their_errors = _received(receive, process)
                outcomes.update(theirs)
                errors.update(their_errors)
        except BaseException:  # interrupted, or a helper died: nobody waits for the others' runs
            for process, _ in channels:
                process.terminate()
            raise
        finally:
            for process, receive in channels:
                process.join()
                receive.close()
        if errors:
            raise errors[min(errors)]
        return tuple(outcomes[index] for index in range(len(self.variants)))


def _help(variants: _Variants, send: Connection) -> None:
    """A forked helper: its share of the variants, sent back in one message once none is left."""
    outcomes, errors = variants.share()
    for error in errors.values():
        if not isinstance(error, MlupdateError):  # a bug: say where it happened
            error.add_note(f"in ensemble helper process {os.getpid()}:\n" + "".join(traceback.format_exception(error)))
    send.send((outcomes, errors))
    send.close()


def _received(receive: Connection, process: BaseProcess) -> _Share:
    try:
        share: _Share = receive.recv()
    except EOFError:  # the helper has exited without sending
        process.join()
        raise MlupdateError(
            f"an ensemble helper process ended without sending its runs back (exit code {process.exitcode}; "
            "a negative one is the signal that ended it)",
            where="reference ensemble",
            fix="-9 is often the out-of-memory killer: train the ensemble in this process (workers=1)",
        ) from None
    return share


def run_variants(
    job: PreparedJob,
    variants: Sequence[Variant],
    *,
    events: Collection[str] = EVENT_KINDS,
    workers: int | None = None,
    catch: bool = True,
) -> tuple[Outcome, ...]:
    """Train every variant of one prepared job (frozen prefix computed once) on `workers` processes (default:
    one per available core: this one and forked helpers), each on one BLAS thread: bit-identical to running it
    alone. With `catch`, a variant that diverges gives its TrainingError instead of stopping the others; without,
    the first error in variant order is raised."""
    count = min(workers or default_workers(len(variants)), len(variants))
    # One BLAS thread set once, before any fork: the runs then leave the count alone (`blas_limit`), so no forked
    # process restarts OpenBLAS's thread pool.
    with blas_limit(1):
        if count <= 1:
            return tuple(_train(job, events, variant, catch=catch) for variant in variants)
        return _Variants(job, events, variants, catch).run(helpers=count - 1)


def run_ensemble(
    job: PreparedJob,
    *,
    runs: int = 8,
    epsilon: float = 1e-7,
    seed: int = 0,
    events: Collection[str] = EVENT_KINDS,
    semantics: Semantics | None = None,
    workers: int | None = None,
    vary_summation: bool = True,
) -> EnsembleResult:
    """`runs` trainings of one prepared job, each from perturbed initial weights and (`vary_summation`) summing
    its mini-batches in its own order, so the spread holds float32 rounding as well as the perturbations' growth;
    on `workers` processes (default: one per available core)."""
    if runs < 2:
        raise InputError(
            f"an ensemble of {runs} run(s) has no spread", where="ensemble.runs", fix="use at least two runs"
        )
    initial = {name: job.network.params[name] for name in job.network.updatable}
    sums: list[int | None] = list(member_summation_seeds(runs, seed)) if vary_summation else [None] * runs
    variants = [
        Variant(initial_weights=weights, semantics=semantics, summation_seed=order)
        for weights, order in zip(member_initial_weights(job, runs, epsilon, seed), sums, strict=True)
    ]
    results = tuple(
        outcome
        for outcome in run_variants(job, variants, events=events, workers=workers, catch=False)
        if isinstance(outcome, TrainingResult)
    )
    mean: dict[str, Params] = {}
    spread: dict[str, Params] = {}
    for layer in initial:
        mean[layer], spread[layer] = {}, {}
        for kind in initial[layer]:
            stack = np.stack([r.weights[layer][kind].astype(np.float64) for r in results])
            mean[layer][kind], spread[layer][kind] = stack.mean(axis=0), stack.std(axis=0, ddof=1)
    return EnsembleResult(results, mean, spread, epsilon, seed)
