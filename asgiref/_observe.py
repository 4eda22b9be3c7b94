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

import asyncio
import logging
import os
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import contextvars

    from ._hop import ThreadCall

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
        "notes",
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
        #: Room for observers' own per-call state (a span, a token), keyed as they please.
        self.notes: dict[str, Any] = {}
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
    return isinstance(error, asyncio.CancelledError)


OBSERVERS = _Observers()


class SlowLaneDiagnostic:
    """An observer that warns when a thread-sensitive call has waited longer than `seconds` for
    its thread, with the stack of what that thread is doing at that moment ("my sync view is
    stuck behind X", visible without a debugger)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def queued(self, call: BridgedCall) -> None:
        if not call.thread_sensitive:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - sync_to_async is always called on a loop
            return
        loop.call_later(self.seconds, self._check, call)

    def _check(self, call: BridgedCall) -> None:
        if call.started_at is not None or call.outcome is not None:
            return
        thread = getattr(call.queued_for, "thread", None)
        frame = sys._current_frames().get(thread.ident) if thread and thread.ident else None
        doing = "".join(traceback.format_stack(frame)) if frame is not None else "(not known)\n"
        name = getattr(call.func, "__qualname__", repr(call.func))
        logger.warning(
            "asgiref: the thread-sensitive call %s has waited %.1f s for its thread %s, which is "
            "running:\n%s",
            name,
            time.monotonic() - call.queued_at,
            repr(thread.name) if thread is not None else repr(call.queued_for),
            doing,
        )


class _SlowLaneSetting:
    """The one `SlowLaneDiagnostic` of the process, if configured (`set_slow_lane_warning`)."""

    def __init__(self) -> None:
        self._unregister: Callable[[], None] | None = None
        self._lock = threading.Lock()

    def set(self, seconds: float | None) -> None:
        if seconds is not None and not seconds > 0:  # also refuses NaN
            raise ValueError(
                f"set_slow_lane_warning() takes a positive number of seconds or None, "
                f"not {seconds!r}"
            )
        with self._lock:
            if self._unregister is not None:
                self._unregister()
                self._unregister = None
            if seconds is not None:
                self._unregister = OBSERVERS.register(SlowLaneDiagnostic(seconds))

    def from_environment(self) -> None:
        """Configure from ``ASGIREF_SLOW_LANE_WARNING`` (seconds), if set; warn if it is bad."""
        text = os.environ.get("ASGIREF_SLOW_LANE_WARNING", "").strip()
        if not text:
            return
        try:
            self.set(float(text))
        except ValueError:
            warnings.warn(
                f"ASGIREF_SLOW_LANE_WARNING={text!r} is not a positive number of seconds: ignored",
                RuntimeWarning,
                stacklevel=2,
            )


SLOW_LANE = _SlowLaneSetting()


def watch_thread_call(
    call: ThreadCall,
    context: contextvars.Context,
    func: Callable[..., Any],
    thread_sensitive: bool,
) -> None:
    """Give a `ThreadCall` what observers see of it, and tell them it is queued, in its context
    (so that what they set there, the call sees)."""
    watch = call.watch = BridgedCall(
        func, "sync_to_async", thread_sensitive, lambda: call.destination
    )
    context.run(OBSERVERS.notify, "queued", watch)
