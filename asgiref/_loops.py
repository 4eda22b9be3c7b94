"""Event loops that asgiref runs itself, and how they end.

Theory
------
`async_to_sync`, called where no event loop awaits its caller, runs its coroutine the way
asgiref 3.13 does: on a new event loop, on a thread of its own, ended as `asyncio.run` ends one
(`finish_loop`: the tasks left on it are cancelled and waited for, async generators and the
default executor shut down) before the call returns, and then closed. Each call gets a new loop,
so nothing bound to one call's loop (tasks, locks, clients) survives into the next.

`LoopThread` is the other kind: an event loop that lives on a thread of its own until its owner
closes it (`AsgiToWsgi` runs every request of one adapter on one). It ends when its owner closes
it or drops it, and at interpreter exit. After `os.fork()` the child has none of the parent's
threads: loops inherited from the parent are dropped (never closed, their threads are gone).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import threading
import time
import weakref

_fork_generation = 0


class _Registry:
    """Every loop thread still running in this process, so exit and fork can deal with them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[threading.Thread, StopSwitch] = {}
        # Loops inherited through fork: unusable, and not closeable since their thread is gone.
        # Kept referenced so that their finalizers do not complain about unclosed loops.
        self._orphans: list[asyncio.AbstractEventLoop] = []

    def add(self, thread: threading.Thread, switch: StopSwitch) -> None:
        with self._lock:
            self._running[thread] = switch

    def discard(self, thread: threading.Thread) -> None:
        with self._lock:
            self._running.pop(thread, None)

    def threads(self) -> list[threading.Thread]:
        with self._lock:
            return list(self._running)

    def close_all(self, timeout: float = 5.0) -> None:
        """At interpreter exit: stop every loop and wait, a bounded time, for its thread."""
        with self._lock:
            running = list(self._running.items())
        deadline = time.monotonic() + timeout
        for _thread, switch in running:
            switch.flip()
        for thread, _switch in running:
            thread.join(max(0.0, deadline - time.monotonic()))

    def forget_after_fork(self) -> None:
        global _fork_generation
        _fork_generation += 1
        self._lock = threading.Lock()
        self._orphans.extend(switch.loop for switch in self._running.values())
        self._running = {}


REGISTRY = _Registry()


class StopSwitch:
    """Stops one loop thread's loop, once, however many ask: its owner (or the owner's
    finalizer) and the exit hook may both do so, and a second `loop.stop()` arriving while the
    thread winds the loop down would cut that short."""

    __slots__ = ("_flipped", "_generation", "_lock", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._generation = _fork_generation
        self._lock = threading.Lock()
        self._flipped = False

    def flip(self) -> None:
        with self._lock:
            if self._flipped or self._generation != _fork_generation:
                return  # already stopping, or inherited through fork (its thread is gone)
            self._flipped = True
        with contextlib.suppress(RuntimeError):  # already closed
            self.loop.call_soon_threadsafe(self.loop.stop)


def _run_until_stopped(loop: asyncio.AbstractEventLoop) -> None:
    """The body of a loop thread. It holds no reference to the `LoopThread` that owns it."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        try:
            finish_loop(loop)
        finally:
            asyncio.set_event_loop(None)
            loop.close()
            REGISTRY.discard(threading.current_thread())


def finish_loop(loop: asyncio.AbstractEventLoop) -> None:
    """On the loop's thread, with the loop not running: cancel the tasks left on `loop` and wait
    for them, then release the loop's resources (the caller closes it)."""
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        for task in tasks:
            if not task.cancelled() and task.exception() is not None:
                loop.call_exception_handler(
                    {
                        "message": "unhandled exception in a task left running by async_to_sync",
                        "exception": task.exception(),
                        "task": task,
                    }
                )
    # Shutting down async generators costs a task and a turn of the loop even when there are
    # none; an asyncio loop says whether it ever saw one (other loops are always asked).
    if getattr(loop, "_asyncgens", True):
        loop.run_until_complete(loop.shutdown_asyncgens())
    # Not `loop.shutdown_default_executor()`: it starts a thread, which Python refuses once the
    # interpreter is shutting down (the exit hook ends loops then). Blocking here is fine: this
    # thread has nothing else to do.
    executor = getattr(loop, "_default_executor", None)
    if executor is not None:
        executor.shutdown(wait=True)


class LoopThread:
    """An event loop running on a thread of its own until this object is closed or dropped."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._generation = _fork_generation
        self._thread = threading.Thread(
            target=_run_until_stopped, args=(self.loop,), name=name, daemon=True
        )
        switch = StopSwitch(self.loop)
        REGISTRY.add(self._thread, switch)
        self._thread.start()
        # Dropping the owner (e.g. when the thread-local holding it goes with its thread) stops
        # the loop; the loop thread then winds down by itself.
        self._finalizer = weakref.finalize(self, switch.flip)

    def __repr__(self) -> str:
        return f"<LoopThread {self._thread.name!r}>"

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    @property
    def usable(self) -> bool:
        """Whether the loop still accepts work (not closed, and not inherited through fork)."""
        return self._generation == _fork_generation and not self.loop.is_closed()

    def close(self, timeout: float | None = None) -> None:
        """Stop the loop (cancelling what runs on it) and wait for its thread to finish."""
        self._finalizer()
        if self._generation == _fork_generation and self._thread is not threading.current_thread():
            self._thread.join(timeout)


atexit.register(REGISTRY.close_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=REGISTRY.forget_after_fork)
