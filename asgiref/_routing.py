"""Where a sync call runs: the rules `sync_to_async` (and `WsgiToAsgi`) send a `ThreadCall` by.

Theory
------
Where a thread-sensitive call goes (`send_thread_sensitive`), in asgiref's order: the lane of the
`async_to_sync` call whose coroutine makes it; else the thread of the outermost
`ThreadSensitiveContext`; else `SyncToAsync.single_thread_executor`. A call that would go to that
executor from code the executor is itself running (`asyncio.run` inside a thread-sensitive
function) could never run: it raises at once, as asgiref does (`ON_SINGLE_THREAD`).

Where a non-thread-sensitive call goes: to the `executor` given, else to the loop's default
executor, except when that might never end (`send_to_default_executor`). A thread of that
executor whose function waits in `async_to_sync` still holds the thread; with enough such chains,
every thread waits for a coroutine whose own call waits for a thread. So once the executor holds
as many of the loop's calls as it has threads (`PoolLoad`), a call made from a coroutine that one
of its threads waits for is also posted to that thread's lane, which it serves while it waits, as
thread-sensitive calls are; whichever thread takes the call first runs it. Each borrowed lane
knows which pool its thread works for (`BorrowedLane.worker_of`) and the lane waiting above it
(`upstream`), which is also how a hopeless wait on an explicit executor is seen and reported.

The thread of a `ThreadSensitiveContext` is a `SensitiveWorld` (the public class in `sync` is only
its face): a lane taken for its first thread-sensitive call, ended when the context exits; a call
from a task that outlived the context gets a thread of its own, never another context's.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import sys
import threading
import warnings
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

from ._hop import CURRENT_LANE, ON_SINGLE_THREAD, ThreadCall
from ._inbox import PerLoop
from ._lanes import SPARE_LANE, ThreadLane, run_on_own_thread
from ._threads import PostingExecutor


def route(
    call: ThreadCall,
    loop: asyncio.AbstractEventLoop,
    *,
    thread_sensitive: bool,
    executor: Executor | None,
    single_thread_executor: Executor,
) -> None:
    """Send `call` where it runs (see the module docstring)."""
    if thread_sensitive:
        send_thread_sensitive(call, single_thread_executor)
    elif executor is not None:
        send_to_executor(executor, call)
    else:
        send_to_default_executor(loop, call)


class SensitiveWorld:
    """The thread of one `ThreadSensitiveContext`, or the executor it was given."""

    def __init__(self, executor: Executor | None) -> None:
        self.executor = executor
        self.exited = False
        self._lane: ThreadLane | None = None
        self._lane_lock = threading.Lock()

    def post_call(self, call: ThreadCall) -> None:
        """Send a thread-sensitive call to this context's thread."""
        if self.executor is not None:
            if self.exited:
                raise RuntimeError(
                    "ThreadSensitiveContext has exited. Tasks created inside a context with an "
                    "executor must finish before it exits."
                )
            send_to_executor(self.executor, call)
            return
        if self.exited:
            # A task that outlived the context: its thread is gone, and another context's thread
            # must not run this context's work.
            run_on_own_thread(call.run, "asgiref-sensitive-late")
            return
        with self._lane_lock:
            if self._lane is None:
                self._lane = SPARE_LANE.take("asgiref-sensitive", call.run)
                return
            lane = self._lane
        lane.post(call.run)

    @property
    def thread(self) -> threading.Thread | None:
        """The context's thread, once its first thread-sensitive call has started it."""
        lane = self._lane
        return lane.thread if lane is not None else None

    async def end(self) -> None:
        """The context exits: wait, without blocking the event loop, until its thread has run
        what it took and ended."""
        self.exited = True
        with self._lane_lock:
            lane, self._lane = self._lane, None
        if lane is None:
            return
        # The lane's thread reports its end as it reports a call (the loop's inbox wakes us).
        ended = ThreadCall(asyncio.get_running_loop(), _ended, (), {}, contextvars.Context(), None)
        lane.close(ended.run)
        await ended.result()
        lane.join()


def _ended() -> None:
    """What a `SensitiveWorld`'s thread runs last."""


SENSITIVE_CONTEXT: contextvars.ContextVar[SensitiveWorld | None] = contextvars.ContextVar(
    "asgiref.sync.sensitive_context", default=None
)


class PoolLoad:
    """How many of one loop's `sync_to_async` calls its default executor holds, queued or running
    (see the module docstring for why that is counted)."""

    __slots__ = ("__weakref__", "_count", "_lock", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._count = 0
        self._lock = threading.Lock()

    def enter(self, capacity: int | None = None) -> bool:
        """Count one more call, unless `capacity` calls are already in; return whether counted."""
        with self._lock:
            if capacity is not None and self._count >= capacity:
                return False
            self._count += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._count -= 1


# Kept per loop, as the default executor is: every call counted in a load holds it, so the count
# lives as long as it is not zero.
DEFAULT_POOL_LOADS = PerLoop(PoolLoad)


class _CountedRun:
    """The work item a default executor gets for a call counted in `load`: run the call (unless
    another thread took it first), then uncount it."""

    __slots__ = ("call", "load", "offered_to_lane")

    def __init__(self, call: ThreadCall, load: PoolLoad, offered_to_lane: bool) -> None:
        self.call = call
        self.load = load
        # Also posted to a waiting thread's lane, which runs it if the executor never does.
        self.offered_to_lane = offered_to_lane

    def __call__(self) -> None:
        try:
            self.call.run()
        finally:
            self.load.leave()

    def notice_done(self, future: Future[Any] | asyncio.Future[Any]) -> None:
        """Done-callback: the executor may drop the item unrun (when shut down with
        `cancel_futures=True`): uncount it, and fail the call unless the lane has it too."""
        if future.cancelled():
            self.load.leave()
            if not self.offered_to_lane:
                self.call.notice_executor_done(future)


def send_to_executor(executor: Executor, call: ThreadCall) -> None:
    """Run `call` on `executor`; lanes and worker pools take it directly, other executors
    through `submit`."""
    call.pool = executor
    if call.destination is None:
        call.destination = executor
    if isinstance(executor, PostingExecutor):
        if not executor.post(call.run):
            raise RuntimeError(f"{executor!r} has shut down and cannot run sync_to_async calls")
        return
    if isinstance(executor, ThreadPoolExecutor):
        size = getattr(executor, "_max_workers", 0)
        if _workers_waiting_on_caller(executor, call) >= size:
            warnings.warn(
                f"this sync_to_async call can never run on {executor!r}: every one of its "
                f"{size} threads is a sync function waiting in async_to_sync for the coroutine "
                "that makes it. With an explicit executor, its size bounds how deep such calls "
                "can nest; give it more threads, or leave `executor` unset so that the loop's "
                "default executor is used.",
                RuntimeWarning,
                stacklevel=_first_frame_outside_package(),
            )
    executor.submit(call.run).add_done_callback(call.notice_executor_done)


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _first_frame_outside_package() -> int:
    """The `stacklevel` (for a `warnings.warn` in the caller) of the innermost frame that is not
    this package's: the user's line that made the call, however deep the bridge's own frames."""
    frame = sys._getframe(2)
    level = 2
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level


def _workers_waiting_on_caller(executor: Executor, call: ThreadCall) -> int:
    """How many threads of `executor` wait in `async_to_sync` for the coroutine making `call`,
    directly or through the chain of calls above it. While they wait, their threads cannot run
    `call`: when they are all the executor's threads, `call` can never run."""
    threads = set()
    lane = call.caller_lane
    while lane is not None:
        if lane.worker_of is executor and lane.is_open:
            threads.add(lane.thread)
        lane = lane.upstream
    return len(threads)


def send_to_default_executor(loop: asyncio.AbstractEventLoop, call: ThreadCall) -> None:
    """Run `call` on `loop`'s default executor, as `loop.run_in_executor(None, ...)` would; once
    the executor is full, also offer it to the thread waiting for the coroutine that makes it (see
    the module docstring). Whichever takes it first runs it: the waiting thread at once, unless it
    is running an earlier such call, which may itself wait for this one to run on a freed thread."""
    executor = _default_executor(loop)
    call.destination = executor if executor is not None else "the event loop's default executor"
    load = DEFAULT_POOL_LOADS.of(loop)
    # The loop's default pool, as the thread that runs `call` will know it (`THREAD.pool`): by its
    # load, as the executor itself may be out of sight.
    call.pool = load
    offered_to_lane = False
    if not load.enter(_size_of_default(executor)):
        load.enter()  # queued in the executor all the same
        lane = call.caller_lane
        offered_to_lane = lane is not None and lane.worker_of is load and lane.post(call.run)
    item = _CountedRun(call, load, offered_to_lane)
    future: Future[None] | asyncio.Future[None]
    try:
        future = executor.submit(item) if executor is not None else loop.run_in_executor(None, item)
    except BaseException:
        load.leave()
        if offered_to_lane:
            return
        raise
    future.add_done_callback(item.notice_done)


def _default_executor(loop: asyncio.AbstractEventLoop) -> Executor | None:
    """`loop`'s default executor, created as asyncio creates it if it has none yet; or None if
    it is out of sight (not an asyncio loop, e.g. uvloop's) or being shut down."""
    if not hasattr(loop, "_default_executor") or getattr(loop, "_executor_shutdown_called", False):
        return None
    executor: Executor | None = getattr(loop, "_default_executor")  # noqa: B009
    if executor is None:
        executor = ThreadPoolExecutor(thread_name_prefix="asyncio")
        loop.set_default_executor(executor)
    return executor


def _size_of_default(executor: Executor | None) -> int | None:
    """How many threads a loop's default executor has; None if it is not a thread pool."""
    if executor is None:
        # Out of sight: every event loop we know makes a `ThreadPoolExecutor()` of the default
        # size. Should the user have set a larger one, calls only move to a waiting thread early.
        return _DEFAULT_POOL_SIZE
    if isinstance(executor, ThreadPoolExecutor):
        size: int = getattr(executor, "_max_workers", 0)
        return size
    return None


# The size `ThreadPoolExecutor()` chooses when given none (as documented; 3.13 counts only the CPUs
# this process may use).
_DEFAULT_POOL_SIZE = min(32, (getattr(os, "process_cpu_count", os.cpu_count)() or 1) + 4)


def send_thread_sensitive(call: ThreadCall, single_thread_executor: Executor) -> None:
    """Run `call` on the thread of its sync world (see the module docstring for the rules)."""
    lane = CURRENT_LANE.get()
    if lane is not None:
        call.destination = lane
        if not lane.post(call.run):
            raise RuntimeError("CurrentThreadExecutor already quit or is broken")
        return
    world = SENSITIVE_CONTEXT.get()
    if world is not None:
        call.destination = world
        world.post_call(call)
        return
    if ON_SINGLE_THREAD.get():
        raise RuntimeError("Single thread executor already being used, would deadlock")
    call.on_single_thread = True
    send_to_executor(single_thread_executor, call)
