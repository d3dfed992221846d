"""The plugin's hooks: options, markers, the device matrix in `config.stash`, parametrization of `target`.

Every declared cell becomes one parameter of the `target` fixture with the cell's name as its id. A cell that
cannot run here stays visible as a skip with the reason, a known-bad cell is an xfail with its reason, and each
cell is an xdist group so `--dist loadgroup` keeps one device on one worker. A run whose matrix declares cells
but collects none (or fewer runnable ones than `--mlh-min-cells`) stops with a usage error instead of passing.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mlharness.errors import ConfigError
from mlharness.matrix import (
    Candidate,
    CellStatus,
    DeviceCell,
    Discover,
    Matrix,
    default_discover,
    discover_cells,
    load_matrix,
    remote_hosts,
    select_cells,
)
from mlharness.pytest_plugin import newhooks

TARGET_FIXTURE = "target"
DEVICE_MARK = "device"
REQUIRES_MARK = "mlh_requires"
NO_MATRIX_ID = "no-devices"
NO_MATRIX_REASON = (
    "no device matrix: pass --mlh-devices FILE (tests/device/devices.yaml is an example) to run device cells"
)


@dataclass(frozen=True)
class Settings:
    """The plugin's command-line options, checked."""

    devices: Path | None
    select: str | None
    report_dir: Path | None
    ensemble: int
    min_cells: int | None


@dataclass
class MatrixState:
    """Per-run state: settings, the loaded matrix, the selected cells, and discovery done once on first use."""

    settings: Settings
    matrix: Matrix | None
    cells: tuple[DeviceCell, ...]
    discover: Discover
    _statuses: dict[str, CellStatus] | None = field(default=None, repr=False)

    def statuses(self) -> dict[str, CellStatus]:
        if self._statuses is None:
            self._statuses = {status.cell.name: status for status in discover_cells(self.cells, self.discover)}
        return self._statuses


STATE = pytest.StashKey[MatrixState]()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(newhooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mlharness", "mlharness device matrix")
    group.addoption("--mlh-devices", metavar="FILE", help="devices.yaml listing the device cells to run on")
    group.addoption(
        "--mlh-select", metavar="EXPR", help="comma-separated cell names, kind=K or feature=F (any term matches)"
    )
    group.addoption("--mlh-report-dir", metavar="DIR", help="write per-cell results and parity reports here")
    group.addoption(
        "--mlh-ensemble", metavar="N", type=int, default=5, help="reference runs per trajectory-level check (5)"
    )
    group.addoption(
        "--mlh-min-cells",
        metavar="N",
        type=int,
        default=None,
        help="fail unless at least N device cells are runnable (not skipped) in the collected tests",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{DEVICE_MARK}: needs a device cell (added to every test that uses `target`)")
    config.addinivalue_line("markers", f"{REQUIRES_MARK}(*features): run only on cells that declare these features")
    # xdist registers this too when it is active; registering it here keeps --strict-markers happy without it.
    config.addinivalue_line("markers", "xdist_group(name): run all tests of a group on one xdist worker")
    settings = _settings(config)
    matrix = _load(settings.devices) if settings.devices else None
    cells = _select(matrix, settings.select) if matrix else ()
    config.stash[STATE] = MatrixState(settings=settings, matrix=matrix, cells=cells, discover=_discover(config, cells))


def _discover(config: pytest.Config, cells: Sequence[DeviceCell]) -> Discover:
    def discover() -> Sequence[Candidate]:
        found: Sequence[Candidate] | None = config.hook.pytest_mlh_discover_targets(config=config)
        # The built-in discovery also asks the tunneld of every remote host the selected cells name.
        return found if found is not None else default_discover(remote_hosts(cells))()

    return discover


def _settings(config: pytest.Config) -> Settings:
    ensemble = int(config.getoption("mlh_ensemble"))
    if ensemble < 3:
        # Trajectory-level parity measures the ensemble's spread; fewer runs would fail only after the device ran.
        raise pytest.UsageError(
            f"--mlh-ensemble must be at least 3 (an ensemble's spread needs 3 runs), got {ensemble}"
        )
    min_cells = config.getoption("mlh_min_cells")
    if min_cells is not None and int(min_cells) < 0:
        raise pytest.UsageError(f"--mlh-min-cells must be 0 or more, got {min_cells}")
    devices = config.getoption("mlh_devices")
    if not devices and (config.getoption("mlh_select") or min_cells):
        # Without a matrix these options would silently do nothing, and a required device run would pass.
        raise pytest.UsageError("--mlh-select and --mlh-min-cells need a device matrix: pass --mlh-devices FILE")
    report_dir = config.getoption("mlh_report_dir")
    return Settings(
        devices=Path(devices) if devices else None,
        select=config.getoption("mlh_select"),
        report_dir=Path(report_dir) if report_dir else None,
        ensemble=ensemble,
        min_cells=None if min_cells is None else int(min_cells),
    )


def _load(path: Path) -> Matrix:
    try:
        return load_matrix(path)
    except ConfigError as exc:
        raise pytest.UsageError(f"--mlh-devices {exc.message}") from None


def _select(matrix: Matrix, expression: str | None) -> tuple[DeviceCell, ...]:
    try:
        return select_cells(matrix, expression)
    except ConfigError as exc:
        raise pytest.UsageError(exc.message) from None


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash.get(STATE, None)
    if state is None or state.matrix is None:
        return []
    statuses = state.statuses()
    available = [name for name, status in statuses.items() if status.available]
    summary = (
        f"mlharness: {state.matrix.source}: {len(state.matrix.cells)} cell(s), {len(state.cells)} selected, "
        f"available here: {', '.join(available) or 'none'}"
    )
    # Each selected cell with where it runs (desk, remote host, farm and pool).
    return [summary, *(f"mlharness:   {status.cell.name}: {status.cell.where}" for status in statuses.values())]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if TARGET_FIXTURE not in metafunc.fixturenames:
        return
    state = metafunc.config.stash[STATE]
    required = _required_features(metafunc.definition)
    if state.matrix is None:
        params = [pytest.param(None, id=NO_MATRIX_ID, marks=pytest.mark.skip(reason=NO_MATRIX_REASON))]
    else:
        statuses = state.statuses()
        params = [_param(statuses[cell.name], required) for cell in state.cells]
    metafunc.parametrize(TARGET_FIXTURE, params, indirect=True, scope="session")


def _required_features(definition: pytest.Function) -> frozenset[str]:
    features: set[str] = set()
    for mark in definition.iter_markers(REQUIRES_MARK):
        if mark.kwargs or not mark.args or not all(isinstance(arg, str) and arg for arg in mark.args):
            raise pytest.UsageError(
                f"{definition.nodeid}: use @pytest.mark.{REQUIRES_MARK}('feature', ...) with feature names as "
                f"strings, got args={mark.args!r} kwargs={mark.kwargs!r}"
            )
        features.update(mark.args)
    return frozenset(features)


def _param(status: CellStatus, required: frozenset[str]) -> Any:
    cell = status.cell
    marks: list[pytest.MarkDecorator] = [pytest.mark.xdist_group(name=cell.name)]
    missing = sorted(required - cell.features)
    if missing:
        marks.append(pytest.mark.skip(reason=f"cell {cell.name} lacks feature(s) {missing} (declared in devices.yaml)"))
    elif not status.available:
        marks.append(pytest.mark.skip(reason=f"cell {cell.name} unavailable: {status.reason}"))
    if cell.xfail:
        marks.append(pytest.mark.xfail(reason=f"cell {cell.name} is known bad: {cell.xfail}", strict=False))
    return pytest.param(status, id=cell.name, marks=marks)


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> Generator[None, None, None]:
    # Before the other hooks so `-m "not device"` sees the marker; the count after deselection (-k, -m).
    for item in items:
        if TARGET_FIXTURE in getattr(item, "fixturenames", ()):
            item.add_marker(DEVICE_MARK)
    result = yield
    _check_cells(config.stash[STATE], items)
    return result


def _check_cells(state: MatrixState, items: Sequence[pytest.Item]) -> None:
    if state.matrix is None:
        return
    collected, runnable = collected_cells(items)
    if not collected:
        selection = state.settings.select
        selected = f" ({len(state.cells)} selected by --mlh-select {selection!r})" if selection else ""
        raise pytest.UsageError(
            f"{state.matrix.source} declares {len(state.matrix.cells)} device cell(s){selected} but no collected "
            "test uses one: check the test paths, -k/-m and --mlh-select (a device run that runs nothing must not "
            "pass)"
        )
    wanted = state.settings.min_cells
    if wanted is not None and len(runnable) < wanted:
        skipped = sorted(collected - runnable)
        reasons = "; ".join(f"{name}: {_skip_reason(state, name)}" for name in skipped)
        raise pytest.UsageError(
            f"--mlh-min-cells {wanted}: only {len(runnable)} runnable device cell(s) {sorted(runnable)} were "
            f"collected from {state.matrix.source}" + (f"; skipped: {reasons}" if reasons else "")
        )


def collected_cells(items: Sequence[pytest.Item]) -> tuple[set[str], set[str]]:
    """Names of the cells the items use, and of those with at least one item not skipped."""
    collected: set[str] = set()
    runnable: set[str] = set()
    for item in items:
        callspec = getattr(item, "callspec", None)
        status = callspec.params.get(TARGET_FIXTURE) if callspec is not None else None
        if not isinstance(status, CellStatus):
            continue
        collected.add(status.cell.name)
        if item.get_closest_marker("skip") is None:
            runnable.add(status.cell.name)
    return collected, runnable


def _skip_reason(state: MatrixState, name: str) -> str:
    status = state.statuses().get(name)
    return status.reason if status is not None and status.reason else "skipped by a marker"


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE, None)
    # xdist workers share the report dir with the controller, which writes the one summary.
    if state is None or state.matrix is None or state.settings.report_dir is None:
        return
    if hasattr(session.config, "workerinput"):
        return
    write_cells_summary(state, state.settings.report_dir / "cells.json")


def write_cells_summary(state: MatrixState, path: Path) -> None:
    """The matrix as run: every selected cell, its udid and whether (and why not) it was available."""
    if state.matrix is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    cells = [
        {
            "name": status.cell.name,
            "kind": status.cell.kind,
            "udid": status.udid,
            "where": status.cell.where,
            "features": sorted(status.cell.features),
            "available": status.available,
            "reason": status.reason or None,
            "xfail": status.cell.xfail,
        }
        for status in state.statuses().values()
    ]
    summary = {"devices_file": str(state.matrix.source), "select": state.settings.select, "cells": cells}
    path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
