"""`ApplicationCommunicator`: one instance of an ASGI application, fed and read through queues.

It behaves as asgiref 3.13.0's does, error states and timeouts included, because test suites (and
Channels, which subclasses it) depend on them (docs/testing.rst says how, point by point).
`next_output` is an addition: it waits as `receive_output` does, but a timeout leaves the
application running, which a test of a stream or a long poll needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import sys
from typing import Any

from ._messages import Message
from .compatibility import guarantee_single_callable

if sys.version_info >= (3, 11):
    from asyncio import timeout as _deadline
else:  # asgiref's own, which warns only on 3.11+ (where asyncio has its own)
    from .timeout import timeout as _deadline


class ApplicationCommunicator:
    """Runs one instance of an ASGI application for `scope` and talks to it through queues."""

    def __init__(self, application: Any, scope: Any) -> None:
        # Any: test applications are loosely typed, and messages here are plain dicts.
        self.application: Any = guarantee_single_callable(application)
        self.scope = scope
        self._input_queue: asyncio.Queue[Message] | None = None
        self._output_queue: asyncio.Queue[Message] | None = None
        self._future: asyncio.Task[Any] | None = None

    @property
    def input_queue(self) -> asyncio.Queue[Message]:
        """Messages waiting for the application's `receive()`."""
        if self._input_queue is None:
            self._input_queue = asyncio.Queue()
        return self._input_queue

    @property
    def output_queue(self) -> asyncio.Queue[Message]:
        """Messages the application has sent and nobody has read yet."""
        if self._output_queue is None:
            self._output_queue = asyncio.Queue()
        return self._output_queue

    @property
    def future(self) -> asyncio.Task[Any]:
        """The task running the application, started on first use.

        With no running loop this raises `RuntimeError` and starts nothing (a later use inside
        a loop starts the application then)."""
        if self._future is None:
            coroutine = self.application(self.scope, self.input_queue.get, self.output_queue.put)
            # A task copies the context it is created in: created inside an empty one, the
            # application starts with no context variables set.
            self._future = contextvars.Context().run(asyncio.create_task, coroutine)
        return self._future

    def _raise_if_ended(self) -> None:
        """Raise what the application ended with: its exception, or `CancelledError`."""
        future = self.future
        if future.done():
            future.result()

    async def send_input(self, message: Message) -> None:
        """Give the application one message to receive."""
        self._raise_if_ended()
        self.input_queue.put_nowait(message)  # unbounded: never waits

    async def receive_output(self, timeout: float | None = 1) -> Message:
        """The next message the application sends, waiting at most `timeout` seconds (None: no
        limit).

        On timeout: the application's exception if it has failed; otherwise the application is
        cancelled and `TimeoutError` raised."""
        self._raise_if_ended()
        queue = self.output_queue
        if not queue.empty():
            return queue.get_nowait()  # what the timed get below would return without waiting
        try:
            async with _deadline(timeout):
                return await queue.get()
        except asyncio.TimeoutError:
            await self._end_after_timeout()
            raise

    async def next_output(self, timeout: float | None = 1) -> Message:
        """The next message the application sends, waiting at most `timeout` seconds (None: no
        limit). Unlike `receive_output`, a timeout leaves the application running (it raises
        `TimeoutError` and changes nothing), and the application's end is noticed at once: once
        what it sent is read, what it ended with is raised (`AssertionError` if it returned)."""
        queue = self.output_queue
        if not queue.empty():
            return queue.get_nowait()
        future = self.future
        if not future.done():
            getter = asyncio.ensure_future(queue.get())
            try:
                await asyncio.wait(
                    (getter, future), timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                getter.cancel()
            if getter.done() and not getter.cancelled():
                return getter.result()
            if not future.done():
                raise asyncio.TimeoutError
        future.result()
        raise AssertionError("the application ended without sending another message")

    async def _end_after_timeout(self) -> None:
        """After `receive_output` timed out: raise what the application ended with meanwhile
        (a normal end raises nothing), or cancel it and wait until it has ended."""
        future = self.future
        if future.done():
            future.result()
            return
        future.cancel()
        # Only the expected CancelledError is swallowed: anything else the application raises
        # as it is cancelled is raised instead of the TimeoutError.
        with contextlib.suppress(asyncio.CancelledError):
            await future

    async def receive_nothing(self, timeout: float = 0.1, interval: float = 0.01) -> bool:
        """Whether the application sends nothing for `timeout` seconds (checked every
        `interval`); returns False as soon as a message arrives (the message stays queued)."""
        self._raise_if_ended()
        queue = self.output_queue
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if not queue.empty():
                return False
            await asyncio.sleep(interval)
        return queue.empty()

    async def wait(self, timeout: float | None = 1) -> None:
        """Wait for the application to end; raise its exception if it failed.

        One still running after `timeout` seconds (None: no limit) is cancelled, and `wait()`
        returns."""
        future = self.future
        async with _deadline(timeout):
            # The task itself is awaited, so cancelling this one (the deadline does, and so may
            # anyone else) cancels the application; its CancelledError then ends the wait.
            with contextlib.suppress(asyncio.CancelledError):
                await future

    def stop(self, exceptions: bool = True) -> None:
        """Cancel the application if it runs (not starting it if it never did); if it has ended,
        with `exceptions`, raise what it ended with (its exception, or `CancelledError`)."""
        future = self._future
        if future is None:
            return
        if not future.done():
            future.cancel()
        elif exceptions:
            future.result()

    def __del__(self) -> None:
        future = self._future
        if future is None or future.done():
            return
        with contextlib.suppress(RuntimeError):  # its loop is closed: the task never runs again
            future.cancel()
