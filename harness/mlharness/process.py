"""Run external commands (xcrun simctl, xcrun devicectl) as argv lists under a deadline.

Everything that shells out goes through a `ProcessRunner`, so the simctl/devicectl layers can be tested against
a fake runner that replays recorded output. The real runner logs each command with its pid, never uses a shell,
and turns a non-zero exit or an expired deadline into `ToolError` / `ToolTimeout`.

What a tool prints is bounded like any device output: a command that prints more than `TOOL_OUTPUT_BYTES` on
either stream is killed and reported (a wedged `simctl spawn` or a hostile device name repeated forever must not
fill the host's memory until the deadline), and a background child (`log stream`, companion-macos) is drained
continuously into a buffer that keeps only its last `KEPT_OUTPUT_BYTES`: it never blocks on a full pipe, and a
chatty week-long run costs neither memory nor disk.
"""

from __future__ import annotations

import logging
import os
import selectors
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from mlharness.errors import ToolError, ToolTimeout

log = logging.getLogger(__name__)

# How long a stopped background process gets to exit after SIGTERM before it is killed.
_STOP_GRACE_SECONDS = 5.0
# simctl list -j on a Mac with every runtime is ~1 MB; nothing a tool prints for us comes near this.
TOOL_OUTPUT_BYTES = 64 << 20
# A background child's output is read for diagnostics only (the tail of a device log).
KEPT_OUTPUT_BYTES = 8 << 20
_CHUNK = 1 << 16
# The stderr a stopped command's error keeps.
_ERROR_TAIL = 64 << 10


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


class _Tail:
    """Drains a pipe in its own thread and keeps the last `limit` bytes, cut at a line boundary."""

    def __init__(self, pipe: IO[bytes], limit: int) -> None:
        self._pipe = pipe
        self._limit = limit
        self._kept = bytearray()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._drain, name="mlharness: drain child output", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        fd = self._pipe.fileno()
        while chunk := os.read(fd, _CHUNK):
            with self._lock:
                self._kept += chunk
                if len(self._kept) > self._limit:
                    cut = len(self._kept) - self._limit
                    newline = self._kept.find(b"\n", cut)
                    del self._kept[: newline + 1 if newline >= 0 else cut]

    def text(self) -> str:
        with self._lock:
            return self._kept.decode("utf-8", errors="replace")

    def finish(self, seconds: float) -> str:
        """The text once the pipe is closed (or after `seconds`: a grandchild may hold it open)."""
        self._thread.join(seconds)
        return self.text()


class BackgroundProcess:
    """A started child (`SubprocessRunner.start`): a `Background`, plus its pid and exit status."""

    def __init__(self, process: subprocess.Popen[bytes], argv: Sequence[str], kept_output: int) -> None:
        assert process.stdout is not None
        self._process = process
        self._tail = _Tail(process.stdout, kept_output)
        self._argv = list(argv)

    @property
    def pid(self) -> int:
        return self._process.pid

    def poll(self) -> int | None:
        """The exit code, or None while it runs."""
        return self._process.poll()

    def output(self) -> str:
        """The last `kept_output` bytes the child wrote so far."""
        return self._tail.text()

    def stop(self) -> str:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=_STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=_STOP_GRACE_SECONDS)
        log.debug("stopped pid %s (%s), exit %s", self._process.pid, self._argv[0], self._process.returncode)
        text = self._tail.finish(_STOP_GRACE_SECONDS)
        if self._process.stdout is not None:
            self._process.stdout.close()
        return text


class _Overflow(Exception):
    def __init__(self, stream: str) -> None:
        self.stream = stream


class _Expired(Exception):
    pass


@dataclass
class _Output:
    """What a command printed so far, per stream (kept when it is stopped, for the error)."""

    stdout: bytearray
    stderr: bytearray


def _collect(process: subprocess.Popen[bytes], output: _Output, timeout: float, limit: int) -> None:
    """Read both streams of `process` until it closes them and exits; _Expired past `timeout`, _Overflow once a
    stream passes `limit` bytes."""
    assert process.stdout is not None and process.stderr is not None
    give_up = time.monotonic() + timeout
    streams = {process.stdout.fileno(): ("stdout", output.stdout), process.stderr.fileno(): ("stderr", output.stderr)}
    with selectors.DefaultSelector() as selector:
        for fd in streams:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            remaining = give_up - time.monotonic()
            if remaining <= 0:
                raise _Expired
            for key, _ in selector.select(remaining):
                chunk = os.read(key.fd, _CHUNK)
                if not chunk:
                    selector.unregister(key.fd)
                    continue
                name, kept = streams[key.fd]
                kept += chunk
                if len(kept) > limit:
                    raise _Overflow(name)
    try:
        process.wait(max(give_up - time.monotonic(), 0.0))
    except subprocess.TimeoutExpired:
        raise _Expired from None


def _text(data: bytes | bytearray) -> str:
    return data.decode("utf-8", errors="replace")


class SubprocessRunner:
    """The real `ProcessRunner`: `subprocess.Popen` with argv lists, never a shell, output bounded.

    `output_limit` bytes per stream of a command run to completion; `kept_output` bytes of a background child."""

    def __init__(self, *, output_limit: int = TOOL_OUTPUT_BYTES, kept_output: int = KEPT_OUTPUT_BYTES) -> None:
        self._output_limit = output_limit
        self._kept_output = kept_output

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
        output = _Output(bytearray(), bytearray())
        with process:
            try:
                _collect(process, output, timeout, self._output_limit)
            except _Expired:
                process.kill()
                raise ToolTimeout(
                    args,
                    None,
                    _text(output.stderr[-_ERROR_TAIL:]),
                    what=f"did not finish within {timeout:g} s and was killed",
                    fix="check that the device or Simulator responds, then retry with a longer deadline",
                ) from None
            except _Overflow as overflow:
                process.kill()
                raise ToolError(
                    args,
                    None,
                    _text(output.stderr[-_ERROR_TAIL:]),
                    what=f"printed more than {self._output_limit} bytes on {overflow.stream} and was killed",
                    fix="run the same command by hand to see what it prints; a tool's answer to the harness is small",
                ) from None
        stdout, stderr = _text(output.stdout), _text(output.stderr)
        if process.returncode != 0:
            raise ToolError(args, process.returncode, stderr, stdout=stdout)
        return Completed(tuple(args), stdout, stderr)

    def start(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> BackgroundProcess:
        args = list(argv)
        try:
            process = subprocess.Popen(
                args,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=_environment(env),
            )
        except OSError as exc:
            raise ToolError(
                args, None, str(exc), what=f"cannot start {args[0]}", fix=f"install {args[0]} or put it on PATH"
            ) from exc
        log.info("started pid %s: %s", process.pid, " ".join(args))
        return BackgroundProcess(process, args, self._kept_output)


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
            raise ToolError(args, reply.returncode, reply.stderr, stdout=reply.stdout)
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
