"""Small inline SVG charts for the HTML report: no scripts, no fonts or files fetched, nothing external.
Inline SVG in HTML needs no namespace attribute, so the report holds no URL at all.

Three shapes cover every plot the report draws: lines (loss curves, memory), bars with whiskers (per-layer
errors, timing per epoch) and a strip (ensemble members with the device marked).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 28, 44
PALETTE = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#57606a")


@dataclass(frozen=True)
class Series:
    label: str
    xs: Sequence[float]
    ys: Sequence[float]
    dashed: bool = False
    markers: bool = False
    color: str | None = None  # None: the next palette colour


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    low: float | None = None
    high: float | None = None


def _fmt(value: float) -> str:
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    return f"{value:.3g}"


class _Frame:
    """Maps data coordinates into the plot area and draws axes with a few ticks."""

    def __init__(self, x_range: tuple[float, float], y_range: tuple[float, float], *, log_y: bool = False) -> None:
        self.log_y = log_y
        self.x0, self.x1 = _padded(x_range)
        low, high = y_range
        if log_y:
            low, high = math.log10(max(low, 1e-300)), math.log10(max(high, 1e-300))
        self.y0, self.y1 = _padded((low, high))

    def x(self, value: float) -> float:
        return LEFT + (value - self.x0) / (self.x1 - self.x0) * (WIDTH - LEFT - RIGHT)

    def y(self, value: float) -> float:
        if self.log_y:
            value = math.log10(max(value, 1e-300))
        return HEIGHT - BOTTOM - (value - self.y0) / (self.y1 - self.y0) * (HEIGHT - TOP - BOTTOM)

    def axes(self, title: str, x_label: str, y_label: str, *, x_ticks: bool = True) -> list[str]:
        parts = [
            f'<text x="{WIDTH / 2}" y="16" text-anchor="middle" class="title">{escape(title)}</text>',
            f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" class="axis"/>',
            f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" class="axis"/>',
            f'<text x="{WIDTH / 2}" y="{HEIGHT - 6}" text-anchor="middle">{escape(x_label)}</text>',
            f'<text x="14" y="{HEIGHT / 2}" text-anchor="middle" transform="rotate(-90 14 {HEIGHT / 2})">'
            f"{escape(y_label)}</text>",
        ]
        for i in range(5):
            value = self.y0 + (self.y1 - self.y0) * i / 4
            shown = 10**value if self.log_y else value
            y = HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * i / 4
            parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" class="grid"/>')
            parts.append(f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{_fmt(shown)}</text>')
        if x_ticks:
            for i in range(5):
                value = self.x0 + (self.x1 - self.x0) * i / 4
                x = self.x(value)
                parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle">{_fmt(value)}</text>')
        return parts


def _padded(bounds: tuple[float, float]) -> tuple[float, float]:
    low, high = bounds
    if not (math.isfinite(low) and math.isfinite(high)):
        return 0.0, 1.0
    if high <= low:
        margin = abs(low) * 0.1 or 1.0
        return (0.0 if low == 0 else low - margin), high + margin
    margin = (high - low) * 0.05
    # Non-negative data keeps a zero floor, so bars of zero height stay flat on the axis.
    return (max(0.0, low - margin) if low >= 0 else low - margin), high + margin


def _svg(parts: list[str], label: str) -> str:
    body = "\n".join(parts)
    return (
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{escape(label)}">\n{body}\n</svg>'
    )


def _legend(labels: Sequence[tuple[str, str, bool]]) -> list[str]:
    parts = []
    for i, (label, color, dashed) in enumerate(labels):
        x = LEFT + 8 + (i % 3) * 190
        y = TOP + 8 + (i // 3) * 14
        dash = ' stroke-dasharray="5 3"' if dashed else ""
        parts.append(f'<line x1="{x}" y1="{y}" x2="{x + 18}" y2="{y}" stroke="{color}" stroke-width="2"{dash}/>')
        parts.append(f'<text x="{x + 22}" y="{y + 4}">{escape(label)}</text>')
    return parts


def line_chart(series: Sequence[Series], *, title: str, x_label: str, y_label: str, log_y: bool = False) -> str:
    points = [(x, y) for s in series for x, y in zip(s.xs, s.ys, strict=True) if math.isfinite(y)]
    if log_y:
        points = [(x, y) for x, y in points if y > 0]
    if not points:
        return empty_chart(title, "no data")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    frame = _Frame((min(xs), max(xs)), (min(ys), max(ys)), log_y=log_y)
    parts = frame.axes(title, x_label, y_label)
    legend = []
    for index, s in enumerate(series):
        color = s.color or PALETTE[index % len(PALETTE)]
        usable = [(x, y) for x, y in zip(s.xs, s.ys, strict=True) if math.isfinite(y) and (y > 0 or not log_y)]
        coords = " ".join(f"{frame.x(x):.1f},{frame.y(y):.1f}" for x, y in usable)
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="1.8"{dash}/>')
        if s.markers or len(usable) <= 20:  # a short curve (one step, say) would otherwise be invisible
            parts += [f'<circle cx="{frame.x(x):.1f}" cy="{frame.y(y):.1f}" r="3" fill="{color}"/>' for x, y in usable]
        if s.label:  # unlabelled series (further ensemble runs) share the first one's legend entry
            legend.append((s.label, color, s.dashed))
    return _svg(parts + _legend(legend), title)


def bar_chart(bars: Sequence[Bar], *, title: str, y_label: str, log_y: bool = False) -> str:
    values = [v for b in bars for v in (b.value, b.low, b.high) if v is not None and math.isfinite(v)]
    if log_y:
        values = [v for v in values if v > 0]
    if not bars or not values:
        return empty_chart(title, "no data")
    frame = _Frame((0.0, float(len(bars))), (0.0 if not log_y else min(values), max(values)), log_y=log_y)
    parts = frame.axes(title, "", y_label, x_ticks=False)
    slot = (frame.x(1) - frame.x(0)) * 0.6
    base = frame.y(10**frame.y0 if log_y else max(frame.y0, 0.0))  # bars grow from zero, or the log floor
    for index, bar in enumerate(bars):
        centre = frame.x(index + 0.5)
        value = bar.value if math.isfinite(bar.value) and (bar.value > 0 or not log_y) else None
        if value is not None:
            top = frame.y(value)
            parts.append(
                f'<rect x="{centre - slot / 2:.1f}" y="{min(top, base):.1f}" width="{slot:.1f}" '
                f'height="{abs(base - top):.1f}" fill="{PALETTE[0]}"><title>{escape(bar.label)}: {_fmt(value)}'
                "</title></rect>"
            )
        if bar.low is not None and bar.high is not None and (not log_y or bar.low > 0):
            low, high = frame.y(bar.low), frame.y(bar.high)
            parts.append(f'<line x1="{centre:.1f}" y1="{low:.1f}" x2="{centre:.1f}" y2="{high:.1f}" class="whisker"/>')
            for y in (low, high):
                parts.append(
                    f'<line x1="{centre - 5:.1f}" y1="{y:.1f}" x2="{centre + 5:.1f}" y2="{y:.1f}" class="whisker"/>'
                )
        label = bar.label if len(bar.label) <= 22 else "…" + bar.label[-21:]
        parts.append(
            f'<text x="{centre:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle" class="small">'
            f"{escape(label)}</text>"
        )
    return _svg(parts, title)


def strip_chart(
    members: Sequence[float], marked: float, *, title: str, x_label: str, marked_label: str, limit: float | None = None
) -> str:
    finite = [v for v in (*members, marked) if math.isfinite(v)]
    if not finite:
        return empty_chart(title, "no data")
    high = max([*finite, limit or 0.0])
    frame = _Frame((0.0, high), (0.0, 1.0))
    parts = frame.axes(title, x_label, "", x_ticks=True)[:5]
    for i in range(5):
        value = frame.x0 + (frame.x1 - frame.x0) * i / 4
        parts.append(
            f'<text x="{frame.x(value):.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle">{_fmt(value)}</text>'
        )
    middle = frame.y(0.5)
    for value in members:
        if math.isfinite(value):
            parts.append(
                f'<circle cx="{frame.x(value):.1f}" cy="{middle:.1f}" r="5" fill="{PALETTE[5]}" opacity="0.7"/>'
            )
    if limit is not None:
        x = frame.x(limit)
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{HEIGHT - BOTTOM}" stroke="{PALETTE[3]}" '
            'stroke-dasharray="4 3"/>'
        )
        parts.append(f'<text x="{x + 4:.1f}" y="{TOP + 12}">limit {_fmt(limit)}</text>')
    if math.isfinite(marked):
        x = frame.x(marked)
        parts.append(f'<path d="M {x:.1f} {middle - 16:.1f} l -7 -12 h 14 z" fill="{PALETTE[1]}"/>')
        parts.append(f'<circle cx="{x:.1f}" cy="{middle:.1f}" r="6" fill="{PALETTE[1]}"/>')
        parts.append(f'<text x="{x:.1f}" y="{middle - 32:.1f}" text-anchor="middle">{escape(marked_label)}</text>')
    parts.append(
        f'<text x="{LEFT + 8}" y="{HEIGHT - BOTTOM - 8}" class="small">grey: ensemble runs (leave-one-out)</text>'
    )
    return _svg(parts, title)


def empty_chart(title: str, reason: str) -> str:
    parts = [
        f'<text x="{WIDTH / 2}" y="16" text-anchor="middle" class="title">{escape(title)}</text>',
        f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" height="{HEIGHT - TOP - BOTTOM}" class="empty"/>',
        f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">{escape(reason)}</text>',
    ]
    return _svg(parts, title)
