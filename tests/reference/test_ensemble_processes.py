"""Ensemble members trained in this process and in forked helpers: the same bits wherever a member ran, the first
error in member order, a helper that dies is an error (not a hang), no helper restarts OpenBLAS's threads, and the
vectorised summation orders are the ones drawn batch by batch.

A wrapper around `ensemble._train` (inherited by the forked helpers) appends one line per run to a file, so the
tests see which process trained which member; it can also slow a process down so that both take members.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlupdate.bundle.golden_models import regressor
from mlupdate.errors import MlupdateError, TrainingError
from mlupdate.models.build import ArrayInput, Classifier, Dense, Loss, SequentialNetwork, Sgd, Softmax, build_network
from mlupdate.models.features import training_inputs
from mlupdate.reference import ensemble
from mlupdate.reference.ensemble import (
    Variant,
    member_initial_weights,
    member_summation_seeds,
    run_ensemble,
    run_variants,
)
from mlupdate.reference.parallelism import blas_threads_available
from mlupdate.reference.trainer import PreparedJob, prepare, run_prepared, summation_orders

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="ensembles fork helpers on Linux only")


def _job(scale: float = 1.0, count: int = 40) -> PreparedJob:
    rng = np.random.default_rng(5)
    examples = {"features": rng.normal(size=(count, 3)) * scale, "y_true": rng.normal(size=(count, 1))}
    return prepare(regressor(), examples, {"learningRate": 0.05}, dtype=np.float32)


class RunLog:
    """One line per `_train` call, in whichever process: pid, learning rate, and the process's thread count after."""

    def __init__(self, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.path, self.parent = path, os.getpid()
        path.write_text("", encoding="utf-8")
        self.before: Callable[[Variant], None] = lambda variant: None
        train = ensemble._train

        def logged(job: PreparedJob, events: Any, variant: Variant, *, catch: bool) -> Any:
            self.before(variant)
            try:
                return train(job, events, variant, catch=catch)
            finally:
                threads = len(os.listdir("/proc/self/task"))
                with self.path.open("a", encoding="utf-8") as log:
                    log.write(f"{os.getpid()} {threads}\n")

        monkeypatch.setattr(ensemble, "_train", logged)

    def slow_parent(self, seconds: float, helpers: float = 0.0) -> None:
        """This process waits before each run it takes, so the helpers take some too (and they wait `helpers`)."""
        self.before = lambda variant: time.sleep(seconds if os.getpid() == self.parent else helpers)

    def runs(self) -> list[tuple[int, int]]:
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [(int(pid), int(threads)) for pid, threads in (line.split() for line in lines)]


@pytest.fixture
def run_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunLog:
    return RunLog(tmp_path / "runs.txt", monkeypatch)


def _bits(result: Any) -> bytes:
    return b"".join(
        result.weights[layer][kind].tobytes() for layer in sorted(result.weights) for kind in ("weights", "biases")
    )


def test_members_trained_here_and_in_a_helper_are_bit_identical_to_members_trained_in_turn(run_log: RunLog) -> None:
    job = _job()
    run_log.slow_parent(0.2)
    parallel = run_ensemble(job, runs=4, epsilon=1e-4, seed=9, workers=2)
    where = {pid for pid, _ in run_log.runs()}
    assert os.getpid() in where and len(where) == 2  # this process and one helper both trained members
    in_turn = run_ensemble(job, runs=4, epsilon=1e-4, seed=9, workers=1)
    assert [_bits(r) for r in parallel.runs] == [_bits(r) for r in in_turn.runs]
    assert [r.events for r in parallel.runs] == [r.events for r in in_turn.runs]
    for name in ("mean", "spread"):
        assert (
            getattr(parallel, name)["dense"]["weights"].tobytes()
            == getattr(in_turn, name)["dense"]["weights"].tobytes()
        )
    for i in range(4):
        alone = run_prepared(
            job,
            initial_weights=member_initial_weights(job, 4, 1e-4, 9)[i],
            blas_threads=1,
            summation_seed=member_summation_seeds(4, 9)[i],
        )
        assert _bits(alone) == _bits(parallel.runs[i])
    assert len({_bits(r) for r in parallel.runs}) == 4  # perturbed apart: the comparison can fail


def test_two_helpers_send_runs_larger_than_a_pipe_buffer_intact(run_log: RunLog) -> None:
    """Each helper's runs (here 6 x 256 KB of weights) come back whole and in member order while both finish at
    once and this process is still training: one pipe per helper, as writes this large from two processes into one
    pipe interleave."""
    network = SequentialNetwork(
        inputs=[ArrayInput("x", (256,))],
        layers=[Dense("wide", 256, updatable=True), Dense("out", 3, updatable=True), Softmax()],
        head=Classifier(("a", "b", "c")),
        loss=Loss("cce"),
        optimizer=Sgd(lr=0.01, batch=8),
        epochs=1,
    )
    spec = build_network(network, seed=0)
    x, label = (feature.name for feature in training_inputs(spec))
    rng = np.random.default_rng(2)
    job = prepare(spec, {x: rng.normal(size=(16, 256)), label: list("abc" * 5 + "a")})
    run_log.slow_parent(0.5, helpers=0.1)  # both helpers take members and finish while this process trains
    parallel = run_ensemble(job, runs=14, epsilon=1e-4, seed=1, workers=3)
    assert len({pid for pid, _ in run_log.runs()}) == 3
    in_turn = run_ensemble(job, runs=14, epsilon=1e-4, seed=1, workers=1)
    assert [_bits(r) for r in parallel.runs] == [_bits(r) for r in in_turn.runs]


def test_no_helper_restarts_the_blas_thread_pool(run_log: RunLog) -> None:
    """The BLAS count is set to one before the fork and left alone after it: setting it in a forked process restarts
    OpenBLAS's pool, whose new thread spins ~0.1 s, a core's worth of time taken from the other members."""
    if blas_threads_available() < 2:
        pytest.skip("BLAS runs on one thread here: there is no thread pool to restart")
    run_log.slow_parent(0.2)
    run_ensemble(_job(), runs=4, workers=2)
    helpers = [threads for pid, threads in run_log.runs() if pid != os.getpid()]
    assert helpers and set(helpers) == {1}  # the forked helper's only thread is its main thread


def test_the_first_error_in_member_order_is_raised_as_in_turn(run_log: RunLog) -> None:
    """Variant 0 diverges in a late epoch after a wait; variant 1, in a helper, diverges in epoch 1, earlier in time."""
    job = dataclasses.replace(_job(scale=10), parameters={**_job(scale=10).parameters, "epochs": 50})
    variants = [Variant(parameters={"learningRate": 0.05}), Variant(parameters={"learningRate": 5.0})]
    run_log.slow_parent(0.5)
    with pytest.raises(TrainingError) as in_parallel:
        run_variants(job, variants, workers=2, catch=False)
    assert {pid for pid, _ in run_log.runs()} != {os.getpid()}  # the helper trained variant 1
    with pytest.raises(TrainingError) as in_turn:
        run_variants(job, variants, workers=1, catch=False)
    assert str(in_parallel.value) == str(in_turn.value)
    run_log.before = lambda variant: None
    (helper_error,) = run_variants(job, variants[1:], workers=1)
    assert str(helper_error) != str(in_turn.value)  # raising the error that came first in time would fail
    caught = run_variants(job, variants, workers=2, catch=True)
    assert [str(c) for c in caught] == [str(c) for c in run_variants(job, variants, workers=1, catch=True)]
    assert all(isinstance(c, TrainingError) for c in caught)


def test_a_helper_that_dies_is_an_error_naming_its_exit_code_not_a_hang(
    run_log: RunLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = os.getpid()
    run_log.before = lambda variant: os._exit(3) if os.getpid() != parent else time.sleep(0.3)
    with pytest.raises(MlupdateError, match=r"exit code 3"):
        run_ensemble(_job(), runs=4, workers=2)


@pytest.mark.parametrize("count,size", [(128, 32), (100, 32), (7, 3), (5, 8), (1, 1)])
def test_summation_orders_are_those_drawn_batch_by_batch(count: int, size: int) -> None:
    order = np.random.default_rng(count).permutation(count)
    steps = -(-count // size)
    batches = [order[k * size : (k + 1) * size] for k in range(steps)]  # a short last batch when size does not divide
    for seed in range(5):
        batch_by_batch = np.random.default_rng(seed)
        expected = [rows[batch_by_batch.permutation(len(rows))] for rows in batches]
        drawn = np.random.default_rng(seed)
        got = summation_orders(batches, drawn)
        assert [g.tolist() for g in got] == [e.tolist() for e in expected]
        assert drawn.integers(2**62) == batch_by_batch.integers(2**62)  # the generators end in the same state
