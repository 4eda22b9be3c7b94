"""Iterators and context managers across the bridge: the machinery behind `sync_to_async_iter`,
`async_to_sync_iter`, `sync_to_async_context` and `async_to_sync_context`.

Theory
------
A sync iterator consumed from async code (`SyncIteratorBridge`) takes each step through a
*crossing* the public `sync` module makes for it (a `SyncToAsync` with the caller's arguments:
this module never reaches up into `sync` itself), so each `next()` runs exactly where
`sync_to_async` with the same arguments would run at that moment: a generator that reads Django's
ORM runs on the request's database thread, with context variables carried there and back as for
any call. The iterator is created by
`iter()` on that thread too, and closed there: by `aclose()`; when the consuming task is
cancelled during a step, by a close queued at once behind that step; when the consumer just
drops it (an early `break`, garbage collection), by a close scheduled on the loop it was consumed
on. The last two run in the context of the latest step, so that routing sends them to the same
thread. The generator's `finally` runs once: a closed or exhausted bridge never steps or closes
again.

An async iterator consumed from sync code (`AsyncIteratorBridge`) takes each step on one event
loop for its whole life (a `_thread_loop.LoopLease`: the loop awaiting this thread's
`sync_to_async` call, if any, else the thread's own), because an async generator that holds
loop-bound objects (a client session, a lock) cannot move between loops, and `async_to_sync` from
a plain thread gives every call a new one. While a step runs, the calling thread serves it as
`async_to_sync` does. `close()` (or exhaustion, or garbage collection) runs `aclose()` on that
loop and gives the loop back.

Context managers are the same two crossings applied to ``__enter__``/``__exit__`` and
``__aenter__``/``__aexit__``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Generic, TypeVar

from ._thread_loop import LoopLease

_T = TypeVar("_T")
_EXHAUSTED: Any = object()

# How a sync function is made awaitable: `sync_to_async` with the user's arguments, from `sync`.
Crossing = Callable[[Callable[..., Any]], Callable[..., Awaitable[Any]]]


def _is_async_iterable(value: object) -> bool:
    return hasattr(value, "__aiter__")


def _is_iterable(value: object) -> bool:
    return hasattr(value, "__iter__") or hasattr(value, "__getitem__")


class _SyncSteps:
    """The sync iterator's side, run on the thread each step is sent to."""

    __slots__ = ("busy", "iterable", "iterator")

    def __init__(self, iterable: Any) -> None:
        self.iterable = iterable
        self.iterator: Iterator[Any] | None = None
        # A close sent after a cancelled step may reach another worker while that step still
        # runs (not thread-sensitive): it waits for the step rather than fail with "generator
        # already executing". On one thread, steps and closes arrive in order and never wait.
        self.busy = threading.Lock()

    def step(self) -> Any:
        with self.busy:
            if self.iterator is None:
                self.iterator = iter(self.iterable)
            # StopIteration cannot cross a thread as itself (it would end the awaiting coroutine).
            return next(self.iterator, _EXHAUSTED)

    def close(self) -> None:
        with self.busy:
            close = getattr(self.iterator, "close", None)
            if close is not None:
                close()


class SyncIteratorBridge(Generic[_T]):
    """An async iterator whose items a sync iterable produces (see the module docstring)."""

    # Until __init__ has validated its argument, there is nothing to close (see `__del__`).
    _finished = True

    def __init__(self, iterable: Any, crossing: Crossing) -> None:
        if _is_async_iterable(iterable) and not _is_iterable(iterable):
            raise TypeError(
                f"sync_to_async_iter() takes a sync iterable; {type(iterable).__name__!r} is an "
                "async iterable: iterate it with `async for` (or, from sync code, wrap it in "
                "async_to_sync_iter())"
            )
        if not _is_iterable(iterable):
            raise TypeError(
                f"sync_to_async_iter() takes an iterable, not {type(iterable).__name__!r}"
            )
        steps = self._steps = _SyncSteps(iterable)
        self._step = crossing(steps.step)
        self._close = crossing(steps.close)
        self._finished = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._context: contextvars.Context | None = None

    def __aiter__(self) -> SyncIteratorBridge[_T]:
        return self

    async def __anext__(self) -> _T:
        if self._finished:
            raise StopAsyncIteration
        self._loop = asyncio.get_running_loop()
        self._context = contextvars.copy_context()
        try:
            item = await self._step()
        except asyncio.CancelledError:
            # As an async generator does when its step is cancelled, the stream ends here: the
            # close is queued behind the step still running on its thread.
            self._finished = True
            _start_close(self._loop, self._close, self._context)
            raise
        if item is _EXHAUSTED:
            self._finished = True  # the generator returned: its `finally` has run
            raise StopAsyncIteration
        result: _T = item
        return result

    async def aclose(self) -> None:
        """Close the sync iterator (a generator's `finally` runs) on the thread of its steps."""
        if self._finished:
            return
        self._finished = True
        if self._steps.iterator is not None:
            await self._close()

    def __del__(self) -> None:
        if self._finished:
            return
        loop, context = self._loop, self._context
        if self._steps.iterator is None or loop is None or context is None:
            return
        self._finished = True
        close = self._close
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing runs there now
            loop.call_soon_threadsafe(_start_close, loop, close, context)


# Closes under way, each held until it ends: the loop keeps only weak references to its tasks.
_closing: set[asyncio.Task[Any]] = set()


def _start_close(
    loop: asyncio.AbstractEventLoop, close: Callable[[], Any], context: contextvars.Context
) -> None:
    """On the loop: close a dropped or cancelled bridge's iterator, as its latest step's context
    routes it."""
    task = context.run(loop.create_task, close())
    _closing.add(task)
    task.add_done_callback(_closing.discard)


class AsyncIteratorBridge(Generic[_T]):
    """A sync iterator whose items an async iterable produces (see the module docstring)."""

    _finished = True  # until __init__ has validated its argument (see `__del__`)

    def __init__(self, async_iterable: Any) -> None:
        if not _is_async_iterable(async_iterable):
            hint = (
                "iterate it directly (or, from async code, wrap it in sync_to_async_iter())"
                if _is_iterable(async_iterable)
                else "give it an object with __aiter__"
            )
            raise TypeError(
                "async_to_sync_iter() takes an async iterable, not "
                f"{type(async_iterable).__name__!r}: {hint}"
            )
        self._async_iterable = async_iterable
        self._iterator: AsyncIterator[Any] | None = None
        self._loop = LoopLease("async_to_sync_iter()")
        self._finished = False

    def __iter__(self) -> AsyncIteratorBridge[_T]:
        return self

    def __next__(self) -> _T:
        if self._finished:
            raise StopIteration
        try:
            item = self._loop.run(self._step)
        except BaseException:
            self._finish()
            raise
        if item is _EXHAUSTED:
            self._finish()
            raise StopIteration
        result: _T = item
        return result

    async def _step(self) -> Any:
        if self._iterator is None:
            self._iterator = self._async_iterable.__aiter__()
        try:
            return await self._iterator.__anext__()
        except StopAsyncIteration:
            return _EXHAUSTED

    def close(self) -> None:
        """Close the async iterator (`aclose()`, on its loop) and give the loop back."""
        self._close(wait=True)

    def _close(self, wait: bool) -> None:
        if self._finished:
            return
        try:
            if self._iterator is not None and hasattr(self._iterator, "aclose"):
                self._loop.run(self._iterator.aclose)
        finally:
            self._finish(wait)

    def _finish(self, wait: bool = True) -> None:
        self._finished = True
        self._loop.release(wait)

    def __del__(self) -> None:
        if not self._finished:
            # A finalizer may run on any thread, a loop's included: close if possible, never
            # wait for a loop thread to end.
            with contextlib.suppress(Exception):
                self._close(wait=False)
            self._finish(wait=False)


class SyncContextBridge(Generic[_T]):
    """An async context manager over a sync one: ``__enter__`` and ``__exit__`` run where
    `sync_to_async` with the same arguments runs them."""

    def __init__(self, manager: Any, crossing: Crossing) -> None:
        if not hasattr(manager, "__enter__"):
            hint = ", use async_to_sync_context()" if hasattr(manager, "__aenter__") else ""
            raise TypeError(
                f"sync_to_async_context() takes a sync context manager, not "
                f"{type(manager).__name__!r}{hint}"
            )
        self._enter = crossing(manager.__enter__)
        self._exit = crossing(manager.__exit__)

    async def __aenter__(self) -> _T:
        entered: _T = await self._enter()
        return entered

    async def __aexit__(self, *exc_info: Any) -> bool:
        return bool(await self._exit(*exc_info))


class AsyncContextBridge(Generic[_T]):
    """A sync context manager over an async one: ``__aenter__`` and ``__aexit__`` run on one
    loop, as `async_to_sync_iter` steps do."""

    def __init__(self, manager: Any) -> None:
        if not hasattr(manager, "__aenter__"):
            hint = ", use sync_to_async_context()" if hasattr(manager, "__enter__") else ""
            raise TypeError(
                f"async_to_sync_context() takes an async context manager, not "
                f"{type(manager).__name__!r}{hint}"
            )
        self._manager = manager
        self._loop = LoopLease("async_to_sync_context()")

    def __enter__(self) -> _T:
        try:
            entered: _T = self._loop.run(self._manager.__aenter__)
        except BaseException:
            self._loop.release()
            raise
        return entered

    def __exit__(self, *exc_info: Any) -> bool:
        try:
            return bool(self._loop.run(lambda: self._manager.__aexit__(*exc_info)))
        finally:
            self._loop.release()
