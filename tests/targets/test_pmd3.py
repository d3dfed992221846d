"""The pymobiledevice3 adapter's own code, without a device: its event loop thread (deadlines, cancellation,
close and restart) against fake coroutines, and its error table, keyed by pymobiledevice3's real exception
classes."""

from __future__ import annotations

import asyncio
import threading
import time
from contextlib import AsyncExitStack
from typing import Any

import pytest
from pymobiledevice3 import exceptions as pmd3

from mlharness.errors import TargetError, TargetUnavailable
from mlharness.targets.pmd3 import EventLoopThread, Pmd3Port, error_table, translate

UDID = "00008130-001A2B3C4D5E6F70"


@pytest.fixture
def loop() -> Any:
    thread = EventLoopThread("test-loop", stuck_grace=0.2)
    yield thread
    thread.close(5.0)


async def answer(value: int) -> tuple[int, str]:
    await asyncio.sleep(0)
    return value, threading.current_thread().name


def test_calls_run_on_one_private_loop_thread_and_return_results(loop: EventLoopThread) -> None:
    first = loop.call(answer(1), 5.0)
    second = loop.call(answer(2), 5.0)
    assert first == (1, "test-loop") and second == (2, "test-loop")
    assert threading.current_thread().name != "test-loop"


def test_a_call_past_its_deadline_is_cancelled_and_raises_timeout(loop: EventLoopThread) -> None:
    seen: list[str] = []

    async def hang() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        loop.call(hang(), 0.05)
    assert time.monotonic() - started < 5
    assert loop.call(answer(3), 5.0)[0] == 3  # the loop still serves the next call
    assert seen == ["cancelled"]


def test_a_coroutine_that_blocks_the_loop_still_returns_to_the_caller(loop: EventLoopThread) -> None:
    async def block() -> None:
        time.sleep(1.0)  # a synchronous call inside a coroutine: wait_for cannot interrupt it

    started = time.monotonic()
    with pytest.raises(TimeoutError, match="event loop is blocked"):
        loop.call(block(), 0.05)
    assert time.monotonic() - started < 0.9


def test_a_coroutines_exception_reaches_the_caller(loop: EventLoopThread) -> None:
    async def fail() -> None:
        raise pmd3.PasswordRequiredError()

    with pytest.raises(pmd3.PasswordRequiredError):
        loop.call(fail(), 5.0)


def test_close_cancels_background_work_stops_the_thread_and_the_loop_can_start_again() -> None:
    loop = EventLoopThread("test-close")
    ended: list[str] = []

    async def stream() -> None:
        try:
            while True:
                await asyncio.sleep(0.01)
        finally:
            ended.append("stream closed")

    loop.submit(stream())
    loop.call(answer(0), 5.0)
    names = {thread.name for thread in threading.enumerate()}
    loop.close(5.0)
    assert "test-close" in names and "test-close" not in {thread.name for thread in threading.enumerate()}
    assert ended == ["stream closed"] and not loop.running
    loop.close(5.0)  # twice is harmless
    assert loop.call(answer(7), 5.0)[0] == 7  # and it starts again on demand
    loop.close(5.0)


class FakeConnection:
    """An async context manager standing in for a lockdown or DVT connection."""

    def __init__(self, *, fail_on_close: bool = False) -> None:
        self.closed_on = ""
        self.fail_on_close = fail_on_close

    async def __aenter__(self) -> FakeConnection:
        return self

    async def __aexit__(self, *_: object) -> None:
        self.closed_on = threading.current_thread().name
        if self.fail_on_close:
            raise pmd3.ConnectionTerminatedError()


def open_port(connection: FakeConnection) -> Pmd3Port:
    port = Pmd3Port(timeout=5.0)
    stack: AsyncExitStack = port._stack
    port._call(stack.enter_async_context(connection), "open a fake connection")
    return port


def test_port_close_closes_its_connections_on_the_loop_and_stops_the_thread() -> None:
    connection = FakeConnection()
    port = open_port(connection)
    port.close()
    assert connection.closed_on == "mlharness-pmd3"
    assert "mlharness-pmd3" not in {thread.name for thread in threading.enumerate()}
    port.close()  # twice is harmless


def test_port_close_stops_the_thread_even_when_a_connection_fails_to_close() -> None:
    port = open_port(FakeConnection(fail_on_close=True))
    with pytest.raises(TargetUnavailable, match="the connection dropped"):
        port.close()
    assert "mlharness-pmd3" not in {thread.name for thread in threading.enumerate()}


class SlowProcessControl:
    async def kill(self, pid: int) -> None:
        await asyncio.sleep(60)

    async def process_identifier_for_bundle_identifier(self, bundle_id: str) -> int:
        raise pmd3.InvalidServiceError("InvalidService", UDID, "17.0")


def test_port_calls_past_their_deadline_and_device_errors_become_harness_errors() -> None:
    port = Pmd3Port(timeout=0.05)
    port._process_control = SlowProcessControl()
    port._udid = UDID
    try:
        with pytest.raises(TargetError, match=r"could not kill pid 42 within 0\.05 s"):
            port.kill(42)
        with pytest.raises(TargetError, match="mounter auto-mount") as caught:
            port.pid_for("org.mlupdate.companion")
        assert not isinstance(caught.value, TargetUnavailable)
    finally:
        port.close()


def test_launching_before_developer_services_are_open_says_so() -> None:
    with pytest.raises(TargetError, match="developer services are not open"):
        Pmd3Port().launch("org.mlupdate.companion", [], {})


def test_every_error_table_entry_is_a_real_pymobiledevice3_exception() -> None:
    table = error_table()
    assert len(table) == 14
    for cls in table:
        assert issubclass(cls, pmd3.PyMobileDevice3Exception), cls
        assert getattr(pmd3, cls.__name__) is cls  # the class pymobiledevice3 raises, not a look-alike name


def bare(cls: type[BaseException]) -> BaseException:
    """An instance without running the exception's own __init__ (several take device-specific arguments)."""
    instance = cls.__new__(cls)
    instance.args = ()
    return instance


@pytest.mark.parametrize("cls", list(error_table()), ids=lambda cls: cls.__name__)
def test_each_pymobiledevice3_error_is_translated_with_its_meaning_and_fix(cls: type[BaseException]) -> None:
    meaning = error_table()[cls]
    error = translate(bare(cls), udid=UDID, what="connect")
    assert isinstance(error, TargetUnavailable if meaning.unavailable else TargetError)
    assert meaning.meaning in error.message and meaning.fix == error.fix


def test_a_subclass_inherits_its_parents_meaning_and_an_unknown_error_names_its_type() -> None:
    class LockedAgain(pmd3.PasswordRequiredError):
        pass

    assert "the device is locked" in translate(bare(LockedAgain), udid=UDID, what="connect").message
    unknown = translate(pmd3.CannotStopSessionError("session"), udid=UDID, what="syslog")
    assert type(unknown) is TargetError and "CannotStopSessionError" in unknown.message
