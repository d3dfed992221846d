"""The plugin's fixtures: `target` (one per matrix cell), per-cell report folders and JUnit properties, `parity_case`.

`target` is parametrized by the hooks (one parameter per cell); a cell that reaches setup is available, so the
fixture opens its session once per test run and closes it at the end.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mlharness.errors import ConfigError
from mlharness.matrix import CellStatus, DeviceCell
from mlharness.pytest_plugin.cases import CaseOutcome, ParityCase, run_parity_case
from mlharness.pytest_plugin.farmcase import PROJECT, FarmCellTarget, run_farm_parity_case
from mlharness.pytest_plugin.hooks import NO_MATRIX_REASON, STATE, TARGET_FIXTURE, Settings
from mlharness.targets.base import COMPANION_APP_NAME

if TYPE_CHECKING:
    from mlharness.targets.base import Target, TargetInfo
    from mlupdate.parity.crossdevice import Where

# Where `make app` / `make app-device` leave the companion app (see the Makefile).
_PRODUCTS = Path("ios_app/DerivedData/Build/Products")


@dataclass(frozen=True)
class CellTarget:
    """An open target of one matrix cell: the cell, the target object the runner drives, who it is, the app."""

    cell: DeviceCell
    target: Target
    info: TargetInfo
    app: Path | None

    @property
    def where(self) -> Where:
        """Where this cell's runs happen, for the cross-device report."""
        return cell_where(self.cell)


def cell_where(cell: DeviceCell) -> Where:
    from mlupdate.parity.crossdevice import Where

    if cell.farm is not None:
        return Where("farm", farm=cell.farm.farm, pool=cell.farm.pool)
    if cell.host is not None:
        return Where("remote", host=str(cell.host))
    return Where("desk")


def companion_app(rootdir: Path, cell: DeviceCell) -> Path:
    """The built companion app for a cell's kind, or a ConfigError saying how to build it."""
    if cell.kind == "mac":
        from mlharness.targets.mac import BUILD_COMMAND, find_executable

        executable = find_executable(rootdir)
        if executable is None:
            raise ConfigError(
                "companion-macos is not built for mac cells", where=str(rootdir / "ios_app"), fix=BUILD_COMMAND
            )
        return executable
    if cell.kind == "simulator":
        platform, command = "Debug-iphonesimulator", "make app"
    else:
        platform, command = "Debug-iphoneos", "make app-device DEVELOPMENT_TEAM=<team id>"
    path = rootdir / _PRODUCTS / platform / COMPANION_APP_NAME
    if not path.is_dir():
        raise ConfigError(
            f"the companion app is not built for {cell.kind} cells", where=str(path), fix=f"run `{command}` first"
        )
    return path


def open_target(status: CellStatus) -> Target:
    """The `Target` object for an available cell (the targets package is imported only when a cell runs)."""
    if status.udid is None:
        raise ConfigError("the cell resolved to no udid", where=f"cell {status.cell.name}", fix="give it a udid")
    from mlharness.targets import open_target as open_by_id

    return open_by_id(status.udid, kind=status.cell.kind, remote=status.cell.host)


def open_farm_cell(config: pytest.Config, cell: DeviceCell) -> FarmCellTarget:
    """A farm cell's pool and client (the `pytest_mlh_device_farm` hook's, else boto3's standard chain); a farm
    cell runs parity cases (`parity_case`), not the `Target` calls of a device on this host."""
    from mlharness.farms import devicefarm

    assert cell.farm is not None
    project = config.rootpath / PROJECT
    if not (project / "project.pbxproj").is_file():
        raise ConfigError(
            "a farm cell packages its case with the companion's Xcode project, which is not here",
            where=str(project),
            fix="run the device suite from the repository's root",
        )
    farm = config.hook.pytest_mlh_device_farm(config=config, cell=cell)
    if farm is None:
        farm = devicefarm.DeviceFarm(devicefarm.client(region=cell.farm.region))
    return FarmCellTarget(cell=cell, pool=cell.farm, farm=farm, project=project)


@pytest.fixture(scope="session")
def mlh_settings(pytestconfig: pytest.Config) -> Settings:
    """The plugin's options (devices file, selection, report dir, ensemble size, minimum cells)."""
    return pytestconfig.stash[STATE].settings


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest, pytestconfig: pytest.Config) -> Iterator[CellTarget | FarmCellTarget]:
    """The device cell this test runs on. Parametrized from --mlh-devices; unavailable cells never get here."""
    status = getattr(request, "param", None)
    if not isinstance(status, CellStatus):
        pytest.skip(NO_MATRIX_REASON)
    if status.cell.farm is not None:
        yield open_farm_cell(pytestconfig, status.cell)
        return
    app = companion_app(pytestconfig.rootpath, status.cell)
    with open_target(status).session() as opened:
        yield CellTarget(cell=status.cell, target=opened, info=opened.info(), app=app)


def record(request: pytest.FixtureRequest, name: str, value: object) -> None:
    """A per-test property for reports and JUnit (written by junit_family=xunit1; xunit2 has no such field).

    Appended directly rather than through `record_property`, which warns under the default xunit2 flavour.
    """
    request.node.user_properties.append((name, value))


@pytest.fixture(autouse=True)
def _mlh_cell_properties(request: pytest.FixtureRequest) -> None:
    # Only for tests that use a cell: every JUnit testcase then says which device ran it.
    if TARGET_FIXTURE not in request.fixturenames:
        return
    status = request.node.callspec.params.get(TARGET_FIXTURE) if hasattr(request.node, "callspec") else None
    if not isinstance(status, CellStatus):
        return
    record(request, "mlh_cell", status.cell.name)
    record(request, "mlh_kind", status.cell.kind)
    record(request, "mlh_udid", status.udid or "")
    record(request, "mlh_where", status.cell.where)


@pytest.fixture(scope="session", autouse=True)
def _mlh_suite_properties(
    pytestconfig: pytest.Config, record_testsuite_property: Callable[[str, object], None]
) -> None:
    state = pytestconfig.stash[STATE]
    if state.matrix is None:
        return
    record_testsuite_property("mlh_devices_file", str(state.matrix.source))
    record_testsuite_property("mlh_cells", ",".join(cell.name for cell in state.cells))


@pytest.fixture
def mlh_report_dir(request: pytest.FixtureRequest, tmp_path: Path, mlh_settings: Settings) -> Path:
    """Where this test keeps its jobs, results and parity report: under --mlh-report-dir, else tmp_path."""
    if mlh_settings.report_dir is None:
        return tmp_path
    folder = mlh_settings.report_dir / report_folder_name(request.node.nodeid)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def parity_case(
    target: CellTarget | FarmCellTarget,
    mlh_report_dir: Path,
    mlh_settings: Settings,
    request: pytest.FixtureRequest,
) -> Callable[[ParityCase], CaseOutcome]:
    """Run a declared case on this test's cell, judge it against the reference, assert the expected verdict."""

    def run(case: ParityCase) -> CaseOutcome:
        if isinstance(target, FarmCellTarget):
            outcome = run_farm_parity_case(case, target, mlh_report_dir, ensemble=mlh_settings.ensemble)
            return _recorded(request, outcome)
        outcome = run_parity_case(
            case, target.target, mlh_report_dir, app=target.app, ensemble=mlh_settings.ensemble, where=target.where
        )
        record(request, "mlh_os", f"{target.info.os_name} {target.info.os_version}")
        record(request, "mlh_device_model", target.info.model)
        return _recorded(request, outcome)

    return run


def _recorded(request: pytest.FixtureRequest, outcome: CaseOutcome) -> CaseOutcome:
    record(request, "mlh_model_sha256", outcome.model_sha256)
    record(request, "mlh_verdict", outcome.verdict)
    record(request, "mlh_parity_level", outcome.level)
    outcome.assert_expected()
    return outcome


def report_folder_name(nodeid: str) -> str:
    """A file-system-safe, unique folder name for a test id (long ids keep a hash of the whole id)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", nodeid).strip("_")
    if len(safe) <= 120:
        return safe
    return f"{safe[:103]}-{hashlib.sha256(nodeid.encode()).hexdigest()[:16]}"
