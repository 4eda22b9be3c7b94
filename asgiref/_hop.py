"""The one mechanism behind both directions of the bridge: move a call to another thread, wait for
it, and carry context variables there and back.

Theory
------
`ThreadCall` (sync_to_async) takes a sync call from a task on an event loop to a thread. It is a
work item: posted to a lane (see `_lanes`) or submitted to an executor, it runs the function in a
copy of the task's context and wakes the task with `loop.call_soon_threadsafe`.

`LoopCall` (async_to_sync) takes a coroutine function from a sync thread to an event loop: the
loop awaiting that thread's `ThreadCall`, if any, else a new loop on a thread of its own (see
`_loops`). The sync thread does not just block while it waits: it serves the call's *lane*, so
that thread-sensitive calls made by that coroutine come back to it (that is what
"thread-sensitive" promises, and it is why nesting never needs another thread). The lane is the
call's own, as asgiref's `CurrentThreadExecutor` is: it travels to the coroutine in a context
variable (`CURRENT_LANE`), and once the call is over it refuses work, so a task that outlived the
call and makes a thread-sensitive call gets asgiref's "CurrentThreadExecutor already quit or is
broken".

Where a thread-sensitive call goes (`send_thread_sensitive`), in asgiref's order: the lane of the
`async_to_sync` call whose coroutine makes it; else the thread of the outermost
`ThreadSensitiveContext`; else `SyncToAsync.single_thread_executor`. A call that would go to that
executor from code the executor is itself running (`asyncio.run` inside a thread-sensitive
function) could never run: it raises at once, as asgiref does (`ON_SINGLE_THREAD`).

Where a non-thread-sensitive call goes: to the `executor` given, else to the loop's default
executor, except when that might never end (`send_to_default_executor`). A thread of that
executor whose function waits in `async_to_sync` still holds the thread; with enough such chains,
every thread waits for a coroutine whose own call waits for a thread. So once the executor holds
as many of the loop's calls as it has threads (`PoolLoad`), a call made from a coroutine that one
of its threads waits for is also posted to that thread's lane, which it serves while it waits, as
thread-sensitive calls are; whichever thread takes the call first runs it. Each borrowed lane
knows which pool its thread works for (`BorrowedLane.worker_of`) and the lane waiting above it
(`upstream`), which is also how a hopeless wait on an explicit executor is seen and reported.

Context. Each call runs in a copy of the caller's context (or in the context the user gave). When
it is over, every variable whose value differs is set in the caller's context (`carry_back`), so
values set on the far side are seen by the caller, in both directions and at any depth.

Cancellation, as asgiref 3.13 does it. A thread cannot be interrupted, so when the task awaiting a
`ThreadCall` is cancelled, what happens depends on what the function is doing:

* running a coroutine through `async_to_sync` (an *inner* call): the cancellation is handed to that
  coroutine, and the task goes on waiting; its outcome is then whatever the function does (raise
  the `CancelledError` it got, or return normally if it or the coroutine absorbed it);
* anything else: the task raises `CancelledError` at once. A call that has not started yet never
  starts; one that is running finishes on its own, and its result or error is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import os
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any, Protocol

from ._flow import ACTING_FOR, current_flow
from ._inbox import INBOXES, PerLoop
from ._lanes import BorrowedLane
from ._loops import finish_loop
from ._threads import FORKS, PostingExecutor

# How often a sync thread waiting on an event loop it does not own checks that the loop still runs.
LOOP_CHECK_INTERVAL = 0.2

_MISSING: Any = object()
_get_ident = threading.get_ident


class LoopGoneError(RuntimeError):
    """The event loop a coroutine was sent to stopped or closed before running it."""


class _ThreadState(threading.local):
    # The ThreadCall this thread is running (the innermost one), if any.
    call: ThreadCall | None = None
    # The pool this thread is a worker of, while it runs a call sent there: an executor, or a
    # loop's default executor known by its `PoolLoad`.
    pool: object | None = None


THREAD = _ThreadState()

CURRENT_LANE: contextvars.ContextVar[BorrowedLane | None] = contextvars.ContextVar(
    "asgiref.sync.current_lane", default=None
)

# Set while a function runs on `SyncToAsync.single_thread_executor`, in its context.
ON_SINGLE_THREAD: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "asgiref.sync.on_single_thread", default=False
)


class SensitiveContext(Protocol):
    """What `ThreadSensitiveContext` offers the dispatcher."""

    def post_call(self, call: ThreadCall) -> None:
        """Send `call` to the context's thread."""


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


def _stop_iteration_refused(error: StopIteration) -> RuntimeError:
    """The error asyncio (3.13+) makes of a StopIteration set into a future: raised as it is, it
    would end the awaiting coroutine's frame as if it had returned."""
    refused = RuntimeError(
        "StopIteration interacts badly with generators and cannot be raised into a Future"
    )
    refused.__cause__ = refused.__context__ = error
    return refused


# --- sync_to_async: a sync call on another thread ---------------------------------------------


class _Call:
    """What both directions share: the caller's flow and the exception it was handling, going one
    way, and the outcome (a result or an exception) and the context's changes, coming back."""

    __slots__ = ("_baseline", "_error", "_exception", "_flow", "_result", "changed", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, exception: BaseException | None) -> None:
        self.loop = loop
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


# A ThreadCall's life: posted, then either run or abandoned (its awaiter gave up first).
_POSTED, _RUNNING, _ABANDONED = range(3)


class ThreadCall(_Call):
    """One sync call run on another thread for a task that awaits it on `loop`."""

    __slots__ = (
        "_args",
        "_context",
        "_finished",
        "_fn",
        "_inbox",
        "_inner",
        "_kwargs",
        "_lock",
        "_pool",
        "_state",
        "_waiter",
        "caller_lane",
        "on_single_thread",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        context: contextvars.Context,
        exception: BaseException | None,
    ) -> None:
        super().__init__(loop, exception)
        self._fn = fn
        self._args = args
        self._kwargs = kwargs
        self._context = context
        self._inbox = INBOXES.of(loop)
        self._finished = False
        self._waiter: asyncio.Future[None] = loop.create_future()
        # Coroutines the function runs through async_to_sync, for handing a cancellation on.
        self._inner: set[LoopCall] = set()
        self._state = _POSTED
        self._lock = threading.Lock()
        # Whether the call runs on `SyncToAsync.single_thread_executor` (see `ON_SINGLE_THREAD`).
        self.on_single_thread = False
        # The lane of the async_to_sync call whose coroutine makes this call, if any: its thread
        # waits for this call to finish.
        self.caller_lane = CURRENT_LANE.get()
        # The pool the call is sent to, if any (see `_ThreadState.pool`): the thread that runs it
        # is then one of that pool's workers, which the call holds until it returns.
        self._pool: object | None = None

    def run(self) -> None:
        """The work item: call the function on this thread, then wake the awaiting task."""
        with self._lock:
            if self._state is not _POSTED:
                # Given up by its awaiter, or (offered to two threads) taken by the other one.
                if self._state is _ABANDONED:
                    self._drop_request()
                return
            self._state = _RUNNING
        state = THREAD
        outer_call = state.call
        outer_pool = state.pool
        state.call = self
        if self._pool is not None:
            state.pool = self._pool
        try:
            self._result = self._context.run(self._call_in_context)
        except StopIteration as error:
            self._error = _stop_iteration_refused(error)
        except BaseException as error:
            self._error = error
        finally:
            state.call = outer_call
            state.pool = outer_pool
            self._drop_request()
        self._inbox.deliver(self)

    def _call_in_context(self) -> Any:
        if not self.on_single_thread:
            return self._call_for_flow()
        token = ON_SINGLE_THREAD.set(True)
        try:
            return self._call_for_flow()
        finally:
            ON_SINGLE_THREAD.reset(token)

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
        """Forget the function, its arguments and its context once called, so they die with the
        call: the caller holds the context itself, and this thread must not keep it (and what was
        set in it) alive a moment longer, racing the caller's clean-up."""
        self._fn = self._args = self._kwargs = self._exception = None  # type: ignore[assignment]
        self._context = None  # type: ignore[assignment]

    def notice_executor_done(self, future: Future[Any] | asyncio.Future[Any]) -> None:
        """Done-callback on an executor's future: the executor may drop the call unrun (when
        shut down with `cancel_futures=True`)."""
        if future.cancelled() and self._state is _POSTED:
            self._error = RuntimeError(
                "the executor cancelled this sync_to_async call before running it "
                "(was it shut down with cancel_futures=True?)"
            )
            self._inbox.deliver(self)

    def arrive(self) -> None:
        """On the loop, through its inbox: wake the awaiting task."""
        self._finished = True
        if not self._waiter.done():
            self._waiter.set_result(None)

    # Awaiting a ThreadCall, in the task that made it:
    #
    #     try:
    #         await call.waiter
    #     except asyncio.CancelledError:
    #         await call.settle_cancellation()
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

    async def settle_cancellation(self) -> None:
        """After the awaiting task was cancelled (see the module docstring): hand the cancellation
        to the coroutine the function runs through async_to_sync and wait for the function's
        outcome; or, with no such coroutine, give up on the call and raise `CancelledError`."""
        if not self._hand_over_cancellation():
            raise asyncio.CancelledError  # asgiref drops the cancellation's message here
        while not self._finished:
            self._waiter = self.loop.create_future()
            try:
                await self._waiter
            except asyncio.CancelledError:
                if not self._hand_over_cancellation():
                    raise

    async def outlast_cancellation(self) -> None:
        """After the awaiting task was cancelled: wait until the function has returned, whatever
        further cancellations arrive (the WSGI adapter's request must not end before its app)."""
        while not self._finished:
            self._waiter = self.loop.create_future()
            with contextlib.suppress(asyncio.CancelledError):
                await self._waiter

    def _hand_over_cancellation(self) -> bool:
        """Cancel the coroutine the function is running through async_to_sync, if any; else
        abandon the call. Return whether the function's outcome is still worth waiting for."""
        for inner in list(self._inner):
            if inner.cancel_soon():
                return True
        with self._lock:
            if self._state is _POSTED:
                self._state = _ABANDONED
        return False


class PoolLoad:
    """How many of one loop's `sync_to_async` calls its default executor holds, queued or running.

    A call whose function waits in `async_to_sync` still holds its worker. Once as many calls as
    the executor has threads are in it, a new call would queue; if every worker is waiting for a
    coroutine that makes such a call, none of them ever returns. `send_to_default_executor` reads
    this count to see that coming.
    """

    __slots__ = ("__weakref__", "_count", "_lock", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._count = 0
        self._lock = threading.Lock()

    def enter(self, capacity: int | None = None) -> bool:
        """Count one more call, unless `capacity` calls are already in; return whether counted."""
        with self._lock:
            if capacity is not None and self._count >= capacity:
                return False
            self._count += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._count -= 1


# Kept per loop, as the default executor is: every call counted in a load holds it, so the count
# lives as long as it is not zero.
DEFAULT_POOL_LOADS = PerLoop(PoolLoad)


class _CountedRun:
    """The work item a default executor gets for a call counted in `load`: run the call (unless
    another thread took it first), then uncount it."""

    __slots__ = ("call", "load", "offered_to_lane")

    def __init__(self, call: ThreadCall, load: PoolLoad, offered_to_lane: bool) -> None:
        self.call = call
        self.load = load
        # Also posted to a waiting thread's lane, which runs it if the executor never does.
        self.offered_to_lane = offered_to_lane

    def __call__(self) -> None:
        try:
            self.call.run()
        finally:
            self.load.leave()

    def notice_done(self, future: Future[Any] | asyncio.Future[Any]) -> None:
        """Done-callback: the executor may drop the item unrun (when shut down with
        `cancel_futures=True`): uncount it, and fail the call unless the lane has it too."""
        if future.cancelled():
            self.load.leave()
            if not self.offered_to_lane:
                self.call.notice_executor_done(future)


def send_to_executor(executor: Executor, call: ThreadCall) -> None:
    """Run `call` on `executor`; lanes and worker pools take it directly, other executors
    through `submit`."""
    call._pool = executor
    if isinstance(executor, PostingExecutor):
        if not executor.post(call.run):
            raise RuntimeError(f"{executor!r} has shut down and cannot run sync_to_async calls")
        return
    if isinstance(executor, ThreadPoolExecutor):
        size = getattr(executor, "_max_workers", 0)
        if _workers_waiting_on_caller(executor, call) >= size:
            warnings.warn(
                f"this sync_to_async call can never run on {executor!r}: every one of its "
                f"{size} threads is a sync function waiting in async_to_sync for the coroutine "
                "that makes it. With an explicit executor, its size bounds how deep such calls "
                "can nest; give it more threads, or leave `executor` unset so that the loop's "
                "default executor is used.",
                RuntimeWarning,
                stacklevel=3,
            )
    executor.submit(call.run).add_done_callback(call.notice_executor_done)


def _workers_waiting_on_caller(executor: Executor, call: ThreadCall) -> int:
    """How many threads of `executor` wait in `async_to_sync` for the coroutine making `call`,
    directly or through the chain of calls above it. While they wait, their threads cannot run
    `call`: when they are all the executor's threads, `call` can never run."""
    threads = set()
    lane = call.caller_lane
    while lane is not None:
        if lane.worker_of is executor and lane.is_open:
            threads.add(lane.thread)
        lane = lane.upstream
    return len(threads)


def send_to_default_executor(loop: asyncio.AbstractEventLoop, call: ThreadCall) -> None:
    """Run `call` on `loop`'s default executor, as `loop.run_in_executor(None, ...)` would, except
    when that might never end: if all of the executor's threads are taken and the thread that
    waits in `async_to_sync` for the coroutine making `call` is one of them, that thread (idle
    until the coroutine is done) is offered the call too, as it is offered thread-sensitive calls.
    Whichever of the two takes it first runs it: the waiting thread at once, unless it is running
    an earlier such call, which may itself be waiting for this one to run on a freed thread."""
    executor = _default_executor(loop)
    load = DEFAULT_POOL_LOADS.of(loop)
    # The loop's default pool, as the thread that runs `call` will know it (`THREAD.pool`): by its
    # load, as the executor itself may be out of sight.
    call._pool = load
    offered_to_lane = False
    if not load.enter(_size_of_default(executor)):
        load.enter()  # queued in the executor all the same
        lane = call.caller_lane
        offered_to_lane = lane is not None and lane.worker_of is load and lane.post(call.run)
    item = _CountedRun(call, load, offered_to_lane)
    future: Future[None] | asyncio.Future[None]
    try:
        future = executor.submit(item) if executor is not None else loop.run_in_executor(None, item)
    except BaseException:
        load.leave()
        if offered_to_lane:
            return
        raise
    future.add_done_callback(item.notice_done)


def _default_executor(loop: asyncio.AbstractEventLoop) -> Executor | None:
    """`loop`'s default executor, created as asyncio creates it if it has none yet; or None if
    it is out of sight (not an asyncio loop, e.g. uvloop's) or being shut down."""
    if not hasattr(loop, "_default_executor") or getattr(loop, "_executor_shutdown_called", False):
        return None
    executor: Executor | None = getattr(loop, "_default_executor")  # noqa: B009
    if executor is None:
        executor = ThreadPoolExecutor(thread_name_prefix="asyncio")
        loop.set_default_executor(executor)
    return executor


def _size_of_default(executor: Executor | None) -> int | None:
    """How many threads a loop's default executor has; None if it is not a thread pool."""
    if executor is None:
        # Out of sight: every event loop we know makes a `ThreadPoolExecutor()` of the default
        # size. Should the user have set a larger one, calls only move to a waiting thread early.
        return _DEFAULT_POOL_SIZE
    if isinstance(executor, ThreadPoolExecutor):
        size: int = getattr(executor, "_max_workers", 0)
        return size
    return None


# The size `ThreadPoolExecutor()` chooses when given none (as documented; 3.13 counts only the CPUs
# this process may use).
_DEFAULT_POOL_SIZE = min(32, (getattr(os, "process_cpu_count", os.cpu_count)() or 1) + 4)


def send_thread_sensitive(call: ThreadCall, single_thread_executor: Executor) -> None:
    """Run `call` on the thread of its sync world (see the module docstring for the rules)."""
    lane = CURRENT_LANE.get()
    if lane is not None:
        if not lane.post(call.run):
            raise RuntimeError("CurrentThreadExecutor already quit or is broken")
        return
    context = SENSITIVE_CONTEXT.get()
    if context is not None:
        context.post_call(call)
        return
    if ON_SINGLE_THREAD.get():
        raise RuntimeError("Single thread executor already being used, would deadlock")
    call.on_single_thread = True
    send_to_executor(single_thread_executor, call)


# --- async_to_sync: a coroutine on an event loop ----------------------------------------------

_PENDING, _STARTED, _WITHDRAWN, _DONE = range(4)


class LoopCall(_Call):
    """One coroutine function called on an event loop for a sync thread that waits for it.

    The loop is either one that runs anyway (the loop awaiting the caller, or an adapter's own),
    where the call is over when its coroutine is (`run`), or a new loop made for this call alone
    and run on another thread (`run_on_new_loop`), where the call is over when that loop has been
    ended, so that the caller keeps serving thread-sensitive calls until the last task is gone.
    """

    __slots__ = (
        "_awaitable",
        "_cancel_requested",
        "_context",
        "_final_context",
        "_lane",
        "_lock",
        "_owns_loop",
        "_parent",
        "_state",
        "_task",
    )

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
        meanwhile; return its result.

        With `watch_loop`, the loop is not ours and may stop under us: if it stops before starting
        the coroutine, the call is withdrawn and `LoopGoneError` raised, so the caller can retry
        elsewhere; if it closes while the coroutine runs, `LoopGoneError` is raised too.
        """
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
            self._lane.run_until(start, self.is_done, poll, LOOP_CHECK_INTERVAL)
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
            parent._inner.add(self)
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
            self._leave_flow(flow_token)
            CURRENT_LANE.reset(token)
            if self.changed:
                self._final_context = contextvars.copy_context()
            self._end_coroutine()

    def _end_if_never_run(self, task: asyncio.Task[None]) -> None:
        if self._parent is not None:
            self._parent._inner.discard(self)
        awaitable = self._awaitable
        if awaitable is not None:  # `_main` never ran, so it ended nothing
            if inspect.iscoroutine(awaitable):
                awaitable.close()  # never to be awaited: say nothing about it
            self._error = asyncio.CancelledError("cancelled before it started")
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


def _forget_thread_state_after_fork() -> None:
    # The forked thread continues in the child as its only thread, still inside the parent's
    # ThreadCall; the loop awaiting that call does not run in the child.
    THREAD.call = None


FORKS.on_fork(_forget_thread_state_after_fork)
