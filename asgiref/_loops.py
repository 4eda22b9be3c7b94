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
it or drops it, and at interpreter exit (see `_threads`). After `os.fork()` the child has none of
the parent's threads: loops inherited from the parent are dropped (never closed, their threads
are gone).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref

from ._threads import FORKS, SERVING_OWNERS

# Loops inherited through fork: unusable, and not closeable since their thread is gone. Kept
# referenced so that their finalizers do not complain about unclosed loops.
_INHERITED_LOOPS: list[asyncio.AbstractEventLoop] = []


class StopSwitch:
    """Stops one loop thread's loop, once, however many ask: its owner (or the owner's
    finalizer) and the exit hook may both do so, and a second `loop.stop()` arriving while the
    thread winds the loop down would cut that short. It is what `_threads` knows the loop thread
    by (its `Owner`): the thread holds it until it ends."""

    __slots__ = ("__weakref__", "_generation", "_lock", "_stopping", "loop", "thread")

    def __init__(self, loop: asyncio.AbstractEventLoop, name: str) -> None:
        self.loop = loop
        self._generation = FORKS.generation
        self._lock = threading.Lock()
        self._stopping = False
        self.thread = threading.Thread(target=_run_until_stopped, args=(self,), name=name)
        self.thread.daemon = True

    def close(self) -> None:
        with self._lock:
            if self._stopping or self._generation != FORKS.generation:
                return  # already stopping, or inherited through fork (its thread is gone)
            self._stopping = True
        with contextlib.suppress(RuntimeError):  # already closed
            self.loop.call_soon_threadsafe(self.loop.stop)

    def join(self, timeout: float | None = None) -> None:
        if self._generation == FORKS.generation and self.thread is not threading.current_thread():
            self.thread.join(timeout)

    def reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        _INHERITED_LOOPS.append(self.loop)


def _run_until_stopped(switch: StopSwitch) -> None:
    """The body of a loop thread. It holds no reference to the `LoopThread` that owns it."""
    loop = switch.loop
    # No `asyncio.set_event_loop`: code on this thread only ever runs inside the loop, where
    # `get_running_loop` finds it, and the call goes through the policy system 3.14 deprecates.
    try:
        loop.run_forever()
    finally:
        try:
            finish_loop(loop)
        finally:
            loop.close()
            SERVING_OWNERS.discard(switch)


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
        self._generation = FORKS.generation
        switch = StopSwitch(self.loop, name)
        self.thread = switch.thread
        SERVING_OWNERS.add(switch)
        self.thread.start()
        # Dropping the owner (e.g. when the thread-local holding it goes with its thread) stops
        # the loop; the loop thread then winds down by itself.
        self._finalizer = weakref.finalize(self, switch.close)

    def __repr__(self) -> str:
        return f"<LoopThread {self.thread.name!r}>"

    @property
    def usable(self) -> bool:
        """Whether the loop still accepts work (not closed, and not inherited through fork)."""
        return self._generation == FORKS.generation and not self.loop.is_closed()

    def close(self, timeout: float | None = None) -> None:
        """Stop the loop (cancelling what runs on it) and wait for its thread to finish."""
        self._finalizer()
        if self._generation == FORKS.generation and self.thread is not threading.current_thread():
            self.thread.join(timeout)
