"""Known-wrong alternatives: the reference with one semantics knob flipped (or another shuffle seed).

They give a parity check its power (how far a trainer that got one thing wrong lands, in the check's own unit)
and a failing device its likely cause (the alternative whose run the device's result lies nearest). Only the
alternatives that change this job's training are run: a short or stale last batch needs a remainder, the
shuffle alternatives need shuffling and an epoch that is not exactly one mini-batch, the MSE knobs an MSE loss,
and so on. `cce_reported_loss` changes only the loss values a device reports, never the weights, so it has no
alternative here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlupdate.contract import EventKind
from mlupdate.reference.ensemble import Variant
from mlupdate.reference.semantics import KNOBS, Semantics
from mlupdate.reference.trainer import PreparedJob

SEED = "seed"  # the one parameter an alternative changes: the shuffle seed

DESCRIPTIONS: dict[tuple[str, Any], str] = {
    ("partial_batch", "wrap_around"): "last batch filled by wrapping around",
    ("partial_batch", "short"): "short last batch",
    ("partial_batch", "stale"): "stale fill of the last batch",
    ("shuffle_schedule", "every_epoch"): "reshuffled after every epoch",
    ("shuffle_schedule", "once"): "shuffled once",
    ("shuffle_schedule", "never"): "no shuffle",
    ("shuffle_engine", "libcxx_minstd"): "libc++ shuffle engine",
    ("shuffle_engine", "numpy_pcg64"): "another shuffle engine",
    ("seeded_shuffle", "seed_seq"): "seed through seed_seq",
    ("seeded_shuffle", "direct"): "seed used directly",
    ("reshuffle_requires_epoch_end_handler", True): "reshuffle only with an epochEnd handler",
    ("reshuffle_requires_epoch_end_handler", False): "reshuffle without an epochEnd handler",
    ("batch_reduction", "mean"): "batch mean",
    ("batch_reduction", "sum"): "sum instead of mean",
    ("mse_scale", "squared"): "squared error",
    ("mse_scale", "half_squared"): "half-squared MSE",
    ("mse_gradient_factor", 2): "gradient scale 2",
    ("mse_gradient_factor", 1): "gradient scale 1 instead of 2",
    ("mse_vector_reduction", "sum"): "outputs summed",
    ("mse_vector_reduction", "mean"): "outputs averaged",
    ("cce_reduction", "mean"): "CCE batch mean",
    ("cce_reduction", "sum"): "CCE sum instead of mean",
    ("momentum_form", "torch"): "momentum v = mu v + g",
    ("momentum_form", "classic"): "momentum v = mu v - lr g",
    ("adam_bias_correction", True): "Adam with bias correction",
    ("adam_bias_correction", False): "Adam without bias correction",
}


@dataclass(frozen=True)
class Alternative:
    """One known-wrong way to train the job: `knob` set to `value` (a semantics knob, or the `seed` parameter)."""

    knob: str
    value: Any
    description: str

    @property
    def name(self) -> str:
        value = str(self.value).lower() if isinstance(self.value, bool) else self.value
        return f"{self.knob}={value}"

    def variant(self, semantics: Semantics) -> Variant:
        if self.knob == SEED:
            return Variant(semantics=semantics, parameters={SEED: self.value})
        return Variant(semantics=dataclasses.replace(semantics, **{self.knob: self.value}))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "knob": self.knob, "value": self.value, "description": self.description}


@dataclass(frozen=True)
class JobShape:
    """What decides which alternatives change a job's training."""

    count: int
    batch: int
    epochs: int
    shuffle: bool
    seed: int | None
    loss: str  # "mse" | "cce"
    optimizer: str  # "sgdOptimizer" | "adamOptimizer"
    momentum: float
    outputs: int  # elements of the MSE loss input per example
    events: frozenset[str]
    learning_rate_changes: bool  # a schedule changes the learning rate during the task

    @classmethod
    def of(cls, job: PreparedJob, events: Collection[str]) -> JobShape:
        p = job.parameters
        loss = job.network.loss
        seed = p.get("seed")
        return cls(
            count=job.count,
            batch=int(p["miniBatchSize"]),
            epochs=int(p["epochs"]),
            shuffle=bool(p.get("shuffle", False)),
            seed=int(seed) if seed is not None else None,
            loss=loss.kind if loss is not None else "none",
            optimizer=job.optimizer,
            momentum=float(p.get("momentum", 0.0) or 0.0),
            outputs=int(np.prod(job.targets.shape[1:])) if loss is not None and loss.kind == "mse" else 1,
            events=frozenset(str(e) for e in events),
            learning_rate_changes=any(rate != float(p["learningRate"]) for _, rate in job.schedule),
        )

    @property
    def order_matters(self) -> bool:
        """Whether the order of an epoch's examples can change training: not when one mini-batch holds each
        example exactly once, as its reduction is the same in any order (up to float32 summation order)."""
        return self.count != self.batch


def _applies(knob: str, shape: JobShape, semantics: Semantics) -> bool:
    reordered = shape.shuffle and shape.order_matters
    shuffled = reordered and semantics.shuffle_schedule != "never"
    rules = {
        "partial_batch": shape.count % shape.batch != 0,
        "shuffle_schedule": reordered,
        "shuffle_engine": shuffled,
        "seeded_shuffle": shuffled and shape.seed is not None,
        "reshuffle_requires_epoch_end_handler": shuffled
        and shape.epochs > 1
        and EventKind.EPOCH_END not in shape.events,
        "batch_reduction": shape.loss == "mse",
        "mse_scale": shape.loss == "mse",
        "mse_gradient_factor": shape.loss == "mse",
        "mse_vector_reduction": shape.loss == "mse" and shape.outputs > 1,
        "cce_reduction": shape.loss == "cce",
        "momentum_form": shape.optimizer == "sgdOptimizer" and shape.momentum > 0 and shape.learning_rate_changes,
        "adam_bias_correction": shape.optimizer == "adamOptimizer",
    }
    return rules.get(knob, False)


def alternatives_for(shape: JobShape, semantics: Semantics) -> list[Alternative]:
    """Every alternative that changes this job's trained weights, relative to the semantics the reference uses."""
    found: list[Alternative] = []
    for knob, (values, _, _) in KNOBS.items():
        if not _applies(knob, shape, semantics):
            continue
        current = getattr(semantics, knob)
        if knob == "shuffle_schedule" and shape.epochs == 1:
            values = tuple(v for v in values if v != "once")  # one epoch: once is every epoch
        found += [Alternative(knob, value, DESCRIPTIONS[knob, value]) for value in values if value != current]
    if shape.shuffle and shape.order_matters and semantics.shuffle_schedule != "never":
        other = (shape.seed or 1) + 1
        found.append(Alternative(SEED, other, f"another shuffle seed ({other})"))
    return found
