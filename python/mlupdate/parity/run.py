"""`run_parity`: read a job and a device's results, obtain the reference's results (and an ensemble for long
runs), evaluate, and write every report. The reference trainer is reached through `ReferenceRunner` so that
an existing reference results bundle can stand in for a fresh run."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import astuple, dataclass, replace
from pathlib import Path

from mlupdate.bundle import JobBundle, ResultsBundle, read_results
from mlupdate.errors import InputError
from mlupdate.output_folder import owned_output
from mlupdate.parity.ensemble import ReferenceRuns, reference_runs
from mlupdate.parity.evaluate import ResultsLike, count_steps, evaluate, require_succeeded
from mlupdate.parity.job_info import JobInfo, job_info
from mlupdate.parity.provenance import git_revision, provenance
from mlupdate.parity.report import ParityReport, ReportPaths, build_report, write_reports
from mlupdate.parity.tolerances import Tolerances, case_for, for_case
from mlupdate.parity.trained_model import TrainedModel, read_trained_model
from mlupdate.parity.verdict import Verdict
from mlupdate.reference.run import LoadedJob, run_reference
from mlupdate.reference.semantics import load_profile

log = logging.getLogger(__name__)

# (job folder, output parent folder) -> the folder of the reference's results bundle for that job.
# The default is the reference trainer itself; tests and callers with a stored reference pass their own.
ReferenceRunner = Callable[[Path, Path], Path]
# (job folder, member count, power) -> the ensemble (none at step level), the noise pair and, with power, the
# alternatives' runs.
EnsembleRunner = Callable[[Path, int, bool], ReferenceRuns]


@dataclass(frozen=True)
class ParityRun:
    verdict: Verdict
    report: ParityReport
    reports: ReportPaths
    reference: Path


def run_parity(
    results: str | Path | None,
    job: str | Path,
    out_dir: str | Path,
    *,
    model: str | Path | None = None,
    ensemble: int = 8,
    reference: str | Path | None = None,
    reference_runner: ReferenceRunner | None = None,
    ensemble_runner: EnsembleRunner | None = None,
    xcode: str | None = None,
    repo: Path | None = None,
    tolerances: Tolerances | None = None,
    semantics_profile: Path | None = None,
    force: bool = False,
    power: bool = True,
) -> ParityRun:
    """The device's side is a results bundle (`results`) or, from any app, the trained model it wrote (`model`:
    a `.mlmodel`, `.mlpackage` or `.mlmodelc`; its weights are all there is, every other check is "not
    recorded"). `reference` names an existing reference results bundle; otherwise `reference_runner` (default:
    the reference trainer) produces one under `out_dir/reference/`. `tolerances` replaces the case's entry of
    `parity.tolerances` (for experiments; reviewed runs use the table). `semantics_profile` is a calibration
    profile (JSON of knob values) the reference and its ensemble run with; reports name it. `power` also runs
    the reference under every known-wrong alternative that changes this job: how far each lands (the power of
    the check) and, when the device fails, the one it lies nearest (the likely cause).

    `out_dir` is written aside and swapped in once every report is written; an existing one is replaced only if
    an earlier `parity` run wrote it (or with `force`)."""
    if (results is None) == (model is None):
        raise InputError(
            "give a results bundle or a trained model, exactly one of them",
            where="mlharness parity",
            fix="mlharness parity RESULTS --job JOB, or mlharness parity --model TRAINED --job JOB",
        )
    inputs = [Path(p) for p in (results, model, job, reference, semantics_profile) if p is not None]
    with owned_output(out_dir, command="parity", force=force, inputs=inputs) as output:
        run = _run_parity(
            Path(results) if results is not None else None,
            Path(model) if model is not None else None,
            Path(job),
            output.staging,
            ensemble=ensemble,
            reference=reference,
            reference_runner=reference_runner,
            ensemble_runner=ensemble_runner,
            xcode=xcode,
            repo=repo,
            tolerances=tolerances,
            semantics_profile=semantics_profile,
            power=power,
        )
    reports = ReportPaths(*(output.final_path(path) for path in astuple(run.reports)))
    produced_here = reference is None
    return replace(run, reports=reports, reference=output.final_path(run.reference) if produced_here else run.reference)


def _run_parity(
    results: Path | None,
    model: Path | None,
    job: Path,
    out: Path,
    *,
    ensemble: int,
    reference: str | Path | None,
    reference_runner: ReferenceRunner | None,
    ensemble_runner: EnsembleRunner | None,
    xcode: str | None,
    repo: Path | None,
    tolerances: Tolerances | None,
    semantics_profile: Path | None,
    power: bool,
) -> ParityRun:
    # Read once: the reference run, its ensemble and the alternatives share the decoded examples and one
    # frozen-prefix pass (the default runners; a caller's own runners get the folder).
    loaded = LoadedJob.read(job)
    job_bundle = loaded.bundle
    info = job_info(job_bundle.job_id, job_bundle.manifest, job_bundle.model_path)
    device: ResultsBundle | None = read_results(results, job_bundle.job_id) if results is not None else None
    semantics = load_profile(semantics_profile) if semantics_profile is not None else None
    profile_document = json.loads(semantics_profile.read_text(encoding="utf-8")) if semantics_profile else None

    def default_runner(_job_dir: Path, out_parent: Path) -> Path:
        return run_reference(loaded, out_parent, semantics=semantics)

    def default_ensemble(_job_dir: Path, count: int, with_power: bool) -> ReferenceRuns:
        return reference_runs(loaded, count, semantics=semantics, power=with_power)

    runner = reference_runner or default_runner
    reference_dir = Path(reference) if reference is not None else runner(job_bundle.path, out / "reference")
    reference_results = read_results(reference_dir, job_bundle.job_id)
    require_succeeded(reference_results)
    case = case_for(job_bundle.case, info.optimizer)
    tol = tolerances or for_case(case)
    runs = _reference_runs(
        job_bundle, info, reference_results, tol, ensemble, power, ensemble_runner or default_ensemble
    )
    side: ResultsLike
    trained: TrainedModel | None = None
    if device is not None:
        side = device
    else:
        side = trained = read_trained_model(str(model), job_bundle.job_id, reference_results.parameters)
    verdict = evaluate(
        reference_results,
        side,
        ensemble=runs.members,
        noise=runs.noise,
        alternatives=runs.alternatives,
        steps_per_epoch=info.steps_per_epoch,
        case=case,
        optimizer=info.optimizer,
        tolerances=tol,
        profile=str(semantics_profile) if semantics_profile is not None else None,
        profile_document=profile_document if isinstance(profile_document, dict) else None,
        precision=trained.precision if trained is not None else None,
        parameters_from_model=trained is not None,
    )
    prov = provenance(
        job_id=side.job_id,
        producer=side.producer,
        device=side.device,
        model_path=side.model_path,
        results_path=device.path if device is not None else None,
        reference_results_path=reference_results.path,
        xcode=xcode,
        revision=git_revision(repo or Path.cwd()),
    )
    report = build_report(verdict, prov, side.tasks)
    return ParityRun(verdict, report, write_reports(report, out), reference_dir)


def _reference_runs(
    job: JobBundle,
    info: JobInfo,
    reference: ResultsBundle,
    tolerances: Tolerances,
    count: int,
    power: bool,
    runner: EnsembleRunner,
) -> ReferenceRuns:
    if info.optimizer == "none":
        return ReferenceRuns()  # a k-NN update appends examples: no trajectory, no training alternatives
    trajectory = count_steps(reference, info.steps_per_epoch) > tolerances.step_level_max_steps
    if not trajectory and not power:
        return ReferenceRuns()
    if trajectory:
        log.info("%s: trajectory level, running an ensemble of %d perturbed reference runs", job.job_id, count)
    return runner(job.path, count if trajectory else 0, power)
