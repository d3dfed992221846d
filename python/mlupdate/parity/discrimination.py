"""The discrimination suite: does trajectory parity tell right from wrong on long runs?

Each suite is a long update task built here (an MSE regressor like the calibration run's 13-64-32-1 ReLU MLP,
and a CCE classifier), judged the way `mlharness parity` judges a trained model with no events: the device's
weights against an ensemble of perturbed reference runs, in spread units, with the power of the check and the
likely cause from the reference's runs under each known-wrong alternative.

- Every alternative (the reference with one knob flipped: short last batch, stale fill, shuffled once, no
  shuffle, another engine or seed, sum instead of mean, gradient scale 1, half-squared MSE, ...) trains a
  "device" from freshly perturbed initial weights in its own float32 summation order. It must fail, and the
  likely cause must name its knob.
- Runs of the true semantics, each from freshly perturbed weights in its own summation order, must pass: the
  false-failure rate is counted over `trials` of them. Trial i judges run i against 8 members drawn (seeded)
  from the other runs, so every trial is a device and an ensemble of the same distribution.

`python -m mlupdate.parity.discrimination` prints the full-size table (`--size small` is what the tests run).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlupdate.models.build import (
    Activation,
    ArrayInput,
    Classifier,
    Dense,
    Loss,
    Regressor,
    SequentialNetwork,
    Sgd,
    Softmax,
    build_network,
)
from mlupdate.models.features import training_inputs
from mlupdate.parity.alternatives import Alternative, JobShape, alternatives_for
from mlupdate.parity.ensemble import member_from_training
from mlupdate.parity.power import AlternativeRun, trajectory_power
from mlupdate.parity.tolerances import DEFAULT
from mlupdate.parity.trajectory import Parameters, compare_trajectory
from mlupdate.reference.ensemble import (
    Outcome,
    Variant,
    member_initial_weights,
    member_summation_seeds,
    run_variants,
)
from mlupdate.reference.semantics import Semantics
from mlupdate.reference.trainer import PreparedJob, TrainingResult, prepare

MEMBERS = 8
EVENTS = ("epochEnd",)
# The full MSE suite's learning rate: large enough that the run is chaotic, as the calibration run was (a 1e-7
# change of the initial weights grows to percent-level differences), which is where parity is hardest.
LEARNING_RATE = 0.01


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    job: PreparedJob


@dataclass(frozen=True)
class JudgedDevice:
    """One "device": the alternative it trained under (None: the true semantics), and how parity judged it."""

    alternative: Alternative | None
    score: float
    passed: bool
    likely_cause: str | None

    @property
    def named(self) -> bool:
        """The likely cause names this row's knob (and value)."""
        return (
            self.alternative is not None
            and self.likely_cause is not None
            and (
                self.likely_cause.startswith(self.alternative.name)
                or f" or {self.alternative.name} " in self.likely_cause
            )
        )


@dataclass(frozen=True)
class SuiteResult:
    suite: Suite
    alternatives: tuple[JudgedDevice, ...]
    truth: tuple[float, ...]  # every true run's distance in spread units
    limit: float
    seconds: float

    @property
    def false_failures(self) -> int:
        return sum(1 for score in self.truth if score > self.limit)

    @property
    def all_alternatives_fail_named(self) -> bool:
        return all(not row.passed and row.named for row in self.alternatives)


def _mlp(
    inputs: int, hidden: Sequence[int], head: Any, loss: Loss, lr: float, batch: int, epochs: int
) -> SequentialNetwork:
    layers: list[Any] = []
    for index, width in enumerate(hidden):
        layers += [Dense(f"fc{index + 1}", width, updatable=True), Activation("relu")]
    return SequentialNetwork(
        inputs=[ArrayInput("x", (inputs,))],
        layers=layers,
        head=head,
        loss=loss,
        optimizer=Sgd(lr=lr, batch=batch),
        epochs=epochs,
        shuffle=True,
    )


def mse_suite(size: str) -> Suite:
    """A regression MLP like the calibration run's: 13 inputs, ReLU, one output, batch 32, shuffle on."""
    full = size == "full"
    count, hidden, epochs, batch = (405, (64, 32), 300, 32) if full else (120, (16, 8), 40, 16)
    network = _mlp(13, hidden, Regressor(), Loss("mse"), LEARNING_RATE if full else 0.003, batch, epochs)
    network = dataclasses.replace(network, layers=[*network.layers, Dense("out", 1, updatable=True)])
    spec = build_network(network, seed=0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(count, 13))
    w = rng.normal(size=13)
    y = (22 + 6 * np.tanh(x @ w / 3) + 2 * np.sin(2 * x[:, 0]) + rng.normal(0, 2, count))[:, None]
    names = [feature.name for feature in training_inputs(spec)]
    shape = "-".join(str(v) for v in (13, *hidden, 1))
    description = f"MSE {shape} ReLU MLP, {count} examples, batch {batch}, {epochs} epochs, shuffle on"
    return Suite("mse", description, prepare(spec, {names[0]: x, names[1]: y}))


def cce_suite(size: str) -> Suite:
    """A softmax classifier on overlapping clusters, batch 16, shuffle on."""
    full = size == "full"
    count, features, classes, hidden, epochs = (300, 8, 4, (32,), 100) if full else (90, 6, 3, (12,), 40)
    labels = tuple(f"c{i}" for i in range(classes))
    network = _mlp(features, hidden, Classifier(labels), Loss("cce"), 0.05, 16, epochs)
    network = dataclasses.replace(network, layers=[*network.layers, Dense("out", classes, updatable=True), Softmax()])
    spec = build_network(network, seed=0)
    rng = np.random.default_rng(1)
    centres = rng.normal(0, 1.5, size=(classes, features))
    truth = rng.integers(0, classes, size=count)
    x = centres[truth] + rng.normal(size=(count, features))
    names = [feature.name for feature in training_inputs(spec)]
    description = (
        f"CCE {features}-{'-'.join(map(str, hidden))}-{classes} ReLU classifier, {count} examples, batch 16, "
        f"{epochs} epochs, shuffle on"
    )
    return Suite("cce", description, prepare(spec, {names[0]: x, names[1]: [labels[t] for t in truth]}))


def _parameters(outcome: Outcome) -> Parameters | None:
    return member_from_training(outcome).parameters if isinstance(outcome, TrainingResult) else None


def run_suite(suite: Suite, *, trials: int, seed: int = 0, workers: int | None = None) -> SuiteResult:
    """Every alternative as a device, and `trials` true runs as devices, judged as parity judges weights."""
    started = time.perf_counter()
    job, semantics = suite.job, Semantics()
    alternatives = alternatives_for(JobShape.of(job, EVENTS), semantics)
    pool = max(trials, MEMBERS + 1)
    initials = member_initial_weights(job, pool + len(alternatives), 1e-7, seed)
    orders = member_summation_seeds(pool + len(alternatives) + 2, seed)
    truth = [
        Variant(initial_weights=w, semantics=semantics, summation_seed=o)
        for w, o in zip(initials[:pool], orders[:pool], strict=True)
    ]
    noise = [Variant(semantics=semantics, summation_seed=o) for o in orders[-2:]]
    reference = [alternative.variant(semantics) for alternative in alternatives]
    devices = [
        dataclasses.replace(alternative.variant(semantics), initial_weights=w, summation_seed=o)
        for alternative, w, o in zip(alternatives, initials[pool:], orders[pool:-2], strict=True)
    ]
    outcomes = run_variants(job, [*truth, *noise, *reference, *devices], events=EVENTS, workers=workers)
    runs = [_parameters(outcome) for outcome in outcomes]
    true_runs = [run for run in runs[:pool] if run is not None]
    pair = (runs[pool], runs[pool + 1])
    if len(true_runs) < pool or pair[0] is None or pair[1] is None:
        raise RuntimeError(f"suite {suite.name}: a run of the true semantics diverged")
    noise_pair: tuple[Parameters, Parameters] = (pair[0], pair[1])
    known = [
        AlternativeRun(alternative, runs[pool + 2 + i], error=None if runs[pool + 2 + i] else "diverged")
        for i, alternative in enumerate(alternatives)
    ]
    limit = DEFAULT.trajectory_max_spread_units
    ensemble = true_runs[:MEMBERS]
    rows = [
        _judge(alternative, ensemble, device, known, noise_pair, limit)
        for alternative, device in zip(alternatives, runs[pool + 2 + len(alternatives) :], strict=True)
    ]
    draw = np.random.default_rng([seed, 7])
    scores = []
    for index in range(trials):
        others = [i for i in range(pool) if i != index]
        picked = [true_runs[i] for i in draw.choice(others, MEMBERS, replace=False)]
        check = compare_trajectory(picked, true_runs[index], DEFAULT, noise=noise_pair)
        scores.append(check.details["score"] if check.details["score"] is not None else math.inf)
    return SuiteResult(suite, tuple(rows), tuple(scores), limit, time.perf_counter() - started)


def _judge(
    alternative: Alternative,
    ensemble: Sequence[Parameters],
    device: Parameters | None,
    known: Sequence[AlternativeRun],
    noise: tuple[Parameters, Parameters],
    limit: float,
) -> JudgedDevice:
    if device is None:  # the wrong trainer itself blew up: a device would report a failed task
        return JudgedDevice(alternative, math.inf, False, f"{alternative.name} ({alternative.description}): diverged")
    check = compare_trajectory(ensemble, device, DEFAULT, noise=noise)
    power = trajectory_power(ensemble, device, known, limit, noise=noise)
    score = check.details["score"]
    return JudgedDevice(alternative, math.inf if score is None else score, not check.failed, power.likely_cause)


def _quantile(values: Sequence[float], q: float) -> float:
    return float(np.quantile(np.asarray(values), q))


def upper_bound(failures: int, trials: int, confidence: float = 0.95) -> float:
    """One-sided upper confidence bound of a rate from `failures` in `trials` (Clopper-Pearson)."""
    if failures >= trials:
        return 1.0
    low, high = failures / trials, 1.0
    for _ in range(60):  # bisection on P(X <= failures | p) = 1 - confidence
        middle = (low + high) / 2
        tail = sum(math.comb(trials, k) * middle**k * (1 - middle) ** (trials - k) for k in range(failures + 1))
        low, high = (middle, high) if tail > 1 - confidence else (low, middle)
    return high


def table(result: SuiteResult) -> str:
    """The suite as a Markdown table: each alternative's distance, the true runs' distances, false failures."""
    lines = [
        f"### {result.suite.name}: {result.suite.description}",
        "",
        f"limit {result.limit:g} spread units; ensemble of {MEMBERS} perturbed runs plus the measured float32 "
        f"noise; {result.seconds:.0f} s",
        "",
        "| device trained with | distance (spread units) | verdict | likely cause named |",
        "|---|---:|---|---|",
    ]
    for row in result.alternatives:
        assert row.alternative is not None
        verdict = "pass" if row.passed else "FAIL"
        cause = (row.likely_cause or "none").split(":")[0]
        mark = "yes" if row.named else "NO"
        lines.append(
            f"| {row.alternative.name} ({row.alternative.description}) | {_number(row.score)} | {verdict} | "
            f"{mark}: {cause} |"
        )
    truth = result.truth
    lines.append(
        f"| true semantics, {len(truth)} perturbed runs | median {_number(_quantile(truth, 0.5))}, "
        f"95% {_number(_quantile(truth, 0.95))}, 99% {_number(_quantile(truth, 0.99))}, max {_number(max(truth))} | "
        f"{len(truth) - result.false_failures} pass | - |"
    )
    bound = upper_bound(result.false_failures, len(truth))
    lines += [
        "",
        f"False failures: {result.false_failures} of {len(truth)} true runs "
        f"(rate {result.false_failures / len(truth):.2%}; 95% upper bound {bound:.2%}).",
        "",
    ]
    return "\n".join(lines)


def _number(value: float) -> str:
    return "inf (diverged)" if math.isinf(value) else f"{value:.2f}"


SUITES: dict[str, Callable[[str], Suite]] = {"mse": mse_suite, "cce": cce_suite}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mlupdate.parity.discrimination",
        description="Print the discrimination table: every known-wrong alternative's distance from the truth in "
        "spread units, the true semantics' distances and the measured false-failure rate.",
    )
    parser.add_argument("--size", choices=("full", "small"), default="full")
    parser.add_argument("--suite", choices=sorted(SUITES), action="append", help="default: every suite")
    parser.add_argument("--trials", type=int, default=300, help="true runs judged as devices (default 300)")
    parser.add_argument("--workers", type=int, help="worker processes (default: one per available core)")
    args = parser.parse_args(argv)
    ok = True
    for name in args.suite or sorted(SUITES):
        result = run_suite(SUITES[name](args.size), trials=args.trials, workers=args.workers)
        print(table(result), flush=True)
        ok = ok and result.all_alternatives_fail_named and result.false_failures <= len(result.truth) / 100
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
