"""report.json: the machine-readable parity report (versioned), and the one place reports are written.

Every other format (HTML, JUnit XML, Markdown) is rendered from this document, so `mlharness report` can
re-render and compare reports without the bundles they came from.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from mlupdate import __version__
from mlupdate.errors import InputError
from mlupdate.output_folder import write_atomic
from mlupdate.parity.html_report import render_html
from mlupdate.parity.junit import render_junit
from mlupdate.parity.markdown import render_markdown
from mlupdate.parity.provenance import Provenance
from mlupdate.parity.verdict import DRY_RUN_LABEL, NO_PRODUCER, Verdict

REPORT_SCHEMA_VERSION = 1
REPORT_KIND = "mlupdate.parity-report"
SUPPORTED_VERSIONS = (REPORT_SCHEMA_VERSION,)
DEVICE_LABEL = "device result"


def build_report(verdict: Verdict, provenance: Provenance, *, generated_at: datetime | None = None) -> dict[str, Any]:
    when = (generated_at or datetime.now(UTC)).isoformat(timespec="seconds")
    document = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "kind": REPORT_KIND,
        "generated_by": f"mlupdate {__version__}",
        "generated_at": when,
        "job_id": verdict.job_id,
        "case": verdict.case,
        "passed": verdict.passed,
        "result": "pass" if verdict.passed else "fail",
        "dry_run": verdict.dry_run,
        "label": DRY_RUN_LABEL if verdict.dry_run else DEVICE_LABEL,
        "level": verdict.level,
        "steps": verdict.steps,
        "summary": verdict.summary(),
        "rests_on": list(verdict.rests_on),
        "not_recorded": list(verdict.not_recorded),
        "basis": verdict.basis(),
        "device": verdict.device.to_json(),
        "producer": verdict.producer.to_json() if verdict.producer else {"name": NO_PRODUCER, "version": ""},
        "provenance": provenance.to_dict(),
        "semantics": verdict.semantics.to_dict(),
        "tolerances": verdict.tolerances,
        "checks": [check.to_dict() for check in verdict.checks],
    }
    return dict(jsonable(document))


def jsonable(value: Any) -> Any:
    """Plain JSON values: numpy scalars and arrays unwrapped, tuples as lists, non-finite floats as null."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_report(path: str | Path) -> dict[str, Any]:
    """A report.json (or the folder holding one), refusing other kinds and unknown schema versions."""
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no parity report here", where=str(path), fix="run `mlharness parity` first") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the report: {exc}", where=str(path), fix="regenerate it") from None
    if not isinstance(document, dict) or document.get("kind") != REPORT_KIND:
        raise InputError(f"not a parity report (kind {REPORT_KIND!r} expected)", where=str(path), fix="regenerate it")
    version = document.get("schema_version")
    if version not in SUPPORTED_VERSIONS:
        raise InputError(
            f"report schema version {version!r}; this mlupdate reads {list(SUPPORTED_VERSIONS)}",
            where=f"{path}: schema_version",
            fix="regenerate the report with this mlupdate, or upgrade mlupdate",
        )
    return document


@dataclass(frozen=True)
class ReportPaths:
    json: Path
    html: Path
    junit: Path
    markdown: Path


def write_reports(document: dict[str, Any], out_dir: str | Path) -> ReportPaths:
    """report.json, report.html, junit.xml and summary.md in `out_dir`, each written atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = ReportPaths(out / "report.json", out / "report.html", out / "junit.xml", out / "summary.md")
    _atomic_write(paths.json, json.dumps(document, indent=2, allow_nan=False) + "\n")
    _atomic_write(paths.html, render_html(document))
    _atomic_write(paths.junit, render_junit(document))
    _atomic_write(paths.markdown, render_markdown(document))
    return paths


def _atomic_write(path: Path, text: str) -> None:
    write_atomic(path, text.encode("utf-8"))
