"""A parity case on a farm cell: the same package and Device Farm code as `mlharness package` / `devicefarm`.

The case's job bundle is packaged as the XCTest job case (`mlharness.xctest.package`), the run is scheduled on
the cell's pool and waited for under the cell's deadline (`mlharness.farms.devicefarm`), every device's results
come back through the same export reader, and parity is judged here on the host for each device, as for any
cell. The case folder then holds::

    job/<case>/                 the job bundle
    package/                    what `mlharness package` writes (aws-device-farm/, xctestrun/, package.json)
    farm/                       what `mlharness devicefarm -o` writes (farm-report.json, where.json, <device>/<job>)
    farm/<device>/parity/       the parity report of each device's results

so `mlharness report CASE/farm CASE/farm/*/parity` puts the farm's rows in the cross-device table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlharness.errors import FarmError
from mlharness.matrix import DeviceCell, FarmPool
from mlharness.pytest_plugin.cases import CaseOutcome, ParityCase, clear_earlier_run, plugin_folder

if TYPE_CHECKING:
    from mlharness.farms.devicefarm import DeviceFarm, FarmRow
    from mlupdate.parity.crossdevice import Where
    from mlupdate.parity.verdict import Verdict

PROJECT = Path("ios_app/MLHarnessCompanion.xcodeproj")


@dataclass(frozen=True)
class FarmCellTarget:
    """An available farm cell: its pool, the Device Farm client to drive, the companion's Xcode project."""

    cell: DeviceCell
    pool: FarmPool
    farm: DeviceFarm
    project: Path


def run_farm_parity_case(case: ParityCase, target: FarmCellTarget, folder: Path, *, ensemble: int) -> CaseOutcome:
    """Package, run on the pool, read back, judge every device. A device without a verified result raises
    FarmError naming it: the cell fails, it never passes on fewer devices than the pool ran."""
    from mlupdate.bundle import read_job
    from mlupdate.parity.crossdevice import Where, write_where

    clear_earlier_run(folder)
    where = Where("farm", farm=target.pool.farm, pool=target.pool.pool)
    write_where(folder, where)
    job_dir = case.build_job(plugin_folder(folder / "job"))
    rows = _run_on_farm(target, job_dir, folder, case.name, where)
    judged = [_judge(row, job_dir, ensemble) for row in rows]
    verdicts = [verdict for verdict, _ in judged]
    first_reference = judged[0][1]
    return CaseOutcome(
        case=case.name,
        expect=case.expect,
        job_dir=job_dir,
        device_results=_results(rows[0]),
        reference_results=first_reference,
        reports=folder / "farm",
        model_sha256=str(read_job(job_dir).manifest["model"]["sha256"]),
        passed=all(verdict.passed for verdict in verdicts),
        level=verdicts[0].level,
        summary="; ".join(f"{row.device}: {verdict.summary()}" for row, verdict in zip(rows, verdicts, strict=True)),
    )


def _run_on_farm(target: FarmCellTarget, job_dir: Path, folder: Path, name: str, where: Where) -> list[FarmRow]:
    from mlharness.farms import devicefarm
    from mlharness.farms.devicefarm import FarmDeadlines, FarmRunSpec, run_on_device_farm
    from mlharness.farms.report import write_farm_report
    from mlharness.process import SubprocessRunner
    from mlharness.xctest import package

    package.require_xcodebuild()
    jobs = package.read_jobs([job_dir])
    packaged = plugin_folder(folder / "package")
    package.build_package(jobs, target.project, packaged, xcodebuild=package.XcodeBuild(SubprocessRunner()))
    aws = packaged / package.AWS
    spec = FarmRunSpec(
        project_arn=target.pool.project_arn,
        device_pool_arn=target.pool.device_pool_arn,
        pool_name=target.pool.pool,
        app=aws / package.IPA_NAME,
        test_package=aws / package.TESTS_ZIP,
        test_spec=aws / package.TEST_SPEC,
        job_ids=tuple(job.job_id for job in jobs),
        name=f"mlharness {target.cell.name} {name}",
    )
    out = plugin_folder(folder / "farm")
    report = run_on_device_farm(target.farm, spec, out, deadlines=FarmDeadlines(run=target.pool.deadline))
    document = {
        "farm": devicefarm.FARM,
        "run": report.run_name,
        "status": report.status,
        "rows": devicefarm.write_rows(report.rows, relative_to=out),
    }
    write_farm_report(out, document, where)
    failed = [row for row in report.rows if row.outcome != "verified"]
    if not report.rows or failed:
        details = "; ".join(f"{row.device}: {row.outcome}: {row.detail}" for row in failed) or "no device ran"
        raise FarmError(
            f"the farm run ({report.status}) gave no verified result: {details}",
            where=f"{target.cell.where} (cell {target.cell.name})",
            fix=f"see {out / 'farm-report.json'}; a tampered or missing results bundle is never judged",
        )
    return report.rows


def _results(row: FarmRow) -> Path:
    assert row.results_path is not None  # _run_on_farm returns verified rows only
    return row.results_path


def _judge(row: FarmRow, job_dir: Path, ensemble: int) -> tuple[Verdict, Path]:
    """One farm device's parity verdict, its reports beside its results, and the reference results it used."""
    from mlupdate.parity.run import run_parity

    results = _results(row)
    parity = run_parity(results, job_dir, results.parent / "parity", ensemble=ensemble)
    return parity.verdict, parity.reference
