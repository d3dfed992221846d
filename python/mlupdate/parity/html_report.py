"""report.html: one self-contained page (inline CSS and SVG, no scripts, no external requests) rendered from the
typed report: the verdict and what it rests on, every check, the plots that have something to show (and why
the others are left out), timing, the semantics the reference assumed, and provenance.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from mlupdate.parity.plots import plots
from mlupdate.parity.report import ParityReport
from mlupdate.parity.verdict import STATUS_LABELS

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1000px;
       color: #1f2328; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 12px; color: #fff; font-weight: 600; }
.pass { background: #1a7f37; } .fail { background: #d1242f; } .warn { background: #9a6700; }
.skip, .not_recorded { background: #57606a; }
.dry { border: 2px solid #9a6700; background: #fff8c5; padding: 10px 14px; margin: 14px 0; }
.dry strong { font-size: 16px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } td.msg { font-family: ui-monospace, monospace; font-size: 12px; }
.uncalibrated { color: #9a6700; font-weight: 600; } .calibrated { color: #1a7f37; }
figure { margin: 16px 0; } figure svg { max-width: 100%; height: auto; border: 1px solid #d0d7de; }
.omitted { color: #57606a; }
"""

SEMANTICS_DOC = "docs/semantics.md"


def render_html(report: ParityReport) -> str:
    title = f"Parity {report.result.upper()}: {report.job_id}"
    drawn, omitted = plots(report)
    checks = [[_badge(c.status), _cell(c.name), _cell(c.message, "msg")] for c in report.checks]
    provenance = [[_cell(k), _cell("unknown" if v is None else v)] for k, v in report.provenance.to_dict().items()]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{CSS}</style></head>
<body>
<h1>{escape(title)} <span class="badge {escape(report.result)}">{escape(report.result.upper())}</span></h1>
{_what_was_judged(report)}
<p>Verdict {escape(report.basis)}. {escape(report.level)}-level parity over {report.steps} optimizer steps per
task (case {escape(report.case)}).</p>
{_failures(report)}
<h2>Checks</h2>
{_table(checks, ["status", "check", "result"])}
{_power_table(report)}
<h2>Plots</h2>
{"".join(f'<figure data-plot="{escape(p.key)}">{p.svg}</figure>' for p in drawn)}
{_omitted(omitted)}
<h2>Timing</h2>
{_timing_table(report)}
<h2>Semantics the reference assumed</h2>
{_semantics(report)}
<h2>Provenance</h2>
{_table(provenance, ["field", "value"])}
<p><small>{escape(report.generated_by)} · {escape(report.generated_at)} · report.json schema version 2</small></p>
</body></html>
"""


def _power_table(report: ParityReport) -> str:
    """Each known-wrong alternative: how far its run lands from the truth and from the device, in the check's unit."""
    check = report.check("power")
    details = check.details if check is not None else {}
    if not details.get("alternatives"):
        return ""

    def number(value: Any) -> str:
        return "diverged" if value is None else f"{value:.3g}"

    rows = [
        [
            _cell(row["name"]),
            _cell(row["description"]),
            _cell(number(row["score"]) if not row.get("diverged") else "diverged"),
            _cell("-" if row.get("device_distance") is None else number(row["device_distance"])),
        ]
        for row in details["alternatives"]
    ]
    caption = (
        f"<h2>Power: known-wrong alternatives ({escape(str(details.get('unit', '')))}, limit {details.get('limit')})"
        f"</h2><p>{escape(str(details.get('likely_cause', '')))}</p>"
    )
    return caption + _table(rows, ["alternative", "what it gets wrong", "from the truth", "from the device"])


def _what_was_judged(report: ParityReport) -> str:
    """Whose result this is, said once: a dry run gets the prominent banner, a device its name and OS."""
    if report.dry_run:
        return (
            f'<div class="dry"><strong>{escape(report.label)}.</strong> The results judged here were made by the '
            "reference trainer on this host, in place of a device, and judged against another reference run: this "
            "checks the bundles, the checks and the reports end to end, not whether Core ML trains this way.</div>"
        )
    device = report.device
    kind = "Simulator" if device.is_simulator else "device"
    where = f"{escape(device.name)} ({escape(device.model)}), {escape(report.semantics.os)}"
    return f"<p>Results from the {kind} {where}.</p>"


def _failures(report: ParityReport) -> str:
    failed = [check for check in report.checks if check.failed]
    if not failed:
        return ""
    items = "".join(f"<li>{escape(check.message)}</li>" for check in failed)
    return f"<p>Failed:</p><ul>{items}</ul>"


def _omitted(omitted: Sequence[Any]) -> str:
    if not omitted:
        return ""
    items = "".join(f"<li>{escape(item.title)}: {escape(item.reason)}</li>" for item in omitted)
    return f'<div class="omitted"><p>Not plotted:</p><ul>{items}</ul></div>'


def _timing_table(report: ParityReport) -> str:
    """Phases over repeated tasks; a dry run's figures are the host's and say so."""
    check = report.check("timing")
    details = check.details if check is not None else {}
    rows = [
        [_cell(phase), *(_cell(f"{s[k]:.4g}") for k in ("median", "min", "max")), _cell(s["count"])]
        for phase, s in (details.get("phases") or {}).items()
        if s
    ]
    interval = details.get("mini_batch_interval")
    if interval:
        figures = [_cell(f"{interval[k]:.4g}") for k in ("median", "min", "max")]
        rows.append([_cell("mini-batch interval"), *figures, _cell(interval["count"])])
    whose = "the reference trainer on this host" if report.dry_run else "the device"
    if not rows:
        return f"<p>No timings were recorded by {whose}.</p>"
    return f"<p>Seconds, measured by {whose}.</p>" + _table(rows, ["phase", "median", "min", "max", "tasks"])


def _semantics(report: ParityReport) -> str:
    semantics = report.semantics
    rows = [
        [_cell(k.name), _cell(json.dumps(k.value)), _cell(k.label, "calibrated" if k.calibrated else "uncalibrated")]
        for k in semantics.knobs
    ]
    explained = (
        "Where Apple does not document how MLUpdateTask trains, the reference makes a named choice (a semantics "
        f"knob); {_semantics_link()} says what each knob means, which were calibrated against a real Core ML run "
        "and how the rest are settled on a device (<code>mlharness calibrate</code>)."
    )
    return f"<p>{explained}</p><p>{escape(semantics.note)}</p>" + _table(rows, ["knob", "value", "status"])


def _semantics_link() -> str:
    """docs/semantics.md of this checkout, as a link when the file is there to open."""
    doc = Path(__file__).resolve().parents[3] / SEMANTICS_DOC
    if doc.is_file():
        return f'<a href="{escape(doc.as_uri())}">{SEMANTICS_DOC}</a>'
    return f"{SEMANTICS_DOC} (in the mlupdate-harness repository)"


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(text: Any, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<td{attr}>{escape(str(text))}</td>"


def _badge(status: str) -> str:
    return f'<td><span class="badge {escape(status)}">{escape(STATUS_LABELS.get(status, status))}</span></td>'
