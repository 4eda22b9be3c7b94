"""Tests for asgiref.sync: both directions of the bridge, their contexts, and their failure modes.

Concurrency is checked with events, barriers and recorded threads, never with sleeps or elapsed
times; a deadlock fails by the per-test timeout (pyproject sets one) instead of hanging the suite.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import gc
import inspect
import os
import signal
import subprocess
import sys
import threading
import traceback
import types
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from helpers import run_in_thread

from asgiref import _flow, _hop, _loop_call, _routing
from asgiref._lanes import PROCESS_LANE, SPARE_LANE, BorrowedLane, _SpareLane
from asgiref.sync import (
    AsyncSingleThreadContext,
    SyncToAsync,
    ThreadSensitiveContext,
    async_to_sync,
    iscoroutinefunction,
    markcoroutinefunction,
    sync_to_async,
)

request_id: contextvars.ContextVar[int] = contextvars.ContextVar("request_id", default=0)


def current_thread() -> threading.Thread:
    return threading.current_thread()


# --- wrapping and validation ----------------------------------------------------------------------


def test_sync_to_async_call_styles_and_arguments() -> None:
    def add(a: int, b: int = 0) -> int:
        return a + b

    @sync_to_async
    def bare(a: int) -> int:
        return a * 2

    @sync_to_async(thread_sensitive=False)
    def configured(a: int) -> int:
        return a * 3

    async def main() -> tuple[int, int, int]:
        return await sync_to_async(add)(1, b=2), await bare(5), await configured(5)

    assert asyncio.run(main()) == (3, 10, 15)


def test_async_to_sync_call_styles_and_arguments() -> None:
    async def add(a: int, b: int = 0) -> int:
        return a + b

    @async_to_sync
    async def bare(a: int) -> int:
        return a * 2

    @async_to_sync(force_new_loop=True)
    async def configured(a: int) -> int:
        return a * 3

    assert (async_to_sync(add)(1, b=2), bare(5), configured(5)) == (3, 10, 15)


def test_wrappers_keep_metadata_and_report_their_kind() -> None:
    def sync_function() -> int:
        """Sync doc."""
        return 1

    async def async_function() -> int:
        """Async doc."""
        return 1

    to_async = sync_to_async(sync_function)
    to_sync = async_to_sync(async_function)
    assert (to_async.__name__, to_async.__doc__) == ("sync_function", "Sync doc.")  # type: ignore[attr-defined]
    assert to_async.__wrapped__ is sync_function  # type: ignore[attr-defined]
    assert iscoroutinefunction(to_async)
    assert asyncio.iscoroutinefunction(to_async)
    # `inspect` honours the mark from 3.12 on only, as with asgiref.
    assert inspect.iscoroutinefunction(to_async) is (sys.version_info >= (3, 12))
    # asgiref's AsyncToSync copies nothing from the function: no name, and its own docstring.
    assert sorted(vars(to_sync)) == ["awaitable", "force_new_loop"]
    assert not hasattr(to_sync, "__name__")
    assert not hasattr(to_sync, "__wrapped__")
    assert to_sync.__doc__ == type(to_sync).__doc__
    assert not inspect.iscoroutinefunction(to_sync)
    assert not iscoroutinefunction(to_sync)


def test_wrappers_of_bound_methods_expose_self() -> None:
    # Django's middleware error path reads `wrapper.__self__` on the adapted method.
    class Middleware:
        def process_view(self) -> str:
            return "sync"

        async def process_async(self) -> str:
            return "async"

    middleware = Middleware()
    assert sync_to_async(middleware.process_view).__self__ is middleware
    assert async_to_sync(middleware.process_async).__self__ is middleware
    assert not hasattr(sync_to_async(len), "__func__")


def test_async_to_sync_of_a_marked_function_is_not_marked() -> None:
    async def coroutine_function() -> None:
        pass

    def returns_coroutine() -> Awaitable[None]:
        return coroutine_function()

    marked = markcoroutinefunction(returns_coroutine)
    assert iscoroutinefunction(marked)
    assert not iscoroutinefunction(async_to_sync(marked))
    assert async_to_sync(marked)() is None


def test_iscoroutinefunction_sees_through_partials_and_methods() -> None:
    async def coroutine_function(a: int) -> int:
        return a

    class Thing:
        async def method(self) -> None:
            pass

        def sync_method(self) -> None:
            pass

    assert iscoroutinefunction(coroutine_function)
    assert iscoroutinefunction(functools.partial(coroutine_function, 1))
    assert iscoroutinefunction(Thing().method)
    assert not iscoroutinefunction(Thing().sync_method)
    assert not iscoroutinefunction(lambda: None)


def test_wrappers_work_as_methods() -> None:
    class Counter:
        def __init__(self) -> None:
            self.count = 0

        @sync_to_async
        def increment(self, by: int) -> int:
            self.count += by
            return self.count

        @async_to_sync
        async def increment_from_sync(self, by: int) -> int:
            self.count += by
            return self.count

    counter = Counter()
    assert asyncio.run(counter.increment(2)) == 2
    assert counter.increment_from_sync(3) == 5
    assert inspect.iscoroutinefunction(counter.increment)


def test_sync_to_async_refuses_async_callables() -> None:
    async def coroutine_function() -> None:
        pass

    class AsyncCallable:
        async def __call__(self) -> None:
            pass

    class Service:
        async def fetch(self) -> None:
            pass

    def returns_coroutine() -> Awaitable[None]:
        return Service().fetch()

    refused: list[Any] = [
        coroutine_function,
        AsyncCallable(),
        functools.partial(coroutine_function),
        Service().fetch,
        markcoroutinefunction(returns_coroutine),
        sync_to_async(lambda: None),
        42,
    ]
    for bad in refused:
        with pytest.raises(TypeError) as raised:
            sync_to_async(bad)
        assert str(raised.value) == "sync_to_async can only be applied to sync functions."


def test_sync_to_async_of_generator_functions_returns_what_they_return() -> None:
    # asgiref wraps them like any sync function: the caller gets the generator object.
    def generator() -> Iterator[int]:
        yield 1

    async def async_generator() -> AsyncIterator[int]:
        yield 2

    @types.coroutine
    def generator_based() -> Iterator[None]:
        yield

    async def main() -> tuple[list[int], list[int], bool]:
        from_sync = await sync_to_async(generator)()
        from_async = await sync_to_async(async_generator)()
        based = await sync_to_async(generator_based)()
        based.close()
        return list(from_sync), [item async for item in from_async], inspect.isgenerator(based)

    assert asyncio.run(main()) == ([1], [2], True)


def test_sync_to_async_refuses_executor_with_thread_sensitive() -> None:
    with ThreadPoolExecutor(1) as executor:
        makers: list[Callable[[], object]] = [
            lambda: sync_to_async(lambda: None, executor=executor),
            lambda: SyncToAsync(lambda: None, thread_sensitive=True, executor=executor),
        ]
        for make in makers:
            with pytest.raises(TypeError) as raised:
                make()
            assert str(raised.value) == "executor must not be set when thread_sensitive is True"


def test_async_to_sync_accepts_anything_with_a_warning_and_fails_on_call() -> None:
    async def async_generator() -> AsyncIterator[int]:
        yield 1

    def generator() -> Iterator[int]:
        yield 1

    cases: list[tuple[Any, str]] = [
        (42, "'int' object is not callable"),
        (generator, "object generator can't be used in 'await' expression"),
        (async_generator, "object async_generator can't be used in 'await' expression"),
    ]
    for bad, message in cases:
        with pytest.warns(
            UserWarning, match="^async_to_sync was passed a non-async-marked callable$"
        ):
            wrapper = async_to_sync(bad)
        with pytest.raises(TypeError) as raised:
            wrapper()
        assert str(raised.value) == message


def test_async_to_sync_calls_the_function_on_the_calling_thread() -> None:
    # Only what the function returns crosses to the event loop, as in asgiref.
    callers: list[threading.Thread] = []

    async def coroutine_function() -> threading.Thread:
        return threading.current_thread()

    def returns_coroutine() -> Awaitable[threading.Thread]:
        callers.append(threading.current_thread())
        return coroutine_function()

    with pytest.warns(UserWarning, match="non-async-marked"):
        wrapper = async_to_sync(returns_coroutine)
    ran_on = wrapper()
    assert callers == [threading.main_thread()]
    assert ran_on is not threading.main_thread()


def test_async_to_sync_accepts_callables_returning_awaitables_with_a_warning() -> None:
    async def coroutine_function() -> int:
        return 7

    def returns_awaitable() -> Awaitable[int]:
        return coroutine_function()

    with pytest.warns(UserWarning, match="non-async-marked callable"):
        wrapper = async_to_sync(returns_awaitable)
    assert wrapper() == 7


def test_async_to_sync_of_a_sync_function_raises_type_error_on_call() -> None:
    def plain() -> int:
        return 1

    with pytest.warns(UserWarning, match="non-async-marked callable"):
        wrapper: Callable[[], object] = async_to_sync(plain)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^object int can't be used in 'await' expression$"):
        wrapper()


def test_async_to_sync_in_a_running_loop_thread_says_to_await() -> None:
    async def inner() -> None:
        pass

    async def main() -> None:
        with pytest.raises(RuntimeError) as raised:
            async_to_sync(inner)()
        assert type(raised.value) is RuntimeError
        assert str(raised.value) == (
            "You cannot use AsyncToSync in the same thread as an async event loop - just await "
            "the async function directly."
        )

    asyncio.run(main())


# --- results, exceptions, exc_info ----------------------------------------------------------------


def test_exceptions_propagate_unchanged_with_traceback() -> None:
    class Boom(Exception):
        pass

    error = Boom("sync")

    def fails_sync() -> None:
        raise error

    async def fails_async() -> None:
        raise Boom("async")

    async def main() -> None:
        with pytest.raises(Boom) as info:
            await sync_to_async(fails_sync)()
        assert info.value is error
        frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
        assert "fails_sync" in frames

    asyncio.run(main())
    with pytest.raises(Boom, match="async") as info:
        async_to_sync(fails_async)()
    assert "fails_async" in [f.name for f in traceback.extract_tb(info.value.__traceback__)]


def test_stop_iteration_from_a_sync_function_is_asyncios_runtime_error() -> None:
    # asgiref 3.13 hangs here before Python 3.13 (see DIFFERENCES.md, SYNC-1).
    def exhausted() -> int:
        return next(iter([]))

    async def main() -> None:
        with pytest.raises(RuntimeError) as raised:
            await sync_to_async(exhausted)()
        assert str(raised.value) == (
            "StopIteration interacts badly with generators and cannot be raised into a Future"
        )
        assert isinstance(raised.value.__cause__, StopIteration)

    asyncio.run(main())


def test_exception_being_handled_is_visible_across_the_bridge() -> None:
    def current_exception() -> BaseException | None:
        return sys.exc_info()[1]

    async def current_exception_async() -> BaseException | None:
        return sys.exc_info()[1]

    handled = ValueError("handled")

    async def main() -> tuple[BaseException | None, BaseException | None]:
        try:
            raise handled
        except ValueError:
            inside = await sync_to_async(current_exception)()
        return inside, await sync_to_async(current_exception)()

    assert asyncio.run(main()) == (handled, None)
    handled_in_sync = KeyError("handled")
    try:
        raise handled_in_sync
    except KeyError:
        seen = async_to_sync(current_exception_async)()
    assert seen is handled_in_sync


# --- where things run -----------------------------------------------------------------------------


def test_thread_sensitive_calls_share_one_thread_outside_any_context() -> None:
    async def main() -> set[threading.Thread]:
        return {await sync_to_async(current_thread)() for _ in range(5)}

    threads = asyncio.run(main()) | asyncio.run(main())
    assert len(threads) == 1
    assert threads != {threading.main_thread()}


def test_thread_sensitive_calls_inside_async_to_sync_come_back_to_the_calling_thread() -> None:
    async def inner() -> threading.Thread:
        return await sync_to_async(current_thread)()

    def caller() -> tuple[threading.Thread, threading.Thread]:
        return threading.current_thread(), async_to_sync(inner)()

    outer, inner_thread = run_in_thread(caller)
    assert inner_thread is outer
    assert async_to_sync(inner)() is threading.main_thread()


def test_async_to_sync_inside_sync_to_async_runs_on_the_outer_loop() -> None:
    async def loop_of_inner() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    def sync_part() -> asyncio.AbstractEventLoop:
        return async_to_sync(loop_of_inner)()

    async def main() -> None:
        assert await sync_to_async(sync_part)() is asyncio.get_running_loop()
        assert await sync_to_async(sync_part, thread_sensitive=False)() is (
            asyncio.get_running_loop()
        )

    asyncio.run(main())


def test_thread_sensitive_inside_a_non_sensitive_thread_comes_back_to_it() -> None:
    async def inner() -> threading.Thread:
        return await sync_to_async(current_thread)()

    def sync_part() -> tuple[threading.Thread, threading.Thread]:
        return threading.current_thread(), async_to_sync(inner)()

    async def main() -> tuple[threading.Thread, threading.Thread]:
        return await sync_to_async(sync_part, thread_sensitive=False)()

    worker, inner_thread = asyncio.run(main())
    assert inner_thread is worker


def test_deep_nesting_stays_on_one_sync_thread() -> None:
    def sync_level(depth: int) -> list[threading.Thread]:
        here = threading.current_thread()
        if depth == 0:
            return [here]
        return [here, *async_to_sync(async_level)(depth - 1)]

    async def async_level(depth: int) -> list[threading.Thread]:
        return await sync_to_async(sync_level)(depth)

    threads = run_in_thread(lambda: sync_level(8))
    assert len(threads) == 9
    assert len(set(threads)) == 1


def test_thread_sensitive_false_uses_the_given_executor_or_the_default_one() -> None:
    with ThreadPoolExecutor(1, thread_name_prefix="custom") as executor:

        async def main() -> tuple[str, str]:
            custom = await sync_to_async(
                current_thread, thread_sensitive=False, executor=executor
            )()
            default = await sync_to_async(current_thread, thread_sensitive=False)()
            return custom.name, default.name

        custom, default = asyncio.run(main())
    assert custom.startswith("custom")
    assert default.startswith("asyncio")


def _nested_non_sensitive_calls(
    depth: int,
    executor: ThreadPoolExecutor | None = None,
    innermost: Callable[[], object] = lambda: None,
) -> Callable[[], Coroutine[Any, Any, list[threading.Thread]]]:
    """A chain of `depth` non-thread-sensitive calls, each made from a coroutine that the previous
    one runs through async_to_sync, the last calling `innermost()`; it returns the threads that
    ran them, outermost first."""

    async def level(remaining: int) -> list[threading.Thread]:
        def sync_part() -> list[threading.Thread]:
            here = threading.current_thread()
            if remaining == 1:
                innermost()
                return [here]
            return [here, *async_to_sync(level)(remaining - 1)]

        threads: list[threading.Thread] = await sync_to_async(
            sync_part, thread_sensitive=False, executor=executor
        )()
        return threads

    return lambda: level(depth)


def test_nested_non_sensitive_calls_finish_when_they_take_every_default_executor_thread() -> None:
    # Two chains of depth 3 on a 2-thread default executor, whose innermost calls must run at the
    # same time: both threads wait in async_to_sync for coroutines whose own calls find no free
    # thread. Each such call runs on the thread that waits for it (and that, in asgiref 3.13.0,
    # would wait for ever).
    both_innermost = threading.Barrier(2, timeout=10)

    async def main() -> list[list[threading.Thread]]:
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(2, thread_name_prefix="small")
        )
        chain = _nested_non_sensitive_calls(3, innermost=both_innermost.wait)
        return list(await asyncio.gather(chain(), chain()))

    first, second = asyncio.run(main())
    for threads in (first, second):
        assert len(threads) == 3
        assert all(thread.name.startswith("small") for thread in threads)
        assert len(set(threads)) == 1  # the outer call's worker ran the two nested calls
    assert first[0] is not second[0]


def test_a_call_moved_to_a_waiting_thread_can_wait_for_one_that_a_freed_thread_runs() -> None:
    # The executor's two threads are taken (one by `outer`, which waits in async_to_sync, one by
    # `occupy`), so both calls of `produce_and_consume` are offered to `outer`'s thread, and stay
    # queued in the executor too. `consume` blocks until `produce` has run: if the waiting thread
    # takes `consume`, the thread `occupy` frees runs `produce`. (Were the waiting thread their
    # only place, `produce` would wait behind `consume` for ever, where asgiref 3.13.0 finishes.)
    release_occupier = threading.Event()
    produced = threading.Event()

    def occupy() -> str:
        assert release_occupier.wait(10)
        return "occupied"

    def consume() -> threading.Thread:
        assert produced.wait(10), "produce never ran"
        return threading.current_thread()

    def produce() -> threading.Thread:
        produced.set()
        return threading.current_thread()

    async def let_the_occupier_go() -> None:
        release_occupier.set()  # after both calls above were sent: tasks start in order

    async def produce_and_consume() -> list[Any]:
        call_consume = sync_to_async(consume, thread_sensitive=False)
        call_produce = sync_to_async(produce, thread_sensitive=False)
        return list(await asyncio.gather(call_consume(), call_produce(), let_the_occupier_go()))

    def outer() -> tuple[threading.Thread, list[Any]]:
        return threading.current_thread(), async_to_sync(produce_and_consume)()

    async def main() -> list[Any]:
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(2))
        call_occupy = sync_to_async(occupy, thread_sensitive=False)
        call_outer = sync_to_async(outer, thread_sensitive=False)
        return list(await asyncio.gather(call_occupy(), call_outer()))

    occupied, (waiting, (consumed_on, produced_on, _)) = asyncio.run(main())
    assert occupied == "occupied"
    # Which of the two calls the waiting thread takes first is a race with the freed thread;
    # either way, the other thread runs the other call.
    assert waiting in {consumed_on, produced_on}
    assert consumed_on is not produced_on


def test_a_call_the_default_executor_drops_unrun_fails_instead_of_hanging() -> None:
    release = threading.Event()

    async def main() -> tuple[bool, BaseException | None]:
        executor = ThreadPoolExecutor(1)
        asyncio.get_running_loop().set_default_executor(executor)
        occupying = asyncio.ensure_future(sync_to_async(release.wait, thread_sensitive=False)(10))
        queued = asyncio.ensure_future(sync_to_async(lambda: "ran", thread_sensitive=False)())
        await asyncio.sleep(0)  # both calls are sent: the second waits for the only thread
        executor.shutdown(wait=False, cancel_futures=True)
        release.set()
        dropped = (await asyncio.gather(queued, return_exceptions=True))[0]
        return await occupying, dropped if isinstance(dropped, BaseException) else None

    released, dropped = asyncio.run(main())
    assert released is True
    assert isinstance(dropped, RuntimeError)
    assert str(dropped) == (
        "the executor cancelled this sync_to_async call before running it "
        "(was it shut down with cancel_futures=True?)"
    )


def test_non_sensitive_calls_spread_over_the_default_executor_while_it_has_room() -> None:
    both_running = threading.Barrier(2, timeout=10)

    def meet() -> threading.Thread:
        both_running.wait()  # breaks (raises) unless both calls run at once, on two threads
        return threading.current_thread()

    async def two_at_once() -> list[threading.Thread]:
        call = sync_to_async(meet, thread_sensitive=False)
        return list(await asyncio.gather(call(), call()))

    def outer() -> tuple[threading.Thread, list[threading.Thread]]:
        return threading.current_thread(), async_to_sync(two_at_once)()

    async def main() -> tuple[threading.Thread, list[threading.Thread]]:
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(4))
        return await sync_to_async(outer, thread_sensitive=False)()

    waiting, ran_on = asyncio.run(main())
    assert len({waiting, *ran_on}) == 3


def test_an_explicit_executor_is_used_as_given_and_a_hopeless_wait_is_reported() -> None:
    # With an explicit executor, its size is the user's bound: the nested call is not moved to
    # the waiting thread. That thread being the executor's only one, the call could never run:
    # a RuntimeWarning says so (raised here, as the test suite turns warnings into errors).
    with ThreadPoolExecutor(1, thread_name_prefix="explicit") as executor:
        chain = _nested_non_sensitive_calls(2, executor)
        with pytest.raises(RuntimeWarning, match="can never run on") as raised:
            asyncio.run(chain())
    message = str(raised.value)
    assert "every one of its 1 threads is a sync function waiting in async_to_sync" in message
    assert "give it more threads, or leave `executor` unset" in message


def test_the_hopeless_wait_warning_points_at_the_call_and_the_caller_can_still_give_up() -> None:
    with ThreadPoolExecutor(1) as executor:

        async def inner() -> str:
            # Given up after a while, as a timeout would (asyncio.wait_for on 3.11 runs the call
            # in a task of its own, where no frame of this function is the warning's caller).
            this_task = asyncio.current_task()
            assert this_task is not None
            asyncio.get_running_loop().call_later(0.2, this_task.cancel)
            try:
                await sync_to_async(lambda: "ran", thread_sensitive=False, executor=executor)()
            except asyncio.CancelledError:
                return "gave up"
            return "ran"

        def outer() -> str:
            return async_to_sync(inner)()

        async def main() -> str:
            return await sync_to_async(outer, thread_sensitive=False, executor=executor)()

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert asyncio.run(main()) == "gave up"
    assert [warning.category for warning in caught] == [RuntimeWarning]
    assert caught[0].filename == __file__


def test_an_explicit_executor_with_room_for_the_nesting_runs_every_call_on_its_threads() -> None:
    with ThreadPoolExecutor(3, thread_name_prefix="roomy") as executor:
        threads = asyncio.run(_nested_non_sensitive_calls(3, executor)())
    assert [thread.name.startswith("roomy") for thread in threads] == [True] * 3
    assert len(set(threads)) == 3


def test_single_thread_executor_can_be_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    with ThreadPoolExecutor(1, thread_name_prefix="replacement") as executor:
        monkeypatch.setattr(SyncToAsync, "single_thread_executor", executor)

        async def main() -> str:
            return (await sync_to_async(current_thread)()).name

        assert asyncio.run(main()).startswith("replacement")


def test_thread_handler_can_be_overridden_and_runs_in_the_worker_thread() -> None:
    seen: list[tuple[str, threading.Thread, tuple[Any, ...], dict[str, Any]]] = []

    class DatabaseSyncToAsync(SyncToAsync[Any, Any]):
        def thread_handler(self, loop: asyncio.AbstractEventLoop, *args: Any, **kwargs: Any) -> Any:
            seen.append(("before", threading.current_thread(), args, kwargs))
            try:
                return super().thread_handler(loop, *args, **kwargs)
            finally:
                seen.append(("after", threading.current_thread(), args, kwargs))

    def work(a: int, b: int) -> tuple[int, threading.Thread]:
        return a + b, threading.current_thread()

    async def main() -> tuple[int, threading.Thread]:
        result: tuple[int, threading.Thread] = await DatabaseSyncToAsync(work)(1, b=2)
        return result

    total, thread = asyncio.run(main())
    assert total == 3
    assert seen == [("before", thread, (1,), {"b": 2}), ("after", thread, (1,), {"b": 2})]
    assert thread is not threading.main_thread()


# --- ThreadSensitiveContext -----------------------------------------------------------------------


def test_thread_sensitive_context_gives_each_context_its_own_thread() -> None:
    barrier = threading.Barrier(2, timeout=10)

    def meet() -> threading.Thread:
        barrier.wait()  # both contexts must run at the same time, or this times out
        return threading.current_thread()

    async def request() -> tuple[threading.Thread, threading.Thread]:
        async with ThreadSensitiveContext():
            first = await sync_to_async(meet)()
            second = await sync_to_async(current_thread)()
            return first, second

    async def main() -> list[tuple[threading.Thread, threading.Thread]]:
        return list(await asyncio.gather(request(), request()))

    (a1, a2), (b1, b2) = asyncio.run(main())
    assert a1 is a2
    assert b1 is b2
    assert a1 is not b1


def test_nested_thread_sensitive_contexts_use_the_outermost() -> None:
    async def main() -> tuple[threading.Thread, threading.Thread, threading.Thread]:
        async with ThreadSensitiveContext():
            outer = await sync_to_async(current_thread)()
            async with ThreadSensitiveContext():
                inner = await sync_to_async(current_thread)()
            after = await sync_to_async(current_thread)()
        return outer, inner, after

    outer, inner, after = asyncio.run(main())
    assert outer is inner is after


def test_each_thread_sensitive_context_has_a_thread_that_ends_with_it() -> None:
    # Thread-locals set during one context (one Django request) are never seen by the next.
    marks = threading.local()

    def visit() -> tuple[threading.Thread, str | None]:
        previous = getattr(marks, "seen", None)
        marks.seen = "an earlier context"
        return threading.current_thread(), previous

    async def main() -> list[tuple[threading.Thread, str | None]]:
        visits = []
        for _ in range(3):
            async with ThreadSensitiveContext():
                visits.append(await sync_to_async(visit)())
            assert not visits[-1][0].is_alive()
        return visits

    visits = asyncio.run(main())
    assert len({thread for thread, _ in visits}) == 3
    assert [previous for _, previous in visits] == [None, None, None]


def test_leaving_a_thread_sensitive_context_waits_for_its_thread_not_blocking_the_loop() -> None:
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def blocking() -> None:
        started.set()
        release.wait(10)
        finished.set()

    async def releaser() -> None:
        await asyncio.sleep(0)  # runs only if the loop is free while the context exits
        release.set()

    async def main() -> bool:
        loop = asyncio.get_running_loop()
        async with ThreadSensitiveContext():
            call = asyncio.ensure_future(sync_to_async(blocking)())
            await loop.run_in_executor(None, started.wait)
            release_task = asyncio.create_task(releaser())
        done_when_left = finished.is_set()
        await asyncio.gather(call, release_task)
        return done_when_left

    assert asyncio.run(main()) is True


def test_thread_sensitive_context_with_executor() -> None:
    with ThreadPoolExecutor(1, thread_name_prefix="context-executor") as executor:
        context = ThreadSensitiveContext(executor=executor)
        leftover: list[asyncio.Task[threading.Thread]] = []

        async def main() -> str:
            ready = asyncio.Event()
            async with context:
                name = (await sync_to_async(current_thread)()).name

                async def later() -> threading.Thread:
                    await ready.wait()
                    return await sync_to_async(current_thread)()

                leftover.append(asyncio.create_task(later()))
            ready.set()
            with pytest.raises(RuntimeError) as exited:
                await leftover[0]
            assert str(exited.value) == (
                "ThreadSensitiveContext has exited. Tasks created inside a context with an "
                "executor must finish before it exits."
            )
            with pytest.raises(RuntimeError) as again:
                async with context:
                    pass
            assert (
                str(again.value)
                == "ThreadSensitiveContext with an executor cannot be entered again"
            )
            return name

        assert asyncio.run(main()).startswith("context-executor")
        # The context did not shut the executor down.
        assert executor.submit(lambda: 5).result(timeout=10) == 5


def test_task_outliving_a_thread_sensitive_context_runs_on_a_thread_of_its_own() -> None:
    async def main() -> tuple[threading.Thread, threading.Thread, threading.Thread]:
        ready = asyncio.Event()

        async def later() -> threading.Thread:
            await ready.wait()
            return await sync_to_async(current_thread)()

        async with ThreadSensitiveContext():
            inside = await sync_to_async(current_thread)()
            task = asyncio.create_task(later())
        ready.set()
        process_wide = await sync_to_async(current_thread)()
        return inside, await task, process_wide

    inside, late, process_wide = asyncio.run(main())
    assert late is not inside
    assert late is not process_wide


# --- loops used by async_to_sync ------------------------------------------------------------------


def test_async_to_sync_runs_each_call_on_a_new_loop_and_thread_and_closes_the_loop() -> None:
    async def where() -> tuple[threading.Thread, asyncio.AbstractEventLoop]:
        return threading.current_thread(), asyncio.get_running_loop()

    (first_thread, first_loop), (second_thread, second_loop) = (
        async_to_sync(where)(),
        async_to_sync(where)(),
    )
    assert first_thread is not second_thread
    assert first_loop is not second_loop
    assert first_loop.is_closed()
    first_thread.join(10)  # it ends by itself, right after the call
    assert not first_thread.is_alive()


def test_tasks_a_call_leaves_are_cancelled_before_it_returns() -> None:
    # Their cleanup may still make thread-sensitive calls: the caller serves them until the end.
    events: list[str] = []

    async def leave_a_task() -> None:
        async def background() -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                events.append(f"cancelled, cleanup on {await sync_to_async(current_thread)()}")
                raise

        leftover.append(asyncio.create_task(background()))
        await asyncio.sleep(0)

    leftover: list[asyncio.Task[None]] = []
    async_to_sync(leave_a_task)()
    events.append("returned")
    assert events == [f"cancelled, cleanup on {threading.current_thread()}", "returned"]
    assert leftover[0].cancelled()


def test_force_new_loop_gives_a_fresh_loop_and_cancels_leftover_tasks() -> None:
    cancelled = threading.Event()
    left_running: list[asyncio.Task[None]] = []

    async def leave_a_task() -> asyncio.AbstractEventLoop:
        async def forever() -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.set()
                raise

        # Keep the task referenced: the loop holds tasks only weakly, and a pending task in a
        # reference cycle can be collected before it is ever cancelled.
        left_running.append(asyncio.get_running_loop().create_task(forever()))
        await asyncio.sleep(0)
        return asyncio.get_running_loop()

    first = async_to_sync(leave_a_task, force_new_loop=True)()
    assert cancelled.is_set()
    assert first.is_closed()
    second = async_to_sync(leave_a_task, force_new_loop=True)()
    assert second is not first


def test_task_outliving_its_async_to_sync_call_cannot_come_back_to_its_thread() -> None:
    # As in asgiref: the call's executor has quit once the call returned.
    def sync_part(call_returned: asyncio.Event) -> asyncio.Task[threading.Thread]:
        async def start() -> asyncio.Task[threading.Thread]:
            async def background() -> threading.Thread:
                await call_returned.wait()
                return await sync_to_async(current_thread)()

            return asyncio.create_task(background())

        return async_to_sync(start)()

    async def main() -> None:
        call_returned = asyncio.Event()
        task = await sync_to_async(sync_part)(call_returned)
        call_returned.set()
        with pytest.raises(RuntimeError) as raised:
            await task
        assert str(raised.value) == "CurrentThreadExecutor already quit or is broken"

    asyncio.run(main())


def test_async_single_thread_context_runs_every_call_on_one_thread_each_on_a_new_loop() -> None:
    async def where() -> tuple[threading.Thread, asyncio.AbstractEventLoop]:
        return threading.current_thread(), asyncio.get_running_loop()

    with AsyncSingleThreadContext():
        first = async_to_sync(where)()
        with AsyncSingleThreadContext():
            nested = async_to_sync(where)()
        second = async_to_sync(where)()
        assert first[0] is nested[0] is second[0]
        assert first[0].is_alive()
    assert len({first[1], nested[1], second[1]}) == 3
    assert all(loop.is_closed() for loop in (first[1], nested[1], second[1]))
    assert not first[0].is_alive()


def test_async_single_thread_context_is_shared_by_threads_that_inherit_the_context() -> None:
    async def where() -> threading.Thread:
        return threading.current_thread()

    with AsyncSingleThreadContext():
        here = async_to_sync(where)()
        context = contextvars.copy_context()
        there = run_in_thread(lambda: context.run(async_to_sync(where)))
    assert here is there


# --- context variables ----------------------------------------------------------------------------


def test_context_flows_into_and_back_out_of_sync_to_async() -> None:
    def sync_part() -> int:
        seen = request_id.get()
        request_id.set(seen + 1)
        return seen

    async def main() -> tuple[int, int]:
        request_id.set(10)
        seen = await sync_to_async(sync_part)()
        return seen, request_id.get()

    assert asyncio.run(main()) == (10, 11)


def test_context_flows_into_and_back_out_of_async_to_sync() -> None:
    async def async_part() -> int:
        seen = request_id.get()
        request_id.set(seen + 1)
        return seen

    def caller() -> tuple[int, int]:
        request_id.set(20)
        seen = async_to_sync(async_part)()
        return seen, request_id.get()

    assert run_in_thread(caller) == (20, 21)


def test_context_flows_through_nested_hops_both_ways() -> None:
    def innermost() -> None:
        request_id.set(request_id.get() * 10)

    async def middle() -> None:
        request_id.set(request_id.get() + 1)
        await sync_to_async(innermost)()

    def outer() -> None:
        async_to_sync(middle)()

    async def main() -> int:
        request_id.set(4)
        await sync_to_async(outer)()
        return request_id.get()

    assert asyncio.run(main()) == 50


def test_sync_to_async_runs_in_a_given_context() -> None:
    given = contextvars.copy_context()
    given.run(request_id.set, 99)

    async def main() -> tuple[int, int]:
        request_id.set(1)
        seen = await sync_to_async(request_id.get, context=given)()
        return seen, given[request_id]

    assert asyncio.run(main()) == (99, 99)


def test_bridge_state_never_leaks_into_the_callers_context() -> None:
    async def inner() -> None:
        await sync_to_async(lambda: None)()

    def sync_part() -> None:
        async_to_sync(inner)()

    async def main() -> None:
        await sync_to_async(sync_part)()
        async with ThreadSensitiveContext():
            await sync_to_async(sync_part)()
        assert _hop.CURRENT_LANE.get() is None
        assert _routing.SENSITIVE_CONTEXT.get() is None
        assert _flow.ACTING_FOR.get() is None

    asyncio.run(main())
    run_in_thread(lambda: async_to_sync(inner)())
    assert _hop.CURRENT_LANE.get() is None
    assert _flow.ACTING_FOR.get() is None


def test_keep_alive_requests_sharing_one_parent_context_all_succeed() -> None:
    # uvicorn runs every request of a keep-alive connection in a copy of one context; in the
    # original asgiref about half of these failed with "CurrentThreadExecutor already quit".
    async def leaf() -> int:
        return await sync_to_async(lambda: request_id.get())()

    def view() -> int:
        return async_to_sync(leaf)()

    async def handle(number: int) -> int:
        request_id.set(number)
        async with ThreadSensitiveContext():
            result = await sync_to_async(view)()
        return result + await sync_to_async(view)()

    async def connection() -> list[int]:
        parent = contextvars.copy_context()
        results = []
        for number in range(200):
            task = parent.copy().run(asyncio.get_running_loop().create_task, handle(number))
            results.append(await task)
            # What a leaky bridge copies back lands in the parent: copy it like a server would.
            parent = contextvars.copy_context()
        return results

    assert asyncio.run(connection()) == [2 * n for n in range(200)]


# --- cancellation ---------------------------------------------------------------------------------


def test_cancelled_sync_to_async_raises_at_once_and_the_thread_finishes_alone() -> None:
    # As asgiref: the awaiting task does not wait for a thread it cannot interrupt. The cancel
    # message is dropped, and what the function returns or raises afterwards is dropped too.
    started, release, finished = threading.Event(), threading.Event(), threading.Event()
    reported: list[object] = []

    def blocking() -> None:
        started.set()
        release.wait(10)
        finished.set()
        raise ValueError("nobody sees this")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda loop, context: reported.append(context))
        task = asyncio.create_task(sync_to_async(blocking)())
        await loop.run_in_executor(None, started.wait)
        task.cancel("stop it")
        with pytest.raises(asyncio.CancelledError) as raised:
            await task
        assert raised.value.args == ()
        assert not finished.is_set()
        release.set()
        # The next thread-sensitive call queues behind the cancelled one, on the same thread.
        assert await sync_to_async(finished.is_set)() is True

    asyncio.run(main())
    assert reported == []


def test_timeout_around_sync_to_async_fires_while_the_function_still_runs() -> None:
    release = threading.Event()

    def blocking() -> bool:
        return release.wait(10)

    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(sync_to_async(blocking)(), timeout=0.05)
        assert not release.is_set()
        release.set()

    asyncio.run(main())


def test_a_queued_call_whose_caller_was_cancelled_never_runs() -> None:
    started, release = threading.Event(), threading.Event()
    ran: list[str] = []

    def first() -> None:
        started.set()
        release.wait(10)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        running = asyncio.create_task(sync_to_async(first)())
        await loop.run_in_executor(None, started.wait)
        queued = asyncio.create_task(sync_to_async(lambda: ran.append("queued"))())
        await asyncio.sleep(0)
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
        release.set()
        await running
        await sync_to_async(lambda: ran.append("later"))()

    asyncio.run(main())
    assert ran == ["later"]


def test_cancellation_is_handed_to_the_async_to_sync_call_the_function_waits_in() -> None:
    inner_started = threading.Event()
    seen_in_thread: list[type[BaseException]] = []

    async def waits_forever() -> None:
        inner_started.set()
        await asyncio.Event().wait()

    def sync_part() -> None:
        try:
            async_to_sync(waits_forever)()
        except BaseException as error:
            seen_in_thread.append(type(error))
            raise

    async def main() -> None:
        task = asyncio.create_task(sync_to_async(sync_part)())
        await asyncio.get_running_loop().run_in_executor(None, inner_started.wait)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert seen_in_thread == [asyncio.CancelledError]


def test_a_cancellation_the_inner_coroutine_absorbs_gives_the_functions_result() -> None:
    inner_started = threading.Event()

    async def absorbs() -> str:
        inner_started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            return "absorbed"
        return "not reached"

    def sync_part() -> str:
        return f"the function got {async_to_sync(absorbs)()}"

    async def main() -> tuple[str, bool]:
        task = asyncio.create_task(sync_to_async(sync_part)())
        await asyncio.get_running_loop().run_in_executor(None, inner_started.wait)
        task.cancel()
        result = await task
        return result, task.cancelled()

    assert asyncio.run(main()) == ("the function got absorbed", False)


def test_async_to_sync_after_the_callers_cancellation_runs_normally() -> None:
    thread_started, caller_gone = threading.Event(), threading.Event()
    results: list[object] = []

    async def inner() -> str:
        return "ran"

    def sync_part() -> None:
        thread_started.set()
        caller_gone.wait(10)
        results.append(async_to_sync(inner)())

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.create_task(sync_to_async(sync_part)())
        await loop.run_in_executor(None, thread_started.wait)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        caller_gone.set()
        # The thread-sensitive lane is busy until the function is done: wait behind it.
        await sync_to_async(lambda: None)()

    asyncio.run(main())
    assert results == ["ran"]


def test_async_to_sync_whose_task_is_cancelled_before_its_first_step_still_returns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # asyncio runs none of a coroutine (not even its `finally`) whose task is cancelled before
    # its first step, as Django's request cancellation can do at the wrong moment: the sync
    # thread must still get CancelledError, not wait forever.
    original_start = _loop_call.LoopCall._start

    def start_then_cancel(call: _loop_call.LoopCall) -> None:
        original_start(call)
        call.cancel()

    monkeypatch.setattr(_loop_call.LoopCall, "_start", start_then_cancel)
    ran: list[str] = []

    async def inner() -> None:
        ran.append("inner")

    def sync_part() -> str:
        try:
            async_to_sync(inner)()
        except asyncio.CancelledError as error:
            return str(error)
        return "returned"

    async def main() -> str:
        return await sync_to_async(sync_part)()

    assert asyncio.run(main()) == "cancelled before it started"
    assert ran == []


# --- loops that stop --------------------------------------------------------------------------


def test_wrappers_built_under_one_loop_work_under_later_loops() -> None:
    wrappers: dict[str, Any] = {}

    async def build() -> None:
        async def coroutine_function() -> asyncio.AbstractEventLoop:
            return asyncio.get_running_loop()

        wrappers["to_async"] = sync_to_async(current_thread)
        wrappers["to_sync"] = async_to_sync(coroutine_function)

    asyncio.run(build())

    async def use() -> threading.Thread:
        result: threading.Thread = await wrappers["to_async"]()
        return result

    assert isinstance(asyncio.run(use()), threading.Thread)
    assert wrappers["to_sync"]().is_closed()
    assert run_in_thread(wrappers["to_sync"]).is_closed()


def test_async_to_sync_after_the_outer_loop_stopped_uses_its_own_loop() -> None:
    loop = asyncio.new_event_loop()
    loop_stopped = threading.Event()

    async def where() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    inner_done = threading.Event()

    def sync_part() -> asyncio.AbstractEventLoop:
        loop.call_soon_threadsafe(loop.stop)
        loop_stopped.wait(10)
        try:
            return async_to_sync(where)()
        finally:
            inner_done.set()

    try:
        task = loop.create_task(sync_to_async(sync_part)())
        loop.run_forever()
        loop_stopped.set()
        assert inner_done.wait(10), "async_to_sync waited for a stopped loop"
        used = loop.run_until_complete(task)
        assert used is not loop
    finally:
        loop.close()


def test_a_coroutine_sent_to_a_loop_that_stopped_is_withdrawn() -> None:
    stopped_loop = asyncio.new_event_loop()
    try:

        async def never_runs() -> None:
            raise AssertionError("ran on a stopped loop")

        def attempt() -> None:
            coroutine = never_runs()
            lane = BorrowedLane()
            call = _loop_call.LoopCall(
                stopped_loop, coroutine, lane, None, contextvars.copy_context()
            )
            with pytest.raises(_loop_call.LoopGoneError, match="stopped before it could run"):
                call.run(watch_loop=True)
            assert call.withdrawn
            coroutine.close()

        run_in_thread(attempt)
    finally:
        stopped_loop.close()


shared_to_async = sync_to_async(current_thread)


@pytest.mark.asyncio
async def test_pytest_asyncio_loop_first() -> None:
    assert isinstance(await shared_to_async(), threading.Thread)


@pytest.mark.asyncio
async def test_pytest_asyncio_loop_second_after_the_first_loop_closed() -> None:
    assert isinstance(await shared_to_async(), threading.Thread)

    def nested() -> threading.Thread:
        return async_to_sync(shared_to_async)()

    assert isinstance(await sync_to_async(nested)(), threading.Thread)


# --- stress and threads ---------------------------------------------------------------------------


def _asgiref_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith(("asgiref", "asyncio"))}


def test_hundreds_of_concurrent_nested_calls_finish_and_leave_no_thread_behind() -> None:
    before = _asgiref_threads()

    async def leaf(number: int) -> int:
        await asyncio.sleep(0)
        return await sync_to_async(lambda: number)()

    def middle(number: int) -> int:
        return async_to_sync(leaf)(number) + 1

    async def request(number: int) -> int:
        if number % 2:
            async with ThreadSensitiveContext():
                return await sync_to_async(middle)(number)
        return await sync_to_async(middle, thread_sensitive=False)(number)

    async def main() -> list[int]:
        return list(await asyncio.gather(*(request(n) for n in range(300))))

    assert asyncio.run(main()) == [n + 1 for n in range(300)]

    def plain_thread_caller(number: int) -> int:
        return async_to_sync(leaf)(number)

    callers = [threading.Thread(target=plain_thread_caller, args=(n,)) for n in range(30)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(30)
    gc.collect()

    # Each context's thread has ended by the time the context was left; each call's loop thread
    # ends by itself right after its call. What stays: the process-wide thread-sensitive thread,
    # and the one spare thread started ahead of the next call.
    for thread in _asgiref_threads() - before:
        if thread.name.startswith(("asgiref-async-to-sync", "asgiref-sensitive")):
            thread.join(10)  # a call's thread may still be starting the next spare
    allowed = {PROCESS_LANE.thread, SPARE_LANE.peek()}
    assert _asgiref_threads() - before - allowed == set()


def test_takers_finishing_together_start_one_spare_between_them() -> None:
    spare_lane = _SpareLane()
    before = _asgiref_threads()
    ready = threading.Barrier(8)

    def finish_a_take() -> None:
        ready.wait()
        spare_lane.refill()

    takers = [threading.Thread(target=finish_a_take) for _ in range(8)]
    for taker in takers:
        taker.start()
    for taker in takers:
        taker.join(10)
    started = _asgiref_threads() - before
    try:
        assert started == {spare_lane.peek()}
    finally:
        if spare_lane._spare is not None:
            spare_lane._spare.close()
        for thread in started:
            thread.join(10)


def test_fork_child_does_not_inherit_a_dead_loop() -> None:
    if not hasattr(os, "fork"):
        pytest.skip("needs os.fork")

    async def where() -> int:
        return os.getpid()

    assert async_to_sync(where)() == os.getpid()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads, on 3.12+
        pid = os.fork()
    if pid == 0:
        signal.alarm(20)  # a hang in the child must not hang the test
        code = 1
        try:
            code = 0 if async_to_sync(where)() == os.getpid() else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_fork_inside_a_sync_to_async_thread_then_async_to_sync_in_the_child() -> None:
    # multiprocessing with the fork start method does this from Django views and commands.
    if not hasattr(os, "fork"):
        pytest.skip("needs os.fork")

    async def where() -> tuple[int, bool]:
        on_caller = await sync_to_async(lambda: threading.current_thread() is caller)()
        return os.getpid(), on_caller

    def fork_here() -> int:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads, on 3.12+
            pid = os.fork()
        if pid == 0:
            signal.alarm(20)  # a hang in the child must not hang the test
            code = 1
            try:
                global caller
                caller = threading.current_thread()
                code = 0 if async_to_sync(where)() == (os.getpid(), True) else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)

    async def main() -> int:
        return await sync_to_async(fork_here)()

    assert asyncio.run(main()) == 0


caller: threading.Thread | None = None


def test_interpreter_exit_after_using_the_bridge_is_clean() -> None:
    # The exit hook ends the main thread's loop; it once started a thread to shut the default
    # executor down (refused at interpreter shutdown on 3.12) and could stop the loop twice.
    program = (
        "from asgiref.sync import async_to_sync, sync_to_async\n"
        "async def main():\n"
        "    return await sync_to_async(lambda: 1, thread_sensitive=False)()\n"
        "print(async_to_sync(main)())\n"
    )
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-c", program], capture_output=True, text=True, timeout=30
        )
        assert (done.returncode, done.stdout, done.stderr) == (0, "1\n", "")
