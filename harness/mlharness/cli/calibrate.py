"""`mlharness calibrate --target ID`: settle Core ML's open update semantics on one target, write a profile."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlharness.cli import EXIT_OK

if TYPE_CHECKING:
    from mlharness.calibrate import Calibration


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "calibrate",
        help="run the calibration probes on a target and write its semantics profile",
        description=(
            "Runs small probe jobs on one Simulator or device, compares each result with the reference trainer "
            "under every hypothesis of the knobs it tests, and writes a semantics profile (decided knobs per OS "
            "version and device class) that `mlharness reference --semantics` and parity load."
        ),
    )
    parser.add_argument("--target", required=True, metavar="ID", help="udid or name (see `mlharness targets`)")
    parser.add_argument(
        "-o", "--output", type=Path, help="profile path (default: semantics-<os>-<version>-<class>.json here)"
    )
    parser.add_argument("--app", type=Path, help="companion .app to install first (default: already installed)")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=Path("out/calibrate"),
        help="where probe jobs and results are kept (default: out/calibrate)",
    )
    parser.set_defaults(handler=run_calibrate)


def run_calibrate(args: argparse.Namespace) -> int:
    from mlharness.calibrate import calibrate, on_target, profile_key, write_profile
    from mlharness.targets import open_target

    target = open_target(args.target)
    info = target.info()
    work_dir = args.work_dir / info.udid
    calibration = calibrate(on_target(target, app=args.app), work_dir)
    path = write_profile(calibration, info, args.output or Path(profile_key(info).file_name()))
    _print_summary(calibration, path)
    return EXIT_OK


def _print_summary(calibration: Calibration, path: Path) -> None:
    width = max(len(decision.knob) for decision in calibration.decisions)
    for decision in calibration.decisions:
        value = decision.value if decision.status == "decided" else "undecided"
        print(f"{decision.knob:<{width}}  {value!s:<12}  {decision.reason}")
    print(f"profile: {path}")
