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
