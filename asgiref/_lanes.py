"""Lanes: queues of work items, each served by exactly one thread, one item at a time, in order.

Thread-sensitive sync code (Django's ORM, anything keeping state in thread-locals) must always run
on the same thread as the rest of its "sync world". A lane is how work gets to that thread. There
are two kinds, sharing one queue and one serving loop (`WorkQueue._serve`):

* A *borrowed* lane (`BorrowedLane`) is served by a thread that is blocked waiting for something
  else: a sync thread waiting in `async_to_sync` serves its lane until the coroutine it waits for
  is done (`WorkQueue.run_until`). `CurrentThreadExecutor` is the public face of this kind.
* An *owned* lane (`ThreadLane`) has a dedicated thread that serves it until the lane is closed.
  The process-wide lane and the lanes `ThreadSensitiveContext` leases from `LanePool` are owned.

Guarantees:

* `post` either accepts an item, and then the item runs, or refuses it (returns False) at once, so
  a caller never waits on a lane that nobody serves. A borrowed lane accepts work only while it is
  being served; a closing lane drains what it accepted before it stops.
* Work items never raise: they carry their outcome to whoever waits for them. The serving loop has
  no error handling of its own to get wrong.
* Every thread started here has an owner that ends it: a `ThreadLane` is closed by whoever created
  it (a pool, or the process at exit), and its thread exits once its queue is drained.
"""

from __future__ import annotations

import atexit
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

WorkItem = Callable[[], None]

_T = TypeVar("_T")


def _nothing() -> None:
    """A work item that only wakes the serving thread up."""


def _always() -> bool:
    return True


class WorkQueue(Executor):
    """A FIFO of work items served by one thread at a time; the base of both kinds of lane."""

    def __init__(self) -> None:
        self._items: queue.SimpleQueue[WorkItem] = queue.SimpleQueue()
        self._lock = threading.Lock()
        # How many serving loops (nested on the one serving thread) or owners keep the queue open.
        self._open_count = 0

    def post(self, item: WorkItem) -> bool:
        """Queue `item` if the lane is open; return whether it was accepted."""
        with self._lock:
            if not self._open_count:
                return False
            self._items.put(item)
        return True

    def wake(self) -> None:
        """Make the serving thread re-check whether it is done."""
        self._items.put(_nothing)

    def _open(self) -> None:
        with self._lock:
            self._open_count += 1

    def _close_if_drained(self) -> bool:
        """Close one level of serving, unless the outermost level still has accepted work to run."""
        with self._lock:
            if self._open_count > 1 or self._items.empty():
                self._open_count -= 1
                return True
        return False

    def _force_close(self) -> None:
        with self._lock:
            self._open_count -= 1

    def _serve(
        self,
        is_done: Callable[[], bool],
        poll: Callable[[], None] | None = None,
        poll_interval: float | None = None,
    ) -> None:
        """Run items until `is_done()` and the queue is drained; the queue must already be open.

        `poll` is called whenever `poll_interval` seconds pass without any work; it may raise to
        abandon the wait (the queue is then closed, and the exception propagates).
        """
        items = self._items
        try:
            while True:
                if is_done() and self._close_if_drained():
                    return
                if poll is None:
                    item = items.get()
                else:
                    try:
                        item = items.get(timeout=poll_interval)
                    except queue.Empty:
                        poll()
                        continue
                item()
        except BaseException:
            # Interrupted (KeyboardInterrupt, or `poll` gave up): refuse new work before leaving.
            self._force_close()
            raise

    def run_until(
        self,
        start: Callable[[], None],
        is_done: Callable[[], bool],
        poll: Callable[[], None] | None = None,
        poll_interval: float | None = None,
        *,
        already_open: bool = False,
    ) -> None:
        """Open the lane (unless `already_open`), call `start()`, and serve it on this thread
        until `is_done()`.

        The lane is open before `start` runs, so work that `start` triggers is never refused.
        Nested calls on the same thread serve the same queue.
        """
        if not already_open:
            self._open()
        try:
            start()
        except BaseException:
            self._force_close()
            raise
        self._serve(is_done, poll, poll_interval)

    def serve_until(
        self,
        is_done: Callable[[], bool],
        poll: Callable[[], None] | None = None,
        poll_interval: float | None = None,
    ) -> None:
        """`run_until` with nothing to start: serve the lane on this thread until `is_done()`."""
        self.run_until(_nothing, is_done, poll, poll_interval)

    def hold_open(self) -> None:
        """Accept work from now on, also between the serving thread's periods of serving (it
        returns to `run_until` later), until `release_hold`. The WSGI adapter holds its lane open
        for a whole streamed response, so thread-sensitive work never goes elsewhere mid-request."""
        self._open()

    def release_hold(self) -> None:
        """On the serving thread: end a `hold_open`, first running the work accepted meanwhile."""
        self._serve(_always)

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        """`Executor.submit`: run `fn(*args, **kwargs)` on the lane's thread."""
        future: Future[_T] = Future()
        if not self.post(_FutureItem(future, fn, args, kwargs)):
            raise RuntimeError(f"{self!r} is not accepting work: it has shut down")
        return future


class BorrowedLane(WorkQueue):
    """A lane served by the thread that made it, while that thread waits in `run_until`. It
    accepts work only while being served, and can be served again later (by the same thread)."""

    def __init__(self) -> None:
        super().__init__()
        self._thread = threading.current_thread()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} for {self._thread.name!r}>"

    @property
    def thread(self) -> threading.Thread:
        """The thread that serves this lane."""
        return self._thread


class _FutureItem:
    """Adapts an `Executor.submit` call to a work item that reports through a `Future`."""

    __slots__ = ("args", "fn", "future", "kwargs")

    def __init__(
        self,
        future: Future[Any],
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self.future = future
        self.fn = fn
        self.args = args
        self.kwargs = kwargs

    def __call__(self) -> None:
        if not self.future.set_running_or_notify_cancel():
            return
        try:
            result = self.fn(*self.args, **self.kwargs)
        except BaseException as error:
            self.future.set_exception(error)
        else:
            self.future.set_result(result)
        finally:
            del self.fn, self.args, self.kwargs


class ThreadLane(WorkQueue):
    """A lane with a dedicated thread, started on the first item and ended by `close()`.

    With `idle_timeout`, the thread asks `on_idle(lane)` whenever it has been idle that long; if the
    answer is True the lane closes (this is how a pool retires threads nobody needs).
    """

    def __init__(
        self,
        name: str,
        idle_timeout: float | None = None,
        on_idle: Callable[[ThreadLane], bool] | None = None,
    ) -> None:
        super().__init__()
        self._name = name
        self._idle_timeout = idle_timeout
        self._on_idle = on_idle
        self._thread: threading.Thread | None = None
        self._closing = False
        self._open()  # an owned lane accepts work from birth until it is closed

    def __repr__(self) -> str:
        return f"<ThreadLane {self._name!r}>"

    @property
    def thread(self) -> threading.Thread | None:
        """The lane's thread, or None before the first item."""
        return self._thread

    def post(self, item: WorkItem) -> bool:
        with self._lock:
            if not self._open_count:
                return False
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._items.put(item)
        return True

    def close(self) -> None:
        """Stop accepting work once the queued items are done; the thread then exits."""
        self._closing = True
        self.wake()

    def join(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """`Executor.shutdown`: close the lane, and wait for its thread if `wait`."""
        self.close()
        if wait:
            self.join()

    def _is_closing(self) -> bool:
        return self._closing

    def _retire_if_idle(self) -> None:
        if self._on_idle is not None and self._on_idle(self):
            self.close()

    def _run(self) -> None:
        if self._idle_timeout is None:
            self._serve(self._is_closing)
        else:
            self._serve(self._is_closing, self._retire_if_idle, self._idle_timeout)


class LanePool:
    """Warm `ThreadLane`s for `ThreadSensitiveContext`, so opening a context starts no thread.

    A lane is handed to one context at a time and comes back when the context ends; the next
    context's work queues behind anything the previous one left, so their work never interleaves.
    Idle lanes above `max_idle`, or idle for `idle_timeout` seconds, are closed.
    """

    def __init__(self, max_idle: int = 16, idle_timeout: float = 30.0) -> None:
        self._max_idle = max_idle
        self._idle_timeout = idle_timeout
        self._idle: list[ThreadLane] = []
        self._lock = threading.Lock()
        self._created = 0

    def acquire(self) -> ThreadLane:
        """Take an idle lane, or make a new one."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
            self._created += 1
            number = self._created
        return ThreadLane(
            f"asgiref-sensitive-{number}", idle_timeout=self._idle_timeout, on_idle=self._retire
        )

    def release(self, lane: ThreadLane) -> None:
        """Give `lane` back. Work its last leaseholder queued still runs first (the queue is FIFO
        and that leaseholder posts no more), so the next one never interleaves with it."""
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(lane)
                return
        lane.close()

    def _retire(self, lane: ThreadLane) -> bool:
        with self._lock:
            if lane in self._idle:
                self._idle.remove(lane)
                return True
        return False

    def close(self, timeout: float) -> None:
        """Close every idle lane and wait up to `timeout` seconds for their threads."""
        with self._lock:
            lanes, self._idle = self._idle, []
        deadline = time.monotonic() + timeout
        for lane in lanes:
            lane.close()
        for lane in lanes:
            lane.join(max(0.0, deadline - time.monotonic()))

    def forget_after_fork(self) -> None:
        """In a forked child: the idle lanes' threads do not exist there."""
        self._idle = []
        self._lock = threading.Lock()


class LeasedLane:
    """A `ThreadSensitiveContext`'s claim on one pooled lane, from its first call until it ends.

    The lane is taken from the pool only when the first thread-sensitive call arrives, so a context
    with no such call costs no thread at all. After `close()`, `post` refuses work: tasks that
    outlive the context go to the next lane in line instead of to a thread now serving someone else.
    """

    __slots__ = ("_closed", "_lane", "_lock", "_pool")

    def __init__(self, pool: LanePool) -> None:
        self._pool = pool
        self._lane: ThreadLane | None = None
        self._closed = False
        self._lock = threading.Lock()

    def post(self, item: WorkItem) -> bool:
        with self._lock:
            if self._closed:
                return False
            if self._lane is None:
                self._lane = self._pool.acquire()
            return self._lane.post(item)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            lane, self._lane = self._lane, None
        if lane is not None:
            self._pool.release(lane)


class ProcessLanes:
    """The process-wide lane and the context lane pool: created lazily, ended at exit and fork."""

    def __init__(self) -> None:
        self.pool = LanePool()
        self._main: ThreadLane | None = None
        self._lock = threading.Lock()

    @property
    def main(self) -> ThreadLane:
        """The lane thread-sensitive work goes to when no other rule applies."""
        lane = self._main
        if lane is None:
            with self._lock:
                lane = self._main
                if lane is None:
                    lane = self._main = ThreadLane("asgiref-sync-main")
        return lane

    def close(self, timeout: float = 5.0) -> None:
        """At interpreter exit: end the threads, waiting a bounded time for work in progress."""
        lane, self._main = self._main, None
        if lane is not None:
            lane.close()
            lane.join(timeout)
        self.pool.close(timeout)

    def forget_after_fork(self) -> None:
        self._main = None
        self._lock = threading.Lock()
        self.pool.forget_after_fork()


PROCESS_LANES = ProcessLanes()


class _MainLaneDoor(WorkQueue):
    """The default `SyncToAsync.single_thread_executor`: a stable object that forwards to the
    process-wide lane, which is created on first use (importing asgiref starts no thread) and
    re-created in a forked child."""

    def __repr__(self) -> str:
        return "<asgiref process-wide thread-sensitive lane>"

    def post(self, item: WorkItem) -> bool:
        return PROCESS_LANES.main.post(item)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        PROCESS_LANES.main.shutdown(wait)


MAIN_LANE_DOOR = _MainLaneDoor()

atexit.register(PROCESS_LANES.close)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=PROCESS_LANES.forget_after_fork)
