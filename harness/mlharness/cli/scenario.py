"""`mlharness scenario NAME -o DIR` (a seed story as model + job bundles) and `mlharness demo -o DIR`.

The demo itself lives in the library (`mlupdate.scenarios.demo`); this module prints what it did.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlharness.cli import EXIT_NO, EXIT_OK, add_force_option
from mlupdate.scenarios.registry import REGISTRY, SCENARIOS

if TYPE_CHECKING:
    from mlupdate.scenarios import ScenarioResult


def register(subparsers: Any) -> None:
    scenario = subparsers.add_parser("scenario", help="build a seed scenario: updatable model + job bundle(s)")
    scenario.add_argument(
        "name", choices=SCENARIOS, help="; ".join(f"{s.name}: {s.summary}" for s in REGISTRY.values())
    )
    scenario.add_argument("-o", "--output", type=Path, required=True, help="folder to build into (DIR/<name>/)")
    scenario.add_argument(
        "--real-models",
        type=Path,
        help="folder of the real fixture models (default: $MLUPDATE_REAL_MODELS, else ../shared/fixtures/real-models)",
    )
    add_force_option(scenario, "DIR/<name>")
    scenario.set_defaults(handler=run_scenario_command)

    demo = subparsers.add_parser(
        "demo", help="build the scenarios, train one with the reference trainer, check parity, write the reports"
    )
    demo.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("out/demo"),
        help="output folder; an earlier demo's is replaced (default: out/demo)",
    )
    demo.add_argument(
        "--real-models",
        type=Path,
        help="folder of the real fixture models (default: $MLUPDATE_REAL_MODELS, else ../shared/fixtures/real-models)",
    )
    add_force_option(demo, "the output folder")
    demo.set_defaults(handler=run_demo_command)


def describe(result: ScenarioResult, shown: Callable[[Path], Path] = lambda path: path) -> list[str]:
    from mlupdate.bundle import read_job

    lines = [f"{result.name}: {shown(result.folder)}", f"  model   {result.model.name}"]
    for job_path in result.jobs:
        job = read_job(job_path)
        training, probe = job.training, job.probe
        features = ", ".join(f"{f.name} ({f.kind})" for f in training.features)
        probe_text = f", probe {probe.count}" if probe is not None else ""
        overrides = json.dumps(job.parameters) if job.parameters else "model defaults"
        lines.append(f"  job     {shown(job_path)}  [{training.count} examples: {features}{probe_text}; {overrides}]")
    lines.append(f"  readme  {shown(result.readme)}")
    return lines


def run_scenario_command(args: argparse.Namespace) -> int:
    from mlupdate.scenarios import build_scenario

    result = build_scenario(args.name, args.output, real_models=args.real_models, force=args.force)
    print("\n".join(describe(result)))
    return EXIT_OK


def run_demo_command(args: argparse.Namespace) -> int:
    from mlupdate.scenarios.demo import run_demo
    from mlupdate.scenarios.registry import default_real_models

    result = run_demo(
        args.output,
        real_models=args.real_models or default_real_models(),
        force=args.force,
        on_scenario=lambda built, shown: print("\n".join(describe(built, shown))),
        say=print,
    )
    verdict = result.verdict
    print(f"  results bundle  {result.dry_run}")
    print(f"  verdict         {'PASS' if verdict.passed else 'FAIL'} ({len(verdict.checks)} checks: {verdict.basis()})")
    for note in result.notes:
        print(f"  note            {note}")
    print(f"  report.html     {result.reports.html}")
    print(f"  report.json     {result.reports.json}")
    print(f"  JUnit           {result.reports.junit}")
    print(f"  summary         {result.reports.markdown}")
    print(f"\nEverything is in {result.out}")
    print("The mlharness command is .venv/bin/mlharness (`source .venv/bin/activate` puts it on PATH).")
    return EXIT_OK if result.passed else EXIT_NO
