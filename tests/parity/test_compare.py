"""The one comparison helper checks names, then shape, then dtype, then values, and names the worst element;
probe outputs are compared through it by class."""

from __future__ import annotations

import numpy as np
import pytest

from mlupdate.bundle.results_reader import ProbeOutput
from mlupdate.parity.compare import compare_arrays
from mlupdate.parity.probe import compare_probes
from mlupdate.parity.tolerances import DEFAULT, OVERRIDES, Tolerance, for_case

TIGHT = Tolerance(rtol=1e-6, atol=0.0)


def arrays() -> dict[str, np.ndarray]:
    return {"a.weights": np.arange(6, dtype=np.float32).reshape(2, 3), "a.biases": np.ones(2, np.float32)}


def test_equal_arrays_pass() -> None:
    assert compare_arrays(arrays(), arrays(), TIGHT, what="p").passed


def test_names_are_checked_before_anything_else() -> None:
    got = arrays()
    del got["a.biases"]
    got["b.biases"] = np.zeros((5, 5), np.float64)
    result = compare_arrays(arrays(), got, TIGHT, what="p")
    assert result.message == "p: 2 tensor(s) instead of 2; missing ['a.biases']; unexpected ['b.biases']"


def test_shape_is_checked_before_dtype() -> None:
    got = arrays()
    got["a.weights"] = got["a.weights"].reshape(3, 2).astype(np.float64)
    assert compare_arrays(arrays(), got, TIGHT, what="p").message == "p: a.weights has shape [3, 2], expected [2, 3]"


def test_dtype_is_checked_before_values() -> None:
    got = arrays()
    got["a.biases"] = got["a.biases"].astype(np.float64) + 5
    assert compare_arrays(arrays(), got, TIGHT, what="p").message == "p: a.biases has dtype float64, expected float32"


def test_the_worst_element_is_named_with_its_index() -> None:
    got = arrays()
    got["a.weights"][1, 2] += 0.5
    got["a.weights"][0, 1] += 0.01
    result = compare_arrays(arrays(), got, TIGHT, what="p")
    assert not result.passed
    assert result.worst is not None
    assert (result.worst.tensor, result.worst.index) == ("a.weights", (1, 2))
    assert "a.weights[1,2]: expected 5, got 5.5" in result.message


def test_nan_on_one_side_fails_and_on_both_sides_agrees() -> None:
    got = arrays()
    got["a.biases"][1] = np.nan
    worst = compare_arrays(arrays(), got, TIGHT, what="p").worst
    assert worst is not None
    assert worst.index == (1,)
    both = arrays()
    both["a.biases"][1] = np.nan
    assert compare_arrays(both, got, TIGHT, what="p").passed


def test_relative_and_absolute_parts_of_the_tolerance_both_count() -> None:
    expected = {"x": np.array([0.0, 100.0], np.float32)}
    within = {"x": np.array([1e-6, 100.0009], np.float32)}
    assert compare_arrays(expected, within, Tolerance(rtol=1e-5, atol=2e-6), what="p").passed
    outside = {"x": np.array([1e-5, 100.0], np.float32)}
    assert not compare_arrays(expected, outside, Tolerance(rtol=1e-5, atol=2e-6), what="p").passed


def test_step_tolerance_grows_with_steps_and_precision() -> None:
    tolerances = for_case("default")
    assert tolerances.weights(10).rtol == pytest.approx(10 * tolerances.weights(1).rtol)
    assert tolerances.weights(1, "float16").rtol > tolerances.weights(1).rtol


def test_case_overrides_apply_only_to_their_case() -> None:
    assert for_case("adam").weight_rtol_per_step == OVERRIDES["adam"]["weight_rtol_per_step"]
    assert for_case("default").weight_rtol_per_step == DEFAULT.weight_rtol_per_step
    custom = for_case("x", overrides={"x": {"loss_atol": 0.5}})
    assert custom.loss_atol == 0.5


def test_probe_columns_in_another_class_order_are_matched_by_class() -> None:
    expected = ProbeOutput("probs", "dictionary", np.array([[0.7, 0.2, 0.1]], np.float32), ("cat", "dog", "fish"))
    reordered = ProbeOutput("probs", "dictionary", np.array([[0.1, 0.7, 0.2]], np.float32), ("fish", "cat", "dog"))
    assert (
        compare_probes({"probs": expected}, {"probs": reordered}, for_case("default"), gating=True)[0].status == "pass"
    )
    renamed = ProbeOutput("probs", "dictionary", reordered.values, ("fish", "cat", "cow"))
    check = compare_probes({"probs": expected}, {"probs": renamed}, for_case("default"), gating=True)[0]
    assert check.status == "fail"
    assert "classes" in check.message


def test_probe_differences_only_warn_at_trajectory_level() -> None:
    expected = ProbeOutput("label", "string", ["cat", "dog"], None)
    actual = ProbeOutput("label", "string", ["cat", "cat"], None)
    check = compare_probes({"label": expected}, {"label": actual}, for_case("default"), gating=False)[0]
    assert check.status == "warn"
    assert "example 1 predicts 'cat', expected 'dog'" in check.message


def test_identical_arrays_say_so_and_close_ones_name_the_element_nearest_its_tolerance() -> None:
    assert compare_arrays(arrays(), arrays(), TIGHT, what="p").message == "p: 2 tensor(s), all values identical"
    got = arrays()
    got["a.weights"][1, 1] *= np.float32(1 + 5e-7)
    message = compare_arrays(arrays(), got, TIGHT, what="p").message
    assert message.startswith("p: 2 tensor(s) within tolerance; closest to it a.weights[1,1]")
