"""Memory growth across repeats is reported as a series with a leak verdict; contaminated tasks do not count."""

from __future__ import annotations

from mlupdate.contract import TaskRecord, TaskStatus
from mlupdate.parity.timing import memory_verdict, summarize_timing
from mlupdate.parity.tolerances import DEFAULT

MB = 1_000_000
WARN = DEFAULT.memory_growth_warn_bytes_per_task


def tasks(after: list[int], contaminated: tuple[int, ...] = ()) -> list[TaskRecord]:
    return [
        TaskRecord(
            i, TaskStatus.SUCCEEDED, memory_before_bytes=100 * MB, memory_after_bytes=a, contaminated=i in contaminated
        )
        for i, a in enumerate(after)
    ]


def test_steady_growth_like_the_seed_story_is_a_leak() -> None:
    verdict = memory_verdict(tasks([300 * MB, 550 * MB, 800 * MB, 1050 * MB]), WARN)
    assert verdict.verdict == "leak"
    assert verdict.growth_per_task_bytes is not None and round(verdict.growth_per_task_bytes / MB) == 250
    assert [point["growth_bytes"] for point in verdict.series] == [200 * MB, 450 * MB, 700 * MB, 950 * MB]


def test_a_flat_footprint_is_no_leak() -> None:
    assert memory_verdict(tasks([300 * MB, 302 * MB, 299 * MB, 301 * MB]), WARN).verdict == "no-leak"


def test_one_spike_is_not_called_a_leak() -> None:
    verdict = memory_verdict(tasks([300 * MB, 900 * MB, 310 * MB, 305 * MB, 900 * MB]), WARN)
    assert verdict.verdict == "undetermined" and "noisy" in verdict.reason


def test_too_few_tasks_cannot_be_judged() -> None:
    verdict = memory_verdict(tasks([300 * MB, 800 * MB]), WARN)
    assert verdict.verdict == "undetermined" and "raise the job's repeat" in verdict.reason


def test_contaminated_tasks_are_left_out_of_the_verdict_and_the_spreads() -> None:
    # Task 1 overlapped a cancelled task 0 that was still running: its footprint is not its own.
    series = tasks([300 * MB, 2000 * MB, 301 * MB, 302 * MB], contaminated=(1,))
    assert memory_verdict(series, WARN).verdict == "no-leak"
    check = summarize_timing(series, [], DEFAULT)
    assert check.details["contaminated_tasks"] == [1]
    assert "task(s) [1] left out" in check.message and check.status == "pass"


def test_a_leak_warns_in_the_timing_check() -> None:
    check = summarize_timing(tasks([300 * MB, 550 * MB, 800 * MB]), [], DEFAULT)
    assert check.status == "warn" and "leak verdict: leak" in check.message
    assert check.details["memory"]["verdict"] == "leak" and len(check.details["memory"]["series"]) == 3
