"""The real subprocess runner: argv lists, deadlines, failures as ToolError, background children stopped."""

from __future__ import annotations

import sys
import time

import pytest

from mlharness.errors import ToolError, ToolTimeout
from mlharness.process import SubprocessRunner

PY = sys.executable


def test_a_command_returns_its_output() -> None:
    done = SubprocessRunner().run([PY, "-c", "print('hello')"], timeout=30)
    assert done.stdout == "hello\n"
    assert done.argv == (PY, "-c", "print('hello')")


def test_a_non_zero_exit_is_a_tool_error_with_argv_code_and_stderr() -> None:
    with pytest.raises(ToolError) as caught:
        SubprocessRunner().run([PY, "-c", "import sys; sys.stderr.write('boom'); sys.exit(149)"], timeout=30)

    assert caught.value.returncode == 149
    assert caught.value.stderr == "boom"
    assert caught.value.argv[0] == PY
    assert "exited with code 149" in caught.value.message


def test_a_command_past_its_deadline_is_killed_and_reported() -> None:
    with pytest.raises(ToolTimeout, match=r"did not finish within 0\.5 s"):
        SubprocessRunner().run([PY, "-c", "import time; time.sleep(60)"], timeout=0.5)


def test_a_missing_tool_says_so() -> None:
    with pytest.raises(ToolError, match="cannot start xcrun-that-does-not-exist"):
        SubprocessRunner().run(["xcrun-that-does-not-exist", "simctl"], timeout=5)


def test_environment_is_added_to_the_inherited_one() -> None:
    code = "import os; print(os.environ['SIMCTL_CHILD_MLHARNESS_JOB'], 'PATH' in os.environ)"
    done = SubprocessRunner().run([PY, "-c", code], timeout=30, env={"SIMCTL_CHILD_MLHARNESS_JOB": "j1"})
    assert done.stdout.split() == ["j1", "True"]


def test_a_background_child_is_stopped_and_its_output_kept() -> None:
    code = "import sys, time\nprint('line 1', flush=True)\ntime.sleep(60)"
    child = SubprocessRunner().start([PY, "-c", code])
    for _ in range(200):  # wait for the child to print, without a timing assertion
        if "line 1" in child.output():
            break
        time.sleep(0.05)

    assert child.stop() == "line 1\n"


def test_a_command_that_prints_more_than_the_limit_is_stopped_and_reported() -> None:
    # Without the limit a command printing without end (`yes`) filled memory until its deadline.
    code = "import sys, time\nsys.stdout.write('y\\n' * (2 << 20)); sys.stdout.flush(); time.sleep(60)"
    with pytest.raises(ToolError, match=r"printed more than 1048576 bytes on stdout") as caught:
        SubprocessRunner(output_limit=1 << 20).run([PY, "-c", code], timeout=30)

    assert not isinstance(caught.value, ToolTimeout)
    assert caught.value.argv[0] == PY


def test_a_flood_on_stderr_is_stopped_too_and_the_error_keeps_its_tail_only() -> None:
    code = "import sys\nsys.stderr.write('e' * (1 << 20))"
    with pytest.raises(ToolError, match="on stderr") as caught:
        SubprocessRunner(output_limit=1 << 16).run([PY, "-c", code], timeout=30)

    assert 0 < len(caught.value.stderr) <= 1 << 16


def test_a_background_child_keeps_only_the_tail_of_what_it_printed() -> None:
    code = "for i in range(300_000): print(f'line {i}')"  # about 3.4 MB
    child = SubprocessRunner(kept_output=1 << 20).start([PY, "-c", code])

    give_up = time.monotonic() + 120
    while child.poll() is None and time.monotonic() < give_up:
        time.sleep(0.05)
    text = child.stop()

    assert len(text.encode()) <= 1 << 20
    assert text.endswith("line 299999\n")
    assert text.splitlines()[0].startswith("line ")  # cut at a line boundary
