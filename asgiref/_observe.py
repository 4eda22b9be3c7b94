"""Observing bridged calls without monkeypatching: the observers, and what a call tells them.

Theory
------
An observer registered with `OBSERVERS` is told about every call the bridge makes, in both
directions, at three moments, each on the thread where it happens:

* ``queued(call)``: on the caller's thread, just before the call crosses, *inside the context the
  call will run in* (its copy of the caller's context): a context variable an observer sets there
  is seen by the call on the far side (so a tracing span started here can be the parent there);
* ``started(call)``: on the thread (or in the task) that runs it, in the call's context;
* ``finished(call)``: there too, once it returned or raised, still in the call's context (an
  observer undoes there what it set, so nothing it set is carried back to the caller); or on the
  caller's side, outcome "cancelled", for a call given up before it started.

The `BridgedCall` passed is the same object at each moment, filled in as the call goes. An observer
may implement any of the three methods; one that raises is logged and never breaks the call.

With no observer registered the bridge pays one truthiness test per call (`OBSERVERS.active`), so
its benchmarks do not move.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

logger = logging.getLogger("asgiref.sync")


class BridgedCall:
    """One call across the bridge, as observers see it."""

    __slots__ = (
        "__weakref__",
        "_destination",
        "direction",
        "error",
        "finished_at",
        "func",
        "outcome",
        "queued_at",
        "started_at",
        "thread",
        "thread_sensitive",
    )

    def __init__(
        self,
        func: Callable[..., Any],
        direction: str,
        thread_sensitive: bool,
        destination: Callable[[], object],
    ) -> None:
        #: The function called (the sync function, or the coroutine function).
        self.func = func
        #: "sync_to_async" or "async_to_sync".
        self.direction = direction
        #: Whether it was a thread-sensitive call (async_to_sync calls are not).
        self.thread_sensitive = thread_sensitive
        #: `time.monotonic()` when it was queued, started and finished.
        self.queued_at = time.monotonic()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        #: The thread that ran it (known from `started` on).
        self.thread: threading.Thread | None = None
        #: "returned", "raised" or "cancelled" (known at `finished`); `error` if it raised.
        self.outcome: str | None = None
        self.error: BaseException | None = None
        self._destination = destination

    @property
    def queued_for(self) -> object:
        """Where it was sent: a lane (`.thread` is its thread), an executor, or an event loop."""
        return self._destination()

    def __repr__(self) -> str:
        name = getattr(self.func, "__qualname__", repr(self.func))
        return f"<BridgedCall {self.direction} {name} {self.outcome or 'pending'}>"


class BridgeObserver(Protocol):
    """What an observer may implement (each method is optional)."""

    def queued(self, call: BridgedCall) -> None: ...
    def started(self, call: BridgedCall) -> None: ...
    def finished(self, call: BridgedCall) -> None: ...


class _Observers:
    """The registered observers (a tuple, replaced whole under a lock, read without one)."""

    def __init__(self) -> None:
        self.active: tuple[object, ...] = ()
        self._lock = threading.Lock()

    def register(self, observer: object) -> Callable[[], None]:
        with self._lock:
            self.active = (*self.active, observer)

        def unregister() -> None:
            with self._lock:
                self.active = tuple(other for other in self.active if other is not observer)

        return unregister

    def notify(self, moment: str, call: BridgedCall) -> None:
        for observer in self.active:
            method = getattr(observer, moment, None)
            if method is None:
                continue
            try:
                method(call)
            except Exception:
                logger.exception(
                    "asgiref: bridge observer %r raised in %s(%r)", observer, moment, call
                )

    def started(self, call: BridgedCall) -> None:
        call.started_at = time.monotonic()
        call.thread = threading.current_thread()
        self.notify("started", call)

    def finished(self, call: BridgedCall, error: BaseException | None) -> None:
        call.finished_at = time.monotonic()
        if error is None:
            call.outcome = "returned"
        else:
            call.outcome = "cancelled" if _is_cancellation(error) else "raised"
            call.error = error
        self.notify("finished", call)


def _is_cancellation(error: BaseException) -> bool:
    import asyncio

    return isinstance(error, asyncio.CancelledError)


OBSERVERS = _Observers()
