"""An executor that runs work on the thread that created it, while that thread waits."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from ._lanes import BorrowedLane
from ._threads import FutureItem

__all__ = ["CurrentThreadExecutor"]

_T = TypeVar("_T")


class CurrentThreadExecutor(BorrowedLane):
    """An `Executor` whose work runs on the thread that created it.

    Work submitted from other threads, from its creation on, runs while the creating thread sits
    in `run_until_future(future)`. Once that returns, submitting passes the work to `old_executor`
    (the executor this one stands in for, if any, while it still serves) or raises `RuntimeError`,
    instead of queueing work that would never run.
    """

    def __init__(self, old_executor: CurrentThreadExecutor | None) -> None:
        super().__init__()
        self._old_executor = old_executor
        self.hold_open()  # accept work from birth: it runs once the thread starts serving
        self._unserved = True

    def run_until_future(self, future: Future[Any]) -> None:
        """Run submitted work on this thread until `future` is done."""
        if threading.current_thread() is not self.thread:
            raise RuntimeError("You cannot run CurrentThreadExecutor from a different thread")
        first, self._unserved = self._unserved, False
        self.serve_until(
            future.done,
            start=lambda: future.add_done_callback(lambda _: self.wake()),
            already_open=first,
        )

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        """Queue `fn(*args, **kwargs)` to run on the executor's thread; returns its `Future`."""
        if threading.current_thread() is self.thread:
            raise RuntimeError("You cannot submit onto CurrentThreadExecutor from its own thread")
        future: Future[_T] = Future()
        item = FutureItem(future, fn, args, kwargs)
        executor: CurrentThreadExecutor | None = self
        while executor is not None:
            if executor.post(item):
                return future
            executor = executor._old_executor
        raise RuntimeError("CurrentThreadExecutor already quit or is broken")
