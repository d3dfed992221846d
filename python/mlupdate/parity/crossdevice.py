"""The cross-device table: several parity reports (or raw results bundles) side by side, one row each.

Every figure comes from the typed report (`ParityReport.figures`, its checks) or the results bundle's own task
records; the `source` column says which folder a row was read from and links to its report.

Each row names where it ran: on this desk (a Simulator or a device on this host), on a remote host's device
(`remote HOST:PORT`), or on a farm's device pool (`farm NAME · pool POOL`). The harness that drove the run
records that in `where.json` beside what it wrote (a results bundle is sealed, so never inside it); a row reads
the nearest one in its folder or up to two folders above, and says "not recorded" when there is none.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from html import escape
from pathlib import Path
from typing import Any

from mlupdate.bundle.kinds import PathKind, identify
from mlupdate.bundle.results_reader import ResultsBundle, read_done, read_results
from mlupdate.contract import DONE, TaskStatus
from mlupdate.errors import InputError
from mlupdate.limits import KiB, read_bounded
from mlupdate.output_folder import write_atomic
from mlupdate.parity.report import REPORT_JSON, ParityReport, RunFigures, read_report
from mlupdate.parity.semantics_info import os_label
from mlupdate.parity.verdict import DRY_RUN_LABEL, REFERENCE_PRODUCER

NOT_EVALUATED = "not evaluated"
NOT_RECORDED = "not recorded"
CROSS_DEVICE_KIND = "mlupdate.cross-device"
COLUMNS = (
    "job",
    "device",
    "where",
    "os",
    "kind",
    "result",
    "level",
    "train median s",
    "MB/task",
    "final loss",
    "first failure",
    "source",
)


WHERE_FILE = "where.json"
WHERE_KIND = "mlupdate.where"
ROUTES = ("desk", "remote", "farm")
_WHERE_BYTES = 4 * KiB
_WHERE_TEXT = 200  # a host name, a farm or a pool name
_WHERE_LEVELS = 3  # the folder itself and two above: <test>/parity, <test>/device/<job id>


@dataclass(frozen=True)
class Where:
    """Where a run happened: `desk` (this host), `remote` (the tunneld `host` served the device) or `farm`."""

    route: str
    host: str | None = None
    farm: str | None = None
    pool: str | None = None

    @property
    def label(self) -> str:
        if self.route == "remote":
            return f"remote {self.host}"
        if self.route == "farm":
            return f"farm {self.farm} · pool {self.pool}"
        return "desk"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": WHERE_KIND, "schema_version": 1, **asdict(self), "label": self.label}

    @classmethod
    def from_dict(cls, document: object, where: str) -> Where:
        fix = f"{WHERE_FILE} is written by the harness beside a run's results; delete it or run the cell again"
        if not isinstance(document, Mapping) or document.get("kind") != WHERE_KIND:
            raise InputError(f"not a {WHERE_KIND} document", where=where, fix=fix)
        route = document.get("route")
        if route not in ROUTES:
            raise InputError(f"route {route!r} is not one of {list(ROUTES)}", where=f"{where}: route", fix=fix)
        needed = {"desk": (), "remote": ("host",), "farm": ("farm", "pool")}[str(route)]
        values: dict[str, str | None] = {}
        for name in ("host", "farm", "pool"):
            value = document.get(name)
            if value is not None and not (isinstance(value, str) and 0 < len(value) <= _WHERE_TEXT):
                raise InputError(f"{name} must be a short string", where=f"{where}: {name}", fix=fix)
            if name in needed and value is None:
                raise InputError(f"a {route} run needs `{name}`", where=where, fix=fix)
            values[name] = value
        return cls(str(route), **values)


def write_where(folder: Path, where: Where) -> Path:
    """Record where the run whose outputs are in `folder` happened (`folder/where.json`)."""
    folder.mkdir(parents=True, exist_ok=True)
    return write_atomic(folder / WHERE_FILE, (json.dumps(where.to_dict(), indent=2) + "\n").encode("utf-8"))


def find_where(folder: Path) -> Where | None:
    """The `where.json` nearest to `folder` (itself or up to two folders above), or None."""
    for candidate in [folder, *folder.parents][:_WHERE_LEVELS]:
        path = candidate / WHERE_FILE
        if path.is_file():
            fix = "delete it, or run the cell again"
            data = read_bounded(path, _WHERE_BYTES, error=InputError, what=WHERE_FILE, fix=fix)
            try:
                document = json.loads(data)
            except (ValueError, UnicodeDecodeError) as exc:
                raise InputError(f"not valid JSON ({exc})", where=str(path), fix=fix) from None
            return Where.from_dict(document, str(path))
    return None


@dataclass(frozen=True)
class Row:
    source: str  # the folder the row was read from
    job: str
    device: str
    os: str
    kind: str  # "device", "simulator" or the dry-run label
    result: str  # "pass", "fail", or "not evaluated" for a results bundle without a report
    level: str
    train_median_seconds: float | None
    memory_growth_mb_per_task: float | None
    final_loss: float | None
    first_failure: str
    where: str = NOT_RECORDED  # Where.label of the run, "not recorded" when no where.json names it
    report: str | None = None  # its report.html, when the row comes from a parity report

    def cells(self) -> list[str]:
        return [
            self.job,
            self.device,
            self.where,
            self.os,
            self.kind,
            self.result,
            self.level,
            _num(self.train_median_seconds),
            _num(self.memory_growth_mb_per_task, "{:+.1f}"),
            _num(self.final_loss, "{:.5g}"),
            self.first_failure,
            self.source,
        ]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _num(value: float | None, pattern: str = "{:.3g}") -> str:
    return "-" if value is None else pattern.format(value)


def _kind(is_simulator: bool, producer_name: str | None) -> str:
    if producer_name == REFERENCE_PRODUCER:
        return DRY_RUN_LABEL
    return "simulator" if is_simulator else "device"


def _growth_mb(figures: RunFigures) -> float | None:
    growth = figures.memory_growth_bytes_per_task
    return growth / 1e6 if growth is not None else None


def row_from_report(report: ParityReport, source: str, html: str | None = None) -> Row:
    failure = next((check.message for check in report.checks if check.failed), "")
    return Row(
        source=source,
        report=html,
        job=report.job_id,
        device=report.provenance.device,
        os=report.provenance.os,
        kind=_kind(report.device.is_simulator, report.producer.name if report.producer else None),
        result=report.result,
        level=report.level,
        train_median_seconds=report.figures.train_median_seconds,
        memory_growth_mb_per_task=_growth_mb(report.figures),
        final_loss=report.figures.final_loss,
        first_failure=failure,
    )


def row_from_results(bundle: ResultsBundle, source: str) -> Row:
    figures = RunFigures.of(bundle.tasks)
    error = bundle.error
    return Row(
        source=source,
        report=None,
        job=bundle.job_id,
        device=bundle.device.name,
        os=os_label(bundle.device),
        kind=_kind(bundle.device.is_simulator, bundle.producer.name),
        result=NOT_EVALUATED if bundle.status is TaskStatus.SUCCEEDED else str(bundle.status),
        level="-",
        train_median_seconds=figures.train_median_seconds,
        memory_growth_mb_per_task=_growth_mb(figures),
        final_loss=figures.final_loss,
        first_failure=error.message if error else "",
    )


def load_row(path: str | Path) -> Row:
    """A report folder (report.json) or a results bundle folder (results.json + DONE)."""
    folder = Path(path)
    if (folder / REPORT_JSON).is_file() or (folder.is_file() and folder.name == REPORT_JSON):
        root = folder if folder.is_dir() else folder.parent
        html = root / "report.html"
        row = row_from_report(read_report(folder), str(folder), str(html) if html.is_file() else None)
        return _placed(row, folder)
    if (folder / DONE).is_file():
        job_id, _ = read_done(folder)
        return _placed(row_from_results(read_results(folder, job_id), str(folder)), folder)
    found = identify(folder)
    inside = found.results
    given = "no such file or folder" if found.kind is PathKind.MISSING else f"this is {found.describe()}"
    raise InputError(
        f"{given}; expected a parity report folder (report.json) or a results bundle",
        where=str(folder),
        fix=f"pass {', '.join(str(p) for p in inside[:3])}"
        if inside
        else "pass folders written by `mlharness parity` (report.json) or pulled results bundles (with DONE)",
    )


def _placed(row: Row, path: Path) -> Row:
    where = find_where(path.parent if path.is_file() else path)
    return replace(row, where=where.label) if where is not None else row


def to_json(rows: Sequence[Row]) -> dict[str, Any]:
    return {"kind": CROSS_DEVICE_KIND, "schema_version": 2, "rows": [row.to_dict() for row in rows]}


def markdown_table(rows: Sequence[Row], *, relative_to: Path | None = None) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = [cell.replace("|", "\\|") for cell in row.cells()]
        if row.report is not None:
            cells[-1] = f"[{cells[-1]}]({_href(row.report, relative_to)})"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def html_table(rows: Sequence[Row], *, relative_to: Path | None = None) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in COLUMNS)
    body = "".join(
        f'<tr class="{escape(row.result.replace(" ", "-"))}">'
        + "".join(f"<td>{escape(c)}</td>" for c in row.cells()[:-1])
        + f"<td>{_source_cell(row, relative_to)}</td></tr>"
        for row in rows
    )
    style = (
        "body{font:14px system-ui,sans-serif;margin:24px}table{border-collapse:collapse}"
        "td,th{border:1px solid #d0d7de;padding:4px 8px}th{background:#f6f8fa}"
        "tr.pass td:nth-child(6){color:#1a7f37;font-weight:600}tr.fail td:nth-child(6){color:#d1242f;font-weight:600}"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Cross-device parity</title>'
        f"<style>{style}</style></head><body><h1>Cross-device parity</h1><table><tr>{head}</tr>{body}</table>"
        "</body></html>\n"
    )


def _source_cell(row: Row, relative_to: Path | None) -> str:
    if row.report is None:
        return escape(row.source)
    return f'<a href="{escape(_href(row.report, relative_to))}">{escape(row.source)}</a>'


def _href(path: str, relative_to: Path | None) -> str:
    """A link to `path` from a table written into `relative_to` (absolute when the table is only printed)."""
    target = Path(path).resolve()
    if relative_to is None:
        return target.as_uri()
    return Path(os.path.relpath(target, relative_to.resolve())).as_posix()
