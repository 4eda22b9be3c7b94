"""async_to_sync's half of the crossing: a coroutine run on an event loop for a sync thread that
waits for it (see `_hop` for the theory both directions share)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import threading
from collections.abc import Callable
from typing import Any

from ._hop import CURRENT_LANE, THREAD, CallBase, carry_back
from ._lanes import BorrowedLane
from ._loops import finish_loop
from ._observe import OBSERVERS

# How often a sync thread waiting on an event loop it does not own checks that the loop still runs.
LOOP_CHECK_INTERVAL = 0.2


class LoopGoneError(RuntimeError):
    """The event loop a coroutine was sent to stopped or closed before running it."""


_PENDING, _STARTED, _WITHDRAWN, _DONE = range(4)


class LoopCall(CallBase):
    """One coroutine function called on an event loop for a sync thread that waits for it. The loop
    is either one that runs anyway (the loop awaiting the caller, or an adapter's own), where the
    call is over when its coroutine is (`run`), or a new loop made for this call alone and run on
    another thread (`run_on_new_loop`), where the call is over when that loop has been ended, so
    that the caller keeps serving thread-sensitive calls until the last task is gone."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        awaitable: Any,
        lane: BorrowedLane,
        exception: BaseException | None,
        context: contextvars.Context,
    ) -> None:
        super().__init__(loop, exception)
        # What the coroutine function returned (asgiref calls it on the caller's thread); awaited
        # on the loop, where a non-awaitable raises Python's own TypeError.
        self._awaitable = awaitable
        self._lane = lane
        self._context = context
        thread = THREAD
        parent = self._parent = thread.call
        # What the lane's thread is while it waits (see `send_to_default_executor`).
        lane.worker_of = thread.pool
        lane.upstream = parent.caller_lane if parent is not None else None
        self._state = _PENDING
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._cancel_requested = False
        self._final_context: contextvars.Context | None = None
        self._owns_loop = False

    def run(self, watch_loop: bool) -> Any:
        """On the sync thread: run the coroutine on `loop`, which runs anyway, serving the lane
        meanwhile; return its result. With `watch_loop`, `LoopGoneError` is raised if the loop
        stops before starting the coroutine (`withdrawn`: the caller may retry elsewhere) or
        closes while it runs."""
        poll = self._check_loop if watch_loop else None
        return self._serve_until_done(self.schedule, poll)

    def run_on_new_loop(self, start_thread: Callable[[Callable[[], None]], None]) -> Any:
        """On the sync thread: run the coroutine on `loop`, a new loop that nothing runs yet, on
        the thread `start_thread(job)` runs `job` on; serve the lane until that loop has been
        ended and closed; return the coroutine's result."""
        self._owns_loop = True
        return self._serve_until_done(lambda: start_thread(self._run_own_loop), None)

    def _serve_until_done(self, start: Callable[[], None], poll: Callable[[], None] | None) -> Any:
        try:
            self._lane.serve_until(self.is_done, poll, LOOP_CHECK_INTERVAL, start=start)
        except BaseException:
            if self._state is not _DONE:
                self.cancel_from_thread()
            raise
        if self._final_context is not None:
            carry_back(self._final_context)
        return self.outcome()

    @property
    def withdrawn(self) -> bool:
        """Whether the loop stopped before starting the coroutine, so it never ran."""
        return self._state is _WITHDRAWN

    def schedule(self) -> None:
        """From the sync thread: start the coroutine on the loop (`run` does this itself; the
        WSGI adapter calls it to serve the lane piecewise while the response streams)."""
        self.loop.call_soon_threadsafe(self._start)

    def is_done(self) -> bool:
        return self._state is _DONE

    def _check_loop(self) -> None:
        loop = self.loop
        if loop.is_running() and not loop.is_closed():
            return
        with self._lock:
            if self._state is _PENDING:
                self._state = _WITHDRAWN
                raise LoopGoneError("the event loop stopped before it could run the coroutine")
        if loop.is_closed() and self._state is not _DONE:
            raise LoopGoneError(
                "the event loop running this async_to_sync coroutine was closed before the "
                "coroutine finished"
            )

    def _run_own_loop(self) -> None:
        """The body of the new loop's thread: run the coroutine, then end the loop as
        `asyncio.run` does, and only then let the waiting sync thread go."""
        loop = self.loop
        # Not made the thread's current loop (`asyncio.set_event_loop` goes through the policy
        # system 3.14 deprecates): nothing runs on this thread but inside the loop.
        try:
            self._start()
            if self._task is not None:
                # Only a task cancelled before its first step ends with an exception: `_main`
                # keeps every other outcome for the sync thread.
                with contextlib.suppress(asyncio.CancelledError):
                    loop.run_until_complete(self._task)
            finish_loop(loop)
        finally:
            loop.close()
            self._conclude()

    def _start(self) -> None:
        """On the loop: start the task (unless the sync thread withdrew the call)."""
        with self._lock:
            if self._state is not _PENDING:
                return
            self._state = _STARTED
        task = self._context.run(self.loop.create_task, self._main())
        # A task cancelled before its first step never runs its coroutine, not even `finally`
        # blocks: this callback then ends the call, or the sync thread would wait forever.
        task.add_done_callback(self._end_if_never_run)
        self._task = task
        parent = self._parent
        if parent is not None and not task.done():
            parent.inner_calls.add(self)
        if self._cancel_requested:
            task.cancel()

    async def _main(self) -> None:
        # Set in the task's context, and reset before it is copied back to the caller.
        token = CURRENT_LANE.set(self._lane)
        flow_token = self._join_flow()
        try:
            if self._exception is None:
                self._result = await self._awaitable
            else:
                try:
                    raise self._exception
                except BaseException:
                    self._result = await self._awaitable
        except BaseException as error:
            self._error = error
        finally:
            self._leave_flow(flow_token, self._error)
            CURRENT_LANE.reset(token)
            if self.changed:
                self._final_context = contextvars.copy_context()
            self._end_coroutine()

    def _end_if_never_run(self, task: asyncio.Task[None]) -> None:
        if self._parent is not None:
            self._parent.inner_calls.discard(self)
        awaitable = self._awaitable
        if awaitable is not None:  # `_main` never ran, so it ended nothing
            if inspect.iscoroutine(awaitable):
                awaitable.close()  # never to be awaited: say nothing about it
            self._error = asyncio.CancelledError("cancelled before it started")
            if self.watch is not None:
                OBSERVERS.finished(self.watch, self._error)
            self._end_coroutine()

    def _end_coroutine(self) -> None:
        """On the loop: the coroutine is over."""
        self._awaitable = self._exception = None
        if not self._owns_loop:
            self._conclude()

    def _conclude(self) -> None:
        """The call is over; wake the sync thread waiting for it."""
        self._state = _DONE
        self._lane.wake()

    def cancel(self) -> None:
        """On the loop: cancel the coroutine, now or as soon as it starts."""
        self._cancel_requested = True
        if self._task is not None:
            self._task.cancel()

    def cancel_soon(self) -> bool:
        """From the thread of the loop awaiting the caller: cancel the coroutine if it is still
        running, whichever loop runs it; return whether it was."""
        task = self._task
        if task is None or task.done():
            return False
        if self.loop is asyncio._get_running_loop():
            task.cancel()
        else:
            self.cancel_from_thread()
        return True

    def cancel_from_thread(self) -> None:
        """From another thread than the loop's: cancel the coroutine."""
        with contextlib.suppress(RuntimeError):  # a closed loop runs nothing any more
            self.loop.call_soon_threadsafe(self.cancel)


def outer_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop awaiting the ThreadCall this thread runs, if it is still running."""
    call = THREAD.call
    if call is not None and call.loop.is_running():
        return call.loop
    return None


def run_on_loop(
    loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], *, watch_loop: bool
) -> Any:
    """From a sync thread: run the coroutine function `fn()` on `loop`, which this thread does
    not run, and return its result. With `watch_loop`, raise `LoopGoneError` if the loop stops
    first (see `LoopCall.run`)."""
    context = contextvars.copy_context()
    call = LoopCall(loop, fn(), BorrowedLane(), None, context)
    return call.run(watch_loop=watch_loop)
