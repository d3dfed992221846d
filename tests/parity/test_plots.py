"""The report's plots: drawn by matplotlib only when there is data, left out with one reason otherwise; short
and coinciding curves stay visible; wide ranges get a log scale."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from mlupdate.contract import DeviceInfo
from mlupdate.parity.plots import DEVICE, REFERENCE, plots
from mlupdate.parity.provenance import Provenance
from mlupdate.parity.report import ParityReport, RunFigures
from mlupdate.parity.verdict import Check, SemanticsInfo


def event(name: str, loss: float | None, epoch: int = 0, batch: int | None = None) -> dict[str, Any]:
    return {"event": name, "epoch": epoch, "mini_batch": batch, "loss": loss, "t": 0.0}


def report(*checks: Check, level: str = "step") -> ParityReport:
    device = DeviceInfo("iPhone", "iPhone16,1", "iOS", "18.5", "22F76", is_simulator=False)
    provenance = Provenance("j", "companion-ios 1", "iPhone", "iPhone16,1", "iOS 18.5", False, *([None] * 5))
    return ParityReport(
        job_id="j",
        case="default",
        level=level,  # type: ignore[arg-type]
        steps=1,
        passed=True,
        dry_run=False,
        summary="",
        basis="",
        rests_on=(),
        not_recorded=(),
        device=device,
        producer=None,
        provenance=provenance,
        semantics=SemanticsInfo((), "iOS 18.5", None, ""),
        tolerances={},
        checks=checks,
        figures=RunFigures(1, None, None, None),
        generated_by="test",
        generated_at="2026-01-01T00:00:00+00:00",
    )


def events_check(reference: list[dict[str, Any]], *tasks: list[dict[str, Any]]) -> Check:
    curves = {"reference": reference} | {f"device task {i}": curve for i, curve in enumerate(tasks)}
    return Check("events", "pass", "events", {"curves": curves})


def test_a_report_without_data_draws_no_plot_and_says_why_once_for_each() -> None:
    drawn, omitted = plots(report())
    assert drawn == []
    assert [item.key for item in omitted] == ["loss", "parameters", "ensemble", "epochs", "memory"]
    assert "step-level run is judged element by element" in omitted[2].reason


def test_a_one_step_loss_curve_is_drawn_as_a_visible_point() -> None:
    one = [event("miniBatchEnd", 4.4, batch=0)]
    (loss,), _ = plots(report(events_check(one, one)))
    assert loss.key == "loss" and "<path" in loss.svg and "<use" in loss.svg  # the marker of a single point
    assert DEVICE in loss.svg.lower() and REFERENCE in loss.svg.lower()


def test_identical_device_tasks_share_a_line_and_a_different_one_gets_its_own() -> None:
    curve = [event("miniBatchEnd", 2.0 - 0.1 * i, batch=i) for i in range(5)]
    other = [event("miniBatchEnd", 2.0 - 0.2 * i, batch=i) for i in range(5)]
    (same,), _ = plots(report(events_check(curve, curve, curve)))
    assert "device tasks 0, 1 (identical)" in same.svg
    (apart,), _ = plots(report(events_check(curve, curve, other)))
    assert "device task 0" in apart.svg and "device task 1" in apart.svg and "(identical)" not in apart.svg


@pytest.mark.parametrize(("losses", "log"), [([100.0, 10.0, 1.0, 0.01], True), ([2.0, 1.9, 1.7, 1.6], False)])
def test_a_loss_spanning_decades_is_drawn_on_a_log_scale(losses: list[float], log: bool) -> None:
    curve = [event("miniBatchEnd", value, batch=i) for i, value in enumerate(losses)]
    (loss,), _ = plots(report(events_check(curve, curve)))
    assert ("10^{" in loss.svg or "10<tspan" in loss.svg or "mathdefault" in loss.svg) is log


def test_parameter_errors_are_bars_and_exact_tensors_are_said_to_be_equal() -> None:
    errors = {"dense.weights": {"max_abs": 0.01, "rms": 0.001}, "dense.biases": {"max_abs": 0.0, "rms": 0.0}}
    check = Check("parameters", "fail", "parameters", {"errors": errors, "tolerance": {"atol": 1e-6, "rtol": 1e-5}})
    (bars,), _ = plots(report(check))
    assert "equal" in bars.svg and "absolute tolerance 1e-06" in bars.svg
    exact = dataclasses.replace(check, details={"errors": {"dense.biases": {"max_abs": 0.0, "rms": 0.0}}})
    drawn, omitted = plots(report(exact))
    assert drawn == [] and "equals the reference's exactly" in omitted[1].reason


def test_plots_are_the_same_bytes_for_the_same_report() -> None:
    curve = [event("miniBatchEnd", 2.0 - 0.1 * i, batch=i) for i in range(5)]
    first, _ = plots(report(events_check(curve, curve)))
    second, _ = plots(report(events_check(curve, curve)))
    assert first == second
