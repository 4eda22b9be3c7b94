"""`asgiref.sync.register_bridge_observer`: what observers are told, where, and that they can
neither break a call nor leak into its caller."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import Iterator

import pytest

from asgiref.sync import (
    BridgedCall,
    ThreadSensitiveContext,
    async_to_sync,
    register_bridge_observer,
    sync_to_async,
)

span: contextvars.ContextVar[str] = contextvars.ContextVar("span", default="none")


class Recording:
    """An observer that records each moment, the thread it ran on, and sets `span` for the call."""

    def __init__(self) -> None:
        self.events: list[tuple[str, BridgedCall, threading.Thread]] = []
        self.destination_thread: threading.Thread | None = None

    def queued(self, call: BridgedCall) -> None:
        self.events.append(("queued", call, threading.current_thread()))
        span.set(f"span of {call.direction}")

    def started(self, call: BridgedCall) -> None:
        self.events.append(("started", call, threading.current_thread()))
        self.destination_thread = getattr(call.queued_for, "thread", None)

    def finished(self, call: BridgedCall) -> None:
        self.events.append(("finished", call, threading.current_thread()))
        span.set("none")  # undone where the call ran, so nothing goes back to the caller


@pytest.fixture
def recording() -> Iterator[Recording]:
    observer = Recording()
    unregister = register_bridge_observer(observer)
    yield observer
    unregister()


def load(user: int) -> tuple[int, str]:
    return user, span.get()


@pytest.mark.asyncio
async def test_a_sync_to_async_call_is_seen_queued_started_and_finished(
    recording: Recording,
) -> None:
    caller = threading.current_thread()
    async with ThreadSensitiveContext():
        assert await sync_to_async(load)(7) == (7, "span of sync_to_async")
    assert span.get() == "none"  # what the observer set did not come back
    moments = [(moment, thread) for moment, _, thread in recording.events]
    worker = moments[1][1]
    assert moments == [("queued", caller), ("started", worker), ("finished", worker)]
    assert worker is not caller
    call = recording.events[0][1]
    assert all(event[1] is call for event in recording.events)
    assert (call.func, call.direction, call.thread_sensitive) == (load, "sync_to_async", True)
    assert call.thread is worker
    assert recording.destination_thread is worker  # queued for the context's thread
    assert call.outcome == "returned"
    assert call.started_at is not None
    assert call.finished_at is not None
    assert call.queued_at <= call.started_at <= call.finished_at


@pytest.mark.asyncio
async def test_an_error_is_the_outcome(recording: Recording) -> None:
    def fail() -> None:
        raise LookupError("nope")

    with pytest.raises(LookupError):
        await sync_to_async(fail, thread_sensitive=False)()
    call = recording.events[-1][1]
    assert (call.outcome, type(call.error)) == ("raised", LookupError)
    assert call.thread_sensitive is False


def test_an_async_to_sync_call_is_seen_on_both_sides(recording: Recording) -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def fetch() -> str:
        loops.append(asyncio.get_running_loop())
        return span.get()

    assert async_to_sync(fetch)() == "span of async_to_sync"
    (queued, call, queued_on), (started, _, started_on), (finished, _, _) = recording.events
    assert (queued, started, finished) == ("queued", "started", "finished")
    assert queued_on is threading.current_thread()
    assert started_on is not queued_on  # the coroutine ran on the loop's thread
    assert call.direction == "async_to_sync"
    assert call.queued_for is loops[0]
    assert call.outcome == "returned"


@pytest.mark.asyncio
async def test_an_observer_that_raises_is_logged_and_the_call_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken:
        def started(self, call: BridgedCall) -> None:
            raise RuntimeError("observer bug")

    unregister = register_bridge_observer(Broken())
    try:
        with caplog.at_level(logging.ERROR, logger="asgiref.sync"):
            assert await sync_to_async(load)(1) == (1, "none")
    finally:
        unregister()
    assert "observer bug" in caplog.text
    assert "raised in started" in caplog.text


@pytest.mark.asyncio
async def test_unregistered_observers_hear_nothing() -> None:
    observer = Recording()
    unregister = register_bridge_observer(observer)
    unregister()
    await sync_to_async(load)(1)
    assert observer.events == []


@pytest.mark.asyncio
async def test_a_call_given_up_before_it_started_is_finished_as_cancelled(
    recording: Recording,
) -> None:
    started, release = threading.Event(), threading.Event()

    def block() -> None:
        started.set()
        release.wait(10)

    async with ThreadSensitiveContext():
        blocker = asyncio.ensure_future(sync_to_async(block)())
        waiting = asyncio.ensure_future(sync_to_async(load)(2))  # queued behind the blocker
        assert await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        release.set()
        await blocker
    cancelled = [call for moment, call, _ in recording.events if call.func is load]
    assert cancelled[-1].outcome == "cancelled"
    assert [moment for moment, call, _ in recording.events if call.func is load] == [
        "queued",
        "finished",
    ]


def test_nothing_is_registered_by_default() -> None:
    from asgiref._observe import OBSERVERS

    assert OBSERVERS.active == ()


# --- slow-lane diagnostics ------------------------------------------------------------------------


def holding_the_thread(release: threading.Event) -> None:
    """What the thread-sensitive thread is busy with while another call waits for it."""
    release.wait(10)


@pytest.mark.asyncio
async def test_a_call_waiting_too_long_for_its_thread_is_reported_with_that_threads_stack(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from asgiref.sync import set_slow_lane_warning

    release = threading.Event()
    set_slow_lane_warning(0.05)
    try:
        with caplog.at_level(logging.WARNING, logger="asgiref.sync"):
            async with ThreadSensitiveContext():
                holder = asyncio.ensure_future(sync_to_async(holding_the_thread)(release))
                waiter = asyncio.ensure_future(sync_to_async(load)(3))
                for _ in range(500):  # bounded: until the warning is logged
                    if "has waited" in caplog.text:
                        break
                    await asyncio.sleep(0.01)
                release.set()
                await holder
                assert await waiter == (3, "none")
    finally:
        set_slow_lane_warning(None)
    assert "the thread-sensitive call load has waited" in caplog.text
    assert "holding_the_thread" in caplog.text  # what its thread was doing
    assert caplog.text.count("has waited") == 1  # the holder itself started at once


def test_the_slow_lane_setting_refuses_what_is_not_a_positive_number() -> None:
    from asgiref.sync import set_slow_lane_warning

    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="positive number of seconds"):
            set_slow_lane_warning(bad)


def test_the_slow_lane_setting_comes_from_the_environment() -> None:
    import os
    import subprocess
    import sys

    code = (
        "from asgiref._observe import OBSERVERS, SlowLaneDiagnostic\n"
        "import asgiref.sync\n"
        "print([type(o).__name__ for o in OBSERVERS.active])\n"
    )
    for value, expected, warned in (("0.5", "['SlowLaneDiagnostic']", False), ("soon", "[]", True)):
        run = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "ASGIREF_SLOW_LANE_WARNING": value},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert run.stdout.strip() == expected
        assert ("is not a positive number of seconds" in run.stderr) is warned
