"""`mlharness scenario NAME -o DIR` (a seed story as model + job bundles) and `mlharness demo -o DIR`.

The demo is the main job on the embedded default, with no device: it builds every scenario it can, trains
the `catdog` job with the reference trainer (standing in for a device, and labelled as such), checks parity of
that result against an independent reference run and writes the reports.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mlharness.cli import EXIT_NO, EXIT_OK, add_force_option
from mlupdate.bundle import read_job
from mlupdate.errors import InputError
from mlupdate.output_folder import owned_output
from mlupdate.parity.run import run_parity
from mlupdate.reference.run import run_reference
from mlupdate.scenarios import SCENARIOS, ScenarioResult, build_scenario
from mlupdate.scenarios.registry import REGISTRY, default_real_models

DEMO_JOB = ("catdog", "catdog-v1")
DEMO_PARTS = frozenset({"scenarios", "dry-run", "report"})  # every folder the demo writes into its output


def register(subparsers: Any) -> None:
    scenario = subparsers.add_parser("scenario", help="build a seed scenario: updatable model + job bundle(s)")
    scenario.add_argument(
        "name", choices=SCENARIOS, help="; ".join(f"{s.name}: {s.summary}" for s in REGISTRY.values())
    )
    scenario.add_argument("-o", "--output", type=Path, required=True, help="folder to build into (DIR/<name>/)")
    scenario.add_argument("--real-models", type=Path, help="folder of the real fixture models (default: ../shared/...)")
    add_force_option(scenario, "DIR/<name>")
    scenario.set_defaults(handler=run_scenario_command)

    demo = subparsers.add_parser("demo", help="build the scenarios, run one through reference, parity and report")
    demo.add_argument(
        "-o", "--output", type=Path, default=Path("out/demo"), help="output folder (an earlier demo's is replaced)"
    )
    demo.add_argument("--real-models", type=Path, help="folder of the real fixture models (default: ../shared/...)")
    add_force_option(demo, "the output folder")
    demo.set_defaults(handler=run_demo_command)


def describe(result: ScenarioResult) -> list[str]:
    lines = [f"{result.name}: {result.folder}", f"  model   {result.model.name}"]
    for job_path in result.jobs:
        job = read_job(job_path)
        training, probe = job.training, job.probe
        features = ", ".join(f"{f.name} ({f.kind})" for f in training.features)
        probe_text = f", probe {probe.count}" if probe is not None else ""
        overrides = json.dumps(job.parameters) if job.parameters else "model defaults"
        lines.append(f"  job     {job_path}  [{training.count} examples: {features}{probe_text}; {overrides}]")
    lines.append(f"  readme  {result.readme}")
    return lines


def run_scenario_command(args: argparse.Namespace) -> int:
    result = build_scenario(args.name, args.output, real_models=args.real_models, force=args.force)
    print("\n".join(describe(result)))
    return EXIT_OK


def _earlier_demo(folder: Path) -> bool:
    """Demos before the output marker existed: a folder holding nothing but the demo's own parts."""
    return all(entry.name in DEMO_PARTS for entry in folder.iterdir())


def run_demo_command(args: argparse.Namespace) -> int:
    out: Path = args.output
    models = args.real_models or default_real_models()
    inputs = [models] if models is not None else []
    with owned_output(out, command="demo", force=args.force, inputs=inputs, also_owned=_earlier_demo) as output:
        verdict_passed = _demo(output.staging, out, models)
    print(f"\nEverything is in {out}")
    return EXIT_OK if verdict_passed else EXIT_NO


def _demo(work: Path, out: Path, models: Path | None) -> bool:
    """The demo written into `work`; printed paths say where it will be (`out`) once it is complete."""

    def shown(path: Path) -> Path:
        return out / path.relative_to(work)

    built: dict[str, ScenarioResult] = {}
    print(f"Building the seed scenarios into {out / 'scenarios'}")
    for name in SCENARIOS:
        try:
            built[name] = build_scenario(name, work / "scenarios", real_models=models)
        except InputError as exc:
            if not REGISTRY[name].needs_real_models:
                raise
            print(f"{name}: skipped: {exc.what}\n  fix: {exc.fix}")
            continue
        print("\n".join(describe(built[name])).replace(str(work), str(out)))

    scenario, job_id = DEMO_JOB
    job_path = next(p for p in built[scenario].jobs if p.name == job_id)
    print(f"\nTraining {job_id} with the reference trainer (no device here: this stands in for the device's result)")
    dry_run = run_reference(job_path, work / "dry-run")
    print(f"  results bundle  {shown(dry_run)}")
    print("Checking parity against an independent reference run and writing the reports")
    parity = run_parity(dry_run, job_path, work / "report", ensemble=3)
    verdict = parity.verdict
    print(f"  verdict         {'PASS' if verdict.passed else 'FAIL'} ({len(verdict.checks)} checks)")
    print("  note            reference dry run: not a device result")
    print(f"  report.html     {shown(parity.reports.html)}")
    print(f"  report.json     {shown(parity.reports.json)}")
    print(f"  JUnit           {shown(parity.reports.junit)}")
    print(f"  summary         {shown(parity.reports.markdown)}")
    return verdict.passed
