"""The cross-device table: several parity reports (or raw results bundles) side by side, one row each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from html import escape
from pathlib import Path
from typing import Any

from mlupdate.bundle.kinds import PathKind, identify
from mlupdate.bundle.results_reader import ResultsBundle, read_done, read_results
from mlupdate.contract import DONE, TaskStatus
from mlupdate.errors import InputError
from mlupdate.parity.report import read_report
from mlupdate.parity.semantics_info import os_label
from mlupdate.parity.timing import Spread, memory_growth_per_task
from mlupdate.parity.verdict import DRY_RUN_LABEL, REFERENCE_PRODUCER

NOT_EVALUATED = "not evaluated"
COLUMNS = ("job", "device", "os", "kind", "result", "level", "train median s", "MB/task", "final loss", "first failure")


@dataclass(frozen=True)
class Row:
    source: str
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

    def cells(self) -> list[str]:
        return [
            self.job,
            self.device,
            self.os,
            self.kind,
            self.result,
            self.level,
            _num(self.train_median_seconds),
            _num(self.memory_growth_mb_per_task, "{:+.1f}"),
            _num(self.final_loss, "{:.5g}"),
            self.first_failure,
        ]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _num(value: float | None, pattern: str = "{:.3g}") -> str:
    return "-" if value is None else pattern.format(value)


def _kind(is_simulator: bool, producer_name: str | None) -> str:
    if producer_name == REFERENCE_PRODUCER:
        return DRY_RUN_LABEL
    return "simulator" if is_simulator else "device"


def _details(checks: list[dict[str, Any]], name: str) -> dict[str, Any]:
    for check in checks:
        if check.get("name") == name:
            return dict(check.get("details") or {})
    return {}


def row_from_report(document: dict[str, Any], source: str) -> Row:
    checks = document.get("checks", [])
    timing = _details(checks, "timing")
    train = (timing.get("phases") or {}).get("train") or {}
    growth = (timing.get("memory") or {}).get("growth_per_task_bytes")
    failure = next((c["message"] for c in checks if c["status"] == "fail"), "")
    curves = _details(checks, "events").get("curves", {})
    completion = [e["loss"] for e in curves.get("device task 0", []) if e.get("event") == "completion"]
    return Row(
        source=source,
        job=str(document.get("job_id")),
        device=str(document.get("provenance", {}).get("device", "?")),
        os=str(document.get("provenance", {}).get("os", "?")),
        kind=_kind(bool(document.get("device", {}).get("is_simulator")), document.get("producer", {}).get("name")),
        result=str(document.get("result")),
        level=str(document.get("level")),
        train_median_seconds=train.get("median"),
        memory_growth_mb_per_task=growth / 1e6 if growth is not None else None,
        final_loss=completion[0] if completion else None,
        first_failure=failure,
    )


def row_from_results(bundle: ResultsBundle, source: str) -> Row:
    tasks = bundle.tasks
    train = Spread.of([t.train_seconds for t in tasks if t.train_seconds is not None])
    growth = memory_growth_per_task([float(t.memory_after_bytes) for t in tasks if t.memory_after_bytes])
    error = bundle.error
    return Row(
        source=source,
        job=bundle.job_id,
        device=bundle.device.name,
        os=os_label(bundle.device),
        kind=_kind(bundle.device.is_simulator, bundle.producer.name),
        result=NOT_EVALUATED if bundle.status is TaskStatus.SUCCEEDED else str(bundle.status),
        level="-",
        train_median_seconds=train.median if train else None,
        memory_growth_mb_per_task=growth / 1e6 if growth is not None else None,
        final_loss=tasks[0].final_loss if tasks else None,
        first_failure=error.message if error else "",
    )


def load_row(path: str | Path) -> Row:
    """A report folder (report.json) or a results bundle folder (results.json + DONE)."""
    folder = Path(path)
    if (folder / "report.json").is_file() or (folder.is_file() and folder.name == "report.json"):
        return row_from_report(read_report(folder), str(folder))
    if (folder / DONE).is_file():
        job_id, _ = read_done(folder)
        return row_from_results(read_results(folder, job_id), str(folder))
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


def markdown_table(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row.cells()) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def html_table(rows: Sequence[Row]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in COLUMNS)
    body = "".join(
        f'<tr class="{escape(row.result.replace(" ", "-"))}">'
        + "".join(f"<td>{escape(c)}</td>" for c in row.cells())
        + "</tr>"
        for row in rows
    )
    style = (
        "body{font:14px system-ui,sans-serif;margin:24px}table{border-collapse:collapse}"
        "td,th{border:1px solid #d0d7de;padding:4px 8px}th{background:#f6f8fa}"
        "tr.pass td:nth-child(5){color:#1a7f37;font-weight:600}tr.fail td:nth-child(5){color:#d1242f;font-weight:600}"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Cross-device parity</title>'
        f"<style>{style}</style></head><body><h1>Cross-device parity</h1><table><tr>{head}</tr>{body}</table>"
        "</body></html>\n"
    )
