"""The demo: the main job on the embedded default, with no device (`make demo`, `mlharness demo`).

It builds every seed scenario it can, trains the `catdog` job with the reference trainer in place of a device,
runs parity on that result and writes the reports. What this can and cannot show, said as plainly as the demo
prints it (`DemoResult.notes`): the result being judged is the reference trainer's own, so the verdict checks
the pipeline (bundles written and read back under the contract, every parity check and every report), and a
bit-for-bit comparison of the two reference runs (`repeat.compare_runs`) says whether the trainer repeated
itself exactly; it says nothing about Core ML, which needs a device (`mlharness run`, then `mlharness parity`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlupdate.bundle import read_results
from mlupdate.errors import InputError
from mlupdate.output_folder import owned_output
from mlupdate.scenarios.registry import REGISTRY, SCENARIOS, ScenarioResult, build_scenario
from mlupdate.scenarios.repeat import Repeat, compare_runs

if TYPE_CHECKING:
    from mlupdate.parity.report import ReportPaths
    from mlupdate.parity.verdict import Verdict

log = logging.getLogger(__name__)

DEMO_SCENARIO, DEMO_JOB = "catdog", "catdog-v1"
# Every folder the demo writes into its output: an older demo's folder (before output markers) holds only these.
DEMO_PARTS = frozenset({"scenarios", "dry-run", "report"})
# Parity of a dry run runs the reference again: three perturbed runs are enough to show a trajectory check.
DEMO_ENSEMBLE = 3

DRY_RUN_NOTE = "no device here: the reference trainer stands in for one, and every report says so"
CHECKED_NOTE = (
    "a second reference run judges the first: this checks the job and results bundles (written and read back "
    "under the contract), every parity check and every report, end to end"
)
CANNOT_NOTE = (
    "it cannot check Core ML: both results come from the reference trainer, so a mistake in its semantics passes "
    "unseen, and its timings are this host's, not a device's (that takes a device: mlharness run, then "
    "mlharness parity)"
)

Say = Callable[[str], None]
# A scenario as it is built (its files still in the staging folder) and how to show a path of it as it will be.
OnScenario = Callable[[ScenarioResult, Callable[[Path], Path]], None]


@dataclass(frozen=True)
class SkippedScenario:
    name: str
    reason: str
    fix: str | None


@dataclass(frozen=True)
class DemoResult:
    """Where everything went (paths inside the published output folder) and the verdict."""

    out: Path
    built: dict[str, ScenarioResult]
    skipped: tuple[SkippedScenario, ...]
    dry_run: Path
    verdict: Verdict
    reports: ReportPaths
    repeat: Repeat

    @property
    def passed(self) -> bool:
        return self.verdict.passed

    @property
    def notes(self) -> tuple[str, ...]:
        """What the dry run checked, whether the trainer repeated itself (as measured), and what it cannot check."""
        return (DRY_RUN_NOTE, CHECKED_NOTE, self.repeat.describe(), CANNOT_NOTE)


def run_demo(
    out: Path,
    *,
    real_models: Path | None,
    force: bool = False,
    on_scenario: OnScenario | None = None,
    say: Say | None = None,
) -> DemoResult:
    """Build, train, judge and report into `out` (replacing an earlier demo there, never a folder it did not
    write unless `force`). `say` receives one line per step; `on_scenario` each scenario as it is built."""
    tell = say or log.info
    inputs = [real_models] if real_models is not None else []
    with owned_output(out, command="demo", force=force, inputs=inputs, also_owned=_earlier_demo) as output:
        work, shown = output.staging, output.final_path
        built, skipped = _build_scenarios(work, shown, real_models, tell, on_scenario)
        job_path = next(path for path in built[DEMO_SCENARIO].jobs if path.name == DEMO_JOB)
        tell(f"Training {DEMO_JOB} with the reference trainer ({DRY_RUN_NOTE})")
        from mlupdate.parity.run import run_parity
        from mlupdate.reference.run import run_reference

        dry_run = run_reference(job_path, work / "dry-run")
        tell("Judging that result against a second reference run and writing the reports")
        parity = run_parity(dry_run, job_path, work / "report", ensemble=DEMO_ENSEMBLE)
        repeat = compare_runs(read_results(dry_run, DEMO_JOB), read_results(parity.reference, DEMO_JOB))
    written = parity.reports
    reports = dataclasses.replace(
        written,
        json=shown(written.json),
        html=shown(written.html),
        junit=shown(written.junit),
        markdown=shown(written.markdown),
    )
    return DemoResult(
        out=out,
        built={name: _moved(result, shown) for name, result in built.items()},
        skipped=tuple(skipped),
        dry_run=shown(dry_run),
        verdict=parity.verdict,
        reports=reports,
        repeat=repeat,
    )


def _build_scenarios(
    work: Path, shown: Callable[[Path], Path], real_models: Path | None, tell: Say, on_scenario: OnScenario | None
) -> tuple[dict[str, ScenarioResult], list[SkippedScenario]]:
    built: dict[str, ScenarioResult] = {}
    skipped: list[SkippedScenario] = []
    tell(f"Building the seed scenarios into {shown(work / 'scenarios')}")
    for name in SCENARIOS:
        try:
            built[name] = build_scenario(name, work / "scenarios", real_models=real_models)
        except InputError as exc:
            if not REGISTRY[name].needs_real_models:
                raise
            skipped.append(SkippedScenario(name, exc.what, exc.fix))
            tell(f"{name}: skipped: {exc.what}\n  fix: {exc.fix}")
            continue
        if on_scenario is not None:
            on_scenario(built[name], shown)
    return built, skipped


def _earlier_demo(folder: Path) -> bool:
    """Demos before the output marker existed: a folder holding nothing but the demo's own parts."""
    return all(entry.name in DEMO_PARTS for entry in folder.iterdir())


def _moved(result: ScenarioResult, shown: Callable[[Path], Path]) -> ScenarioResult:
    """A scenario built in the staging folder, with the paths it has once the demo's output is in place."""
    return dataclasses.replace(
        result,
        folder=shown(result.folder),
        model=shown(result.model),
        jobs=tuple(shown(job) for job in result.jobs),
        readme=shown(result.readme),
    )
