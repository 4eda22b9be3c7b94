"""The one mechanism behind both directions of the bridge: move a call to another thread, wait for
it, and carry context variables there and back.

Theory
------
`ThreadCall` (sync_to_async, here) takes a sync call from a task on an event loop to a thread.
It is a work item: sent where `_routing` says (a lane, see `_lanes`, or an executor), it runs the
function in a copy of the task's context and wakes the task through the loop's inbox (`_inbox`).

`LoopCall` (async_to_sync, in `_loop_call`) takes a coroutine function from a sync thread to an
event loop: the loop awaiting that thread's `ThreadCall`, if any, else a new loop on a thread of
its own (see `_loops`). The sync thread does not just block while it waits: it serves the call's
*lane*, so that thread-sensitive calls made by that coroutine come back to it (that is what
"thread-sensitive" promises, and it is why nesting never needs another thread). The lane is the
call's own, as asgiref's `CurrentThreadExecutor` is: it travels to the coroutine in a context
variable (`CURRENT_LANE`), and once the call is over it refuses work, so a task that outlived the
call and makes a thread-sensitive call gets asgiref's "CurrentThreadExecutor already quit or is
broken".

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
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from ._flow import ACTING_FOR, current_flow
from ._inbox import INBOXES
from ._lanes import BorrowedLane
from ._observe import OBSERVERS, BridgedCall
from ._threads import FORKS

if TYPE_CHECKING:
    from ._loop_call import LoopCall

_MISSING: Any = object()
_get_ident = threading.get_ident


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


class CallBase:
    """What both directions share: the caller's flow and the exception it was handling, going one
    way, and the outcome (a result or an exception) and the context's changes, coming back."""

    __slots__ = (
        "_baseline",
        "_error",
        "_exception",
        "_flow",
        "_result",
        "changed",
        "loop",
        "watch",
    )

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
        # What observers see of this call (see `_observe`), or None when nobody observes.
        self.watch: BridgedCall | None = None

    def _join_flow(self) -> contextvars.Token[tuple[int, int] | None]:
        """In the callee's context, before the callee runs: act for the caller's flow, note the
        context as it stands, and tell observers the call started."""
        token = ACTING_FOR.set((_get_ident(), self._flow))
        self._baseline = contextvars.copy_context()
        if self.watch is not None:
            OBSERVERS.started(self.watch)
        return token

    def _leave_flow(
        self, token: contextvars.Token[tuple[int, int] | None], error: BaseException | None
    ) -> None:
        """In the callee's context, after the callee ran (raising `error`, if not None): tell
        observers, note whether it set any variable, and forget the flow (so it never reaches
        the caller's context).

        Contexts compare by their underlying mapping, which short-circuits when it is the very
        same one, as it is when nothing was set: so the common case costs nothing, where copying
        back would walk every variable in the context."""
        if self.watch is not None:
            OBSERVERS.finished(self.watch, error)
        self.changed = contextvars.copy_context() != self._baseline
        self._baseline = None
        ACTING_FOR.reset(token)

    def outcome(self) -> Any:
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


class ThreadCall(CallBase):
    """One sync call run on another thread for a task that awaits it on `loop`."""

    __slots__ = (
        "_args",
        "_context",
        "_finished",
        "_fn",
        "_inbox",
        "_kwargs",
        "_lock",
        "_state",
        "caller_lane",
        "destination",
        "inner_calls",
        "on_single_thread",
        "pool",
        "waiter",
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
        self.waiter: asyncio.Future[None] = loop.create_future()  # resolved when it has finished
        # Coroutines the function runs through async_to_sync, for handing a cancellation on.
        self.inner_calls: set[LoopCall] = set()
        self._state = _POSTED
        self._lock = threading.Lock()
        # Whether the call runs on `SyncToAsync.single_thread_executor` (see `ON_SINGLE_THREAD`).
        self.on_single_thread = False
        # The lane of the async_to_sync call whose coroutine makes this call, if any: its thread
        # waits for this call to finish.
        self.caller_lane = CURRENT_LANE.get()
        # The pool the call is sent to, if any (see `_ThreadState.pool`): the thread that runs it
        # is then one of that pool's workers, which the call holds until it returns.
        self.pool: object | None = None
        # Where routing sent it (a lane, a `SensitiveWorld`, an executor): for observers.
        self.destination: object | None = None

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
        if self.pool is not None:
            state.pool = self.pool
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
        """Call the function as part of the caller's flow; runs inside the callee's context."""
        single = ON_SINGLE_THREAD.set(True) if self.on_single_thread else None
        token = self._join_flow()
        error: BaseException | None = None
        try:
            if self._exception is None:
                return self._fn(*self._args, **self._kwargs)
            return _call_while_handling(self._exception, self._fn, self._args, self._kwargs)
        except BaseException as raised:
            error = raised
            raise
        finally:
            self._leave_flow(token, error)
            del error
            if single is not None:
                ON_SINGLE_THREAD.reset(single)

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
        if not self.waiter.done():
            self.waiter.set_result(None)

    async def result(self, carry_back_from: contextvars.Context | None = None) -> Any:
        """In the task that made the call: wait for it, settling a cancellation as the module
        docstring says; carry back the changes made in `carry_back_from` (the context the
        function ran in), then return the function's result or raise its exception."""
        try:
            await self.waiter
        except asyncio.CancelledError:
            await self.settle_cancellation()
        if carry_back_from is not None and self.changed:
            carry_back(carry_back_from)
        return self.outcome()

    async def settle_cancellation(self) -> None:
        """After the awaiting task was cancelled (see the module docstring): hand the cancellation
        to the coroutine the function runs through async_to_sync and wait for the function's
        outcome; or, with no such coroutine, give up on the call and raise `CancelledError`."""
        if not self._hand_over_cancellation():
            raise asyncio.CancelledError  # asgiref drops the cancellation's message here
        while not self._finished:
            self.waiter = self.loop.create_future()
            try:
                await self.waiter
            except asyncio.CancelledError:
                if not self._hand_over_cancellation():
                    raise

    async def outlast_cancellation(self) -> None:
        """After the awaiting task was cancelled: wait until the function has returned, whatever
        further cancellations arrive (the WSGI adapter's request must not end before its app)."""
        while not self._finished:
            self.waiter = self.loop.create_future()
            with contextlib.suppress(asyncio.CancelledError):
                await self.waiter

    def _hand_over_cancellation(self) -> bool:
        """Cancel the coroutine the function is running through async_to_sync, if any; else
        abandon the call. Return whether the function's outcome is still worth waiting for."""
        for inner in list(self.inner_calls):
            if inner.cancel_soon():
                return True
        with self._lock:
            abandoned = self._state is _POSTED
            if abandoned:
                self._state = _ABANDONED
        if abandoned and self.watch is not None:  # it will never start: tell observers here
            OBSERVERS.finished(self.watch, asyncio.CancelledError())
        return False


def _forget_thread_state_after_fork() -> None:
    # The forked thread continues in the child as its only thread, still inside the parent's
    # ThreadCall; the loop awaiting that call does not run in the child.
    THREAD.call = None


FORKS.on_fork(_forget_thread_state_after_fork)
