"""The report's plots, drawn by matplotlib as inline SVG, from the typed report.

A plot is drawn only when there is something to show; otherwise it is left out and the reason is given once
(`Omitted`). Curves that coincide (a device that matches the reference) stay visible: the reference is a wide
pale band, the device a thin dark line on top of it. Text stays text in the SVG (searchable, small) and the
output is deterministic for the same report.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlupdate.contract import EventKind

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from mlupdate.parity.report import ParityReport

REFERENCE = "#0969da"  # the reference trainer: blue, drawn wide and pale
DEVICE = "#cf222e"  # the judged results: red, thin, on top
OTHER_TASKS = ("#8250df", "#bf8700", "#1a7f37", "#57606a")
ENSEMBLE = "#8c959f"
WIDTH_INCHES, HEIGHT_INCHES = 7.6, 3.4


@dataclass(frozen=True)
class Plot:
    key: str
    title: str
    svg: str


@dataclass(frozen=True)
class Omitted:
    key: str
    title: str
    reason: str


def plots(report: ParityReport) -> tuple[list[Plot], list[Omitted]]:
    """Every plot with something to show, and for each left out the reason."""
    drawn: list[Plot] = []
    omitted: list[Omitted] = []
    for key, title, draw in _PLOTS:
        outcome = draw(report)
        if isinstance(outcome, str):
            omitted.append(Omitted(key, title, outcome))
        else:
            drawn.append(Plot(key, title, _svg(outcome, title)))
    return drawn, omitted


# -- what each plot shows -----------------------------------------------------------------------------------

Drawing = Callable[["Axes"], None]


def _details(report: ParityReport, name: str) -> dict[str, Any]:
    check = report.check(name)
    return dict(check.details) if check is not None else {}


def loss_points(curve: Sequence[dict[str, Any]]) -> tuple[str, list[float], list[float]]:
    """(unit, x, loss) of one task's events: per mini-batch step when recorded, else per epoch."""
    batches = [e for e in curve if e.get("event") == EventKind.MINI_BATCH_END and e.get("loss") is not None]
    if batches:
        return "optimizer step", [float(i + 1) for i in range(len(batches))], [float(e["loss"]) for e in batches]
    epochs = [e for e in curve if e.get("event") == EventKind.EPOCH_END and e.get("loss") is not None]
    return "epoch", [float(e["epoch"] + 1) for e in epochs], [float(e["loss"]) for e in epochs]


def _loss(report: ParityReport) -> Drawing | str:
    details = _details(report, "events")
    curves: dict[str, Any] = details.get("curves", {})
    judged = _distinct_curves(report, {k: loss_points(v) for k, v in curves.items() if k != "reference"})
    if not judged:
        return "no loss values were recorded (no miniBatchEnd or epochEnd events with a loss)"
    reference = loss_points(curves.get("reference", []))
    ensemble = [loss_points(member) for member in details.get("ensemble_curves", [])[:8]]
    values = [y for _, _, ys in (reference, *judged.values(), *ensemble) for y in ys]
    unit = next(iter(judged.values()))[0]

    def draw(ax: Axes) -> None:
        for index, (_, xs, ys) in enumerate(ensemble):
            label = None if index else "perturbed reference runs"
            ax.plot(xs, ys, color=ENSEMBLE, linewidth=0.8, alpha=0.7, label=label)
        if reference[1]:
            # Wide and pale underneath: a judged curve that coincides with it stays visible on top.
            ax.plot(reference[1], reference[2], color=REFERENCE, linewidth=5, alpha=0.35, label="reference")
        for index, (label, (_, xs, ys)) in enumerate(judged.items()):
            colour = DEVICE if not index else OTHER_TASKS[(index - 1) % len(OTHER_TASKS)]
            style = "-" if not index else (0, (4, 2 + index))  # later tasks dashed, each its own way
            marker = "o" if len(xs) <= 30 else None
            ax.plot(xs, ys, color=colour, linestyle=style, linewidth=1.3, label=label, marker=marker, markersize=3)
        _log_scale_if_wide(ax, values, "y")
        ax.set_xlabel(unit)
        ax.set_ylabel("loss")
        _integer_ticks(ax)
        ax.legend(loc="best", fontsize=8, frameon=False)

    return draw


def _distinct_curves(
    report: ParityReport, curves: dict[str, tuple[str, list[float], list[float]]]
) -> dict[str, tuple[str, list[float], list[float]]]:
    """One line per distinct curve: tasks with identical losses share a line and a label ("tasks 0, 1")."""
    who = "reference dry run" if report.dry_run else "device"
    groups: dict[tuple[float, ...], list[str]] = {}
    first: dict[tuple[float, ...], tuple[str, list[float], list[float]]] = {}
    for label, points in curves.items():
        if not points[1]:
            continue
        key = (*points[1], *points[2])
        groups.setdefault(key, []).append(label.rsplit(" ", 1)[-1])
        first.setdefault(key, points)
    distinct = {}
    for key, tasks in groups.items():
        name = f"{who} task {tasks[0]}" if len(tasks) == 1 else f"{who} tasks {', '.join(tasks)} (identical)"
        distinct[name] = first[key]
    return distinct


def _parameter_errors(report: ParityReport) -> Drawing | str:
    trajectory = _details(report, "trajectory").get("per_tensor")
    if trajectory:
        return _distance_bars(trajectory, _details(report, "trajectory").get("limit"))
    errors: dict[str, Any] = _details(report, "parameters").get("errors", {})
    if not errors:
        return "no parameters were compared"
    largest = {name: float(e["max_abs"] or 0.0) for name, e in errors.items()}
    if not any(largest.values()):
        return f"every updated parameter equals the reference's exactly ({len(largest)} tensors, largest error 0)"
    rms = {name: float(e.get("rms") or 0.0) for name, e in errors.items()}
    tolerance = _details(report, "parameters").get("tolerance") or {}

    def draw(ax: Axes) -> None:
        names = list(largest)
        positions = list(range(len(names)))
        left, right = [p - 0.2 for p in positions], [p + 0.2 for p in positions]
        ax.bar(left, [largest[n] for n in names], width=0.4, color=DEVICE, label="largest |error|")
        ax.bar(right, [rms[n] for n in names], width=0.4, color=REFERENCE, label="RMS error")
        atol = tolerance.get("atol")
        if isinstance(atol, int | float) and atol > 0:
            ax.axhline(atol, color="#1f2328", linestyle="--", linewidth=0.8, label=f"absolute tolerance {atol:.3g}")
        _log_scale_if_wide(ax, [v for v in (*largest.values(), *rms.values()) if v > 0], "y", always=True)
        for position, name in zip(positions, names, strict=True):
            if largest[name] == 0:  # no bar can show a zero on a log scale: say it
                ax.annotate(
                    "equal",
                    (position, 0),
                    xycoords=("data", "axes fraction"),
                    xytext=(0, 12),
                    textcoords="offset points",
                    ha="center",
                    fontsize=8,
                    color="#1a7f37",
                )
        ax.set_xticks(positions, [_short(n) for n in names], rotation=20, ha="right", fontsize=8)
        ax.set_ylabel("|device - reference|")
        ax.legend(loc="best", fontsize=8, frameon=False)

    return draw


def _distance_bars(per_tensor: dict[str, Any], limit: Any) -> Drawing:
    names = list(per_tensor)
    scores = [per_tensor[n].get("score") for n in names]
    finite = [s if s is not None and math.isfinite(s) else 0.0 for s in scores]

    def draw(ax: Axes) -> None:
        ax.bar(range(len(names)), finite, color=DEVICE)
        if isinstance(limit, int | float):
            ax.axhline(limit, color="#1f2328", linestyle="--", linewidth=0.8, label=f"limit {limit:g}")
            ax.legend(loc="best", fontsize=8, frameon=False)
        ax.set_xticks(range(len(names)), [_short(n) for n in names], rotation=20, ha="right", fontsize=8)
        ax.set_ylabel("distance from the ensemble\ncentre (spread units)")

    return draw


def _ensemble(report: ParityReport) -> Drawing | str:
    details = _details(report, "trajectory")
    members = [float(v) for v in details.get("member_scores", []) if v is not None and math.isfinite(v)]
    if not members:
        if report.level == "step":
            return "a step-level run is judged element by element against one reference run: there is no ensemble"
        return "the trajectory check recorded no ensemble"
    device = details.get("score")
    limit = details.get("limit")

    def draw(ax: Axes) -> None:
        ax.scatter(members, [0] * len(members), color=ENSEMBLE, s=40, label="each reference run vs the others")
        if isinstance(device, int | float) and math.isfinite(device):
            ax.scatter([device], [0], color=DEVICE, s=90, marker="D", label="judged results")
        if isinstance(limit, int | float):
            ax.axvline(limit, color="#1f2328", linestyle="--", linewidth=0.8, label=f"limit {limit:g}")
        ax.set_yticks([])
        ax.set_xlabel("distance from the ensemble centre (spread units)")
        ax.set_xlim(left=0)
        ax.legend(loc="upper right", fontsize=8, frameon=False)

    return draw


def _epoch_times(report: ParityReport) -> Drawing | str:
    per_epoch = [s for s in _details(report, "timing").get("per_epoch", []) if s]
    if not per_epoch:
        return "no epochEnd event times were recorded"
    whose = "reference trainer on this host" if report.dry_run else "device"

    def draw(ax: Axes) -> None:
        xs = list(range(1, len(per_epoch) + 1))
        medians = [s["median"] for s in per_epoch]
        low = [s["median"] - s["min"] for s in per_epoch]
        high = [s["max"] - s["median"] for s in per_epoch]
        ax.bar(xs, medians, color=DEVICE, yerr=[low, high], capsize=2, ecolor="#1f2328")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"seconds ({whose})")
        _integer_ticks(ax)

    return draw


def _memory(report: ParityReport) -> Drawing | str:
    memory = _details(report, "timing").get("memory", {})
    before = [(i, v) for i, v in enumerate(memory.get("before", [])) if v is not None]
    after = [(i, v) for i, v in enumerate(memory.get("after", [])) if v is not None]
    if not before and not after:
        return "no memory figures were recorded"

    def draw(ax: Axes) -> None:
        for points, label, colour in ((before, "before the task", REFERENCE), (after, "after the task", DEVICE)):
            if points:
                ax.plot([i + 1 for i, _ in points], [v / 1e6 for _, v in points], marker="o", color=colour, label=label)
        ax.set_xlabel("task (the job's repeats)")
        ax.set_ylabel("footprint (MB)")
        _integer_ticks(ax)
        ax.legend(loc="best", fontsize=8, frameon=False)

    return draw


_PLOTS: tuple[tuple[str, str, Callable[[ParityReport], Drawing | str]], ...] = (
    ("loss", "Loss as training went: judged results vs the reference", _loss),
    ("parameters", "How far each updated tensor is from the reference", _parameter_errors),
    ("ensemble", "The judged results among perturbed reference runs", _ensemble),
    ("epochs", "Time per epoch (median over tasks, bars from min to max)", _epoch_times),
    ("memory", "Memory footprint across the job's repeated tasks", _memory),
)


# -- drawing helpers ------------------------------------------------------------------------------------------


def _short(name: str, limit: int = 28) -> str:
    return name if len(name) <= limit else "…" + name[-(limit - 1) :]


def _log_scale_if_wide(ax: Axes, values: Sequence[float], axis: str, *, always: bool = False) -> None:
    """A log scale when the positive values span more than a factor of 20 (or `always` for errors)."""
    positive = [v for v in values if v > 0 and math.isfinite(v)]
    if len(positive) != len([v for v in values if math.isfinite(v)]) or not positive:
        return
    if always or max(positive) / min(positive) > 20:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")


def _integer_ticks(ax: Axes) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=10))


def _svg(draw: Drawing, title: str) -> str:
    from matplotlib import rcParams
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    rcParams["svg.fonttype"] = "none"  # text stays text
    rcParams["svg.hashsalt"] = "mlupdate"  # ids are stable from run to run
    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), layout="constrained")
    FigureCanvasSVG(figure)
    ax = figure.add_subplot()
    draw(ax)
    ax.set_title(title, fontsize=11, loc="left")
    ax.grid(True, color="#eaeef2", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return _inline(buffer.getvalue())


def _inline(document: str) -> str:
    """The SVG element for an HTML page: no XML declaration, DOCTYPE, RDF metadata or namespace declarations
    (the HTML parser puts inline SVG, and its `xlink:href`, in their namespaces by itself)."""
    text = document[document.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, count=1, flags=re.S)
    return re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text)
