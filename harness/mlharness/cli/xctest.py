"""`mlharness xcresult`: the job results inside an `.xcresult` bundle (or its export folder), verified."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from mlharness.cli import EXIT_ERROR, EXIT_OK

if TYPE_CHECKING:
    from rich.table import Table

    from mlharness.xctest import XcresultOutcome


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    xcresult = subparsers.add_parser(
        "xcresult", help="read job results from an .xcresult bundle (xcresulttool, Xcode 16+) or its export folder"
    )
    xcresult.add_argument("source", type=Path, help="Run.xcresult, or a folder with tests.json and attachments/")
    xcresult.add_argument("--job", dest="jobs", action="append", required=True, help="a job id (repeat for each)")
    xcresult.add_argument("-o", "--out", type=Path, required=True, help="folder the verified bundles go into")
    xcresult.add_argument("--developer-dir", help="pin this Xcode (like DEVELOPER_DIR) for xcresulttool")
    xcresult.set_defaults(handler=_xcresult)


def _xcresult(args: argparse.Namespace) -> int:
    from rich.console import Console

    from mlharness.process import SubprocessRunner
    from mlharness.xctest import Xcresulttool, extract_xcresult, read_export
    from mlharness.xctest.xcresult import EXPORT_TESTS

    if (args.source / EXPORT_TESTS).is_file():
        outcomes = read_export(args.source, args.jobs, args.out)
    else:
        tool = Xcresulttool(SubprocessRunner(), developer_dir=args.developer_dir)
        outcomes = extract_xcresult(args.source, args.jobs, args.out, tool=tool)
    Console().print(outcome_table(outcomes))
    return EXIT_OK if all(o.verified for o in outcomes) else EXIT_ERROR


def outcome_table(outcomes: list[XcresultOutcome]) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table("job", "case", "result", "detail")
    for outcome in outcomes:
        if outcome.results is not None:
            detail = f"{outcome.results.status} → {outcome.results.path}"
            table.add_row(*map(Text, (outcome.job_id, outcome.case, "verified", detail)))
        else:
            kind = type(outcome.error).__name__ if outcome.error is not None else "?"
            table.add_row(*map(Text, (outcome.job_id, outcome.case, kind, outcome.error.what if outcome.error else "")))
    return table
