"""A device's parameter dump in another rank is compared in spec layout; a transposed one still fails."""

from __future__ import annotations

import numpy as np

from mlupdate.parity.parameters import compare_parameters
from mlupdate.parity.tolerances import for_case

REFERENCE = {("dense", "weights"): np.arange(6, dtype=np.float32).reshape(2, 3)}


def test_flat_dump_is_compared_in_spec_layout_and_noted() -> None:
    device = {("dense", "weights"): np.arange(6, dtype=np.float32)}
    check = compare_parameters(REFERENCE, device, for_case("default"), steps=1)
    assert check.status == "pass"
    assert check.details["layout_notes"] == ["dense.weights: dumped as [6], compared as [2, 3]"]


def test_rank_padded_dump_is_compared_in_spec_layout() -> None:
    device = {("dense", "weights"): np.arange(6, dtype=np.float32).reshape(1, 2, 3, 1, 1)}
    assert compare_parameters(REFERENCE, device, for_case("default"), steps=1).status == "pass"


def test_transposed_dump_fails_on_shape() -> None:
    device = {("dense", "weights"): np.arange(6, dtype=np.float32).reshape(2, 3).T.copy()}
    check = compare_parameters(REFERENCE, device, for_case("default"), steps=1)
    assert check.status == "fail"
    assert "shape" in check.message


def test_flat_dump_with_a_changed_value_still_fails() -> None:
    values = np.arange(6, dtype=np.float32)
    values[4] += 0.5
    check = compare_parameters(REFERENCE, {("dense", "weights"): values}, for_case("default"), steps=1)
    assert check.status == "fail"
    assert "dense.weights[1,1]" in check.message
