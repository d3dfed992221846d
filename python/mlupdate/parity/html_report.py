"""report.html: one self-contained page (inline CSS and SVG, no scripts, no external requests) rendered from
the report.json document: verdict, provenance, semantics knobs, every check, and five plots."""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from typing import Any

from mlupdate.parity import svg
from mlupdate.parity.verdict import STATUS_LABELS

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1000px;
       color: #1f2328; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 12px; color: #fff; font-weight: 600; }
.pass { background: #1a7f37; } .fail { background: #d1242f; } .warn { background: #9a6700; }
.skip, .not_recorded { background: #57606a; }
.dry { border: 2px solid #9a6700; background: #fff8c5; padding: 8px 12px; margin: 12px 0; font-weight: 600; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } td.msg { font-family: ui-monospace, monospace; font-size: 12px; }
.uncalibrated { color: #9a6700; font-weight: 600; } .calibrated { color: #1a7f37; }
.plots { display: grid; grid-template-columns: 1fr; gap: 16px; }
svg { background: #fff; border: 1px solid #d0d7de; max-width: 100%; height: auto; }
svg text { font: 11px system-ui, sans-serif; fill: #1f2328; } svg .title { font-weight: 600; font-size: 13px; }
svg .small { font-size: 9px; } svg .axis { stroke: #1f2328; } svg .grid { stroke: #eaeef2; }
svg .whisker { stroke: #1f2328; stroke-width: 1.2; } svg .empty { fill: #f6f8fa; stroke: #d0d7de; }
"""


ENSEMBLE_GREY = "#8c959f"


def _check(document: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((c for c in document.get("checks", []) if c.get("name") == name), None)


def loss_points(curve: Sequence[dict[str, Any]]) -> tuple[list[float], list[float]]:
    """(x, loss) of one task's curve: per mini-batch step when recorded, else per epoch."""
    batches = [e for e in curve if e.get("event") == "miniBatchEnd" and e.get("loss") is not None]
    if batches:
        return [float(i + 1) for i in range(len(batches))], [float(e["loss"]) for e in batches]
    epochs = [e for e in curve if e.get("event") == "epochEnd" and e.get("loss") is not None]
    return [float(e["epoch"] + 1) for e in epochs], [float(e["loss"]) for e in epochs]


def loss_plot(document: dict[str, Any]) -> str:
    title = "Loss curves: device vs reference"
    check = _check(document, "events")
    curves = (check or {}).get("details", {}).get("curves", {})
    if not curves:
        return svg.empty_chart(title, "no events recorded")
    # Ensemble behind, then the reference, then the device's tasks on top; colours fixed per role.
    series = []
    for index, member in enumerate((check or {}).get("details", {}).get("ensemble_curves", [])[:8]):
        xs, ys = loss_points(member)
        series.append(svg.Series("" if index else "ensemble runs", xs, ys, dashed=True, color=ENSEMBLE_GREY))
    devices = [label for label in curves if label != "reference"]
    if "reference" in curves:
        xs, ys = loss_points(curves["reference"])
        series.append(svg.Series("reference", xs, ys, color=svg.PALETTE[0]))
    for index, label in enumerate(devices):
        xs, ys = loss_points(curves[label])
        color = svg.PALETTE[1 + index % (len(svg.PALETTE) - 1)]
        series.append(svg.Series(label, xs, ys, dashed=len(devices) > 1, color=color))
    unit = "mini-batch step" if any(e.get("event") == "miniBatchEnd" for c in curves.values() for e in c) else "epoch"
    positive = all(y > 0 for s in series for y in s.ys)
    return svg.line_chart(series, title=title, x_label=unit, y_label="loss", log_y=positive)


def error_plot(document: dict[str, Any]) -> str:
    trajectory = _check(document, "trajectory")
    if trajectory is not None and trajectory.get("details", {}).get("per_tensor"):
        per_tensor = trajectory["details"]["per_tensor"]
        bars = [svg.Bar(name, v["score"] if v["score"] is not None else float("inf")) for name, v in per_tensor.items()]
        return svg.bar_chart(bars, title="Per-layer distance from the ensemble centre", y_label="spread units")
    title = "Per-layer error vs reference (bar: max |error|, whisker: RMS to max)"
    check = _check(document, "parameters")
    errors = (check or {}).get("details", {}).get("errors", {})
    if not errors:
        return svg.empty_chart(title, "no parameters compared")
    bars = [svg.Bar(name, e["max_abs"] or 0.0, e["rms"], e["max_abs"]) for name, e in errors.items()]
    positive = all(b.value > 0 for b in bars)
    if not positive and all(b.value == 0 for b in bars):
        return svg.bar_chart(bars, title=title + " - all zero", y_label="|error|")
    return svg.bar_chart(bars, title=title, y_label="|error|", log_y=positive)


def ensemble_plot(document: dict[str, Any]) -> str:
    title = "Ensemble spread with the device marked"
    check = _check(document, "trajectory")
    details = (check or {}).get("details", {})
    if not details.get("member_scores"):
        reason = "step-level run: judged element by element, no ensemble needed"
        return svg.empty_chart(title, reason if document.get("level") == "step" else "no ensemble")
    members = [v for v in details["member_scores"] if v is not None]
    device = details["score"] if details.get("score") is not None else float("inf")
    return svg.strip_chart(
        members,
        device,
        title=title,
        x_label="distance from the ensemble centre (spread units)",
        marked_label="device",
        limit=details.get("limit"),
    )


def timing_plot(document: dict[str, Any]) -> str:
    title = "Time per epoch (bar: median over tasks, whisker: min to max)"
    check = _check(document, "timing")
    per_epoch = (check or {}).get("details", {}).get("per_epoch", [])
    bars = [svg.Bar(f"epoch {i}", s["median"], s["min"], s["max"]) for i, s in enumerate(per_epoch) if s]
    if not bars:
        return svg.empty_chart(title, "no epochEnd events")
    return svg.bar_chart(bars, title=title, y_label="seconds")


def memory_plot(document: dict[str, Any]) -> str:
    title = "Memory footprint across repeated tasks"
    check = _check(document, "timing")
    memory = (check or {}).get("details", {}).get("memory", {})
    series = []
    for key in ("before", "after"):
        values = memory.get(key, [])
        points = [(float(i), v / 1e6) for i, v in enumerate(values) if v is not None]
        if points:
            series.append(svg.Series(f"{key} task", [p[0] for p in points], [p[1] for p in points], markers=True))
    if not series:
        return svg.empty_chart(title, "no memory figures recorded")
    return svg.line_chart(series, title=title, x_label="task", y_label="MB")


def _knob_class(knob: dict[str, Any]) -> str:
    return "calibrated" if knob.get("calibrated") else "uncalibrated"


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(text: Any, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<td{attr}>{escape(str(text))}</td>"


def power_table(document: dict[str, Any]) -> str:
    """Each known-wrong alternative: how far its run lands from the truth and from the device, in the check's unit."""
    details = (_check(document, "power") or {}).get("details", {})
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
    unit = str(details.get("unit", ""))
    caption = (
        f"<h2>Power: known-wrong alternatives ({escape(unit)}, limit {details.get('limit')})</h2>"
        f"<p>{escape(str(details.get('likely_cause', '')))}</p>"
    )
    return caption + _table(rows, ["alternative", "what it gets wrong", "from the truth", "from the device"])


def timing_table(document: dict[str, Any]) -> str:
    """Phases over repeated tasks; a dry run's figures are the host's and say so."""
    details = (_check(document, "timing") or {}).get("details", {})
    rows = [
        [
            _cell(phase),
            _cell(f"{s['median']:.4g}"),
            _cell(f"{s['min']:.4g}"),
            _cell(f"{s['max']:.4g}"),
            _cell(s["count"]),
        ]
        for phase, s in (details.get("phases") or {}).items()
        if s
    ]
    interval = details.get("mini_batch_interval")
    if interval:
        cells = [interval["median"], interval["min"], interval["max"]]
        rows.append([_cell("mini-batch interval"), *(_cell(f"{v:.4g}") for v in cells), _cell(interval["count"])])
    whose = "the reference trainer on this host, not a device" if document.get("dry_run") else "the device"
    caption = f"<p>Seconds, measured by {whose}.</p>"
    return caption + _table(rows, ["phase", "median", "min", "max", "n"]) if rows else caption + "<p>none recorded</p>"


def _badge(status: str) -> str:
    return f'<td><span class="badge {escape(status)}">{escape(STATUS_LABELS.get(status, status))}</span></td>'


def render_html(document: dict[str, Any]) -> str:
    result = document.get("result", "fail")
    title = f"Parity {result.upper()}: {document.get('job_id', '?')}"
    dry = f'<div class="dry">{escape(document["label"])}</div>' if document.get("dry_run") else ""
    provenance = document.get("provenance", {})
    prov_rows = [[_cell(k), _cell("unknown" if v is None else v)] for k, v in provenance.items()]
    semantics = document.get("semantics", {})
    knob_rows = [
        [_cell(k["name"]), _cell(json.dumps(k["value"])), _cell(k["label"], _knob_class(k))]
        for k in semantics.get("knobs", [])
    ]
    check_rows = [
        [
            _badge(c["status"]),
            _cell(c["name"]),
            _cell(c["message"], "msg"),
        ]
        for c in document.get("checks", [])
    ]
    plots = [
        loss_plot(document),
        error_plot(document),
        ensemble_plot(document),
        timing_plot(document),
        memory_plot(document),
    ]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{CSS}</style></head>
<body>
<h1>{escape(title)} <span class="badge {escape(result)}">{escape(result.upper())}</span></h1>
<p>{escape(document.get("label", ""))} · {escape(document.get("level", "?"))} level · {document.get("steps", "?")}
optimizer steps per task · case {escape(str(document.get("case", "?")))}</p>
{dry}
<p class="msg">{escape(document.get("summary", ""))}</p>
<p>Verdict {escape(document.get("basis", ""))}.</p>
<h2>Checks</h2>
{_table(check_rows, ["status", "check", "result"])}
{power_table(document)}
<h2>Plots</h2>
<div class="plots">
{"".join(f"<figure>{plot}</figure>" for plot in plots)}
</div>
<h2>Timing</h2>
{timing_table(document)}
<h2>Semantics knobs used by the reference</h2>
<p>{escape(semantics.get("note", ""))}</p>
{_table(knob_rows, ["knob", "value", "status"])}
<h2>Provenance</h2>
{_table(prov_rows, ["field", "value"])}
<p><small>{escape(document.get("generated_by", ""))} · {escape(document.get("generated_at", ""))} · report schema
{document.get("schema_version")}</small></p>
</body></html>
"""
