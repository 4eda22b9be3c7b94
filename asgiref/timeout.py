"""A deadline for a block of async code: `timeout`, kept for code written before `asyncio.timeout`.

How it works. A `timeout` belongs to the event loop running when it is made (or to the one given
as `loop`). Entering the block finds the task that loop is running and schedules a timer there;
if the timer fires while the task is still inside the block, it cancels the task, the
`CancelledError` unwinds the block, and leaving the block turns it into `TimeoutError` (raised
while the `CancelledError` is being handled, so that is its ``__context__``). Leaving the block
cancels the timer. Entering and leaving never await, which is why the block can be written with a
plain ``with`` inside a coroutine as well as with ``async with``.

What users see is asgiref 3.13's: the warnings, the errors for misuse, `remaining` (None until
the block is entered, and for a delay of zero or less, which cancels at the loop's next turn
instead of at a time), `expired` (which stays true once the deadline has passed), and a timeout
object that may be entered again (each entry starts a new deadline and replaces a pending one).

Two deliberate differences, both about someone else's cancellation (Python 3.11+, where each task
counts the cancellations requested of it with `Task.cancelling()`):

* The timer's cancellation is taken back with `Task.uncancel()` when the block is left, so the
  count is what it would have been without the timeout. asgiref 3.13 leaves it raised, after
  which structured concurrency in that task misbehaves: an `asyncio.TaskGroup` whose child fails
  no longer cancels the body of the ``async with`` (it waits for it to finish on its own).
* A `CancelledError` becomes a `TimeoutError` only if this entry's timer fired and nobody else
  asked to cancel the task meanwhile (the count is still at its value on entry once ours is taken
  back). asgiref 3.13 converts it whenever its deadline ever passed, so a cancellation from
  outside that lands with the deadline (or after an earlier expiry of the same object) is lost:
  the task sees a timeout, carries on, and is never cancelled. Python 3.10 keeps no count: there,
  an outside cancellation landing after the timer fired and before the task resumed is reported
  as the timeout.

Nested timeouts each take back only their own cancellation, so an inner one expiring raises
`TimeoutError` out of the inner block alone, and an outer one expiring passes through the inner
block as the `CancelledError` it is.

`TimeoutError` here is `asyncio.TimeoutError`: on 3.11+ that is the builtin `TimeoutError`, and on
3.10 it is the class ``except asyncio.TimeoutError`` catches.
"""

import asyncio
import sys
import warnings
from typing import Any

__all__ = ["timeout"]


class timeout:  # lower case: the historical public name
    """Context manager (``with`` inside a task, or ``async with``): cancel the block after
    `timeout` seconds and raise `TimeoutError` from it; `None` means no deadline.

    Made outside a running event loop it raises `RuntimeError`, unless `loop` (deprecated) names
    the loop whose tasks will enter it.
    """

    def __init__(
        self, timeout: float | None, *, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        if sys.version_info >= (3, 11):
            warnings.warn(
                "asgiref.timeout.timeout is deprecated. Use asyncio.timeout() instead.",
                DeprecationWarning,
                stacklevel=2,
            )
        if loop is None:
            loop = asyncio.get_running_loop()
        else:
            # Attributed to this module, as asgiref 3.13 does; so the default filters, which show
            # DeprecationWarning only for code run as __main__, keep it quiet in the same cases.
            warnings.warn(
                "The loop argument to timeout() is deprecated.", DeprecationWarning, stacklevel=1
            )
        self._timeout = timeout
        self._loop = loop
        self._task: asyncio.Task[Any] | None = None
        self._deadline: float | None = None
        self._handle: asyncio.Handle | None = None
        self._expired = False
        self._fired = False  # the timer fired during the current entry
        self._cancelling_on_entry = 0

    @property
    def expired(self) -> bool:
        """Whether a deadline of this timeout has passed while a block was running under it."""
        return self._expired

    @property
    def remaining(self) -> float | None:
        """Seconds left before the deadline of the latest entry (0.0 once passed); `None` before
        the first entry, with no deadline, and for a delay of zero or less."""
        if self._deadline is None:
            return None
        return max(self._deadline - self._loop.time(), 0.0)

    def __enter__(self) -> "timeout":
        self._enter()
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, traceback: object) -> None:
        self._exit(exc)

    async def __aenter__(self) -> "timeout":
        self._enter()
        return self

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self._exit(exc)

    def _enter(self) -> None:
        task = asyncio.current_task(self._loop)
        if task is None:
            # Outside a task, or outside the loop this timeout belongs to.
            raise RuntimeError("Timeout context manager should be used inside a task")
        if self._handle is not None:  # entered again inside itself: the new deadline wins
            self._handle.cancel()
            self._handle = None
        self._task = task
        self._fired = False
        if sys.version_info >= (3, 11):
            self._cancelling_on_entry = task.cancelling()
        if self._timeout is None:
            return
        if self._timeout <= 0:
            # Cancel at the loop's next turn, ahead of callbacks scheduled later (as asgiref 3.13
            # does), so even ``await asyncio.sleep(0)`` in the block times out.
            self._handle = self._loop.call_soon(self._on_deadline)
        else:
            self._deadline = self._loop.time() + self._timeout
            self._handle = self._loop.call_at(self._deadline, self._on_deadline)

    def _on_deadline(self) -> None:
        self._handle = None
        self._expired = self._fired = True
        if self._task is not None:
            self._task.cancel()

    def _exit(self, exc: BaseException | None) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if not self._fired:
            return
        self._fired = False
        if sys.version_info >= (3, 11) and self._task is not None:
            if self._task.uncancel() > self._cancelling_on_entry:
                return  # someone else asked to cancel the task too: theirs goes on
        if isinstance(exc, asyncio.CancelledError):
            raise asyncio.TimeoutError
