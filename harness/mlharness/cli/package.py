"""`mlharness package JOBS... -o DIR`: the job cases built as XCTest products and written for each farm (macOS)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlharness.cli import EXIT_OK, add_force_option
from mlharness.cli.devices import _seconds

DEFAULT_PROJECT = Path("ios_app/MLHarnessCompanion.xcodeproj")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    package = subparsers.add_parser(
        "package",
        help="build the job bundles into the XCTest job cases (xcodebuild, macOS) and write the farms' artefacts",
        description="Runs xcodebuild build-for-testing with the jobs carried in the test bundle, then writes DIR/"
        "aws-device-farm (.ipa, test package, test spec) and DIR/xctestrun (the .xctestrun zip). docs/scale.md.",
    )
    package.add_argument("jobs", type=Path, nargs="+", metavar="JOB", help="job bundle folders (one case each)")
    package.add_argument("-o", "--out", type=Path, required=True, metavar="DIR", help="the folder to write")
    package.add_argument(
        "--project",
        type=Path,
        default=DEFAULT_PROJECT,
        help=f"the companion's Xcode project (default: {DEFAULT_PROJECT})",
    )
    package.add_argument(
        "--team",
        help="sign with this Apple team id (default: unsigned, CODE_SIGNING_ALLOWED=NO, for farms that re-sign)",
    )
    package.add_argument("--developer-dir", help="pin this Xcode (like DEVELOPER_DIR)")
    package.add_argument(
        "--deadline",
        type=_seconds,
        default=1800.0,
        help="seconds xcodebuild may take before it is stopped (default: 1800)",
    )
    add_force_option(package, "DIR")
    package.set_defaults(handler=_package)


def _package(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from mlharness.errors import ConfigError
    from mlharness.process import SubprocessRunner
    from mlharness.xctest import package
    from mlupdate.output_folder import owned_output

    package.require_xcodebuild()
    if not (args.project / "project.pbxproj").is_file():
        raise ConfigError(
            "not an Xcode project (no project.pbxproj)",
            where=str(args.project),
            fix=f"run from the repository's root or pass --project {DEFAULT_PROJECT}",
        )
    jobs = package.read_jobs(args.jobs)
    xcodebuild = package.XcodeBuild(
        SubprocessRunner(), developer_dir=args.developer_dir, team=args.team, timeout=args.deadline
    )
    with owned_output(args.out, command="package", force=args.force, inputs=[*args.jobs, args.project]) as output:
        artefacts = package.build_package(jobs, args.project, output.staging, xcodebuild=xcodebuild)
    title = Text(f"{len(jobs)} job case(s) packaged into {args.out}")  # a user's path: text, never markup
    table = Table("family", "artefact", "role", "bytes", title=title)
    for artefact in artefacts:
        table.add_row(*map(Text, (artefact.family, artefact.path, artefact.role, str(artefact.bytes))))
    Console().print(table)
    return EXIT_OK
