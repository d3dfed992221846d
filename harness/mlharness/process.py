"""Run external commands (xcrun simctl, xcrun devicectl) as argv lists under a deadline.

Everything that shells out goes through a `ProcessRunner`, so the simctl/devicectl layers can be tested against
a fake runner that replays recorded output. The real runner logs each command with its pid, never uses a shell,
and turns a non-zero exit or an expired deadline into `ToolError` / `ToolTimeout`.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from mlharness.errors import ToolError, ToolTimeout

log = logging.getLogger(__name__)

# How long a stopped background process gets to exit after SIGTERM before it is killed.
_STOP_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class Completed:
    """A command that ran to completion with exit code 0."""

    argv: tuple[str, ...]
    stdout: str
    stderr: str


class Background(Protocol):
    """A long-running child (e.g. `log stream`) that the caller must stop itself."""

    def output(self) -> str:
        """Everything the child wrote to stdout so far."""
        ...

    def stop(self) -> str:
        """Terminate the child (kill it if it lingers) and return its whole stdout."""
        ...


class ProcessRunner(Protocol):
    """Runs argv lists; the seam between target code and the operating system."""

    def run(self, argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None) -> Completed:
        """Run to completion; raise `ToolError` on a non-zero exit, `ToolTimeout` past `timeout` seconds."""
        ...

    def start(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> Background:
        """Start a child that runs until stopped; its stdout is collected for `Background.output`."""
        ...


def _environment(extra: Mapping[str, str] | None) -> dict[str, str] | None:
    return None if extra is None else {**os.environ, **extra}


class BackgroundProcess:
    """A started child (`SubprocessRunner.start`): a `Background`, plus its pid and exit status."""

    def __init__(self, process: subprocess.Popen[bytes], sink: IO[bytes], argv: Sequence[str]) -> None:
        self._process = process
        self._sink = sink
        self._argv = list(argv)

    @property
    def pid(self) -> int:
        return self._process.pid

    def poll(self) -> int | None:
        """The exit code, or None while it runs."""
        return self._process.poll()

    def output(self) -> str:
        self._sink.flush()
        return Path(self._sink.name).read_bytes().decode("utf-8", errors="replace")

    def stop(self) -> str:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=_STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=_STOP_GRACE_SECONDS)
        log.debug("stopped pid %s (%s), exit %s", self._process.pid, self._argv[0], self._process.returncode)
        text = self.output()
        self._sink.close()
        return text


class SubprocessRunner:
    """The real `ProcessRunner`: `subprocess.Popen` with argv lists, never a shell."""

    def run(self, argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None) -> Completed:
        args = list(argv)
        try:
            process = subprocess.Popen(
                args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=_environment(env)
            )
        except OSError as exc:
            raise ToolError(
                args, None, str(exc), what=f"cannot start {args[0]}", fix=f"install {args[0]} or put it on PATH"
            ) from exc
        log.info("run pid %s: %s", process.pid, " ".join(args))
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            raise ToolTimeout(
                args,
                None,
                err.decode("utf-8", errors="replace"),
                what=f"did not finish within {timeout:g} s and was killed",
                fix="check that the device or Simulator responds, then retry with a longer deadline",
            ) from None
        stdout, stderr = out.decode("utf-8", errors="replace"), err.decode("utf-8", errors="replace")
        if process.returncode != 0:
            raise ToolError(args, process.returncode, stderr)
        return Completed(tuple(args), stdout, stderr)

    def start(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> BackgroundProcess:
        args = list(argv)
        # A file, not a pipe: a chatty child must never block on a full pipe nobody is reading yet.
        sink = tempfile.NamedTemporaryFile(prefix="mlharness-", suffix=".log")  # noqa: SIM115 (closed in stop())
        try:
            process = subprocess.Popen(
                args, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=_environment(env)
            )
        except OSError as exc:
            sink.close()
            raise ToolError(
                args, None, str(exc), what=f"cannot start {args[0]}", fix=f"install {args[0]} or put it on PATH"
            ) from exc
        log.info("started pid %s: %s", process.pid, " ".join(args))
        return BackgroundProcess(process, sink, args)


@dataclass(frozen=True)
class Reply:
    """A recorded answer to one command: what it printed, its exit code, and any `--json-output` file it wrote."""

    stdout: str = ""
    stderr: str = ""
    returncode: int = 0
    json_output: str | None = None
    hangs: bool = False


class ScriptedRunner:
    """A `ProcessRunner` that replays recorded replies instead of running anything.

    Rules map an argv prefix to a reply (or a list consumed in order, the last one repeating); the longest
    matching prefix wins. Unmatched commands fail like a missing tool. Every call is kept in `calls`.
    """

    def __init__(self, rules: Mapping[tuple[str, ...], Reply | Sequence[Reply]], *, background: str = "") -> None:
        self._rules = {prefix: [reply] if isinstance(reply, Reply) else list(reply) for prefix, reply in rules.items()}
        self._background = background
        self.calls: list[tuple[list[str], dict[str, str]]] = []
        self.started: list[_ScriptedBackground] = []

    def run(self, argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None) -> Completed:
        args = list(argv)
        self.calls.append((args, dict(env or {})))
        reply = self._reply(args)
        if reply.hangs:
            raise ToolTimeout(args, None, "", what=f"did not finish within {timeout:g} s and was killed")
        if reply.json_output is not None and "--json-output" in args:
            Path(args[args.index("--json-output") + 1]).write_text(reply.json_output, encoding="utf-8")
        if reply.returncode != 0:
            raise ToolError(args, reply.returncode, reply.stderr)
        return Completed(tuple(args), reply.stdout, reply.stderr)

    def start(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> Background:
        self.calls.append((list(argv), dict(env or {})))
        child = _ScriptedBackground(self._background)
        self.started.append(child)
        return child

    def _reply(self, argv: list[str]) -> Reply:
        matches = [prefix for prefix in self._rules if tuple(argv[: len(prefix)]) == prefix]
        if not matches:
            return Reply(stderr=f"{argv[0]}: no recorded reply for this command", returncode=127)
        replies = self._rules[max(matches, key=len)]
        return replies.pop(0) if len(replies) > 1 else replies[0]


class _ScriptedBackground:
    def __init__(self, text: str) -> None:
        self.text = text
        self.stopped = False

    def output(self) -> str:
        return self.text

    def stop(self) -> str:
        self.stopped = True
        return self.text
