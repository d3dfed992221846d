"""summary.md: a few lines for CI logs and pull-request comments."""

from __future__ import annotations

from typing import Any

_ICON = {"pass": "✅", "fail": "❌", "warn": "⚠️", "skip": "⏭️", "not_recorded": "➖"}


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(document: dict[str, Any]) -> str:
    prov = document.get("provenance", {})
    result = str(document.get("result", "fail")).upper()
    lines = [
        f"### Parity {result}: {document.get('job_id')} ({document.get('level')} level, {document.get('steps')} steps)",
        "",
    ]
    if document.get("dry_run"):
        lines += [f"**{document.get('label')}**", ""]
    lines += [
        f"{prov.get('device', '?')} ({prov.get('device_model', '?')}), {prov.get('os', '?')}, "
        f"producer {prov.get('producer', '?')}, git {prov.get('git_revision') or 'unknown'}",
        "",
        "| | check | result |",
        "|---|---|---|",
    ]
    for check in document.get("checks", []):
        icon = _ICON.get(check["status"], check["status"])
        lines.append(f"| {icon} | {_escape(check['name'])} | {_escape(check['message'])} |")
    if document.get("basis"):
        lines += ["", f"Verdict {document['basis']}."]
    knobs = document.get("semantics", {}).get("knobs", [])
    uncalibrated = [k["name"] for k in knobs if not k["calibrated"]]
    lines += [
        "",
        f"Semantics: {len(knobs)} knob(s), uncalibrated: {', '.join(uncalibrated) if uncalibrated else 'none'}.",
        "",
    ]
    return "\n".join(lines)
