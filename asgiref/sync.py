"""Calling sync code from async code and back: `sync_to_async`, `async_to_sync` and friends.

This module is the public face; the machinery lives in `_hop` and `_loop_call` (moving a call to
another thread or event loop and back), `_routing` (which thread a sync call runs on), `_lanes`
(the threads that thread-sensitive work runs on) and `_loops` (the event loops asgiref runs
itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import sys
import threading
import warnings
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
)
from concurrent.futures import Executor
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any, Generic, ParamSpec, TypeVar, overload

from ._bridge_streams import (
    AsyncContextBridge,
    AsyncIteratorBridge,
    SyncContextBridge,
    SyncIteratorBridge,
)
from ._hop import ThreadCall
from ._inspection import is_async_marked, iscoroutinefunction, markcoroutinefunction
from ._lanes import PROCESS_LANE, BorrowedLane, ThreadLane, run_on_own_thread
from ._loop_call import LoopCall, LoopGoneError, outer_loop
from ._observe import OBSERVERS, SLOW_LANE, BridgedCall, BridgeObserver, watch_thread_call
from ._routing import SENSITIVE_CONTEXT, SensitiveWorld, route
from .current_thread_executor import CurrentThreadExecutor
from .local import Local

__all__ = [
    "AsyncSingleThreadContext",
    "AsyncToSync",
    "CurrentThreadExecutor",
    "Local",
    "SyncToAsync",
    "ThreadSensitiveContext",
    "BridgeObserver",
    "BridgedCall",
    "async_to_sync",
    "async_to_sync_context",
    "async_to_sync_iter",
    "iscoroutinefunction",
    "markcoroutinefunction",
    "register_bridge_observer",
    "set_slow_lane_warning",
    "sync_to_async",
    "sync_to_async_context",
    "sync_to_async_iter",
]

_P = ParamSpec("_P")
_R = TypeVar("_R")

# Defined in `_inspection` (the bridge's machinery needs them too); they belong to this module,
# except `inspect.markcoroutinefunction` itself, which asgiref re-exports on 3.12+.
iscoroutinefunction.__module__ = __name__
if markcoroutinefunction.__module__ == "asgiref._inspection":
    markcoroutinefunction.__module__ = __name__


class ThreadSensitiveContext:
    """Async context manager: thread-sensitive calls inside it run on a thread of its own.

    Django opens one per request, so that requests do not queue on one process-wide thread. Only
    the outermost context counts, unless one is given an `executor`: it then sends its calls there
    (and leaves the executor running when it exits), can be entered only once, and a call made
    through it after it exited raises `RuntimeError`.

    The thread starts with the first thread-sensitive call, and leaving the context waits (without
    blocking the event loop) until it has run every call it took and ended, so nothing kept in
    thread-locals by one context is seen by the next.
    """

    def __init__(self, *, executor: Executor | None = None) -> None:
        self._world = SensitiveWorld(executor)
        self._token: contextvars.Token[SensitiveWorld | None] | None = None
        self._entered = False

    async def __aenter__(self) -> ThreadSensitiveContext:
        if self._world.executor is None:
            if SENSITIVE_CONTEXT.get() is not None:
                return self  # nested inside another context: the outermost one counts
            if self._token is not None:
                raise RuntimeError("this ThreadSensitiveContext is already active")
            self._world.exited = False
        elif self._entered:
            raise RuntimeError("ThreadSensitiveContext with an executor cannot be entered again")
        self._entered = True
        self._token = SENSITIVE_CONTEXT.set(self._world)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        token, self._token = self._token, None
        if token is None:
            return
        SENSITIVE_CONTEXT.reset(token)
        await self._world.end()


class AsyncSingleThreadContext:
    """Context manager: every `async_to_sync` call inside it runs its coroutine on one and the same
    thread (each call still on a new event loop of its own). Re-entrant: the outermost one counts;
    its thread ends when it exits."""

    def __init__(self) -> None:
        self._token: contextvars.Token[AsyncSingleThreadContext | None] | None = None
        self._lane: ThreadLane | None = None
        self._lock = threading.Lock()

    def start(self, job: Callable[[], None]) -> None:
        """Run `job` on the context's thread (started on first use)."""
        with self._lock:
            lane = self._lane
            if lane is None:
                lane = self._lane = ThreadLane("asgiref-single-thread-context")
        lane.post(job)

    def __enter__(self) -> AsyncSingleThreadContext:
        if _SINGLE_THREAD_CONTEXT.get() is None:
            self._token = _SINGLE_THREAD_CONTEXT.set(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        token, self._token = self._token, None
        if token is None:
            return
        _SINGLE_THREAD_CONTEXT.reset(token)
        with self._lock:
            lane, self._lane = self._lane, None
        if lane is not None:
            lane.shutdown(wait=True)


_SINGLE_THREAD_CONTEXT: contextvars.ContextVar[AsyncSingleThreadContext | None] = (
    contextvars.ContextVar("asgiref.sync.single_thread_context", default=None)
)


_ON_OWN_THREAD = functools.partial(run_on_own_thread, name="asgiref-async-to-sync")


class AsyncToSync(Generic[_P, _R]):
    """A sync callable that runs a coroutine function and blocks for its result.

    Called from a thread that `sync_to_async` started, the coroutine runs on the event loop that
    awaits that call; otherwise on a new event loop, on a new thread (or, inside an
    `AsyncSingleThreadContext`, on that context's thread), which is ended as `asyncio.run` ends
    one (the tasks the coroutine left are cancelled) before the call returns.
    `force_new_loop=True` always gives the call a new loop. While it waits, the calling thread
    runs the thread-sensitive `sync_to_async` calls the coroutine makes.
    """

    def __init__(
        self,
        awaitable: Callable[_P, Awaitable[_R]],
        force_new_loop: bool = False,
    ) -> None:
        if not is_async_marked(awaitable):
            # Accepted all the same, as asgiref does: a plain function may return a coroutine.
            warnings.warn(
                "async_to_sync was passed a non-async-marked callable", UserWarning, stacklevel=2
            )
        self.awaitable = awaitable
        with contextlib.suppress(AttributeError):
            self.__self__ = awaitable.__self__  # type: ignore[attr-defined]
        self.force_new_loop = force_new_loop

    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        if asyncio._get_running_loop() is not None:
            raise RuntimeError(
                "You cannot use AsyncToSync in the same thread as an async event loop - just "
                "await the async function directly."
            )
        lane = BorrowedLane()
        exception = sys.exc_info()[1]
        context = contextvars.copy_context()
        # Called here, on the caller's thread and in its context, as asgiref does: only what it
        # returns crosses to the loop.
        awaitable = self.awaitable(*args, **kwargs)

        watch: BridgedCall | None = None
        if OBSERVERS.active:
            loops: list[asyncio.AbstractEventLoop] = []  # the loop it went to (the latest)
            watch = BridgedCall(self.awaitable, "async_to_sync", False, lambda: loops[-1])
            context.run(OBSERVERS.notify, "queued", watch)

        def call_on(loop: asyncio.AbstractEventLoop) -> LoopCall:
            call = LoopCall(loop, awaitable, lane, exception, context)
            if watch is not None:
                loops.append(loop)
                call.watch = watch
            return call

        result: _R
        if not self.force_new_loop:
            outer = outer_loop()
            if outer is not None:
                call = call_on(outer)
                try:
                    result = call.run(watch_loop=True)
                    return result
                except LoopGoneError:
                    if not call.withdrawn:
                        raise
                    # The outer loop stopped before starting the coroutine: run it on a new loop.
            single = _SINGLE_THREAD_CONTEXT.get()
            if single is not None:
                result = call_on(asyncio.new_event_loop()).run_on_new_loop(single.start)
                return result
        result = call_on(asyncio.new_event_loop()).run_on_new_loop(_ON_OWN_THREAD)
        return result

    def __get__(self, parent: Any, objtype: Any = None) -> Callable[..., _R]:
        bound = functools.partial(self.__call__, parent)
        return functools.update_wrapper(bound, self.awaitable)


class SyncToAsync(Generic[_P, _R]):
    """An async callable that runs a sync function in a thread and awaits its result.

    `thread_sensitive=True` (the default) runs it on the thread of its sync world: the sync thread
    that called `async_to_sync` further out, if any; else the thread of the outermost
    `ThreadSensitiveContext`; else `single_thread_executor`, one process-wide thread.
    `thread_sensitive=False` runs it on `executor`, or on the running loop's default executor
    (unless all of that executor's threads are taken and one of them waits in `async_to_sync` for
    the calling coroutine: that thread then runs it, where asgiref would deadlock). An explicit
    `executor` is used as given: its size bounds how deeply such calls can nest.
    `context` runs it in that context instead of a copy of the caller's (its changes stay there).
    """

    # Where thread-sensitive calls go when no other rule applies; users may replace it.
    single_thread_executor: Executor = PROCESS_LANE

    def __init__(
        self,
        func: Callable[_P, _R],
        thread_sensitive: bool = True,
        executor: Executor | None = None,
        context: contextvars.Context | None = None,
    ) -> None:
        if not callable(func) or is_async_marked(func):
            raise TypeError("sync_to_async can only be applied to sync functions.")
        self.func = func
        self.context = context
        functools.update_wrapper(self, func)
        self._thread_sensitive = thread_sensitive
        markcoroutinefunction(self)
        if thread_sensitive and executor is not None:
            raise TypeError("executor must not be set when thread_sensitive is True")
        self._executor = executor
        with contextlib.suppress(AttributeError):
            self.__self__ = func.__self__  # type: ignore[attr-defined]

    async def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        loop = asyncio.get_running_loop()
        given = self.context
        context = contextvars.copy_context() if given is None else given
        call = ThreadCall(
            loop, self.thread_handler, (loop, *args), kwargs, context, sys.exc_info()[1]
        )
        if OBSERVERS.active:
            watch_thread_call(call, context, self.func, self._thread_sensitive)
        route(
            call,
            loop,
            thread_sensitive=self._thread_sensitive,
            executor=self._executor,
            single_thread_executor=self.single_thread_executor,
        )
        result: _R = await call.result(context if given is None else None)
        return result

    def __get__(self, parent: Any, objtype: Any = None) -> Callable[..., Coroutine[Any, Any, _R]]:
        bound = functools.partial(self.__call__, parent)
        return functools.update_wrapper(bound, self.func)

    def thread_handler(self, loop: asyncio.AbstractEventLoop, *args: Any, **kwargs: Any) -> Any:
        """Runs in the worker thread and calls the function; subclasses may wrap it (and must
        call `super().thread_handler(loop, *args, **kwargs)`)."""
        return self.func(*args, **kwargs)


@overload
def sync_to_async(
    func: None = None,
    *,
    thread_sensitive: bool = True,
    executor: Executor | None = None,
    context: contextvars.Context | None = None,
) -> Callable[[Callable[_P, _R]], SyncToAsync[_P, _R]]: ...


@overload
def sync_to_async(
    func: Callable[_P, _R],
    *,
    thread_sensitive: bool = True,
    executor: Executor | None = None,
    context: contextvars.Context | None = None,
) -> SyncToAsync[_P, _R]: ...


def sync_to_async(
    func: Callable[_P, _R] | None = None,
    *,
    thread_sensitive: bool = True,
    executor: Executor | None = None,
    context: contextvars.Context | None = None,
) -> SyncToAsync[_P, _R] | Callable[[Callable[_P, _R]], SyncToAsync[_P, _R]]:
    """Wrap a sync callable so that it can be awaited; usable bare, with arguments, or directly."""
    if func is None:
        return lambda f: SyncToAsync(
            f, thread_sensitive=thread_sensitive, executor=executor, context=context
        )
    return SyncToAsync(func, thread_sensitive=thread_sensitive, executor=executor, context=context)


@overload
def async_to_sync(
    awaitable: None = None, *, force_new_loop: bool = False
) -> Callable[[Callable[_P, Awaitable[_R]]], AsyncToSync[_P, _R]]: ...


@overload
def async_to_sync(
    awaitable: Callable[_P, Awaitable[_R]], *, force_new_loop: bool = False
) -> AsyncToSync[_P, _R]: ...


def async_to_sync(
    awaitable: Callable[_P, Awaitable[_R]] | None = None, *, force_new_loop: bool = False
) -> AsyncToSync[_P, _R] | Callable[[Callable[_P, Awaitable[_R]]], AsyncToSync[_P, _R]]:
    """Wrap a coroutine function so that sync code can call it and block for its result."""
    if awaitable is None:
        return lambda f: AsyncToSync(f, force_new_loop=force_new_loop)
    return AsyncToSync(awaitable, force_new_loop=force_new_loop)


def _crossing(thread_sensitive: bool, executor: Executor | None) -> Any:
    """How the stream bridges make a sync function awaitable: as `sync_to_async` does."""
    return lambda func: SyncToAsync(func, thread_sensitive=thread_sensitive, executor=executor)


def sync_to_async_iter(
    iterable: Iterable[_R], *, thread_sensitive: bool = True, executor: Executor | None = None
) -> AsyncIterator[_R]:
    """An async iterator over a sync iterable: each item is produced by ``next()`` on the thread
    `sync_to_async` with the same arguments would use at that moment (so a generator reading
    Django's ORM runs on the request's database thread), with context variables carried as
    `sync_to_async` carries them. ``aclose()``, an early ``break``, a cancelled consumer or garbage
    collection closes a generator on that same thread, once."""
    return SyncIteratorBridge(iterable, _crossing(thread_sensitive, executor))


def async_to_sync_iter(async_iterable: AsyncIterable[_R]) -> Iterator[_R]:
    """A sync iterator over an async iterable, driven on one event loop for its whole life: the
    loop awaiting this thread's `sync_to_async` call (where `async_to_sync` runs coroutines), else
    the thread's own loop, shared while any such object holds it. ``close()`` runs ``aclose()``
    there. Used on a thread that runs an event loop, it raises `RuntimeError`."""
    return AsyncIteratorBridge(async_iterable)


def sync_to_async_context(
    manager: AbstractContextManager[_R, Any],
    *,
    thread_sensitive: bool = True,
    executor: Executor | None = None,
) -> AbstractAsyncContextManager[_R, bool]:
    """An async context manager over a sync one: ``__enter__`` and ``__exit__`` run where
    `sync_to_async` with the same arguments runs them."""
    return SyncContextBridge(manager, _crossing(thread_sensitive, executor))


def async_to_sync_context(
    manager: AbstractAsyncContextManager[_R, Any],
) -> AbstractContextManager[_R, bool]:
    """A sync context manager over an async one, entered and exited on one event loop (as
    `async_to_sync_iter` steps are)."""
    return AsyncContextBridge(manager)


def register_bridge_observer(observer: object) -> Callable[[], None]:
    """Tell `observer` about every call the bridge makes, in both directions: its ``queued``,
    ``started`` and ``finished`` methods (each optional; see `BridgeObserver`) get the call's
    `BridgedCall` on the thread where that happens. ``queued`` runs in the context the call will
    run in, so a context variable it sets is seen by the call (undo it in ``finished``, which runs
    there too). An observer that raises is logged and never breaks the call. Returns a function
    that unregisters it."""
    return OBSERVERS.register(observer)


def set_slow_lane_warning(seconds: float | None) -> None:
    """Log a warning (logger ``asgiref.sync``) whenever a thread-sensitive `sync_to_async` call
    has waited more than `seconds` for its thread, naming the call and showing the stack of what
    that thread is doing at that moment. None turns it off (the default, unless the environment
    variable ``ASGIREF_SLOW_LANE_WARNING`` gives the seconds when asgiref is imported)."""
    SLOW_LANE.set(seconds)


SLOW_LANE.from_environment()
