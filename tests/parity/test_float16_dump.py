"""dump-vs-model with float16 weights: a model that stores its updated weights as float16 holds the app's
float32 dump rounded once to 11 significant bits, and the check allows exactly that (`dump_rtol_float16`),
read from how the written model stores each tensor; float32 storage stays exact."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from mlupdate.parity.parameters import compare_dump_with_model
from mlupdate.parity.tolerances import for_case

DEFAULT = for_case("default")
LAYERS = ("drawing_dense0_fwd", "drawing_dense1_fwd")  # the MNIST classifier's dense layers


@pytest.fixture
def dump(reference_ingredients: Any) -> dict[tuple[str, str], np.ndarray]:
    """What the app read from the trained model in memory: float32 weights, not yet stored."""
    parameters: dict[tuple[str, str], np.ndarray] = reference_ingredients.parameters
    return parameters


def rounded(dump: dict[tuple[str, str], np.ndarray]) -> dict[tuple[str, str], np.ndarray]:
    return {key: values.astype(np.float16).astype(np.float32) for key, values in dump.items()}


def test_a_float16_model_holds_the_dump_rounded_once_and_passes(
    written_model: Any, dump: dict[tuple[str, str], np.ndarray]
) -> None:
    model = written_model("Half.mlmodel", dump, float16=True)
    check = compare_dump_with_model(model, dump, DEFAULT)
    assert check.status == "pass", check.message
    assert check.details["errors"][f"{LAYERS[0]}.weights"]["max_abs"] > 0  # the rounding is really there
    per_tensor = check.details["tolerance_per_tensor"]
    assert "float16" in per_tensor[f"{LAYERS[0]}.weights"]["reason"]
    assert per_tensor[f"{LAYERS[0]}.weights"]["rtol"] == DEFAULT.dump_rtol_float16
    assert "float32" in per_tensor[f"{LAYERS[0]}.biases"]["reason"]  # biases stayed float32


def test_without_the_float16_entry_the_same_model_fails(
    written_model: Any, dump: dict[tuple[str, str], np.ndarray]
) -> None:
    model = written_model("Half.mlmodel", dump, float16=True)
    exact = dataclasses.replace(DEFAULT, dump_rtol_float16=0.0)
    check = compare_dump_with_model(model, dump, exact)
    assert check.status == "fail"
    assert check.details["worst"]["tensor"].endswith(".weights")


def test_float16_rounding_in_a_float32_model_fails(written_model: Any, dump: dict[tuple[str, str], np.ndarray]) -> None:
    # The precision comes from the written model's storage: float32 storage of rounded values is a different
    # model, not a float16 one, and must be exact.
    model = written_model("Rounded.mlmodel", rounded(dump), float16=False)
    check = compare_dump_with_model(model, dump, DEFAULT)
    assert check.status == "fail"
    assert "float32" in check.details["tolerance_per_tensor"][f"{LAYERS[0]}.weights"]["reason"]


def test_a_dump_further_off_than_one_float16_rounding_fails(
    written_model: Any, dump: dict[tuple[str, str], np.ndarray]
) -> None:
    # Four float16 steps away: a model that is not the one the app dumped, even allowing for the rounding.
    moved = {key: values * np.float32(1 + 2.0**-9) for key, values in dump.items()}
    model = written_model("Half.mlmodel", moved, float16=True)
    check = compare_dump_with_model(model, dump, DEFAULT)
    assert check.status == "fail"
    assert check.details["worst"]["tensor"] in {f"{layer}.weights" for layer in LAYERS}


def test_one_float16_rounding_is_allowed_at_every_magnitude_and_more_is_not() -> None:
    # From float16's subnormals (below 6.1e-5 the rounding is absolute, up to 2^-25) to its largest values.
    rng = np.random.default_rng(7)
    values = (rng.choice([-1, 1], 20_000) * 10.0 ** rng.uniform(-8, 4.8, 20_000)).astype(np.float32)
    stored = values.astype(np.float16).astype(np.float64)
    tolerance = DEFAULT.dump("float16")
    allowed = tolerance.atol + tolerance.rtol * np.abs(stored)
    assert np.all(np.abs(values - stored) <= allowed)
    subnormal = np.abs(stored) < 2.0**-14
    assert np.any(np.abs(values - stored)[subnormal] > tolerance.rtol * np.abs(stored)[subnormal])  # atol needed
    twice = np.abs(values - stored) * 2.5  # further off than one rounding can be
    assert np.mean(twice > allowed) > 0.1
