"""Calling sync code from async code and back: `sync_to_async`, `async_to_sync` and friends.

This module is the public face; the machinery lives in `_hop` (moving a call to another thread and
back), `_lanes` (where thread-sensitive work runs) and `_loops` (the event loops `async_to_sync`
uses when no loop is awaiting its caller).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import sys
import threading
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Executor
from types import TracebackType
from typing import Any, Generic, ParamSpec, TypeVar, overload

from . import _hop
from ._hop import LoopCall, LoopGoneError, ThreadCall
from ._inspection import (
    CallableKind,
    callable_kind,
    iscoroutinefunction,
    markcoroutinefunction,
)
from ._lanes import MAIN_LANE_DOOR, PROCESS_LANES, LeasedLane
from ._loops import LoopThread

__all__ = [
    "AsyncSingleThreadContext",
    "AsyncToSync",
    "AsyncToSyncInEventLoopError",
    "SyncToAsync",
    "ThreadSensitiveContext",
    "ThreadSensitiveContextExitedError",
    "async_to_sync",
    "iscoroutinefunction",
    "markcoroutinefunction",
    "sync_to_async",
]

_P = ParamSpec("_P")
_R = TypeVar("_R")


class AsyncToSyncInEventLoopError(RuntimeError):
    """`async_to_sync` was called from a thread whose event loop is running."""


class ThreadSensitiveContextExitedError(RuntimeError):
    """A thread-sensitive call came through a `ThreadSensitiveContext(executor=...)` that ended."""


class ThreadSensitiveContext:
    """Async context manager: thread-sensitive calls inside it run on a thread of its own.

    Django opens one per request, so that requests do not queue on one process-wide thread. Only
    the outermost context counts, unless one is given an `executor`: it then sends its calls there
    (and leaves the executor running when it exits), can be entered only once, and a call made
    through it after it exited raises `RuntimeError`.

    The thread comes from a pool of warm threads when the first thread-sensitive call arrives, so
    a context that makes no such call costs next to nothing, and one that does starts no thread.
    """

    def __init__(self, *, executor: Executor | None = None) -> None:
        self._executor = executor
        self._lane: LeasedLane | None = None
        self._token: contextvars.Token[_hop.SensitiveContext | None] | None = None
        self._entered = False
        self._exited = False

    async def __aenter__(self) -> ThreadSensitiveContext:
        if self._executor is None:
            if _hop.SENSITIVE_CONTEXT.get() is not None:
                return self  # nested inside another context: the outermost one counts
            if self._token is not None:
                raise RuntimeError("this ThreadSensitiveContext is already active")
            self._lane = LeasedLane(PROCESS_LANES.pool)
        elif self._entered:
            raise RuntimeError(
                "a ThreadSensitiveContext with an executor can be entered only once; "
                "create a new one for each use"
            )
        self._entered = True
        self._token = _hop.SENSITIVE_CONTEXT.set(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        token, self._token = self._token, None
        if token is None:
            return
        _hop.SENSITIVE_CONTEXT.reset(token)
        self._exited = True
        lane, self._lane = self._lane, None
        if lane is not None:
            lane.close()

    def post_call(self, call: ThreadCall) -> bool:
        """Send a thread-sensitive call to this context's thread (used by `sync_to_async`)."""
        if self._executor is not None:
            if self._exited:
                raise ThreadSensitiveContextExitedError(
                    "this ThreadSensitiveContext(executor=...) has already exited: a task that "
                    "outlived it made a thread-sensitive call; await such tasks inside the context"
                )
            _hop.send_to_executor(self._executor, call)
            return True
        lane = self._lane
        return lane is not None and lane.post(call.run)


class AsyncSingleThreadContext:
    """Context manager: every `async_to_sync` call inside it runs its coroutine on one and the same
    thread and event loop. Re-entrant: the outermost one counts. The loop and its thread end
    (cancelling any tasks left on the loop) when the outermost context exits."""

    def __init__(self) -> None:
        self._token: contextvars.Token[AsyncSingleThreadContext | None] | None = None
        self._loop_thread: LoopThread | None = None
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The context's event loop, started on first use."""
        with self._lock:
            if self._loop_thread is None:
                self._loop_thread = LoopThread("asgiref-single-thread-context")
            return self._loop_thread.loop

    def __enter__(self) -> AsyncSingleThreadContext:
        if _SINGLE_THREAD_CONTEXT.get() is None:
            self._token = _SINGLE_THREAD_CONTEXT.set(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        token, self._token = self._token, None
        if token is None:
            return
        _SINGLE_THREAD_CONTEXT.reset(token)
        with self._lock:
            loop_thread, self._loop_thread = self._loop_thread, None
        if loop_thread is not None:
            loop_thread.close()


_SINGLE_THREAD_CONTEXT: contextvars.ContextVar[AsyncSingleThreadContext | None] = (
    contextvars.ContextVar("asgiref.sync.single_thread_context", default=None)
)


class AsyncToSync(Generic[_P, _R]):
    """A sync callable that runs a coroutine function and blocks for its result.

    Called from a thread that `sync_to_async` started, the coroutine runs on the event loop that
    awaits that call; otherwise on this thread's own event loop (one per thread, kept while the
    thread lives, so loop-bound objects keep working between calls; tasks a call leaves running go
    on in the background until the thread ends), or on the loop of an enclosing
    `AsyncSingleThreadContext`. `force_new_loop=True` gives each call a new loop of its own, ended
    (remaining tasks cancelled) when the call returns. While it waits, the calling thread runs the
    thread-sensitive `sync_to_async` calls the coroutine makes.
    """

    def __init__(
        self,
        awaitable: Callable[_P, Awaitable[_R]],
        force_new_loop: bool = False,
    ) -> None:
        if not callable(awaitable):
            raise TypeError(
                f"async_to_sync needs an async function, got {type(awaitable).__name__} "
                f"object {awaitable!r}, which is not callable"
            )
        kind = callable_kind(awaitable)
        if kind is CallableKind.GENERATOR or kind is CallableKind.ASYNC_GENERATOR:
            raise TypeError(
                f"async_to_sync cannot wrap the generator function {awaitable!r}: it would get a "
                "generator, not a result. Wrap a coroutine function that consumes it instead."
            )
        if kind is not CallableKind.ASYNC:
            # Not provably async (e.g. a plain function returning a coroutine): accepted, as
            # asgiref always has; a call that returns no awaitable raises TypeError.
            warnings.warn(
                "async_to_sync was passed a non-async-marked callable",
                UserWarning,
                stacklevel=2,
            )
        self.awaitable = awaitable
        self.force_new_loop = force_new_loop
        functools.update_wrapper(self, awaitable)
        # The wrapper is sync, whatever marks the wrapped function carried in its __dict__.
        self.__dict__.pop("_is_coroutine_marker", None)
        self.__dict__.pop("_is_coroutine", None)

    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        if asyncio._get_running_loop() is not None:
            raise AsyncToSyncInEventLoopError(
                "You cannot use AsyncToSync in the same thread as an async event loop - just "
                "await the async function directly (or call it from a thread, e.g. through "
                "sync_to_async)."
            )
        lane, entered_world = _hop.enter_sync_world()
        exception = sys.exc_info()[1]

        def call_on(loop: asyncio.AbstractEventLoop) -> LoopCall:
            return LoopCall(loop, self.awaitable, args, kwargs, lane, exception)

        try:
            result: _R = self._run(call_on)
            return result
        finally:
            if entered_world:
                _hop.leave_sync_world()

    def _run(self, call_on: Callable[[asyncio.AbstractEventLoop], LoopCall]) -> Any:
        if self.force_new_loop:
            return _hop.run_on_new_loop(call_on)
        outer = _hop.outer_loop()
        if outer is not None:
            call = call_on(outer)
            try:
                return call.run(watch_loop=True)
            except LoopGoneError:
                if not call.withdrawn:
                    raise
                # The outer loop stopped before starting the coroutine: run it on our own loop.
        single = _SINGLE_THREAD_CONTEXT.get()
        if single is not None:
            return call_on(single.loop).run(watch_loop=False)
        return _hop.run_on_own_loop(call_on)

    def __get__(self, parent: Any, objtype: Any = None) -> Callable[..., _R]:
        bound = functools.partial(self.__call__, parent)
        return functools.update_wrapper(bound, self.awaitable)


async def _coroutine_template() -> None:
    """Lends its code object to `SyncToAsync` on Python < 3.12 (see there)."""


class SyncToAsync(Generic[_P, _R]):
    """An async callable that runs a sync function in a thread and awaits its result.

    `thread_sensitive=True` (the default) runs it on the thread of its sync world: the sync thread
    that called `async_to_sync` further out, if any; else the thread of the outermost
    `ThreadSensitiveContext`; else `single_thread_executor`, one process-wide thread.
    `thread_sensitive=False` runs it on `executor`, or on the running loop's default executor.
    """

    # Where thread-sensitive calls go when no other rule applies; users may replace it.
    single_thread_executor: Executor = MAIN_LANE_DOOR

    if sys.version_info < (3, 12):
        # `inspect.iscoroutinefunction` before 3.12 honours no mark; it does accept objects that
        # look like functions, so instances borrow a coroutine function's code object.
        __code__ = _coroutine_template.__code__
        __defaults__ = None
        __kwdefaults__ = None

    def __init__(
        self,
        func: Callable[_P, _R],
        thread_sensitive: bool = True,
        executor: Executor | None = None,
        context: contextvars.Context | None = None,
    ) -> None:
        if not callable(func):
            raise TypeError(
                f"sync_to_async needs a sync function, got {type(func).__name__} object "
                f"{func!r}, which is not callable"
            )
        kind = callable_kind(func)
        if kind is CallableKind.ASYNC or kind is CallableKind.ASYNC_GENERATOR:
            raise TypeError("sync_to_async can only be applied to sync functions.")
        if kind is CallableKind.GENERATOR:
            raise TypeError(
                f"sync_to_async cannot wrap the generator function {func!r}: the generator would "
                "run in the caller's thread, not the worker's. Wrap a function that consumes it "
                "(e.g. returns list(generator)) instead."
            )
        if executor is not None and thread_sensitive:
            raise TypeError(
                "executor must not be given with thread_sensitive=True: thread-sensitive calls "
                "always run on their sync world's thread. Pass thread_sensitive=False too."
            )
        self.func = func
        self.thread_sensitive = thread_sensitive
        self.executor = executor
        self.context = context
        functools.update_wrapper(self, func)
        markcoroutinefunction(self)

    async def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context() if self.context is None else self.context
        call = ThreadCall(
            loop, self.thread_handler, (loop, *args), kwargs, context, sys.exc_info()[1]
        )
        if self.thread_sensitive:
            _hop.send_thread_sensitive(call, self.single_thread_executor)
        elif self.executor is not None:
            _hop.send_to_executor(self.executor, call)
        else:
            _hop.send_to_default_executor(loop, call)
        try:
            await call.waiter
        except asyncio.CancelledError:
            await call.outlast_cancellation()
            raise
        finally:
            if call.changed:
                _hop.carry_back(context)
        result: _R = call.outcome()
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

        def decorator(f: Callable[_P, _R]) -> SyncToAsync[_P, _R]:
            return SyncToAsync(
                f, thread_sensitive=thread_sensitive, executor=executor, context=context
            )

        return decorator
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

        def decorator(f: Callable[_P, Awaitable[_R]]) -> AsyncToSync[_P, _R]:
            return AsyncToSync(f, force_new_loop=force_new_loop)

        return decorator
    return AsyncToSync(awaitable, force_new_loop=force_new_loop)
