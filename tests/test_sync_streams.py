"""`asgiref.sync`'s stream bridges: iterators and context managers across the bridge."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import threading
import traceback
from collections.abc import AsyncIterator, Iterator

import pytest
from helpers import run_in_thread

from asgiref.sync import (
    ThreadSensitiveContext,
    async_to_sync,
    async_to_sync_context,
    async_to_sync_iter,
    sync_to_async,
    sync_to_async_context,
    sync_to_async_iter,
)

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class Recorder:
    """A sync generator's life: the threads of its steps and of its `finally`."""

    def __init__(self) -> None:
        self.step_threads: list[threading.Thread] = []
        self.finally_threads: list[threading.Thread] = []
        self.seen_ids: list[str] = []
        self.finished = threading.Event()

    def numbers(self, count: int) -> Iterator[int]:
        try:
            for number in range(count):
                self.step_threads.append(threading.current_thread())
                self.seen_ids.append(request_id.get())
                yield number
        finally:
            self.finally_threads.append(threading.current_thread())
            self.finished.set()


@pytest.mark.asyncio
async def test_items_are_produced_on_the_thread_sensitive_thread() -> None:
    recorder = Recorder()
    async with ThreadSensitiveContext():
        sensitive_thread = await sync_to_async(threading.current_thread)()
        items = [item async for item in sync_to_async_iter(recorder.numbers(3))]
    assert items == [0, 1, 2]
    assert recorder.step_threads == [sensitive_thread] * 3
    assert recorder.finally_threads == [sensitive_thread]  # exhausted: its finally ran there, once


def test_under_async_to_sync_the_steps_come_back_to_the_calling_thread() -> None:
    recorder = Recorder()

    async def consume() -> list[int]:
        return [item async for item in sync_to_async_iter(recorder.numbers(2))]

    assert async_to_sync(consume)() == [0, 1]
    assert recorder.step_threads == [threading.current_thread()] * 2


@pytest.mark.asyncio
async def test_context_variables_cross_with_each_step() -> None:
    def tagging() -> Iterator[str]:
        for tag in ("a", "b"):
            request_id.set(f"set by the generator: {tag}")
            yield tag

    request_id.set("the consumer's")
    recorder = Recorder()
    async for _ in sync_to_async_iter(recorder.numbers(2)):
        pass
    assert recorder.seen_ids == ["the consumer's", "the consumer's"]
    async for tag in sync_to_async_iter(tagging()):
        assert request_id.get() == f"set by the generator: {tag}"


@pytest.mark.asyncio
async def test_aclose_runs_the_finally_on_the_steps_thread_once() -> None:
    recorder = Recorder()
    async with ThreadSensitiveContext():
        stream = sync_to_async_iter(recorder.numbers(10))
        assert await stream.__anext__() == 0
        await stream.aclose()  # type: ignore[attr-defined]
        await stream.aclose()  # type: ignore[attr-defined]
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()
    assert recorder.finally_threads == recorder.step_threads[:1]


@pytest.mark.asyncio
async def test_an_early_break_then_dropping_it_closes_it_on_its_thread() -> None:
    recorder = Recorder()
    async with ThreadSensitiveContext():
        stream = sync_to_async_iter(recorder.numbers(10))
        async for item in stream:
            if item == 1:
                break
        del stream
        gc.collect()
        await asyncio.get_running_loop().run_in_executor(None, recorder.finished.wait, 10)
    assert recorder.finally_threads == [recorder.step_threads[0]]


class HeldGenerator:
    """A generator that stops inside its second step until released, recording its threads."""

    def __init__(self) -> None:
        self.in_second_step, self.release = threading.Event(), threading.Event()
        self.step_threads: list[threading.Thread] = []
        self.finally_threads: list[threading.Thread] = []
        self.closed = threading.Event()

    def __call__(self) -> Iterator[int]:
        try:
            self.step_threads.append(threading.current_thread())
            yield 0
            self.in_second_step.set()
            self.release.wait(10)
            self.step_threads.append(threading.current_thread())
            yield 1
        finally:
            self.finally_threads.append(threading.current_thread())
            self.closed.set()


async def cancel_in_second_step(held: HeldGenerator, thread_sensitive: bool) -> object:
    """Cancel a task consuming `held` while its second step runs; return the (live) stream."""
    stream = sync_to_async_iter(held(), thread_sensitive=thread_sensitive)

    async def consume() -> None:
        async for _ in stream:
            pass

    task = asyncio.ensure_future(consume())
    await asyncio.get_running_loop().run_in_executor(None, held.in_second_step.wait, 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return stream


@pytest.mark.asyncio
async def test_a_cancelled_consumer_closes_it_on_its_thread_behind_the_running_step() -> None:
    held = HeldGenerator()
    async with ThreadSensitiveContext():
        stream = await cancel_in_second_step(held, thread_sensitive=True)
        assert not held.closed.is_set()  # the step still runs: the close waits behind it
        held.release.set()
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(None, held.closed.wait, 10)
        # The stream is still referenced: the cancellation closed it, not garbage collection.
        assert held.finally_threads == held.step_threads[:1]
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()  # type: ignore[attr-defined]
    assert held.finally_threads == held.step_threads[:1]  # once


@pytest.mark.asyncio
async def test_a_cancelled_consumer_closes_it_after_the_step_on_any_worker() -> None:
    held = HeldGenerator()
    stream = await cancel_in_second_step(held, thread_sensitive=False)
    held.release.set()
    assert await asyncio.get_running_loop().run_in_executor(None, held.closed.wait, 10)
    # The close waited for the step instead of failing with "generator already executing".
    assert len(held.step_threads) == 2
    assert len(held.finally_threads) == 1
    assert stream is not None  # still referenced: garbage collection had no part in it


@pytest.mark.asyncio
async def test_an_error_of_the_generator_reaches_the_consumer_with_its_traceback() -> None:
    def failing() -> Iterator[int]:
        yield 1
        raise LookupError("row 2 is missing")

    stream = sync_to_async_iter(failing())
    assert await stream.__anext__() == 1
    with pytest.raises(LookupError, match="row 2 is missing") as raised:
        await stream.__anext__()
    frames = [frame.name for frame in traceback.extract_tb(raised.value.__traceback__)]
    assert "failing" in frames


def test_the_wrong_kind_of_iterable_says_which_function_to_use() -> None:
    async def agen() -> AsyncIterator[int]:
        yield 1

    with pytest.raises(TypeError, match="async_to_sync_iter"):
        sync_to_async_iter(agen())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="takes an iterable, not 'int'"):
        sync_to_async_iter(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="sync_to_async_iter"):
        async_to_sync_iter([1, 2])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="takes an async iterable, not 'int'"):
        async_to_sync_iter(5)  # type: ignore[arg-type]

    class AsyncOnly:
        async def __aenter__(self) -> None:
            return None

        async def __aexit__(self, *exc_info: object) -> None:
            return None

    with pytest.raises(TypeError, match=r"use async_to_sync_context\(\)"):
        sync_to_async_context(AsyncOnly())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"use sync_to_async_context\(\)"):
        async_to_sync_context(threading.Lock())  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_a_thousand_concurrent_streams_share_a_few_threads() -> None:
    threads: set[threading.Thread] = set()

    def three() -> Iterator[int]:
        for number in range(3):
            threads.add(threading.current_thread())
            yield number

    async def consume(sensitive: bool) -> int:
        return sum([item async for item in sync_to_async_iter(three(), thread_sensitive=sensitive)])

    sums = await asyncio.gather(*(consume(index % 2 == 0) for index in range(1000)))
    assert sums == [3] * 1000
    assert len(threads) <= 40  # the process-wide lane and the default executor's workers


# --- async iterables from sync code ---------------------------------------------------------------


class AsyncRecorder:
    def __init__(self) -> None:
        self.loops: list[asyncio.AbstractEventLoop] = []
        self.closed_on: list[asyncio.AbstractEventLoop] = []

    async def numbers(self, count: int) -> AsyncIterator[int]:
        lock = asyncio.Lock()  # bound to the first loop that uses it
        try:
            for number in range(count):
                async with lock:
                    self.loops.append(asyncio.get_running_loop())
                    yield number
        finally:
            self.closed_on.append(asyncio.get_running_loop())


def test_an_async_generator_is_driven_on_one_loop_for_its_life() -> None:
    recorder = AsyncRecorder()
    before = set(threading.enumerate())
    assert list(async_to_sync_iter(recorder.numbers(3))) == [0, 1, 2]
    assert len(set(map(id, recorder.loops))) == 1
    assert recorder.closed_on == recorder.loops[:1]
    for thread in set(threading.enumerate()) - before:
        thread.join(10)  # the bridge's own loop ends with it
    assert not [t for t in set(threading.enumerate()) - before if t.is_alive()]


def test_close_runs_aclose_on_that_loop() -> None:
    recorder = AsyncRecorder()
    stream = async_to_sync_iter(recorder.numbers(10))
    assert next(stream) == 0
    stream.close()  # type: ignore[attr-defined]
    assert recorder.closed_on == recorder.loops
    with pytest.raises(StopIteration):
        next(stream)


def test_async_iterators_open_on_one_thread_share_its_loop_thread() -> None:
    first, second = AsyncRecorder(), AsyncRecorder()
    before = set(threading.enumerate())
    one, two = async_to_sync_iter(first.numbers(3)), async_to_sync_iter(second.numbers(3))
    assert (next(one), next(two), next(one)) == (0, 0, 1)
    assert first.loops[0] is second.loops[0]
    assert len(set(threading.enumerate()) - before) == 1  # one loop thread for both
    one.close()  # type: ignore[attr-defined]
    assert next(two) == 1  # the loop stays while the other iterator holds it
    two.close()  # type: ignore[attr-defined]
    assert {t for t in threading.enumerate() if t.is_alive()} - before == set()


@pytest.mark.asyncio
async def test_async_to_sync_iter_refuses_to_block_a_running_event_loop() -> None:
    recorder = AsyncRecorder()
    with pytest.raises(RuntimeError, match="cannot be used from a thread running an event loop"):
        next(async_to_sync_iter(recorder.numbers(1)))
    bridge = async_to_sync_context(contextlib.nullcontext())
    with pytest.raises(RuntimeError, match=r"async_to_sync_context\(\) cannot be used"):
        bridge.__enter__()


@pytest.mark.asyncio
async def test_inside_sync_to_async_it_runs_on_the_awaiting_loop() -> None:
    recorder = AsyncRecorder()
    items = await sync_to_async(lambda: list(async_to_sync_iter(recorder.numbers(2))))()
    assert items == [0, 1]
    assert recorder.loops == [asyncio.get_running_loop()] * 2


def test_an_error_of_the_async_generator_reaches_the_sync_consumer() -> None:
    async def failing() -> AsyncIterator[int]:
        yield 1
        raise LookupError("gone")

    stream = async_to_sync_iter(failing())
    assert next(stream) == 1
    with pytest.raises(LookupError, match="gone"):
        next(stream)


# --- context managers -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_sync_context_manager_is_entered_and_left_on_the_sensitive_thread() -> None:
    threads: list[threading.Thread] = []

    @contextlib.contextmanager
    def connection() -> Iterator[str]:
        threads.append(threading.current_thread())
        try:
            yield "conn"
        except KeyError:
            threads.append(threading.current_thread())

    async with ThreadSensitiveContext():
        sensitive_thread = await sync_to_async(threading.current_thread)()
        async with sync_to_async_context(connection()) as value:
            assert value == "conn"
        async with sync_to_async_context(connection()):
            raise KeyError("handled by the manager")  # its __exit__ suppresses it
    assert threads == [sensitive_thread] * 3


def test_an_async_context_manager_from_sync_code() -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    @contextlib.asynccontextmanager
    async def session() -> AsyncIterator[str]:
        loops.append(asyncio.get_running_loop())
        try:
            yield "session"
        finally:
            loops.append(asyncio.get_running_loop())

    def use() -> str:
        with async_to_sync_context(session()) as value:
            entered = value
        return entered

    assert run_in_thread(use) == "session"
    assert len(loops) == 2
    assert loops[0] is loops[1]
    with pytest.raises(ValueError, match="inside"), async_to_sync_context(session()):
        raise ValueError("inside")
    assert len(loops) == 4
