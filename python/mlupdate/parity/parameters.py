"""Parameter checks: the device's updated weights against the reference (step level), and the app's parameter
dump against the model it wrote (read independently with the compiled-model reader)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlupdate.errors import MlupdateError
from mlupdate.parity.compare import Array, Comparison, compare_arrays, structure_problem
from mlupdate.parity.model_params import ParameterKey, model_parameters
from mlupdate.parity.tolerances import Precision, Tolerance, Tolerances
from mlupdate.parity.verdict import Check


def by_name(parameters: Mapping[ParameterKey, Array]) -> dict[str, Array]:
    """(scoped layer, kind) -> "scoped_layer.kind", the tensor names every report shows."""
    return {f"{layer}.{kind}": values for (layer, kind), values in parameters.items()}


def in_spec_layout(expected: Mapping[str, Array], actual: Mapping[str, Array]) -> tuple[dict[str, Array], list[str]]:
    """`actual` reshaped to the spec layout of `expected` where only the rank differs, and a note for each.

    The app dumps what `MLModel.parameterValue(for:)` returns, and whether Core ML hands back weights as
    `[out, in]`, flat, or padded with size-1 axes is not documented. The same element count and the same shape
    once size-1 axes are dropped (or a flat array) means the same row-major order, so it is compared in spec
    layout and the report says so. Anything else (a transposed `[in, out]`, say) is left alone and fails on shape.
    """
    aligned: dict[str, Array] = {}
    notes: list[str] = []
    for name, values in actual.items():
        reference = expected.get(name)
        if reference is not None and values.shape != reference.shape and values.size == reference.size:
            squeezed = tuple(d for d in values.shape if d != 1)
            if values.ndim == 1 or squeezed == tuple(d for d in reference.shape if d != 1):
                notes.append(f"{name}: dumped as {list(values.shape)}, compared as {list(reference.shape)}")
                values = values.reshape(reference.shape)
        aligned[name] = values
    return aligned, notes


def compare_parameters(
    reference: Mapping[ParameterKey, Array],
    device: Mapping[ParameterKey, Array],
    tolerances: Tolerances,
    *,
    steps: int,
    precision: Precision | Mapping[ParameterKey, Precision] = "float32",
) -> Check:
    """Step level: every updated tensor within the tolerance for `steps` optimizer steps, in the precision the
    device stored it (one for all, or per tensor: float16 compiled weights round to 11 significant bits)."""
    if not reference and not device:
        return Check("parameters", "skip", "parameters: none to compare (a k-NN update appends examples)")
    storage = {f"{layer}.{kind}": p for (layer, kind), p in precision.items()} if isinstance(precision, Mapping) else {}
    uniform: Precision = precision if isinstance(precision, str) else "float32"

    def tolerance_for(name: str) -> Tolerance:
        return tolerances.weights(steps, storage.get(name, uniform))

    expected = by_name(reference)
    actual, notes = in_spec_layout(expected, by_name(device))
    result = compare_arrays(expected, actual, tolerance_for, what="parameters")
    used = {name: tolerance_for(name).to_dict() for name in sorted(expected)}
    tolerance = next(iter(used.values()), tolerances.weights(steps, uniform).to_dict())
    extra: dict[str, Any] = {"tolerance": tolerance, "layout_notes": notes}
    if len({str(t) for t in used.values()}) > 1:
        extra["tolerance_per_tensor"] = used
    return _check("parameters", result, extra)


def compare_parameter_structure(reference: Mapping[ParameterKey, Array], device: Mapping[ParameterKey, Array]) -> Check:
    """Trajectory level: the same tensors with the same shapes and dtypes (values are judged by the ensemble)."""
    expected = by_name(reference)
    problem = structure_problem(expected, in_spec_layout(expected, by_name(device))[0], what="parameters")
    if problem is not None:
        return Check("parameters", "fail", problem)
    return Check("parameters", "pass", f"parameters: the same {len(reference)} tensor(s), shapes and dtypes")


def compare_dump_with_model(
    model_path: Path | None, dump: Mapping[ParameterKey, Array], tolerances: Tolerances
) -> Check:
    """The app's parameter dump must equal the parameters of the model it wrote, read back independently."""
    if model_path is None:
        return Check.not_recorded("dump-vs-model", "no updated model in the results")
    if not dump:
        return Check.not_recorded("dump-vs-model", "no parameter dump beside the model")
    try:
        written, precision = model_parameters(model_path)
    except MlupdateError as exc:
        return Check(
            "dump-vs-model",
            "fail",
            f"dump-vs-model: the written model cannot be read back: {exc.what}",
            {"error": exc.to_dict()},
        )
    expected = {name: values for name, values in by_name(written).items() if name in by_name(dump)}
    dumped, notes = in_spec_layout(expected, by_name(dump))
    storage = {f"{layer}.{kind}": p for (layer, kind), p in precision.items()}

    def tolerance_for(name: str) -> Tolerance:
        return tolerances.dump("float16" if storage.get(name) == "float16" else "float32")

    result = compare_arrays(expected, dumped, tolerance_for, what=f"dump vs {model_path.name}")
    used = {name: tolerance_for(name).to_dict() for name in sorted(expected)}
    return _check(
        "dump-vs-model", result, {"model": str(model_path), "layout_notes": notes, "tolerance_per_tensor": used}
    )


def compare_dump_paths(
    primary: Mapping[ParameterKey, Array], cross_check: Mapping[ParameterKey, Array], tolerances: Tolerances
) -> Check:
    """The app's two reads of the updated layers must agree: `context.model` in the completion handler (the
    primary dump) and the model it wrote, loaded again (the cross-check). Both come from the same trained
    model, so float32 values must be equal; a difference means the written model is not the trained one (or one
    read is wrong), and every check built on either dump is in doubt."""
    if not cross_check:
        return Check("dump-paths", "skip", "dump-paths: the app read the updated layers once (no cross-check)")
    if not primary:
        return Check("dump-paths", "skip", "dump-paths: no dump from context.model to cross-check")
    result = compare_arrays(
        by_name(primary), by_name(cross_check), tolerances.dump("float32"), what="context dump vs reloaded dump"
    )
    if result.passed:
        return _check("dump-paths", result, {"primary": "context", "cross_check": "reloaded"})
    tensor = result.worst.tensor if result.worst is not None else None
    worst = f" ({tensor}: max |difference| {result.errors[tensor].max_abs:.3g})" if tensor in result.errors else ""
    message = (
        "dump-paths: the updated parameters read from context.model in the completion handler differ from those "
        f"read back from the model the app wrote{worst}: the written model is not the model that was trained, "
        f"so the saved update would not be what the user gets. {result.message}"
    )
    return Check("dump-paths", "fail", message, result.to_dict() | {"primary": "context", "cross_check": "reloaded"})


def _check(name: str, result: Comparison, extra: dict[str, Any]) -> Check:
    return Check(name, "pass" if result.passed else "fail", result.message, result.to_dict() | extra)
