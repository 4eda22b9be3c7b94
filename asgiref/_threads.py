"""Every thread this package starts has an owner, and every owner is known here.

Theory
------
Three kinds of owner start threads: lanes (`_lanes.ThreadLane`, one thread serving a queue), loop
threads (`_loops.LoopThread`, an event loop on a thread) and worker pools (`_workers.WorkerPool`,
up to N threads that retire when idle). Each registers with `OWNERS` when it starts a thread (loop
threads with `SERVING_OWNERS`). Threads hold their owner and the registries hold owners weakly:
an owner is known while any of its threads runs, or while its user keeps it.

* At interpreter exit, before Python joins its non-daemon threads (the hook `concurrent.futures`
  uses too), every owner in `OWNERS` is closed and joined, for a bounded time in all: idle threads
  end at once, and a lane still running user code is waited for by Python itself, as an
  executor's worker would be. Loop threads serve other threads (a WSGI server's threads wait on an
  `AsgiToWsgi` loop), so `SERVING_OWNERS` are closed only after that, as plain `atexit` hooks run.
* After `os.fork()`, the child has none of the parent's threads, and a lock another thread held
  at the fork stays held for ever. `FORKS.generation` counts forks, so an owner made before one
  knows its threads are gone; every registered owner is reset (`reset_after_fork`), then the
  per-process state registered with `FORKS.on_fork`, in one place, in registration order.

Locks, not the GIL, make every shared structure here safe: `OWNERS` mutates its set under its
lock, and `FORKS` is only written in a forked child, which has one thread.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, Protocol, TypeVar

_T = TypeVar("_T")

# What every thread here runs: a call that carries its own outcome to whoever waits for it, and
# never raises (so no serving loop has error handling of its own to get wrong).
WorkItem = Callable[[], None]


class PostingExecutor(Executor):
    """The one way work reaches a thread this package owns: `post(item)` accepts a work item
    (it will run) or refuses it at once (False), so no caller waits on a thread that is gone.
    Lanes and worker pools are such executors; `submit` is `Executor`'s face on `post`."""

    def post(self, item: WorkItem) -> bool:
        """Queue `item` to run; return whether it was accepted."""
        raise NotImplementedError

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        """`Executor.submit`: run `fn(*args, **kwargs)` on one of this executor's threads."""
        future: Future[_T] = Future()
        if not self.post(FutureItem(future, fn, args, kwargs)):
            raise RuntimeError(f"{self!r} is not accepting work: it has shut down")
        return future


class FutureItem:
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


class Owner(Protocol):
    """What owns threads: told to end them, waited for, and reset in a forked child."""

    def close(self) -> None:
        """Ask every thread to end once its accepted work is done; do not wait."""

    def join(self, timeout: float | None = None) -> object:
        """Wait up to `timeout` seconds for the threads to end."""

    def reset_after_fork(self) -> None:
        """In a forked child: forget the parent's threads and locks."""


class _Forks:
    """How many times this process has been forked off (counted in the child), and what must be
    reset then."""

    def __init__(self) -> None:
        self.generation = 0
        self._resets: list[Callable[[], None]] = []

    def on_fork(self, reset: Callable[[], None]) -> None:
        """Call `reset()` in every forked child, after the registry has reset the owners."""
        self._resets.append(reset)

    def in_child(self) -> None:
        self.generation += 1
        OWNERS.reset_after_fork()
        SERVING_OWNERS.reset_after_fork()
        for reset in self._resets:
            reset()


FORKS = _Forks()


class _Owners:
    """Every owner with threads (or a user) in this process."""

    def __init__(self) -> None:
        self._owners: weakref.WeakSet[Owner] = weakref.WeakSet()
        self._lock = threading.Lock()

    def add(self, owner: Owner) -> None:
        with self._lock:
            self._owners.add(owner)

    def discard(self, owner: Owner) -> None:
        with self._lock:
            self._owners.discard(owner)

    def __contains__(self, owner: object) -> bool:
        with self._lock:
            return owner in self._owners

    def close_all(self, timeout: float = 5.0) -> None:
        """Close every owner, then wait for their threads, `timeout` seconds in all."""
        with self._lock:
            owners = list(self._owners)
        deadline = time.monotonic() + timeout
        for owner in owners:
            owner.close()
        for owner in owners:
            owner.join(max(0.0, deadline - time.monotonic()))

    def reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        owners = list(self._owners)
        self._owners = weakref.WeakSet()
        for owner in owners:
            owner.reset_after_fork()


OWNERS = _Owners()
SERVING_OWNERS = _Owners()


# Owners are closed before Python joins its non-daemon threads at exit (the hook every supported
# CPython has, which `concurrent.futures` uses too), loop threads after it (see the docstring).
getattr(threading, "_register_atexit", atexit.register)(OWNERS.close_all)
atexit.register(SERVING_OWNERS.close_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=FORKS.in_child)
