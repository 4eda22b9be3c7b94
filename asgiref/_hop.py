"""The one mechanism behind both directions of the bridge: move a call to another thread, wait for
it, and carry context variables there and back.

Theory
------
`ThreadCall` (sync_to_async) takes a sync call from a task on an event loop to a thread. It is a
work item: posted to a lane (see `_lanes`) or submitted to an executor, it runs the function in a
copy of the task's context and wakes the task with `loop.call_soon_threadsafe`.

`LoopCall` (async_to_sync) takes a coroutine function from a sync thread to an event loop. The
sync thread does not just block while it waits: it serves its *lane*, so that thread-sensitive
calls made by that coroutine come back to it (that is what "thread-sensitive" promises, and it is
why nesting never needs another thread). When the coroutine is done, the lane is woken.

Sync worlds. The lane a thread serves while it waits belongs to its current *sync world*:

* a plain thread (not running a `ThreadCall`) has one lane for its whole life, so a task started by
  one of its `async_to_sync` calls can make thread-sensitive calls during a later one;
* a `ThreadCall` that a thread picks up from a lane or an executor starts a world of its own, which
  ends when the call returns; calls that reach the thread through that world's lane join it.

The lane travels to the coroutine in a context variable (`CURRENT_LANE`), set inside the task with a
token and reset before the task's context is copied back. Bridge state therefore never leaks into
the caller's context, and a task that outlives its world finds a lane that refuses work and moves on
to the next rule: the outermost `ThreadSensitiveContext`, then the process-wide lane. (One contrived
case can still wait: if the thread of that next lane is itself blocked waiting for the outliving
task. asgiref raises "CurrentThreadExecutor already quit" there; we prefer running the call.)

Context. Each call runs in a copy of the caller's context. When it is over, every variable whose
value differs is set in the caller's context (`carry_back`), so values set on the far side are seen
by the caller, in both directions and at any depth.

Cancellation. A thread cannot be interrupted. When the task awaiting a `ThreadCall` is cancelled,
the cancellation is forwarded to the coroutines the sync function is running through
`async_to_sync` (so it unwinds promptly), the task waits for the function to return, and then it
raises `CancelledError`: the cancellation is never swallowed, and an error the function raised
meanwhile is reported to the loop's exception handler rather than lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any, Protocol

from ._flow import ACTING_FOR, current_flow
from ._lanes import BorrowedLane, WorkQueue
from ._loops import LoopThread, loop_for_this_thread
from ._workers import WorkerPool

logger = logging.getLogger("asgiref.sync")

# How often a sync thread waiting on an event loop it does not own checks that the loop still runs.
LOOP_CHECK_INTERVAL = 0.2

_MISSING: Any = object()
_get_ident = threading.get_ident


class LoopGoneError(RuntimeError):
    """The event loop a coroutine was sent to stopped or closed before running it."""


class _ThreadState(threading.local):
    # The ThreadCall this thread is running (the innermost one), if any.
    call: ThreadCall | None = None
    # The lane of the sync world this thread is in, while it is in one.
    lane: BorrowedLane | None = None
    # A plain thread's own lane, kept for the thread's lifetime.
    home_lane: BorrowedLane | None = None


THREAD = _ThreadState()

CURRENT_LANE: contextvars.ContextVar[BorrowedLane | None] = contextvars.ContextVar(
    "asgiref.sync.current_lane", default=None
)


class SensitiveContext(Protocol):
    """What `ThreadSensitiveContext` offers the dispatcher."""

    def post_call(self, call: ThreadCall) -> bool:
        """Send `call` to the context's thread; False if the context no longer takes calls."""


SENSITIVE_CONTEXT: contextvars.ContextVar[SensitiveContext | None] = contextvars.ContextVar(
    "asgiref.sync.sensitive_context", default=None
)


def carry_back(source: contextvars.Context) -> None:
    """Set, in the current context, every variable whose value in `source` differs."""
    for var, value in source.items():
        if var.get(_MISSING) is not value:
            var.set(value)


def _call_while_handling(
    exception: BaseException, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Call `fn` inside an `except` block for `exception`, so that `sys.exc_info()` (used by
    logging and Django's error pages) sees the exception the caller was handling."""
    traceback = exception.__traceback__
    try:
        raise exception
    except BaseException:
        exception.__traceback__ = traceback
        return fn(*args, **kwargs)


# --- sync_to_async: a sync call on another thread ---------------------------------------------


class Inbox:
    """Finished calls on their way back to one event loop, delivered with one wake-up per batch.

    Waking a loop from another thread (`call_soon_threadsafe`) costs a pipe write and a loop
    iteration. When many calls finish together, as a `gather` of many `sync_to_async` calls does,
    the first one wakes the loop and the others join its batch.
    """

    __slots__ = ("_lock", "_pending", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._lock = threading.Lock()
        self._pending: list[ThreadCall] | None = None

    def deliver(self, call: ThreadCall) -> None:
        """From any thread: hand `call` back to the loop."""
        with self._lock:
            if self._pending is not None:
                self._pending.append(call)
                return
            self._pending = [call]
        try:
            self.loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            for lost in self._take():
                lost.report_lost()

    def _take(self) -> list[ThreadCall]:
        with self._lock:
            calls, self._pending = self._pending, None
        return calls or []

    def _drain(self) -> None:
        for call in self._take():
            call.finish()


class _LoopThreadState(threading.local):
    # The inbox of the loop this thread last ran calls for; a thread runs one loop at a time.
    inbox: Inbox | None = None


_LOOP_THREAD = _LoopThreadState()


def inbox_of(loop: asyncio.AbstractEventLoop) -> Inbox:
    """The inbox of `loop`; called on the loop's own thread."""
    inbox = _LOOP_THREAD.inbox
    if inbox is None or inbox.loop is not loop:
        inbox = _LOOP_THREAD.inbox = Inbox(loop)
    return inbox


class _Call:
    """What both directions share: the callable and its arguments, going one way, and its outcome
    (a result or an exception), coming back."""

    __slots__ = (
        "_args",
        "_baseline",
        "_error",
        "_exception",
        "_flow",
        "_fn",
        "_kwargs",
        "_result",
        "changed",
        "loop",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        exception: BaseException | None,
    ) -> None:
        self.loop = loop
        self._fn = fn
        self._args = args
        self._kwargs = kwargs
        # The exception the caller was handling, re-established on the far side for sys.exc_info().
        self._exception = exception
        # The flow the caller belongs to (see `_flow`); the callee acts for it.
        self._flow = current_flow()
        self._baseline: contextvars.Context | None = None
        # Whether the callee set any context variable, so that its context must be carried back.
        self.changed = False
        self._result: Any = None
        self._error: BaseException | None = None

    def _join_flow(self) -> contextvars.Token[tuple[int, int] | None]:
        """In the callee's context, before the callee runs: act for the caller's flow, and note
        the context as it stands."""
        token = ACTING_FOR.set((_get_ident(), self._flow))
        self._baseline = contextvars.copy_context()
        return token

    def _leave_flow(self, token: contextvars.Token[tuple[int, int] | None]) -> None:
        """In the callee's context, after the callee ran: note whether it set any variable, and
        forget the flow (so it never reaches the caller's context).

        Contexts compare by their underlying mapping, which short-circuits when it is the very
        same one, as it is when nothing was set: so the common case costs nothing, where copying
        back would walk every variable in the context."""
        self.changed = contextvars.copy_context() != self._baseline
        self._baseline = None
        ACTING_FOR.reset(token)

    def _call_for_flow(self) -> Any:
        """Call the function as part of the caller's flow; runs inside the callee's context."""
        token = self._join_flow()
        try:
            if self._exception is None:
                return self._fn(*self._args, **self._kwargs)
            return _call_while_handling(self._exception, self._fn, self._args, self._kwargs)
        finally:
            self._leave_flow(token)

    def _drop_request(self) -> None:
        """Forget the callable and its arguments once called, so they die with the call."""
        self._fn = self._args = self._kwargs = self._exception = None  # type: ignore[assignment]

    def _outcome(self) -> Any:
        """Return the result, or raise the exception, of the finished call (once)."""
        error = self._error
        if error is not None:
            self._error = None
            try:
                raise error
            finally:
                del error
        result, self._result = self._result, None
        return result


class ThreadCall(_Call):
    """One sync call run on another thread for a task that awaits it on `loop`."""

    __slots__ = ("_context", "_finished", "_inbox", "_inner", "_waiter", "cancelled")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        context: contextvars.Context,
        exception: BaseException | None,
    ) -> None:
        super().__init__(loop, fn, args, kwargs, exception)
        self._context = context
        self._inbox = inbox_of(loop)
        self._finished = False
        self._waiter: asyncio.Future[None] = loop.create_future()
        # Coroutines the function runs through async_to_sync on `loop`, for forwarding cancellation.
        self._inner: set[LoopCall] = set()
        self.cancelled = False

    def run(self) -> None:
        """The work item: call the function on this thread, then wake the awaiting task."""
        state = THREAD
        outer_call, outer_lane = state.call, state.lane
        state.call = self
        try:
            self._result = self._context.run(self._call_for_flow)
        except BaseException as error:
            self._error = error
        finally:
            state.call, state.lane = outer_call, outer_lane
            self._drop_request()
        self._inbox.deliver(self)

    def notice_executor_done(self, future: Future[Any]) -> None:
        """Done-callback on an executor's future: the executor may drop the call unrun."""
        if future.cancelled():
            self._error = RuntimeError(
                "the executor cancelled this sync_to_async call before running it "
                "(was it shut down with cancel_futures=True?)"
            )
            self._inbox.deliver(self)

    def finish(self) -> None:
        """On the loop: wake the awaiting task."""
        self._finished = True
        if not self._waiter.done():
            self._waiter.set_result(None)

    # Awaiting a ThreadCall, in the task that made it:
    #
    #     try:
    #         await call.waiter
    #     except asyncio.CancelledError:
    #         await call.outlast_cancellation()
    #         raise
    #     return call.outcome()
    #
    # It is spelled out at the one place that awaits (SyncToAsync.__call__) rather than wrapped in
    # a coroutine method here: that extra coroutine frame was a tenth of the bridge's own cost.

    @property
    def waiter(self) -> asyncio.Future[None]:
        """Resolved on the loop when the call has finished."""
        return self._waiter

    def outcome(self) -> Any:
        """The call's result, or raise its exception."""
        return self._outcome()

    async def outlast_cancellation(self) -> None:
        """After the awaiting task was cancelled: forward the cancellation to the coroutines the
        function runs through async_to_sync, wait until the function has returned, and report an
        error it raised meanwhile (the caller re-raises the CancelledError)."""
        self.cancelled = True
        for inner in list(self._inner):
            inner.cancel()
        while not self._finished:
            self._waiter = self.loop.create_future()
            try:
                await self._waiter
            except asyncio.CancelledError:
                continue  # already cancelling: keep waiting for the thread, then raise
        error, self._error = self._error, None
        if error is not None and not isinstance(error, asyncio.CancelledError):
            self.loop.call_exception_handler(
                {
                    "message": "sync_to_async: the sync function raised after its caller was "
                    "cancelled",
                    "exception": error,
                }
            )

    def report_lost(self) -> None:
        """The loop closed before the call could report back: nobody waits any more."""
        if self._error is not None:
            logger.error(
                "sync_to_async: the sync function raised, but the event loop awaiting it is closed",
                exc_info=self._error,
            )


def send_to_executor(executor: Executor, call: ThreadCall) -> None:
    """Run `call` on `executor`; lanes and worker pools take it directly, other executors
    through `submit`."""
    if isinstance(executor, (WorkQueue, WorkerPool)):
        if not executor.post(call.run):
            raise RuntimeError(f"{executor!r} has shut down and cannot run sync_to_async calls")
        return
    executor.submit(call.run).add_done_callback(call.notice_executor_done)


def send_to_default_executor(loop: asyncio.AbstractEventLoop, call: ThreadCall) -> None:
    """Run `call` on `loop`'s default executor, as `loop.run_in_executor(None, ...)` would."""
    if not hasattr(loop, "_default_executor") or getattr(loop, "_executor_shutdown_called", False):
        # Not an asyncio loop we can look inside, or one being shut down: let the loop decide.
        loop.run_in_executor(None, call.run)
        return
    executor: Executor | None = getattr(loop, "_default_executor")  # noqa: B009
    if executor is None:
        executor = ThreadPoolExecutor(thread_name_prefix="asyncio")
        loop.set_default_executor(executor)
    send_to_executor(executor, call)


def send_thread_sensitive(call: ThreadCall, fallback: Executor) -> None:
    """Run `call` on the thread of its sync world (see the module docstring for the rules)."""
    lane = CURRENT_LANE.get()
    if lane is not None and lane.post(call.run):
        return
    context = SENSITIVE_CONTEXT.get()
    if context is not None and context.post_call(call):
        return
    send_to_executor(fallback, call)


# --- async_to_sync: a coroutine on an event loop ----------------------------------------------

_PENDING, _STARTED, _WITHDRAWN, _DONE = range(4)


class LoopCall(_Call):
    """One coroutine function called on an event loop for a sync thread that waits for it."""

    __slots__ = (
        "_cancel_requested",
        "_context",
        "_final_context",
        "_lane",
        "_lock",
        "_parent",
        "_state",
        "_task",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        lane: BorrowedLane,
        exception: BaseException | None,
    ) -> None:
        super().__init__(loop, fn, args, kwargs, exception)
        self._lane = lane
        self._context = contextvars.copy_context()
        self._parent = THREAD.call
        self._state = _PENDING
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._cancel_requested = False
        self._final_context: contextvars.Context | None = None

    def run(self, watch_loop: bool) -> Any:
        """On the sync thread: run the coroutine, serving the lane meanwhile; return its result.

        With `watch_loop`, the loop is not ours and may stop under us: if it stops before starting
        the coroutine, the call is withdrawn and `LoopGoneError` raised, so the caller can retry
        elsewhere; if it closes while the coroutine runs, `LoopGoneError` is raised too.
        """
        poll = self._check_loop if watch_loop else None
        try:
            self._lane.run_until(self.schedule, self.is_done, poll, LOOP_CHECK_INTERVAL)
        except BaseException:
            if self._state is not _DONE:
                self.cancel_from_thread()
            raise
        if self._final_context is not None:
            carry_back(self._final_context)
        return self._outcome()

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

    def outcome(self) -> Any:
        """The finished coroutine's result, or raise its exception."""
        return self._outcome()

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
        if parent is not None and parent.loop is self.loop and not task.done():
            parent._inner.add(self)
            if parent.cancelled:
                self._cancel_requested = True
        if self._cancel_requested:
            task.cancel()

    async def _main(self) -> None:
        # Set in the task's context, and reset before it is copied back to the caller.
        token = CURRENT_LANE.set(self._lane)
        flow_token = self._join_flow()
        try:
            if self._exception is None:
                awaitable = self._fn(*self._args, **self._kwargs)
                self._result = await _checked_awaitable(awaitable, self._fn)
            else:
                try:
                    raise self._exception
                except BaseException:
                    awaitable = self._fn(*self._args, **self._kwargs)
                    self._result = await _checked_awaitable(awaitable, self._fn)
        except BaseException as error:
            self._error = error
        finally:
            self._leave_flow(flow_token)
            CURRENT_LANE.reset(token)
            if self.changed:
                self._final_context = contextvars.copy_context()
            self._conclude()

    def _end_if_never_run(self, task: asyncio.Task[None]) -> None:
        if self._state is not _DONE:
            self._error = asyncio.CancelledError("cancelled before it started")
            self._conclude()

    def _conclude(self) -> None:
        """On the loop: the call is over; wake the sync thread waiting for it."""
        self._drop_request()
        parent = self._parent
        if parent is not None:
            parent._inner.discard(self)
        self._state = _DONE
        self._lane.wake()

    def cancel(self) -> None:
        """On the loop: cancel the coroutine, now or as soon as it starts."""
        self._cancel_requested = True
        if self._task is not None:
            self._task.cancel()

    def cancel_from_thread(self) -> None:
        """From the sync thread: cancel the coroutine."""
        with contextlib.suppress(RuntimeError):  # a closed loop runs nothing any more
            self.loop.call_soon_threadsafe(self.cancel)


def _checked_awaitable(awaitable: Any, fn: Callable[..., Any]) -> Any:
    if not inspect.isawaitable(awaitable):
        raise TypeError(
            f"async_to_sync expected {fn!r} to return an awaitable, but it returned "
            f"{type(awaitable).__name__}; wrap only async functions with async_to_sync"
        )
    return awaitable


def enter_sync_world() -> tuple[BorrowedLane, bool]:
    """The lane this thread serves while it waits in async_to_sync, and whether the caller must
    leave the world afterwards (`leave_sync_world`) because the call entered it."""
    state = THREAD
    lane = state.lane
    if lane is not None:
        return lane, False
    if state.call is not None:
        # A ThreadCall picked up from a lane or an executor: a world that lasts as long as it does.
        lane = state.lane = BorrowedLane()
        return lane, False
    lane = state.home_lane
    if lane is None:
        lane = state.home_lane = BorrowedLane()
    state.lane = lane
    return lane, True


def leave_sync_world() -> None:
    THREAD.lane = None


def outer_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop awaiting the ThreadCall this thread runs, if it is still running."""
    call = THREAD.call
    if call is not None and call.loop.is_running():
        return call.loop
    return None


def run_on_new_loop(call_factory: Callable[[asyncio.AbstractEventLoop], LoopCall]) -> Any:
    """Run one call on a fresh loop and thread of its own, ended right after (force_new_loop)."""
    owner = LoopThread("asgiref-loop-new")
    try:
        return call_factory(owner.loop).run(watch_loop=False)
    finally:
        owner.close()


def run_on_own_loop(call_factory: Callable[[asyncio.AbstractEventLoop], LoopCall]) -> Any:
    return call_factory(loop_for_this_thread()).run(watch_loop=False)


def run_on_loop(
    loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], *, watch_loop: bool
) -> Any:
    """From a sync thread: run the coroutine function `fn()` on `loop`, which this thread does
    not run, and return its result (as async_to_sync does for a loop it picks itself). With
    `watch_loop`, raise `LoopGoneError` if the loop stops first (see `LoopCall.run`)."""
    lane, entered_world = enter_sync_world()
    try:
        return LoopCall(loop, fn, (), {}, lane, None).run(watch_loop=watch_loop)
    finally:
        if entered_world:
            leave_sync_world()
