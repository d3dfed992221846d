"""Probe jobs: tiny models and data chosen so that each open knob changes the result clearly.

Every probe fixes everything except the knobs it tests: no shuffling unless shuffling is the question, no
momentum unless momentum is, one task, a handful of examples. Its hypotheses are every combination of the
values its knobs allow (`mlupdate.reference.semantics.KNOBS`); knobs that could stand in for each other in a
probe (the MSE batch reduction and the MSE scale) are tested together, and the decision logic reports when a
probe cannot tell hypotheses apart.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mlharness.calibrate.decide import Hypothesis
from mlupdate.bundle.schedule import LearningRateStep
from mlupdate.contract import ALL_PROGRESS_EVENTS
from mlupdate.models.build import (
    Activation,
    Adam,
    ArrayInput,
    Classifier,
    Dense,
    Regressor,
    SequentialNetwork,
    Sgd,
    Softmax,
)
from mlupdate.models.spec import Spec
from mlupdate.models.updatable import Loss
from mlupdate.reference.semantics import KNOBS

EVENTS_ALL: tuple[str, ...] = ALL_PROGRESS_EVENTS
LABELS = ("a", "b", "c")


# Feature name -> values (an array [N, ...] or a list of N labels), as mlupdate.data.from_arrays takes them.
Values = dict[str, Any]


@dataclass(frozen=True)
class ProbeJob:
    """One job of a probe: a model, its training examples, optional probe inputs, parameters and events.

    `training` gets the model's training-input names (input first, then the target) and returns their values.
    """

    name: str
    model: Callable[[], Spec]
    training: Callable[[Sequence[str]], Values]
    parameters: Mapping[str, float | int | bool]
    events: tuple[str, ...] = EVENTS_ALL
    probe: Values | None = None
    labels: tuple[str, ...] = ()
    schedule: tuple[LearningRateStep, ...] = ()

    def build(self, folder: Path) -> Path:
        """Write the model and the job bundle under `folder`; returns the job bundle's path."""
        from mlupdate.bundle import write_job
        from mlupdate.data.examples import from_arrays, set_feature
        from mlupdate.models.features import inputs, training_inputs
        from mlupdate.models.spec import save_spec

        spec = self.model()
        model = save_spec(spec, folder / "model" / f"{self.name}.mlmodel")
        where = f"probe {self.name}"
        features = [set_feature(f, where=where) for f in training_inputs(spec)]
        training = from_arrays(features, self.training([f.name for f in features]), origin=where)
        probe = None
        if self.probe is not None:
            probe_features = [set_feature(f, where=where) for f in inputs(spec)]
            probe = from_arrays(probe_features, self.probe, origin=f"{where} (probe set)")
        return write_job(
            folder,
            model_path=model,
            training=training,
            probe=probe,
            parameters=dict(self.parameters),
            events=self.events,
            job_id=f"calibrate-{self.name}",
            schedule=self.schedule,
        )


def network_job(
    name: str,
    network: SequentialNetwork,
    count: int,
    parameters: Mapping[str, float | int | bool],
    *,
    events: tuple[str, ...] = EVENTS_ALL,
    schedule: tuple[LearningRateStep, ...] = (),
) -> ProbeJob:
    """A job training `network` (weights from seed 0) on `count` generated examples (and `schedule`)."""
    from mlupdate.models.build import build_network

    def training(names: Sequence[str]) -> Values:
        source = network.inputs[0]
        rng = np.random.default_rng(1000)
        x = rng.uniform(-1.0, 1.0, size=(count, *source.shape))
        head = network.head
        target: Any
        if isinstance(head, Classifier):
            # Every class appears, in a fixed order, so each batch pulls the weights several ways.
            target = [head.labels[i % len(head.labels)] for i in range(count)]
        else:
            width = _output_width(network)
            # Distinct targets far from the untrained outputs: every example moves the weights its own way.
            target = 1.0 + np.arange(count * width, dtype=np.float64).reshape(count, width) / 2.0
        # The probe models take DOUBLE inputs and (MSE) DOUBLE targets, so float64 is the bundle's dtype too.
        return {feature: x if feature == source.name else target for feature in names}

    labels = tuple(str(label) for label in getattr(network.head, "labels", ()))
    return ProbeJob(
        name, lambda: build_network(network, seed=0), training, parameters, events, labels=labels, schedule=schedule
    )


def saturated_job(name: str, gaps: Sequence[float], lr: float = 0.001) -> ProbeJob:
    """A classifier made fully confident in "a" on one-hot inputs, trained one example per mini-batch on "b":
    example i has a logit gap of `gaps[i]` against its label, so its -log p is about `gaps[i]` exactly, and
    what a clipped probability reports instead shows in that mini-batch's loss."""
    from mlupdate.models.build import build_network

    width = len(gaps)
    network = SequentialNetwork(
        inputs=[ArrayInput("x", (width,))],
        layers=[Dense("fc", len(LABELS), updatable=True), Softmax()],
        head=Classifier(LABELS),
        loss=Loss("cce"),
        optimizer=Sgd(lr=lr, batch=1),
        epochs=1,
        shuffle=False,
    )
    weights = np.zeros((len(LABELS), width))
    weights[0] = gaps  # class "a" gets logit gaps[i] on example i, the others 0

    def training(names: Sequence[str]) -> Values:
        source, label = names
        return {source: np.eye(width), label: ["b"] * width}

    return ProbeJob(
        name,
        lambda: build_network(network, seed=0, weights={"fc": {"weights": weights, "biases": np.zeros(len(LABELS))}}),
        training,
        _params(1, lr),
        labels=LABELS,
    )


def knn_job(
    name: str,
    weighting: Literal["uniform", "inverse_distance"],
    k: int,
    samples: Sequence[tuple[float, str]],
    queries: Sequence[float],
) -> ProbeJob:
    """A k-NN job on points of a line (stored in the first of two dimensions): train `samples`, predict `queries`.

    Labels are stored in the order given, which is the order of the probability columns.
    """
    from mlupdate.models.knn import knn_classifier

    def points(xs: Sequence[float]) -> np.ndarray[Any, Any]:
        return np.asarray([[x, 0.0] for x in xs], dtype=np.float32)

    def training(names: Sequence[str]) -> Values:
        vector, label = names
        return {vector: points([x for x, _ in samples]), label: [lab for _, lab in samples]}

    labels = tuple(dict.fromkeys(lab for _, lab in samples))
    return ProbeJob(
        name,
        lambda: knn_classifier(2, "none", k=k, weighting=weighting),
        training,
        {"numberOfNeighbors": k},
        events=(),
        probe={"input": points(queries)},
        labels=(*labels, "none"),
    )


def _output_width(network: SequentialNetwork) -> int:
    dense = [layer for layer in network.layers if isinstance(layer, Dense)]
    return dense[-1].out


@dataclass(frozen=True)
class Probe:
    """A set of knobs decided together from the jobs that separate their hypotheses."""

    name: str
    knobs: tuple[str, ...]
    jobs: tuple[ProbeJob, ...]
    why: str
    values: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)

    def hypotheses(self) -> list[Hypothesis]:
        """Every combination of the knobs' allowed values."""
        choices = [self.values.get(knob, KNOBS[knob][0]) for knob in self.knobs]
        return [tuple(zip(self.knobs, combo, strict=True)) for combo in itertools.product(*choices)]


def _regressor(
    inputs: int,
    outputs: int,
    optimizer: Sgd | Adam,
    *,
    epochs: int = 1,
    shuffle: bool = False,
    seed: int | None = None,
) -> SequentialNetwork:
    return SequentialNetwork(
        inputs=[ArrayInput("x", (inputs,))],
        layers=[Dense("fc", outputs, updatable=True)],
        head=Regressor(),
        loss=Loss("mse"),
        optimizer=optimizer,
        epochs=epochs,
        shuffle=shuffle,
        seed=seed,
    )


def _classifier(optimizer: Sgd) -> SequentialNetwork:
    return SequentialNetwork(
        inputs=[ArrayInput("x", (4,))],
        layers=[
            Dense("hidden", 5, updatable=True),
            Activation("relu"),
            Dense("fc", len(LABELS), updatable=True),
            Softmax(),
        ],
        head=Classifier(LABELS),
        loss=Loss("cce"),
        optimizer=optimizer,
        epochs=1,
        shuffle=False,
    )


def _params(
    batch: int, lr: float, epochs: int = 1, *, shuffle: bool = False, **extra: float | int | bool
) -> dict[str, Any]:
    return {"miniBatchSize": batch, "learningRate": lr, "epochs": epochs, "shuffle": shuffle, **extra}


def default_probes() -> tuple[Probe, ...]:
    """The calibration suite, in decision order: later probes train with the knobs decided before them."""
    return (
        Probe(
            "mse-reduction",
            ("batch_reduction", "mse_scale", "mse_gradient_factor"),
            (
                network_job("mse-b1", _regressor(3, 1, Sgd(lr=0.05, batch=1)), 4, _params(1, 0.05)),
                network_job("mse-b4", _regressor(3, 1, Sgd(lr=0.05, batch=4)), 4, _params(4, 0.05)),
            ),
            "batch 1 isolates the per-example scale (loss and step) and the gradient's factor (the step alone), "
            "batch 4 adds the batch reduction",
        ),
        Probe(
            "mse-vector",
            ("mse_vector_reduction",),
            (network_job("mse-vector", _regressor(3, 3, Sgd(lr=0.05, batch=2)), 2, _params(2, 0.05)),),
            "three outputs: summing or averaging over them scales the loss and the step by 3",
        ),
        Probe(
            "partial-batch",
            ("partial_batch",),
            (network_job("partial", _regressor(3, 1, Sgd(lr=0.05, batch=4)), 5, _params(4, 0.05)),),
            "5 examples in batches of 4: the second batch is example 4 alone, 4, 0, 1, 2 wrapped around, or 4 "
            "with the first batch's 1, 2, 3 left in the other slots",
        ),
        Probe(
            "cce-reduction",
            ("cce_reduction",),
            (network_job("cce", _classifier(Sgd(lr=0.1, batch=4)), 4, _params(4, 0.1)),),
            "one batch of 4: a sum takes a step 4 times the mean's and reports 4 times the loss",
        ),
        Probe(
            "cce-reported-loss",
            ("cce_reported_loss",),
            (saturated_job("saturated", (1.0, 30.0, 120.0)),),
            "logit gaps of 1, 30 and 120 against the label: -log p is about 1.3, 30 and 120; a probability clipped "
            "at 1e-7 reports 16.1 for both saturated examples, one clipped at the float32 minimum reports 87.3 "
            "for the gap of 120 (whose float32 probability underflows to 0), and -log of that float32 probability "
            "unclipped is inf there (written as null; the weights stay finite)",
        ),
        Probe(
            "momentum",
            ("momentum_form",),
            (
                network_job(
                    "momentum",
                    _regressor(3, 1, Sgd(lr=0.05, batch=1, momentum=0.9), epochs=2),
                    3,
                    _params(1, 0.05, 2, momentum=0.9),
                    schedule=(LearningRateStep(1, 0.01),),
                ),
            ),
            "six steps with momentum 0.9, the learning rate lowered from 0.05 to 0.01 after the first epoch (from "
            "the epochEnd handler, with resume(withParameters:)): v = mu v + g scales the carried velocity by the "
            "new rate, v = mu v - lr g keeps it at the old one",
        ),
        Probe(
            "adam-bias-correction",
            ("adam_bias_correction",),
            (network_job("adam", _regressor(3, 1, Adam(lr=0.01, batch=1)), 3, _params(1, 0.01)),),
            "the first Adam steps are about sqrt(1 - beta2) / (1 - beta1) = 0.32 times as large without correction",
        ),
        Probe(
            "shuffle-engine",
            ("shuffle_engine",),
            (
                network_job(
                    "engine",
                    _regressor(3, 1, Sgd(lr=0.05, batch=1), shuffle=True),
                    8,
                    _params(1, 0.05, shuffle=True),
                ),
            ),
            "8 distinct examples one per batch, no seed: the per-batch losses spell out libc++'s order from seed 1 "
            "or another engine's",
        ),
        Probe(
            "shuffle-schedule",
            ("shuffle_schedule",),
            (
                network_job(
                    "schedule",
                    _regressor(3, 1, Sgd(lr=0.05, batch=1), epochs=3, shuffle=True),
                    6,
                    _params(1, 0.05, 3, shuffle=True),
                ),
            ),
            "shuffled, 3 epochs with an epochEnd handler: a new order every epoch, the first order kept, or none",
        ),
        Probe(
            "seeded-shuffle",
            ("seeded_shuffle",),
            (
                network_job(
                    "seeded",
                    _regressor(3, 1, Sgd(lr=0.05, batch=1), shuffle=True, seed=5),
                    8,
                    _params(1, 0.05, shuffle=True),
                ),
            ),
            "8 distinct examples one per batch: the per-batch losses spell out the order each seeding produces",
        ),
        Probe(
            "reshuffle-without-epoch-end",
            ("reshuffle_requires_epoch_end_handler",),
            (
                network_job(
                    "reshuffle",
                    _regressor(3, 1, Sgd(lr=0.05, batch=1), epochs=3, shuffle=True),
                    6,
                    _params(1, 0.05, 3, shuffle=True),
                    events=("miniBatchEnd",),
                ),
            ),
            "shuffled, 3 epochs, no epochEnd handler: epochs 2 and 3 repeat epoch 1's order or take new ones",
        ),
        Probe(
            "knn-tie-break",
            ("knn_tie_break",),
            (knn_job("knn-tie", "uniform", 2, [(0.0, "a"), (1.0, "b")], [0.9, 0.1, 0.6]),),
            "k = 2 with one neighbour of each label always ties: the nearest one's label, or the first label",
        ),
        Probe(
            "knn-probabilities",
            ("knn_probabilities",),
            (knn_job("knn-probs", "inverse_distance", 3, [(0.0, "a"), (1.0, "b"), (2.0, "a")], [0.9, 0.2, 1.6]),),
            "inverse-distance votes normalised to 1 put ~0.98 on the nearest label where vote counts give 1/3",
        ),
    )
