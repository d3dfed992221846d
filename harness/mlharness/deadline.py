"""Blocking steps under a deadline, and a way for a step that overran to notice it has been given up on.

`run_with_deadline(step, seconds, what)` runs `step` in a worker thread and raises `JobTimeout` once `seconds` have
passed. A hung tool call cannot be interrupted from outside, so the worker keeps running; but its cancel flag is
set, and code that writes on the host (`mlharness.targets.files.copy_tree`) checks `cancelled()` between files and
chunks and stops. What a cancelled step had written lives in a staging folder that the caller removes: a step
that timed out can no longer write into the output.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from mlharness.errors import JobTimeout

T = TypeVar("T")

# No job may keep a runner (and a device) waiting for longer than a week: `deadline_seconds` x `repeat` above this
# is refused before anything runs (a bundle may say 1e300, and `time.monotonic() + inf` never passes).
MAX_JOB_SECONDS = 7 * 24 * 3600.0

_step = threading.local()


def cancelled() -> bool:
    """Whether the step running in this thread was given up on (always False outside `run_with_deadline`)."""
    flag: threading.Event | None = getattr(_step, "cancel", None)
    return flag is not None and flag.is_set()


def run_with_deadline(
    step: Callable[[], T], seconds: float, what: str, *, on_late: Callable[[T], None] | None = None
) -> T:
    """`step()`, or JobTimeout after `seconds`. `on_late(result)` runs in the worker if the step still finishes
    after the deadline (e.g. to close a session that was opened too late to be used)."""
    outcome: list[T] = []
    failure: list[BaseException] = []
    cancel = threading.Event()

    def call() -> None:
        _step.cancel = cancel
        try:
            result = step()
        except BaseException as exc:
            failure.append(exc)
            return
        outcome.append(result)
        if cancel.is_set() and on_late is not None:
            on_late(result)

    worker = threading.Thread(target=call, name=f"mlharness: {what}", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        cancel.set()
        raise JobTimeout(
            f"could not {what} within {seconds:g} s",
            where=what,
            fix="check that the target responds (mlharness doctor), then retry or raise the deadline",
        )
    if failure:
        raise failure[0]
    return outcome[0]
