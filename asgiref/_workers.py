"""A bounded pool of worker threads for work that may run on any thread (WSGI requests).

Unlike a lane, whose one thread runs its items in order, a pool runs up to `max_workers` items at
once. Threads start only when an item arrives and no worker is free, and retire after
`idle_timeout` seconds without work, so an idle server holds no threads. The pool's owner (a
`WsgiToAsgi`) closes it; its threads finish the items already accepted and exit. At interpreter
exit, and in a forked child, `_threads` deals with it as with every owner of threads.

Why not `concurrent.futures.ThreadPoolExecutor`: its threads never retire, and at interpreter exit
Python joins them without a time limit, so one stuck WSGI request would hang the process's exit.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from ._threads import OWNERS, PostingExecutor, WorkItem


class WorkerPool(PostingExecutor):
    """Up to `max_workers` threads running work items from one FIFO."""

    def __init__(self, max_workers: int, name: str, idle_timeout: float = 30.0) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, not {max_workers!r}")
        self._max_workers = max_workers
        self._name = name
        self._idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self._work_arrived = threading.Condition(self._lock)
        self._items: deque[WorkItem] = deque()
        self._threads: set[threading.Thread] = set()
        # Workers waiting for an item, or started and not yet waiting: each will take one item.
        self._free = 0
        self._started = 0
        self._closed = False

    def __repr__(self) -> str:
        return f"<WorkerPool {self._name!r} max_workers={self._max_workers}>"

    def thread_count(self) -> int:
        """How many worker threads are alive now."""
        with self._lock:
            return len(self._threads)

    def post(self, item: WorkItem) -> bool:
        """Queue `item` to run on a worker; False if the pool is closed."""
        with self._lock:
            if self._closed:
                return False
            self._items.append(item)
            if len(self._items) > self._free and len(self._threads) < self._max_workers:
                self._start_worker_locked()
            elif len(self._items) == 1:
                # Wake one idle worker. Items queued behind this one are not woken for here:
                # the worker that takes an item wakes the next if more are queued, so a burst
                # of requests wakes threads one after another instead of all fighting at once.
                self._work_arrived.notify()
        return True

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Accept no more work; the workers finish what was accepted, then exit."""
        self.close()
        if wait:
            self.join()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._work_arrived.notify_all()

    def join(self, timeout: float | None = None) -> bool:
        """Wait up to `timeout` seconds for every worker to exit; return whether they all did."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            if thread is threading.current_thread():
                continue
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in threads)

    def reset_after_fork(self) -> None:
        """In a forked child: the parent's workers, and the items they were to run, are gone."""
        self._lock = threading.Lock()
        self._work_arrived = threading.Condition(self._lock)
        self._items.clear()
        self._threads = set()
        self._free = 0

    def _start_worker_locked(self) -> None:
        self._started += 1
        thread = threading.Thread(
            target=self._work, name=f"{self._name}-{self._started}", daemon=True
        )
        OWNERS.add(self)
        self._threads.add(thread)
        self._free += 1
        thread.start()

    def _work(self) -> None:
        items = self._items
        with self._lock:
            while True:
                if not items:
                    if self._closed:
                        break
                    if not self._work_arrived.wait(self._idle_timeout) and not items:
                        break  # idle for `idle_timeout` seconds: retire
                    continue
                item = items.popleft()
                self._free -= 1
                if items:
                    self._work_arrived.notify()
                self._lock.release()
                try:
                    item()  # work items carry their own outcome and never raise
                finally:
                    del item
                    self._lock.acquire()
                self._free += 1
            self._free -= 1
            self._threads.discard(threading.current_thread())
