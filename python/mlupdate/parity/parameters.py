"""Parameter checks: the device's updated weights against the reference (step level), and the app's parameter
dump against the model it wrote (read independently with the compiled-model reader)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlupdate.errors import MlupdateError
from mlupdate.parity.compare import Array, Comparison, compare_arrays, structure_problem
from mlupdate.parity.model_params import ParameterKey, model_parameters
from mlupdate.parity.tolerances import Precision, Tolerances
from mlupdate.parity.verdict import Check


def by_name(parameters: Mapping[ParameterKey, Array]) -> dict[str, Array]:
    """(scoped layer, kind) -> "scoped_layer.kind", the tensor names every report shows."""
    return {f"{layer}.{kind}": values for (layer, kind), values in parameters.items()}


def compare_parameters(
    reference: Mapping[ParameterKey, Array],
    device: Mapping[ParameterKey, Array],
    tolerances: Tolerances,
    *,
    steps: int,
    precision: Precision = "float32",
) -> Check:
    """Step level: every updated tensor within the tolerance for `steps` optimizer steps."""
    if not reference and not device:
        return Check("parameters", "skip", "parameters: none to compare (a k-NN update appends examples)")
    tol = tolerances.weights(steps, precision)
    result = compare_arrays(by_name(reference), by_name(device), tol, what="parameters")
    return _check("parameters", result, {"tolerance": tol.to_dict()})


def compare_parameter_structure(reference: Mapping[ParameterKey, Array], device: Mapping[ParameterKey, Array]) -> Check:
    """Trajectory level: the same tensors with the same shapes and dtypes (values are judged by the ensemble)."""
    problem = structure_problem(by_name(reference), by_name(device), what="parameters")
    if problem is not None:
        return Check("parameters", "fail", problem)
    return Check("parameters", "pass", f"parameters: the same {len(reference)} tensor(s), shapes and dtypes")


def compare_dump_with_model(
    model_path: Path | None, dump: Mapping[ParameterKey, Array], tolerances: Tolerances
) -> Check:
    """The app's parameter dump must equal the parameters of the model it wrote, read back independently."""
    if model_path is None:
        return Check("dump-vs-model", "skip", "no updated model in the results bundle")
    if not dump:
        return Check("dump-vs-model", "skip", "the results bundle holds no parameter dump")
    try:
        written, precision = model_parameters(model_path)
    except MlupdateError as exc:
        return Check(
            "dump-vs-model",
            "fail",
            f"dump-vs-model: the written model cannot be read back: {exc.what}",
            {"error": exc.to_dict()},
        )
    dumped = by_name(dump)
    expected = {name: values for name, values in by_name(written).items() if name in dumped}
    storage = {f"{layer}.{kind}": p for (layer, kind), p in precision.items()}

    def tolerance_for(name: str) -> Any:
        return tolerances.dump("float16" if storage.get(name) == "float16" else "float32")

    result = compare_arrays(expected, dumped, tolerance_for, what=f"dump vs {model_path.name}")
    return _check("dump-vs-model", result, {"model": str(model_path)})


def _check(name: str, result: Comparison, extra: dict[str, Any]) -> Check:
    return Check(name, "pass" if result.passed else "fail", result.message, result.to_dict() | extra)
