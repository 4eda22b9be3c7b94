"""The event loop a sync thread shares among the objects that must stay on one loop.

Theory
------
`async_to_sync` from a plain thread gives every call a new event loop (as asgiref 3.13 does), so
nothing bound to a loop survives from one call to the next. Some objects need exactly that: an
async generator consumed a step at a time (`async_to_sync_iter`), an async context manager
entered in one call and left in another (`async_to_sync_context`), an application under test and
what its connections share (`SyncCommunicator`: two WebSocket consumers that talk through an
in-memory channel layer must wait on the same loop).

Each such object holds a `LoopLease`, which picks a loop at its first call and keeps it: the loop
awaiting this thread's `sync_to_async` call if there is one (where `async_to_sync` runs
coroutines), else the thread's own loop. A thread has at most one own loop (a `LoopThread`),
shared by every lease taken on that thread while any of them is held, and ended when the last is
released: a finished test or stream leaves no thread behind.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from ._loop_call import LoopGoneError, outer_loop, run_on_loop
from ._loops import LoopThread


class _SharedLoop:
    """One thread's own loop, and how many leases hold it (released from any thread)."""

    def __init__(self) -> None:
        self.loop_thread = LoopThread("asgiref-thread-loop")
        self._lock = threading.Lock()
        self._holders = 0
        self._ended = False

    def take(self) -> bool:
        """Hold the loop; False once it has ended (the thread then starts another)."""
        with self._lock:
            if self._ended or not self.loop_thread.usable:
                return False
            self._holders += 1
            return True

    def release(self, wait: bool) -> None:
        with self._lock:
            self._holders -= 1
            if self._holders > 0:
                return
            self._ended = True
        # Not waiting (from a finalizer): the loop stops and its thread winds down by itself.
        self.loop_thread.close(timeout=None if wait else 0)


class _ThisThread(threading.local):
    shared: _SharedLoop | None = None


_THIS_THREAD = _ThisThread()


def _take_thread_loop() -> _SharedLoop:
    shared = _THIS_THREAD.shared
    if shared is None or not shared.take():
        shared = _THIS_THREAD.shared = _SharedLoop()
        shared.take()
    return shared


class LoopLease:
    """Where one object runs its coroutines, chosen at its first call and kept until `release()`
    (see the module docstring). `user` names the object in errors."""

    __slots__ = ("_loop", "_shared", "_user")

    def __init__(self, user: str) -> None:
        self._user = user
        self._loop: asyncio.AbstractEventLoop | None = None
        self._shared: _SharedLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._loop

    def run(self, fn: Callable[[], Any]) -> Any:
        """From a sync thread: run the coroutine function `fn()` on the lease's loop, serving
        this thread's thread-sensitive calls meanwhile, and return its result."""
        if asyncio._get_running_loop() is not None:
            # Blocking the loop this thread runs would stop the very loop the call may need.
            raise RuntimeError(
                f"{self._user} cannot be used from a thread running an event loop: use the async "
                "object directly with await, async for or async with"
            )
        loop = self._loop
        if loop is None:
            loop = outer_loop()
            if loop is None:
                self._shared = _take_thread_loop()
                loop = self._shared.loop_thread.loop
            self._loop = loop
        elif loop.is_closed():
            # Only an awaiting loop it took can have ended since: its own ends after release.
            raise LoopGoneError(f"the event loop {self._user} ran on has closed")
        return run_on_loop(loop, fn, watch_loop=True)

    def release(self, wait: bool = True) -> None:
        """Give the loop back: the thread's own loop ends with its last lease (joined unless
        `wait` is false, as in a finalizer)."""
        shared, self._shared = self._shared, None
        self._loop = None
        if shared is not None:
            shared.release(wait)
