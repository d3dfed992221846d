"""The calibration run: each probe's jobs on the target, the reference under every hypothesis, a decision.

Probes run in order, and each later probe's predictions use the knobs decided before it (the shuffle probes
train with the MSE scale the first probe found). Nothing here talks to a device directly: `run_on_target`
is the runner bound to one target, so tests can hand in anything that returns a results bundle.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlharness.calibrate.decide import MARGIN, Decision, Hypothesis, decide, hypothesis_label
from mlharness.calibrate.evidence import Evidence, evidence_from_results
from mlharness.calibrate.probes import Probe, ProbeJob, default_probes
from mlupdate.reference.semantics import Semantics

if TYPE_CHECKING:
    from mlharness.targets.base import Target
    from mlupdate.bundle import ResultsBundle

log = logging.getLogger(__name__)

# (job bundle, folder to pull the results into) -> the verified results bundle of that job.
RunOnTarget = Callable[[Path, Path], "ResultsBundle"]
# (job bundle, output folder, semantics) -> the reference's results bundle of that job.
RunReference = Callable[[Path, Path, Semantics], "ResultsBundle"]


@dataclass(frozen=True)
class Calibration:
    """Every knob's decision, and the semantics they add up to (undecided knobs keep their defaults)."""

    decisions: tuple[Decision, ...]
    semantics: Semantics

    def decided(self) -> dict[str, object]:
        return {d.knob: d.value for d in self.decisions if d.status == "decided"}

    def undecided(self) -> tuple[str, ...]:
        return tuple(d.knob for d in self.decisions if d.status == "undecided")


def on_target(target: Target, *, app: Path | None = None) -> RunOnTarget:
    """The runner bound to `target`; `app` is installed before the first probe job only."""
    from mlharness.runner import run_job

    pending = [app] if app is not None else []

    def run(job_dir: Path, out_dir: Path) -> ResultsBundle:
        return run_job(target, job_dir, out_dir, app=pending.pop() if pending else None).results

    return run


def reference_results(job_dir: Path, out_dir: Path, semantics: Semantics) -> ResultsBundle:
    """Run the reference trainer on a job bundle under `semantics` and read its results bundle back."""
    from mlupdate.bundle import read_job, read_results
    from mlupdate.reference.run import run_reference

    job_id = read_job(job_dir).job_id
    path = run_reference(job_dir, out_dir, semantics=semantics)
    return read_results(path, job_id)


def calibrate(
    run_on_target: RunOnTarget,
    work_dir: Path,
    *,
    probes: Sequence[Probe] | None = None,
    reference: RunReference = reference_results,
    margin: float = MARGIN,
) -> Calibration:
    """Run every probe on the target and decide its knobs; job bundles and results stay under `work_dir`."""
    semantics = Semantics()
    decisions: list[Decision] = []
    for probe in probes if probes is not None else default_probes():
        jobs = [(job, job.build(work_dir / probe.name / "jobs" / job.name)) for job in probe.jobs]
        observed = _merge(
            "target",
            [
                _evidence(job, run_on_target(path, work_dir / probe.name / "target" / job.name), "target")
                for job, path in jobs
            ],
        )
        predictions = {
            hypothesis: _predict(probe, hypothesis, jobs, semantics, reference, work_dir)
            for hypothesis in probe.hypotheses()
        }
        found = decide(probe.name, probe.knobs, observed, predictions, margin=margin)
        for decision in found:
            log.info("%s: %s %s (%s)", probe.name, decision.knob, decision.status, decision.reason)
        semantics = dataclasses.replace(semantics, **{d.knob: d.value for d in found if d.status == "decided"})
        decisions.extend(found)
    return Calibration(tuple(decisions), semantics)


def _predict(
    probe: Probe,
    hypothesis: Hypothesis,
    jobs: Sequence[tuple[ProbeJob, Path]],
    base: Semantics,
    reference: RunReference,
    work_dir: Path,
) -> Evidence:
    semantics = dataclasses.replace(base, **dict(hypothesis))
    folder = work_dir / probe.name / "reference" / hypothesis_label(hypothesis).replace(",", "+")
    label = f"reference {hypothesis_label(hypothesis)}"
    return _merge(label, [_evidence(job, reference(path, folder / job.name, semantics), label) for job, path in jobs])


def _evidence(job: ProbeJob, results: ResultsBundle, source: str) -> Evidence:
    return evidence_from_results(results, f"{source} {job.name}", job.labels)


def _merge(source: str, parts: Sequence[Evidence]) -> Evidence:
    """One evidence from several jobs, each component prefixed with its job's source."""
    components = {}
    for index, part in enumerate(parts):
        for name, values in part.components.items():
            components[f"{index}/{name}"] = values
    return Evidence(source, components)
