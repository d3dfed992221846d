"""Probe predictions after training: top-1 agreement and value differences for arrays and probabilities,
example-by-example equality for predicted labels (network classifiers and k-NN alike)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlupdate.contract import ProbeOutput, ProbeType
from mlupdate.parity.compare import Array, compare_arrays
from mlupdate.parity.tolerances import Tolerance, Tolerances
from mlupdate.parity.verdict import Check


def compare_probes(
    reference: Mapping[str, ProbeOutput], device: Mapping[str, ProbeOutput], tolerances: Tolerances, *, gating: bool
) -> list[Check]:
    """One check per reference output. At trajectory level (`gating=False`) differences only warn: after a
    chaotic run the device's model is another member of the ensemble, not the reference's twin."""
    if reference and not device:
        return [
            Check.not_recorded(f"probe:{name}", "the results hold no probe predictions") for name in sorted(reference)
        ]
    checks = []
    for name in sorted(reference):
        check = _compare_output(reference[name], device.get(name), tolerances)
        if check.failed and not gating:
            check = Check(check.name, "warn", check.message + " (trajectory level: not gating)", check.details)
        checks.append(check)
    for name in sorted(set(device) - set(reference)):
        checks.append(Check(f"probe:{name}", "fail", f"probe: output {name!r} is not among the reference's"))
    return checks


def _compare_output(expected: ProbeOutput, actual: ProbeOutput | None, tolerances: Tolerances) -> Check:
    name = f"probe:{expected.name}"
    if actual is None:
        return Check(name, "fail", f"probe: output {expected.name!r} is missing from the device's results")
    if actual.type != expected.type:
        return Check(name, "fail", f"{name}: type {actual.type}, expected {expected.type}")
    if not expected.type.is_array:
        return _compare_labels(name, list(expected.values), list(actual.values))
    exp, act = np.asarray(expected.values), np.asarray(actual.values)
    if expected.classes is not None:
        reordered = _reorder(act, actual.classes, expected.classes)
        if reordered is None:
            return Check(name, "fail", f"{name}: classes {actual.classes}, expected {expected.classes}")
        act = reordered
    tol = tolerances.probe_probabilities() if expected.type is ProbeType.DICTIONARY else _value_tolerance(tolerances)
    result = compare_arrays({expected.name: exp}, {expected.name: act}, tol, what=name)
    details: dict[str, Any] = result.to_dict() | {"tolerance": tol.to_dict()}
    if not result.passed:
        return Check(name, "fail", result.message, details)
    return _top1(name, exp, act, tolerances.probe_top1_margin, details, result.message)


def _value_tolerance(tolerances: Tolerances) -> Tolerance:
    return Tolerance(tolerances.probe_value_rtol, tolerances.probe_value_atol, "prediction may run in float16")


def _reorder(values: Array, got: Sequence[Any] | None, wanted: Sequence[Any]) -> Array | None:
    if got is None or sorted(map(str, got)) != sorted(map(str, wanted)) or values.ndim != 2:
        return None
    column = {str(label): index for index, label in enumerate(got)}
    return values[:, [column[str(label)] for label in wanted]]


def _top1(name: str, exp: Array, act: Array, margin: float, details: dict[str, Any], message: str) -> Check:
    if exp.ndim != 2 or exp.shape[1] < 2:
        return Check(name, "pass", message, details)
    want, got = exp.argmax(axis=1), act.argmax(axis=1)
    ordered = np.sort(exp, axis=1)
    clear = (ordered[:, -1] - ordered[:, -2]) > margin
    agree = float(np.mean(want == got)) if len(want) else 1.0
    details |= {"top1_agreement": agree, "examples": len(want)}
    flipped = np.flatnonzero((want != got) & clear)
    if flipped.size:
        row = int(flipped[0])
        return Check(
            name,
            "fail",
            f"{name}: top-1 differs for {flipped.size} example(s) with a clear margin; example {row} predicts "
            f"column {int(got[row])}, expected {int(want[row])} (top-1 agreement {agree:.1%})",
            details,
        )
    return Check(name, "pass", f"{message}; top-1 agreement {agree:.1%}", details)


def _compare_labels(name: str, expected: list[Any], actual: list[Any]) -> Check:
    details: dict[str, Any] = {"examples": len(expected)}
    if len(expected) != len(actual):
        return Check(name, "fail", f"{name}: {len(actual)} prediction(s), expected {len(expected)}", details)
    wrong = [i for i, (e, a) in enumerate(zip(expected, actual, strict=True)) if e != a]
    details["top1_agreement"] = 1 - len(wrong) / len(expected) if expected else 1.0
    if wrong:
        row = wrong[0]
        return Check(
            name,
            "fail",
            f"{name}: {len(wrong)} of {len(expected)} prediction(s) differ; example {row} predicts "
            f"{actual[row]!r}, expected {expected[row]!r}",
            details,
        )
    return Check(name, "pass", f"{name}: all {len(expected)} prediction(s) agree", details)
