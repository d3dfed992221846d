"""The parity report as a typed model (`ParityReport`), its JSON form (report.json, `schemas/report.schema.json`)
and the one place reports are written.

Every other format (HTML, JUnit XML, Markdown, the cross-device table) is rendered from a `ParityReport`, so
`mlharness report` can re-render and compare reports without the bundles they came from. report.json is
checked against its schema when it is written and when it is read back.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Self

import numpy as np

from mlupdate import __version__
from mlupdate.contract import DeviceInfo, Producer, TaskRecord
from mlupdate.errors import InputError
from mlupdate.output_folder import write_atomic
from mlupdate.parity.provenance import Provenance
from mlupdate.parity.timing import Spread, memory_growth_per_task
from mlupdate.parity.verdict import DRY_RUN_LABEL, Check, KnobStatus, Level, SemanticsInfo, Verdict

REPORT_SCHEMA_VERSION = 2
REPORT_KIND = "mlupdate.parity-report"
SUPPORTED_VERSIONS = (REPORT_SCHEMA_VERSION,)
DEVICE_LABEL = "device result"
REPORT_JSON = "report.json"


@dataclass(frozen=True)
class RunFigures:
    """What the judged results' own task records say, for tables: never read back from a plot or a message."""

    tasks: int
    final_loss: float | None  # the first task's final loss, as its producer recorded it
    train_median_seconds: float | None
    memory_growth_bytes_per_task: float | None

    @classmethod
    def of(cls, tasks: Sequence[TaskRecord]) -> RunFigures:
        train = Spread.of([t.train_seconds for t in tasks if t.train_seconds is not None])
        after = [float(t.memory_after_bytes) for t in tasks if t.memory_after_bytes is not None and not t.contaminated]
        return cls(
            tasks=len(tasks),
            final_loss=tasks[0].final_loss if tasks else None,
            train_median_seconds=train.median if train else None,
            memory_growth_bytes_per_task=memory_growth_per_task(after),
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Self:
        return cls(**{name: document[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class ParityReport:
    """One parity verdict with everything a reader of any report format needs."""

    job_id: str
    case: str
    level: Level
    steps: int
    passed: bool
    dry_run: bool
    summary: str
    basis: str
    rests_on: tuple[str, ...]
    not_recorded: tuple[str, ...]
    device: DeviceInfo
    producer: Producer | None  # None: a trained model file was judged, no results bundle
    provenance: Provenance
    semantics: SemanticsInfo
    tolerances: dict[str, Any]
    checks: tuple[Check, ...]
    figures: RunFigures
    generated_by: str
    generated_at: str

    @property
    def result(self) -> str:
        return "pass" if self.passed else "fail"

    @property
    def label(self) -> str:
        """What kind of result was judged: said once, prominently, by every format."""
        return DRY_RUN_LABEL if self.dry_run else DEVICE_LABEL

    def check(self, name: str) -> Check | None:
        return next((check for check in self.checks if check.name == name), None)

    def to_json(self) -> dict[str, Any]:
        document = {
            "schema_version": REPORT_SCHEMA_VERSION,
            "kind": REPORT_KIND,
            "generated_by": self.generated_by,
            "generated_at": self.generated_at,
            "job_id": self.job_id,
            "case": self.case,
            "passed": self.passed,
            "result": self.result,
            "dry_run": self.dry_run,
            "label": self.label,
            "level": self.level,
            "steps": self.steps,
            "summary": self.summary,
            "rests_on": list(self.rests_on),
            "not_recorded": list(self.not_recorded),
            "basis": self.basis,
            "device": self.device.to_json(),
            "producer": self.producer.to_json() if self.producer is not None else None,
            "provenance": self.provenance.to_dict(),
            "semantics": self.semantics.to_dict(),
            "tolerances": self.tolerances,
            "figures": self.figures.to_json(),
            "checks": [check.to_dict() for check in self.checks],
        }
        return dict(jsonable(document))

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Self:
        """The report of a document the report schema has accepted."""
        semantics = document["semantics"]
        producer = document["producer"]
        return cls(
            job_id=document["job_id"],
            case=document["case"],
            level=document["level"],
            steps=document["steps"],
            passed=document["passed"],
            dry_run=document["dry_run"],
            summary=document["summary"],
            basis=document["basis"],
            rests_on=tuple(document["rests_on"]),
            not_recorded=tuple(document["not_recorded"]),
            device=DeviceInfo.from_json(document["device"]),
            producer=Producer.from_json(producer) if producer is not None else None,
            provenance=Provenance(**document["provenance"]),
            semantics=SemanticsInfo(
                knobs=tuple(
                    KnobStatus(k["name"], k["value"], k["calibrated"], k["calibrated_for"]) for k in semantics["knobs"]
                ),
                os=semantics["os"],
                profile=semantics["profile"],
                note=semantics["note"],
            ),
            tolerances=dict(document["tolerances"]),
            checks=tuple(Check(c["name"], c["status"], c["message"], dict(c["details"])) for c in document["checks"]),
            figures=RunFigures.from_json(document["figures"]),
            generated_by=document["generated_by"],
            generated_at=document["generated_at"],
        )


def build_report(
    verdict: Verdict,
    provenance: Provenance,
    tasks: Sequence[TaskRecord] = (),
    *,
    generated_at: datetime | None = None,
) -> ParityReport:
    """The report of `verdict`; `tasks` are the judged results' task records (none for a trained model file)."""
    when = (generated_at or datetime.now(UTC)).isoformat(timespec="seconds")
    return ParityReport(
        job_id=verdict.job_id,
        case=verdict.case,
        level=verdict.level,
        steps=verdict.steps,
        passed=verdict.passed,
        dry_run=verdict.dry_run,
        summary=verdict.summary(),
        basis=verdict.basis(),
        rests_on=verdict.rests_on,
        not_recorded=verdict.not_recorded,
        device=verdict.device,
        producer=verdict.producer,
        provenance=provenance,
        semantics=verdict.semantics,
        tolerances=verdict.tolerances,
        checks=verdict.checks,
        figures=RunFigures.of(tasks),
        generated_by=f"mlupdate {__version__}",
        generated_at=when,
    )


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


@cache
def report_schema() -> dict[str, Any]:
    """The parsed `schemas/report.schema.json`."""
    text = resources.files("mlupdate.parity").joinpath("schemas", "report.schema.json").read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def check_report(document: Any, *, where: str) -> dict[str, Any]:
    """Refuse a report document of another kind or version, or one its schema does not accept."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    if not isinstance(document, dict) or document.get("kind") != REPORT_KIND:
        raise InputError(f"not a parity report (kind {REPORT_KIND!r} expected)", where=where, fix="regenerate it")
    version = document.get("schema_version")
    if version not in SUPPORTED_VERSIONS:
        raise InputError(
            f"report schema version {version!r}; this mlupdate reads {list(SUPPORTED_VERSIONS)}",
            where=f"{where}: schema_version",
            fix="regenerate the report with this mlupdate (mlharness parity), or upgrade mlupdate",
        )
    error = best_match(Draft202012Validator(report_schema()).iter_errors(document))
    if error is not None:
        field = "/".join(str(part) for part in error.absolute_path) or "(top level)"
        raise InputError(
            f"does not match report.schema.json: {error.message[:300]}",
            where=f"{where}: {field}",
            fix="regenerate it with `mlharness parity`",
        )
    return document


def read_report(path: str | Path) -> ParityReport:
    """A report.json (or the folder holding one), refusing other kinds, unknown versions and schema misfits."""
    path = Path(path)
    if path.is_dir():
        path = path / REPORT_JSON
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no parity report here", where=str(path), fix="run `mlharness parity` first") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the report: {exc}", where=str(path), fix="regenerate it") from None
    return ParityReport.from_json(check_report(document, where=str(path)))


@dataclass(frozen=True)
class ReportPaths:
    json: Path
    html: Path
    junit: Path
    markdown: Path


def write_reports(report: ParityReport, out_dir: str | Path) -> ReportPaths:
    """report.json, report.html, junit.xml and summary.md in `out_dir`, each written atomically."""
    from mlupdate.parity.html_report import render_html
    from mlupdate.parity.junit import render_junit
    from mlupdate.parity.markdown import render_markdown

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = ReportPaths(out / REPORT_JSON, out / "report.html", out / "junit.xml", out / "summary.md")
    document = check_report(report.to_json(), where=str(paths.json))
    _atomic_write(paths.json, json.dumps(document, indent=2, allow_nan=False) + "\n")
    _atomic_write(paths.html, render_html(report))
    _atomic_write(paths.junit, render_junit(report))
    _atomic_write(paths.markdown, render_markdown(report))
    return paths


def _atomic_write(path: Path, text: str) -> None:
    write_atomic(path, text.encode("utf-8"))
