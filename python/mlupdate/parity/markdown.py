"""summary.md: a few lines for CI logs and pull-request comments."""

from __future__ import annotations

from mlupdate.parity.report import ParityReport

_ICON = {"pass": "✅", "fail": "❌", "warn": "⚠️", "skip": "⏭️", "not_recorded": "➖"}


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: ParityReport) -> str:
    prov = report.provenance
    lines = [
        f"### Parity {report.result.upper()}: {report.job_id} ({report.level} level, {report.steps} steps)",
        "",
    ]
    if report.dry_run:
        lines += [f"**{report.label}**", ""]
    lines += [
        f"{prov.device} ({prov.device_model}), {prov.os}, producer {prov.producer}, "
        f"git {prov.git_revision or 'unknown'}",
        "",
        "| | check | result |",
        "|---|---|---|",
    ]
    for check in report.checks:
        icon = _ICON.get(check.status, check.status)
        lines.append(f"| {icon} | {_escape(check.name)} | {_escape(check.message)} |")
    lines += ["", f"Verdict {report.basis}."]
    knobs = report.semantics.knobs
    uncalibrated = [k.name for k in knobs if not k.calibrated]
    lines += [
        "",
        f"Semantics knobs (docs/semantics.md): {len(knobs)}, uncalibrated: "
        f"{', '.join(uncalibrated) if uncalibrated else 'none'}.",
        "",
    ]
    return "\n".join(lines)
