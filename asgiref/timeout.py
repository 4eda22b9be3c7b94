"""A deadline for a block of async code: `timeout`, kept for code written before `asyncio.timeout`.

How it works. A `timeout` belongs to the event loop running when it is made (or to the one given
as `loop`). Entering the block finds the task that loop is running and schedules a timer there;
if the timer fires while the task is still inside the block, it cancels the task, the
`CancelledError` unwinds the block, and leaving the block turns it into `TimeoutError` (raised
while the `CancelledError` is being handled, so that is its ``__context__``). Leaving the block
cancels the timer. Entering and leaving never await, which is why the block can be written with a
plain ``with`` inside a coroutine as well as with ``async with``.

What users see is asgiref 3.13's (docs/timeout.rst), except that the timer's cancellation is taken
back (`Task.uncancel()`, 3.11+) when the block is left, and that only this entry's own
cancellation becomes `TimeoutError`, never someone else's landing with it (DIFFERENCES.md,
TIMEOUT-1 and TIMEOUT-2). Nested timeouts each take back only their own cancellation, so an outer
one expiring passes through an inner block as the `CancelledError` it is.
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
