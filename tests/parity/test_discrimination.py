"""The discrimination suite at test size: every known-wrong alternative fails trajectory parity with its knob
named as the likely cause, and perturbed runs of the true semantics pass. The full-size table (and the false-
failure rate over 300 runs per suite) is `python -m mlupdate.parity.discrimination`."""

from __future__ import annotations

import pytest

from mlupdate.parity.discrimination import SUITES, run_suite, table, upper_bound

TRIALS = 30


@pytest.mark.parametrize("name", sorted(SUITES))
def test_every_alternative_fails_naming_its_knob_and_true_runs_pass(name: str) -> None:
    result = run_suite(SUITES[name]("small"), trials=TRIALS, workers=1)
    knobs = {row.alternative.knob for row in result.alternatives if row.alternative is not None}
    expected = {"partial_batch", "shuffle_schedule", "shuffle_engine", "seed"}
    expected |= {"batch_reduction", "mse_scale", "mse_gradient_factor"} if name == "mse" else {"cce_reduction"}
    assert knobs == expected
    for row in result.alternatives:
        assert not row.passed, table(result)
        assert row.named, f"{row.alternative}: likely cause {row.likely_cause}"
        assert row.score > 10 * result.limit  # far beyond the limit: the check has power to spare here
    assert len(result.truth) == TRIALS
    assert result.false_failures == 0, table(result)
    assert max(result.truth) < result.limit
    printed = table(result)
    assert "False failures: 0 of 30 true runs" in printed and "| true semantics, 30 perturbed runs |" in printed


def test_the_upper_bound_of_a_rate_is_clopper_pearson() -> None:
    assert upper_bound(0, 200) == pytest.approx(1 - 0.05 ** (1 / 200), rel=1e-6)  # 1.49%
    assert upper_bound(1, 100) == pytest.approx(0.0466, abs=5e-4)
    assert upper_bound(5, 5) == 1.0
