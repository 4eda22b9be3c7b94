"""A deadline for a block of async code: `timeout`, kept for code written before `asyncio.timeout`.

How it works. Entering the block finds the asyncio task running it and schedules a timer on that
task's loop. If the timer fires while the task is still inside the block, it cancels the task; the
`CancelledError` unwinds the block, and leaving the block turns it into `TimeoutError`. Leaving the
block first cancels the timer. Entering and leaving never need to await, which is why the block
can be written with a plain ``with`` inside a coroutine as well as with ``async with``.

Telling our cancellation from someone else's. A `CancelledError` leaving the block becomes a
`TimeoutError` only if our timer fired, so a task cancelled from outside while in the block sees
its `CancelledError` and `expired` stays false. On Python 3.11+ each task counts the cancellations
requested of it (`Task.cancelling()`); the timer's cancellation is taken back with
`Task.uncancel()` on the way out, so the count is what it would have been without the timeout,
and if the count is still above what it was on entry (someone else cancelled too, even in the same
loop iteration) the `CancelledError` is passed on instead of becoming a `TimeoutError`. Python
3.10 keeps no count: there, an outside cancellation that lands after the timer fired but before
the task resumed is reported as the timeout.

Nested timeouts each take back only their own cancellation, so the inner one expiring raises
`TimeoutError` out of the inner block alone, and the outer one expiring passes through the inner
block as the `CancelledError` it is.

`TimeoutError` here is `asyncio.TimeoutError`: on 3.11+ that is the builtin `TimeoutError`, and on
3.10 it is the class ``except asyncio.TimeoutError`` catches.

Python 3.11 added `asyncio.timeout`, which does the same for ``async with``; on 3.11+ creating a
`timeout` warns with `DeprecationWarning` and points there.
"""

from __future__ import annotations

import asyncio
import sys
import warnings
from types import TracebackType
from typing import Any

__all__ = [
    "TimeoutLoopMismatchError",
    "TimeoutNotInTaskError",
    "TimeoutReusedError",
    "timeout",
]


class TimeoutNotInTaskError(RuntimeError):
    """A `timeout` was entered outside a running asyncio task."""


class TimeoutLoopMismatchError(RuntimeError):
    """A `timeout` was given a `loop` other than the one running the task that entered it."""


class TimeoutReusedError(RuntimeError):
    """A `timeout` was entered a second time."""


class timeout:  # lower case: the historical public name
    """Context manager (``with`` inside a task, or ``async with``): cancel the block after
    `timeout` seconds and raise `TimeoutError` from it; `None` means no deadline.

    `loop` is deprecated and ignored; if given, it must be the running loop.
    """

    def __init__(
        self, timeout: float | None, *, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        if sys.version_info >= (3, 11):
            warnings.warn(
                "asgiref.timeout.timeout is deprecated; use the standard library's "
                "asyncio.timeout() instead ('async with asyncio.timeout(delay):')",
                DeprecationWarning,
                stacklevel=2,
            )
        if loop is not None:
            warnings.warn(
                "the loop argument of asgiref.timeout.timeout is deprecated; leave it out, "
                "the loop running the current task is used",
                DeprecationWarning,
                stacklevel=2,
            )
        self._timeout = timeout
        self._given_loop = loop
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._deadline: float | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._cancelling_on_entry = 0
        self._expired = False
        self._remaining_on_exit: float | None = None

    @property
    def expired(self) -> bool:
        """Whether the deadline passed while the block was running (and so it was cancelled)."""
        return self._expired

    @property
    def remaining(self) -> float | None:
        """Seconds left before the deadline: the whole timeout before the block starts, what was
        left when it ended after it ended, 0.0 once expired, and `None` with no deadline."""
        if self._timeout is None:
            return None
        if self._expired:
            return 0.0
        if self._remaining_on_exit is not None:
            return self._remaining_on_exit
        if self._deadline is None or self._loop is None:
            return max(0.0, float(self._timeout))
        return max(0.0, self._deadline - self._loop.time())

    def __enter__(self) -> timeout:
        self._enter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._exit(exc)

    async def __aenter__(self) -> timeout:
        self._enter()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._exit(exc)

    def _enter(self) -> None:
        if self._task is not None:
            raise TimeoutReusedError(
                "this timeout has already been used; create a new timeout(...) for each block"
            )
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise TimeoutNotInTaskError(
                "timeout() was entered with no event loop running; use it inside a coroutine "
                "run by asyncio ('with timeout(...):' or 'async with timeout(...):')"
            ) from None
        if self._given_loop is not None and self._given_loop is not loop:
            raise TimeoutLoopMismatchError(
                "timeout(loop=...) was given a loop other than the running one; leave out the "
                "loop argument"
            )
        task = asyncio.current_task(loop)
        if task is None:
            raise TimeoutNotInTaskError(
                "timeout() was entered outside an asyncio task (in a loop callback?); it cancels "
                "the task running the block, so use it inside a coroutine run as a task"
            )
        self._loop = loop
        self._task = task
        if sys.version_info >= (3, 11):
            self._cancelling_on_entry = task.cancelling()
        if self._timeout is not None:
            # A deadline already past fires on the loop's next iteration, at the block's first
            # await, like asyncio.timeout(0).
            self._deadline = loop.time() + self._timeout
            self._handle = loop.call_at(self._deadline, self._on_deadline)

    def _on_deadline(self) -> None:
        self._handle = None
        self._expired = True
        if self._task is not None:
            self._task.cancel()

    def _exit(self, exc: BaseException | None) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if not self._expired:
            if self._deadline is not None and self._loop is not None:
                self._remaining_on_exit = max(0.0, self._deadline - self._loop.time())
            return
        cancelled_from_outside = False
        if sys.version_info >= (3, 11) and self._task is not None:
            cancelled_from_outside = self._task.uncancel() > self._cancelling_on_entry
        if isinstance(exc, asyncio.CancelledError) and not cancelled_from_outside:
            raise asyncio.TimeoutError from exc
