"""Loss curves event by event: count, order, epoch and mini-batch indices, then loss values.

Every task of a job starts from the shipped model with the same order, so each device task is compared with
the reference's first task. Within the step-level horizon a loss must match within the step tolerance; past
it (long, chaotic runs) it must lie inside the ensemble's envelope when an ensemble is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlupdate.contract import EventKind, ProgressEvent
from mlupdate.parity.spread import float32_noise, spread_of
from mlupdate.parity.tolerances import Tolerances
from mlupdate.parity.verdict import Check


def task_events(events: Sequence[ProgressEvent], task: int) -> list[ProgressEvent]:
    return [event for event in events if event.task == task]


def step_counts(events: Sequence[ProgressEvent], steps_per_epoch: int | None) -> list[int]:
    """Optimizer steps completed at each event of one task (for its loss tolerance)."""
    counts: list[int] = []
    done = 0
    for event in events:
        if event.event is EventKind.MINI_BATCH_END:
            done += 1
        elif event.event is EventKind.EPOCH_END and steps_per_epoch is not None and event.epoch is not None:
            done = max(done, (event.epoch + 1) * steps_per_epoch)
        counts.append(done)
    return counts


def _describe(event: ProgressEvent | None) -> str:
    if event is None:
        return "nothing"
    return f"{event.event}(epoch={event.epoch}, mini_batch={event.mini_batch})"


def compare_events(
    reference: Sequence[ProgressEvent],
    device: Sequence[ProgressEvent],
    tolerances: Tolerances,
    *,
    steps_per_epoch: int | None,
    ensemble: Sequence[Sequence[ProgressEvent]] = (),
    noise: tuple[Sequence[ProgressEvent], Sequence[ProgressEvent]] | None = None,
) -> Check:
    """Compare every device task with the reference's first task; names the first event that differs."""
    ref = task_events(reference, 0)
    tasks = sorted({event.task for event in device})
    if not tasks:
        return Check.not_recorded(
            "events", "the results hold no progress events", {"curves": {"reference": _curve(ref)}}
        )
    steps = step_counts(ref, steps_per_epoch)
    members = [task_events(run, 0) for run in ensemble]
    pair = (task_events(noise[0], 0), task_events(noise[1], 0)) if noise is not None else None
    problems: list[str] = []
    curves: dict[str, Any] = {"reference": _curve(ref)}
    outside_total = 0
    for task in tasks:
        got = task_events(device, task)
        curves[f"device task {task}"] = _curve(got)
        problem, outside = _compare_task(ref, got, steps, tolerances, members, pair)
        outside_total += outside
        if problem:
            problems.append(f"task {task}: {problem}")
    details = {"curves": curves, "tasks": tasks, "ensemble_outside": outside_total}
    if members:
        details["ensemble_curves"] = [_curve(member) for member in members]
    if problems:
        extra = f" (and {len(problems) - 1} more task(s))" if len(problems) > 1 else ""
        return Check("events", "fail", f"events: {problems[0]}{extra}", details)
    return Check("events", "pass", f"events: {len(ref)} event(s) per task agree in {len(tasks)} task(s)", details)


def _compare_task(
    ref: list[ProgressEvent],
    got: list[ProgressEvent],
    steps: list[int],
    tolerances: Tolerances,
    members: list[list[ProgressEvent]],
    pair: tuple[list[ProgressEvent], list[ProgressEvent]] | None,
) -> tuple[str | None, int]:
    for index in range(max(len(ref), len(got))):
        expected = ref[index] if index < len(ref) else None
        actual = got[index] if index < len(got) else None
        if expected is None or actual is None or _key(expected) != _key(actual):
            count = f"{len(got)} event(s), expected {len(ref)}; " if len(got) != len(ref) else ""
            return f"{count}event #{index} is {_describe(actual)}, expected {_describe(expected)}", 0
    outside = 0
    for index, (expected, actual) in enumerate(zip(ref, got, strict=True)):
        if expected.loss is None or actual.loss is None:
            if (expected.loss is None) != (actual.loss is None):
                return f"event #{index} {_describe(actual)} loss {actual.loss}, expected {expected.loss}", 0
            continue
        if steps[index] <= tolerances.step_level_max_steps:
            tol = tolerances.loss(steps[index])
            if not tol.allows(expected.loss, actual.loss):
                return (
                    f"event #{index} {_describe(actual)} loss {actual.loss:.9g}, expected {expected.loss:.9g} "
                    f"(|diff| {abs(actual.loss - expected.loss):.3g} > {tol.atol:.3g} + {tol.rtol:.3g}·|expected|)",
                    0,
                )
        elif members and not _inside_envelope(index, actual.loss, members, pair, tolerances):
            outside += 1
    past_horizon = sum(1 for s in steps if s > tolerances.step_level_max_steps)
    if past_horizon and outside > tolerances.trajectory_loss_outside_fraction * past_horizon:
        return (
            f"{outside} of {past_horizon} loss(es) past step {tolerances.step_level_max_steps} lie outside the "
            f"ensemble envelope ({tolerances.trajectory_max_spread_units} spread units)",
            outside,
        )
    return None, outside


def _inside_envelope(
    index: int,
    loss: float,
    members: list[list[ProgressEvent]],
    pair: tuple[list[ProgressEvent], list[ProgressEvent]] | None,
    tolerances: Tolerances,
) -> bool:
    """Within the limit in spread units of the members' losses at this event (`mlupdate.parity.spread`), the
    float32 noise being the noise pair's difference there, and never below the loss's own float32 resolution."""
    values = [value for m in members if index < len(m) and (value := m[index].loss) is not None]
    if len(values) < 2:
        return True
    noise = tolerances.loss_atol
    if pair is not None and index < min(len(pair[0]), len(pair[1])):
        a, b = pair[0][index].loss, pair[1][index].loss
        if a is not None and b is not None:
            noise = max(noise, float32_noise(a, b))
    return spread_of(values, noise).units(loss) <= tolerances.trajectory_max_spread_units


def _key(event: ProgressEvent) -> tuple[str, int | None, int | None]:
    return event.event, event.epoch, event.mini_batch


def _curve(events: Sequence[ProgressEvent]) -> list[dict[str, Any]]:
    return [{"event": e.event, "epoch": e.epoch, "mini_batch": e.mini_batch, "loss": e.loss, "t": e.t} for e in events]
