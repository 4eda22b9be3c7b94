"""Lanes: queues of work items, each served by exactly one thread, one item at a time, in order.

Thread-sensitive sync code (Django's ORM, anything keeping state in thread-locals) must always run
on the same thread as the rest of its "sync world". A lane is how work gets to that thread. There
are two kinds, sharing one queue and one serving loop (`WorkQueue.serve_until`):

* A *borrowed* lane (`BorrowedLane`) is served by a thread that is blocked waiting for something
  else: a sync thread waiting in `async_to_sync` serves the lane of that call until the coroutine
  it waits for is done. `CurrentThreadExecutor` is the public face of this kind.
* An *owned* lane (`ThreadLane`) has a dedicated thread that serves it until the lane is closed:
  the process-wide lane, each `ThreadSensitiveContext`'s lane, each `AsyncSingleThreadContext`'s.
  Its thread has an owner, as every thread here has (see `_threads`); after `os.fork()`, a lane
  inherited from the parent starts a new thread in the child on its next item.

`post` either accepts an item, and then the item runs, or refuses it (returns False) at once, so
a caller never waits on a lane that nobody serves: a borrowed lane accepts work only while it is
being served; a closing lane drains what it accepted before it stops. The serving loop drops each
item once run, so an item (and the context it holds) is never kept alive by an idle thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from ._threads import FORKS, OWNERS, PostingExecutor, WorkItem


def _nothing() -> None:
    """A work item that only wakes the serving thread up."""


class WorkQueue(PostingExecutor):
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

    @property
    def is_open(self) -> bool:
        """Whether the lane accepts work (a borrowed lane: whether its thread is serving it)."""
        return self._open_count > 0

    def wake(self) -> None:
        """Make the serving thread re-check whether it is done."""
        self._items.put(_nothing)

    def hold_open(self) -> None:
        """Accept work from now on, also between periods of serving, until `release_hold` (or,
        for an owned lane, `close`). The WSGI adapter holds its lane open for a whole streamed
        response, so thread-sensitive work never goes elsewhere mid-request."""
        with self._lock:
            self._open_count += 1

    def _close_if_drained(self) -> bool:
        """Close one level of serving, unless the outermost level still has accepted work to run."""
        with self._lock:
            if self._open_count > 1 or self._items.empty():
                self._open_count -= 1
                return True
        return False

    def serve_until(
        self,
        is_done: Callable[[], bool],
        poll: Callable[[], None] | None = None,
        poll_interval: float | None = None,
        *,
        start: Callable[[], None] | None = None,
        already_open: bool = False,
    ) -> None:
        """Open the lane (unless `already_open`), call `start()` if given, and run items on this
        thread until `is_done()` and the queue is drained. The lane is open before `start` runs, so
        work that `start` triggers is never refused. Nested calls on the same thread serve the same
        queue. `poll` is called whenever `poll_interval` seconds pass without any work; it may raise
        to abandon the wait (the lane is then closed, and the exception propagates)."""
        if not already_open:
            self.hold_open()
        items = self._items
        try:
            if start is not None:
                start()
            while True:
                if is_done() and self._close_if_drained():
                    return
                if poll is None:
                    items.get()()
                    continue
                try:
                    item = items.get(timeout=poll_interval)
                except queue.Empty:
                    poll()
                    continue
                item()
                del item  # not kept alive while this thread waits for the next one
        except BaseException:
            # Interrupted (KeyboardInterrupt, or `poll` gave up): refuse new work before leaving.
            with self._lock:
                self._open_count -= 1
            raise

    def release_hold(self) -> None:
        """On the serving thread: end a `hold_open`, first running the work accepted meanwhile."""
        self.serve_until(lambda: True, already_open=True)


class BorrowedLane(WorkQueue):
    """A lane served by the thread that made it, while that thread waits in `serve_until`."""

    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.current_thread()  # the thread that serves this lane
        # Set by the async_to_sync call that borrows the thread: the pool the thread is a worker
        # of, if any, and the lane of the coroutine that waits for what the thread runs.
        self.worker_of: object | None = None
        self.upstream: BorrowedLane | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} for {self.thread.name!r}>"


class ThreadLane(WorkQueue):
    """A lane with a dedicated thread, started on the first item and ended by `close()`. Not a
    daemon: as with asgiref's executor threads, a function still running at exit is waited for."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self._name = name
        self.thread: threading.Thread | None = None  # started with the first item
        self._generation = FORKS.generation
        self._closing = False
        self._on_exit: Callable[[], None] | None = None
        self.hold_open()  # an owned lane accepts work from birth until it is closed

    def __repr__(self) -> str:
        return f"<ThreadLane {self._name!r}>"

    def post(self, item: WorkItem) -> bool:
        with self._lock:
            if not self._open_count:
                return False
            self._start_thread_locked()
            self._items.put(item)
        return True

    def start(self) -> None:
        """Start the lane's thread now, ahead of its first item."""
        with self._lock:
            self._start_thread_locked()

    def rename(self, name: str) -> None:
        self._name = name
        if self.thread is not None:
            self.thread.name = name

    def _has_thread_locked(self) -> bool:
        """Whether the lane's thread was started in this process (not inherited through fork)."""
        return self.thread is not None and self._generation == FORKS.generation

    def _start_thread_locked(self) -> None:
        """Start the thread, unless it runs already."""
        if self._has_thread_locked():
            return
        if self._generation != FORKS.generation:
            # Inherited through fork: the parent's thread and queued items do not exist here.
            self._generation = FORKS.generation
            self._items = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name=self._name)
        OWNERS.add(self)
        self.thread.start()

    def close(self, on_exit: Callable[[], None] | None = None) -> None:
        """Stop accepting work once the queued items are done; the thread then exits, calling
        `on_exit()` (from the thread, when it has nothing left to run) if given."""
        self._on_exit = on_exit
        self._closing = True
        with self._lock:
            started = self._has_thread_locked()
        if started:
            self.wake()
        elif on_exit is not None:
            on_exit()

    def join(self, timeout: float | None = None) -> None:
        thread = self.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """`Executor.shutdown`: close the lane, and wait for its thread if `wait`."""
        self.close()
        if wait:
            self.join()

    def _is_closing(self) -> bool:
        return self._closing

    def reset_after_fork(self) -> None:
        """In a forked child: the parent's thread is gone; the next item starts a new one."""
        self._lock = threading.Lock()

    def _run(self) -> None:
        try:
            self.serve_until(self._is_closing, already_open=True)
        finally:
            OWNERS.discard(self)
            on_exit = self._on_exit
            if on_exit is not None:
                on_exit()


class _SpareLane:
    """One owned lane whose thread is started ahead of need. Code that needs a new thread for a
    short while (each `async_to_sync` call with no event loop around, each `ThreadSensitiveContext`)
    takes this lane instead: starting a thread is most of such a call's cost. A taken lane serves
    its taker only and ends with it, as a new thread would; the next spare starts on its thread
    after the taker's first work, off the critical path."""

    def __init__(self) -> None:
        self._spare: ThreadLane | None = None
        self._refilling = False
        self._lock = threading.Lock()

    def take(self, name: str, first: WorkItem) -> ThreadLane:
        """A lane for one taker alone, named `name`, running `first` (then starting the next
        spare, once `first` is done)."""
        with self._lock:
            lane, self._spare = self._spare, None
        if lane is None or lane._generation != FORKS.generation:
            lane = ThreadLane(name)
        else:
            lane.rename(name)
        lane.post(first)
        lane.post(self.refill)
        return lane

    def peek(self) -> threading.Thread | None:
        """The spare's thread, if there is a spare (for tests counting threads)."""
        lane = self._spare
        return lane.thread if lane is not None else None

    def refill(self) -> None:
        """Start a new spare if there is none (a work item: it runs on a taken lane's thread)."""
        # Claimed under the lock before starting, so two takers finishing together start one
        # spare between them, not one each with the loser's thread still winding down.
        with self._lock:
            if self._spare is not None or self._refilling:
                return
            self._refilling = True
        try:
            lane = ThreadLane("asgiref-spare")
            lane.start()
            with self._lock:
                self._spare = lane
        finally:
            with self._lock:
                self._refilling = False

    def forget_after_fork(self) -> None:
        self._spare = None
        self._refilling = False
        self._lock = threading.Lock()


SPARE_LANE = _SpareLane()


def run_on_own_thread(item: WorkItem, name: str) -> None:
    """Run `item` on a thread of its own, which ends after it."""
    SPARE_LANE.take(name, item).close()


# Where thread-sensitive work goes when no other rule applies (the default
# `SyncToAsync.single_thread_executor`). Importing asgiref starts no thread: a lane's thread starts
# with its first item.
PROCESS_LANE = ThreadLane("asgiref-sync-main")


FORKS.on_fork(SPARE_LANE.forget_after_fork)
