"""Parity cases declared as data: a model, its training data, parameters, events and what to expect.

A device test is then a few lines::

    DIGITS = ParityCase.of("digits", model=build_digits_model, training=digits_examples,
                           parameters={"epochs": 2, "learningRate": 0.02}, events=("epochEnd",))

    def test_digits(parity_case):
        parity_case(DIGITS)

`run_parity_case` builds the job bundle, runs it on the cell's target through the runner, and has
`mlupdate.parity` run the reference trainer on the same bundle, judge, and write its reports. Everything
heavy is imported when a case runs, so collecting a device suite never depends on the trainer or the runner
being importable.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mlupdate.contract import ALL_PROGRESS_EVENTS

if TYPE_CHECKING:
    from mlharness.targets.base import Target
    from mlupdate.data.examples import ExampleSet
    from mlupdate.parity.crossdevice import Where

# Builds a job bundle inside the given folder and returns the bundle's path.
JobBuilder = Callable[[Path], Path]
# A model file, or a function that writes one into the given folder and returns its path.
ModelSource = Path | Callable[[Path], Path]
# Fitted examples for the model at the given path.
ExampleSource = Callable[[Path], "ExampleSet"]

Level = Literal["step", "trajectory"]


@dataclass(frozen=True)
class Expect:
    """What a case expects of the parity verdict: pass (or, for a known divergence, fail), and at which level.

    The level is chosen by `mlupdate.parity` from the number of optimizer steps; naming it here catches a case
    whose parameters silently turned a step-level check into a statistical one.
    """

    passed: bool = True
    level: Level | None = None


@dataclass(frozen=True)
class ParityCase:
    """A named case: how to build its job bundle, and what to expect from the device."""

    name: str
    build_job: JobBuilder
    expect: Expect = field(default_factory=Expect)

    @classmethod
    def of(
        cls,
        name: str,
        *,
        model: ModelSource,
        training: ExampleSource,
        probe: ExampleSource | None = None,
        parameters: Mapping[str, float | int | bool] | None = None,
        events: Sequence[str] = ALL_PROGRESS_EVENTS,
        expect: Expect | None = None,
    ) -> ParityCase:
        """A case from its parts; the job id is the case name, so reports and device folders are readable."""

        def build(folder: Path) -> Path:
            from mlupdate.bundle.job_writer import write_job

            model_path = _materialize(model, folder / "model")
            return write_job(
                folder,
                model_path=model_path,
                training=training(model_path),
                probe=probe(model_path) if probe is not None else None,
                parameters=dict(parameters or {}),
                events=tuple(events),
                job_id=name,
            )

        return cls(name=name, build_job=build, expect=expect or Expect())


@dataclass(frozen=True)
class CaseOutcome:
    """What one case produced on one cell: the bundles, the parity reports and the verdict."""

    case: str
    expect: Expect
    job_dir: Path
    device_results: Path
    reference_results: Path
    reports: Path
    model_sha256: str
    passed: bool
    level: str
    summary: str

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else "fail"

    def assert_expected(self) -> None:
        """Raise AssertionError (with the parity summary and where the reports are) unless as expected."""
        problems = []
        if self.passed != self.expect.passed:
            problems.append(f"expected parity to {'pass' if self.expect.passed else 'fail'}: {self.summary}")
        if self.expect.level is not None and self.level != self.expect.level:
            problems.append(f"judged at {self.level} level, the case expects {self.expect.level}")
        if problems:
            raise AssertionError(f"parity case {self.case!r}: " + "; ".join(problems) + f" (reports: {self.reports})")


def run_parity_case(
    case: ParityCase, target: Target, folder: Path, *, app: Path | None, ensemble: int, where: Where | None = None
) -> CaseOutcome:
    """Build the job, run it on `target`, judge it against the reference. A failed run raises RunFailed.

    `where` (the cell's desk, remote host or farm pool) is recorded in `folder/where.json` first, so the
    cross-device report names it for the results and the parity report alike."""
    from mlharness.runner import run_job
    from mlupdate.bundle import read_job
    from mlupdate.parity.crossdevice import write_where
    from mlupdate.parity.run import run_parity

    clear_earlier_run(folder)
    if where is not None:
        write_where(folder, where)
    job_dir = case.build_job(plugin_folder(folder / "job"))
    device = run_job(target, job_dir, plugin_folder(folder / "device"), app=app)
    parity = run_parity(device.results_path, job_dir, folder / "parity", ensemble=ensemble)
    return CaseOutcome(
        case=case.name,
        expect=case.expect,
        job_dir=job_dir,
        device_results=device.results_path,
        reference_results=parity.reference,
        reports=folder / "parity",
        model_sha256=str(read_job(job_dir).manifest["model"]["sha256"]),
        passed=parity.verdict.passed,
        level=parity.verdict.level,
        summary=parity.verdict.summary(),
    )


def _materialize(model: ModelSource, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(model, Path):
        copy = folder / model.name
        shutil.copyfile(model, copy)
        return copy
    return model(folder)


# The plugin's marker on the case folders it makes (the job it builds, the device results it pulls into); the
# parity reports carry the marker of `mlupdate.parity`'s own output folder.
PLUGIN_COMMAND = "pytest plugin"  # messages read "`mlharness pytest plugin`"
_CASE_FOLDERS = {
    "job": PLUGIN_COMMAND,
    "device": PLUGIN_COMMAND,
    "parity": "parity",
    "package": PLUGIN_COMMAND,  # a farm cell's XCTest package (farmcase.py)
    "farm": PLUGIN_COMMAND,  # a farm cell's run: its report, results and parity per device
}


def clear_earlier_run(folder: Path) -> None:
    """Remove what an earlier run of the case left in `folder` (so a failed rerun never shows an earlier verdict),
    after checking that each of those folders is one the plugin wrote: anything else is refused and kept."""
    from mlupdate.errors import OutputFolderError
    from mlupdate.output_folder import check_destination, remove_tree

    for name, command in _CASE_FOLDERS.items():
        try:
            check_destination(folder / name, command=command)
        except OutputFolderError as exc:
            raise OutputFolderError(
                f"{exc.what}: a parity case keeps its {name} there",
                where=exc.where,
                fix="pass another --mlh-report-dir (a new or empty folder), or move that folder away",
            ) from None
    for name in _CASE_FOLDERS:
        remove_tree(folder / name)


def plugin_folder(path: Path) -> Path:
    """`path`, created and marked as the plugin's, so the next run of the case may replace it."""
    from mlupdate.output_folder import write_marker

    path.mkdir(parents=True, exist_ok=True)
    write_marker(path, PLUGIN_COMMAND)
    return path
