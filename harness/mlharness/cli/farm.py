"""`mlharness devicefarm`: run packaged job cases on an AWS Device Farm pool and read every result back."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from mlharness.cli import EXIT_ERROR, EXIT_OK, add_force_option
from mlharness.cli.devices import _seconds
from mlharness.errors import HarnessError
from mlharness.farms import DEVICE_FARM_REGION

if TYPE_CHECKING:
    from rich.table import Table

    from mlharness.farms.devicefarm import FarmRunReport


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = subparsers.add_parser(
        "devicefarm",
        help="run packaged job cases on an AWS Device Farm device pool (credentials: the standard AWS chain)",
    )
    run.add_argument("--project-arn", required=True, help="the Device Farm project")
    run.add_argument("--pool-arn", required=True, help="the device pool to run on")
    run.add_argument("--pool-name", help="the pool's name for the report (default: the last part of its ARN)")
    run.add_argument("--app", type=Path, required=True, help="the companion .ipa (mlharness package)")
    run.add_argument("--tests", type=Path, required=True, help="the test package .zip (mlharness package)")
    run.add_argument("--spec", type=Path, required=True, help="the test spec .yml (mlharness package)")
    run.add_argument("--job", dest="jobs", action="append", required=True, help="a packaged job id (repeat)")
    run.add_argument("-o", "--out", type=Path, required=True, help="the folder for the results and the report")
    run.add_argument(
        "--deadline", type=_seconds, default=3600.0, help="seconds the whole run may take, stopped then (default: 3600)"
    )
    run.add_argument("--profile", help="a named AWS profile (default: the standard credential chain)")
    run.add_argument("--region", default=DEVICE_FARM_REGION, help=f"the AWS region (default: {DEVICE_FARM_REGION})")
    add_force_option(run, "the -o folder")
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from mlharness.farms import devicefarm
    from mlharness.farms.devicefarm import DeviceFarm, FarmDeadlines, FarmRunSpec, run_on_device_farm
    from mlharness.farms.report import write_farm_report
    from mlupdate.output_folder import check_destination, owned_output
    from mlupdate.parity.crossdevice import Where

    inputs = (args.app, args.tests, args.spec)
    check_destination(args.out, command="devicefarm", force=args.force, inputs=inputs)  # before anything is sent
    for path in inputs:
        if not path.is_file():
            raise HarnessError("not a file", where=str(path), fix="build the artefacts with `mlharness package`")
    spec = FarmRunSpec(
        project_arn=args.project_arn,
        device_pool_arn=args.pool_arn,
        pool_name=args.pool_name or args.pool_arn.rsplit("/", 1)[-1],
        app=args.app,
        test_package=args.tests,
        test_spec=args.spec,
        job_ids=tuple(args.jobs),
    )
    farm = DeviceFarm(devicefarm.client(region=args.region, profile=args.profile))
    with owned_output(args.out, command="devicefarm", force=args.force, inputs=inputs) as output:
        report = run_on_device_farm(farm, spec, output.staging, deadlines=FarmDeadlines(run=args.deadline))
        document = {
            "farm": devicefarm.FARM,
            "run": report.run_name,
            "status": report.status,
            "rows": devicefarm.write_rows(report.rows, relative_to=output.staging),
        }
        write_farm_report(output.staging, document, Where("farm", farm=devicefarm.FARM, pool=spec.pool_name))
    Console().print(report_table(report))
    return EXIT_OK if report.verified else EXIT_ERROR


def report_table(report: FarmRunReport) -> Table:
    from rich.table import Table
    from rich.text import Text

    # The run's name and status are the farm's text: data, never markup.
    title = Text(f"Device Farm run {report.run_name}: {report.status}")
    table = Table("job", "where", "os", "outcome", "detail", title=title)
    for row in report.rows:
        table.add_row(*map(Text, (row.job_id, row.where, row.os, row.outcome, row.detail)))
    return table
