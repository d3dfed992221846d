"""Did a second reference run repeat the first bit for bit? The demo's dry run says so only when it measured it.

Parity judges a result within tolerances, so a dry run that passes parity shows the trainer repeats itself
within them, not exactly. `compare_runs` compares what both runs wrote (updated parameters, the loss of every
progress event, probe predictions) bit for bit; timings are left out, they differ from run to run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlupdate.bundle import ResultsBundle


@dataclass(frozen=True)
class Difference:
    """Where two runs differ; `max_abs` is the largest element difference when both sides hold numbers."""

    what: str
    max_abs: float | None = None

    def describe(self) -> str:
        return self.what if self.max_abs is None else f"{self.what} by up to {self.max_abs:.3g}"


@dataclass(frozen=True)
class Repeat:
    """What was compared (counted per kind) and every difference found."""

    compared: tuple[str, ...]
    differences: tuple[Difference, ...]

    @property
    def exact(self) -> bool:
        return not self.differences

    def describe(self) -> str:
        if self.exact:
            return f"the second reference run repeated the first bit for bit ({', '.join(self.compared)})"
        shown = "; ".join(d.describe() for d in self.differences[:3])
        more = f" and {len(self.differences) - 3} more" if len(self.differences) > 3 else ""
        return (
            f"the second reference run did not repeat the first bit for bit ({', '.join(self.compared)}): "
            f"{shown}{more}; parity only judged these differences against its tolerances"
        )


def compare_runs(first: ResultsBundle, second: ResultsBundle) -> Repeat:
    """Every updated parameter, loss and probe prediction of `second` against `first`, bit for bit."""
    parameters = {f"{layer}.{kind}": values for (layer, kind), values in first.parameters.items()}
    again = {f"{layer}.{kind}": values for (layer, kind), values in second.parameters.items()}
    probes_first, probes_second = first.probe_outputs, second.probe_outputs
    differences = [
        *_arrays("parameter", parameters, again),
        *_losses(first, second),
        *_arrays(
            "probe output",
            {name: output.values for name, output in probes_first.items()},
            {name: output.values for name, output in probes_second.items()},
        ),
    ]
    losses = sum(event.loss is not None for event in first.events)
    compared = (
        _count(len(parameters), "parameter tensor"),
        _count(losses, "loss", "losses"),
        _count(len(probes_first), "probe output"),
    )
    return Repeat(compared, tuple(differences))


def _count(number: int, one: str, many: str | None = None) -> str:
    return f"{number} {one if number == 1 else (many or one + 's')}"


def _arrays(kind: str, first: Mapping[str, Any], second: Mapping[str, Any]) -> list[Difference]:
    differences = [Difference(f"{kind} {name} is in one run only") for name in sorted(set(first) ^ set(second))]
    for name in sorted(set(first) & set(second)):
        if isinstance(first[name], list) or isinstance(second[name], list):
            if first[name] != second[name]:  # labels: which output differs is enough
                differences.append(Difference(f"{kind} {name}"))
            continue
        a, b = np.asarray(first[name]), np.asarray(second[name])
        if a.shape != b.shape or a.dtype != b.dtype:
            differences.append(Difference(f"{kind} {name} is {b.dtype}{list(b.shape)}, first {a.dtype}{list(a.shape)}"))
        elif a.tobytes() != b.tobytes():
            differences.append(Difference(f"{kind} {name}", _max_abs(a, b)))
    return differences


def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    with np.errstate(invalid="ignore", over="ignore"):
        return float(np.nanmax(np.abs(a.astype(np.float64) - b.astype(np.float64)), initial=0.0))


def _losses(first: ResultsBundle, second: ResultsBundle) -> list[Difference]:
    """The same events in the same order, with the same loss (as written: float32 values, bit for bit)."""
    key = [(e.task, e.event, e.epoch, e.mini_batch) for e in first.events]
    if key != [(e.task, e.event, e.epoch, e.mini_batch) for e in second.events]:
        return [Difference(f"events: {len(second.events)} in the second run, {len(first.events)} in the first")]
    differing = [(a, b) for a, b in zip(first.events, second.events, strict=True) if _bits(a.loss) != _bits(b.loss)]
    if not differing:
        return []
    numbers = [abs(a.loss - b.loss) for a, b in differing if a.loss is not None and b.loss is not None]
    what = f"{_count(len(differing), 'loss', 'losses')} of {len(first.events)} events"
    return [Difference(what, max(numbers) if len(numbers) == len(differing) else None)]


def _bits(loss: float | None) -> bytes | None:
    return None if loss is None else np.float64(loss).tobytes()
