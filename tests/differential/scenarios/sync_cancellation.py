"""Cancelling and timing out sync_to_async calls: when the awaiting task gets its exception, what
the sync function (still running on its thread) and the coroutines it runs through async_to_sync
see, and what happens to thread-sensitive calls queued behind a cancelled one.

A blocking function here waits on a `threading.Event` that the scenario sets only after it saw the
await end, with a bound (`BLOCK`): it records whether it was released or gave up waiting.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from _observe import Observer, describe_exception, differs, until

from asgiref.sync import ThreadSensitiveContext, async_to_sync, sync_to_async

# How long a blocked sync function waits to be released before it gives up (and records that).
BLOCK = 1.5
# A wait_for timeout: long enough for a warm thread to have started the function.
TIMEOUT = 0.5

# asyncio.timeout and Task.cancelling() are new in 3.11 (the suite runs on 3.11+ only; mypy checks
# this module as 3.10 code).
_asyncio: Any = asyncio


def _cancelling(task: asyncio.Task[Any] | None) -> int:
    untyped: Any = task
    return int(untyped.cancelling())


class Blocker:
    """A sync function that blocks until released (at most `BLOCK` seconds)."""

    def __init__(self, obs: Observer, name: str = "function") -> None:
        self.obs = obs
        self.name = name
        self.started = threading.Event()
        self.go = threading.Event()
        self.finished = threading.Event()

    def __call__(self) -> str:
        self.obs.thread(f"{self.name} thread")
        self.started.set()
        self.obs(f"{self.name} released", self.go.wait(BLOCK))
        self.finished.set()
        return f"{self.name} result"

    async def release(self) -> None:
        """Let the function return and wait until it has (so later records come after its own)."""
        self.go.set()
        self.obs(f"{self.name} finished", await until(self.finished))


async def _warm(thread_sensitive: bool) -> None:
    """Make sure the thread a call will use exists already, so that it starts at once."""
    await sync_to_async(lambda: None, thread_sensitive=thread_sensitive)()


async def _expire_when(cm: Any, event: threading.Event) -> None:
    await until(event)
    cm.reschedule(asyncio.get_running_loop().time())


def _install_handler(loop: asyncio.AbstractEventLoop) -> list[tuple[Any, Any]]:
    """Record what reaches `loop`'s exception handler."""
    calls: list[tuple[Any, Any]] = []

    def handler(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exception = context.get("exception")
        calls.append(
            (
                context.get("message"),
                describe_exception(exception) if exception is not None else None,
            )
        )

    loop.set_exception_handler(handler)
    return calls


# --- a blocking sync function, cancelled -----------------------------------------------------


async def _wait_for_blocking(obs: Observer, thread_sensitive: bool) -> None:
    await _warm(thread_sensitive)
    blocker = Blocker(obs)
    await obs.acall(
        "await",
        asyncio.wait_for(sync_to_async(blocker, thread_sensitive=thread_sensitive)(), TIMEOUT),
    )
    obs("await ended while the function still ran", not blocker.finished.is_set())
    await blocker.release()


async def scenario_wait_for_thread_sensitive_blocking(obs: Observer) -> None:
    await _wait_for_blocking(obs, thread_sensitive=True)


async def scenario_wait_for_not_thread_sensitive_blocking(obs: Observer) -> None:
    await _wait_for_blocking(obs, thread_sensitive=False)


async def scenario_wait_for_blocking_in_thread_sensitive_context(obs: Observer) -> None:
    async with ThreadSensitiveContext():
        await _warm(True)
        blocker = Blocker(obs)
        await obs.acall("await", asyncio.wait_for(sync_to_async(blocker)(), TIMEOUT))
        obs("await ended while the function still ran", not blocker.finished.is_set())
        await blocker.release()


async def _timeout_blocking(obs: Observer, thread_sensitive: bool) -> None:
    blocker = Blocker(obs)
    expirer: asyncio.Task[None] | None = None
    with obs.raises("async with asyncio.timeout"):
        async with _asyncio.timeout(None) as cm:
            expirer = asyncio.create_task(_expire_when(cm, blocker.started))
            await sync_to_async(blocker, thread_sensitive=thread_sensitive)()
    obs("await ended while the function still ran", not blocker.finished.is_set())
    await blocker.release()
    assert expirer is not None
    await expirer


async def scenario_timeout_thread_sensitive_blocking(obs: Observer) -> None:
    await _timeout_blocking(obs, thread_sensitive=True)


async def scenario_timeout_not_thread_sensitive_blocking(obs: Observer) -> None:
    await _timeout_blocking(obs, thread_sensitive=False)


async def _cancel_blocking(obs: Observer, thread_sensitive: bool) -> None:
    blocker = Blocker(obs)
    task = asyncio.ensure_future(sync_to_async(blocker, thread_sensitive=thread_sensitive)())
    obs("function started", await until(blocker.started))
    task.cancel("stop it")
    await obs.acall("await", task)
    obs("await ended while the function still ran", not blocker.finished.is_set())
    obs("task.cancelled()", task.cancelled())
    obs("task.cancelling()", _cancelling(task))
    await blocker.release()


async def scenario_task_cancel_thread_sensitive_blocking(obs: Observer) -> None:
    await _cancel_blocking(obs, thread_sensitive=True)


async def scenario_task_cancel_not_thread_sensitive_blocking(obs: Observer) -> None:
    await _cancel_blocking(obs, thread_sensitive=False)


async def scenario_task_cancel_blocking_in_thread_sensitive_context(obs: Observer) -> None:
    async with ThreadSensitiveContext():
        await _cancel_blocking(obs, thread_sensitive=True)


async def scenario_error_raised_after_cancellation(obs: Observer) -> None:
    calls = _install_handler(asyncio.get_running_loop())
    started, go, finished = threading.Event(), threading.Event(), threading.Event()

    def failing() -> None:
        started.set()
        try:
            obs("function released", go.wait(BLOCK))
        finally:
            finished.set()
        raise ValueError("raised after the caller was cancelled")

    with obs.logs("log records"):
        task = asyncio.ensure_future(sync_to_async(failing)())
        obs("function started", await until(started))
        task.cancel()
        await obs.acall("await", task)
        go.set()
        obs("function finished", await until(finished))
        for _ in range(5):
            await asyncio.sleep(0.01)
        obs("loop exception handler calls", calls)


async def scenario_context_exit_after_cancellation_waits_for_thread(obs: Observer) -> None:
    # The context is left with the cancelled call still running in its thread: does leaving it
    # wait for the thread, and does the loop keep running meanwhile (a task releases the call)?
    blocker = Blocker(obs)
    releaser: asyncio.Task[None] | None = None

    async def release_later() -> None:
        await asyncio.sleep(0.05)
        obs("releaser ran", True)
        blocker.go.set()

    with obs.raises("async with"):
        async with ThreadSensitiveContext():
            await _warm(True)
            try:
                await asyncio.wait_for(sync_to_async(blocker)(), TIMEOUT)
            finally:
                obs("await ended while the function still ran", not blocker.finished.is_set())
                releaser = asyncio.create_task(release_later())
    obs("function finished when the context was left", blocker.finished.is_set())
    assert releaser is not None
    await releaser
    obs("function finished", await until(blocker.finished))


# --- what happens to other thread-sensitive calls --------------------------------------------


async def _queued_call_cancelled(obs: Observer) -> None:
    blocker = Blocker(obs, "first")
    second_ran = threading.Event()
    second_threads: list[threading.Thread] = []

    def second() -> str:
        second_threads.append(threading.current_thread())
        second_ran.set()
        return "second result"

    first_task = asyncio.ensure_future(sync_to_async(blocker)())
    obs("first started", await until(blocker.started))
    second_task = asyncio.ensure_future(sync_to_async(second)())
    await asyncio.sleep(0.05)
    second_task.cancel()
    done, _ = await asyncio.wait({second_task}, timeout=1.0)
    obs("cancelled queued call ended before the first was released", bool(done))
    await blocker.release()
    await obs.acall("first", first_task)
    await obs.acall("second", second_task)
    obs("second function ran", await until(second_ran, 0.3))
    obs("second thread", [obs.thread_label(thread) for thread in second_threads])


async def scenario_queued_thread_sensitive_call_cancelled(obs: Observer) -> None:
    await _queued_call_cancelled(obs)


async def scenario_queued_call_cancelled_in_thread_sensitive_context(obs: Observer) -> None:
    async with ThreadSensitiveContext():
        await _queued_call_cancelled(obs)


async def _later_call_after_cancellation(obs: Observer, thread_sensitive: bool) -> None:
    blocker = Blocker(obs, "first")
    second_threads: list[threading.Thread] = []

    def second() -> str:
        second_threads.append(threading.current_thread())
        return "second result"

    first_task = asyncio.ensure_future(sync_to_async(blocker, thread_sensitive=thread_sensitive)())
    obs("first started", await until(blocker.started))
    first_task.cancel()
    done, _ = await asyncio.wait({first_task}, timeout=1.0)
    obs("cancelled await ended at once", bool(done))
    second_task = asyncio.ensure_future(sync_to_async(second, thread_sensitive=thread_sensitive)())
    done, _ = await asyncio.wait({second_task}, timeout=0.3)
    obs("second call done before the first was released", bool(done))
    await blocker.release()
    await obs.acall("first", first_task)
    await obs.acall("second", second_task)
    obs("second thread", [obs.thread_label(thread) for thread in second_threads])


async def scenario_thread_sensitive_call_after_cancellation(obs: Observer) -> None:
    await _later_call_after_cancellation(obs, thread_sensitive=True)


async def scenario_context_call_after_cancellation(obs: Observer) -> None:
    async with ThreadSensitiveContext():
        await _later_call_after_cancellation(obs, thread_sensitive=True)


async def scenario_non_sensitive_call_after_cancellation(obs: Observer) -> None:
    await _warm(False)
    blocker = Blocker(obs, "first")
    first_task = asyncio.ensure_future(sync_to_async(blocker, thread_sensitive=False)())
    obs("first started", await until(blocker.started))
    first_task.cancel()
    done, _ = await asyncio.wait({first_task}, timeout=1.0)
    obs("cancelled await ended at once", bool(done))
    second_thread: list[threading.Thread] = []

    def second() -> str:
        second_thread.append(threading.current_thread())
        return "second result"

    second_task = asyncio.ensure_future(sync_to_async(second, thread_sensitive=False)())
    done, _ = await asyncio.wait({second_task}, timeout=0.5)
    obs("second call done before the first was released", bool(done))
    await blocker.release()
    await obs.acall("first", first_task)
    await obs.acall("second", second_task)
    obs("second ran on the first's thread", obs.thread_label(second_thread[0]) == "T1")


# --- cancellation reaching async_to_sync inside the sync function ----------------------------


class Depth:
    """sync_to_async(sync_fn) where sync_fn calls async_to_sync(inner); records what each level
    sees. `inner_mode` says what the inner coroutine does when cancelled."""

    def __init__(self, obs: Observer, inner_mode: str = "raise", sync_mode: str = "raise") -> None:
        self.obs = obs
        self.inner_mode = inner_mode
        self.sync_mode = sync_mode
        self.inner_entered = threading.Event()

    async def inner(self) -> str:
        self.inner_entered.set()
        try:
            if self.inner_mode == "shield":
                await asyncio.shield(asyncio.sleep(1.0))
            else:
                await asyncio.sleep(1.0)
        except asyncio.CancelledError as error:
            self.obs("inner saw", describe_exception(error))
            if self.inner_mode in ("absorb", "shield"):
                return "inner absorbed the cancellation"
            raise
        return "inner slept"

    def sync_fn(self) -> str:
        try:
            result = async_to_sync(self.inner)()
        except BaseException as error:
            self.obs("async_to_sync raised", describe_exception(error))
            if self.sync_mode == "return":
                return "sync function returned anyway"
            if self.sync_mode == "other":
                raise ValueError("sync function failed after the cancellation") from None
            raise
        self.obs("async_to_sync returned", result)
        return f"sync function got: {result}"


async def scenario_depth_cancel_reaches_inner_coroutine(obs: Observer) -> None:
    depth = Depth(obs)
    task = asyncio.ensure_future(sync_to_async(depth.sync_fn)())
    obs("inner entered", await until(depth.inner_entered))
    task.cancel("outer message")
    await obs.acall("await", task)
    obs("task.cancelled()", task.cancelled())


async def scenario_depth_wait_for(obs: Observer) -> None:
    await _warm(True)
    depth = Depth(obs)
    await obs.acall("await", asyncio.wait_for(sync_to_async(depth.sync_fn)(), TIMEOUT))


async def scenario_depth_in_thread_sensitive_context(obs: Observer) -> None:
    depth = Depth(obs)
    async with ThreadSensitiveContext():
        task = asyncio.ensure_future(sync_to_async(depth.sync_fn)())
        obs("inner entered", await until(depth.inner_entered))
        task.cancel()
        await obs.acall("await", task)


async def scenario_depth_not_thread_sensitive(obs: Observer) -> None:
    depth = Depth(obs)
    task = asyncio.ensure_future(sync_to_async(depth.sync_fn, thread_sensitive=False)())
    obs("inner entered", await until(depth.inner_entered))
    task.cancel()
    await obs.acall("await", task)


async def scenario_depth_inner_shield_absorbs(obs: Observer) -> None:
    depth = Depth(obs, inner_mode="shield")
    task = asyncio.ensure_future(sync_to_async(depth.sync_fn)())
    obs("inner entered", await until(depth.inner_entered))
    task.cancel()
    await obs.acall("await", task)
    obs("task.cancelled()", task.cancelled())
    obs("task.cancelling()", _cancelling(task))


async def scenario_depth_inner_absorbs_under_wait_for(obs: Observer) -> None:
    await _warm(True)
    depth = Depth(obs, inner_mode="absorb")
    await obs.acall("await", asyncio.wait_for(sync_to_async(depth.sync_fn)(), TIMEOUT))
    obs("cancelling() afterwards", _cancelling(asyncio.current_task()))


async def scenario_depth_inner_absorbs_under_timeout(obs: Observer) -> None:
    depth = Depth(obs, inner_mode="absorb")
    result: str | None = None
    with obs.raises("async with asyncio.timeout"):
        async with _asyncio.timeout(None) as cm:
            expirer = asyncio.create_task(_expire_when(cm, depth.inner_entered))
            result = await sync_to_async(depth.sync_fn)()
    obs("result", result)
    await expirer
    obs("cancelling() afterwards", _cancelling(asyncio.current_task()))


async def scenario_depth_sync_function_catches_and_returns(obs: Observer) -> None:
    depth = Depth(obs, sync_mode="return")
    task = asyncio.ensure_future(sync_to_async(depth.sync_fn)())
    obs("inner entered", await until(depth.inner_entered))
    task.cancel()
    await obs.acall("await", task)
    obs("task.cancelled()", task.cancelled())


async def scenario_depth_sync_function_raises_other_error(obs: Observer) -> None:
    calls = _install_handler(asyncio.get_running_loop())
    with obs.logs("log records"):
        depth = Depth(obs, sync_mode="other")
        task = asyncio.ensure_future(sync_to_async(depth.sync_fn)())
        obs("inner entered", await until(depth.inner_entered))
        task.cancel()
        await obs.acall("await", task)
        for _ in range(5):
            await asyncio.sleep(0.01)
        obs("loop exception handler calls", calls)


async def scenario_depth_second_cancel_after_inner_absorbed(obs: Observer) -> None:
    absorbed, go, finished = threading.Event(), threading.Event(), threading.Event()
    inner_entered = threading.Event()

    async def inner() -> str:
        inner_entered.set()
        try:
            await asyncio.sleep(1.0)
        except asyncio.CancelledError:
            return "absorbed"
        return "slept"

    def sync_fn() -> str:
        result = async_to_sync(inner)()
        obs("async_to_sync returned", result)
        absorbed.set()
        obs("sync function released", go.wait(BLOCK))
        finished.set()
        return result

    task = asyncio.ensure_future(sync_to_async(sync_fn)())
    obs("inner entered", await until(inner_entered))
    task.cancel("first")
    obs("inner absorbed", await until(absorbed))
    task.cancel("second")
    done, _ = await asyncio.wait({task}, timeout=1.0)
    obs("second cancellation ended the await at once", bool(done))
    go.set()
    obs("sync function finished", await until(finished))
    await obs.acall("await", task)


async def _depth_three(obs: Observer, thread_sensitive: bool) -> None:
    blocker = Blocker(obs, "innermost")

    async def middle() -> str:
        try:
            return await sync_to_async(blocker, thread_sensitive=thread_sensitive)()
        except BaseException as error:
            obs("middle coroutine saw", describe_exception(error))
            obs(
                "innermost still ran when the middle coroutine saw it",
                not blocker.finished.is_set(),
            )
            raise

    def outer_sync() -> str:
        obs.thread("outer sync thread")
        try:
            return async_to_sync(middle)()
        except BaseException as error:
            obs("async_to_sync raised", describe_exception(error))
            raise

    task = asyncio.ensure_future(sync_to_async(outer_sync)())
    obs("innermost started", await until(blocker.started))
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=1.0)
    obs("await ended while the innermost function still ran", bool(done))
    await blocker.release()
    await obs.acall("await", task)


async def scenario_depth_three_thread_sensitive(obs: Observer) -> None:
    await _depth_three(obs, thread_sensitive=True)


async def scenario_depth_three_not_thread_sensitive(obs: Observer) -> None:
    await _depth_three(obs, thread_sensitive=False)


async def scenario_depth_async_to_sync_in_plain_thread_not_cancelled(obs: Observer) -> None:
    # The sync function runs its coroutine through async_to_sync from a thread of its own.
    entered = threading.Event()

    async def inner() -> str:
        entered.set()
        try:
            await asyncio.sleep(0.5)
        except asyncio.CancelledError:
            obs("inner cancelled", True)
            raise
        return "inner slept"

    def sync_fn() -> list[str]:
        out: list[str] = []
        helper = threading.Thread(target=lambda: out.append(async_to_sync(inner)()))
        helper.start()
        helper.join(2.0)
        return out

    task = asyncio.ensure_future(sync_to_async(sync_fn)())
    obs("inner entered", await until(entered))
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=0.25)
    obs("await ended before the inner coroutine finished", bool(done))
    await obs.acall("await", task)
    await asyncio.sleep(0.6)


@differs(
    "SYNC-2",
    original={
        "await raised": "RuntimeError",
        "says attached to a different loop": True,
        "stderr": ["Traceback (most recent call last)"],
    },
    ours={
        "await raised": "CancelledError",
        "says attached to a different loop": False,
        "stderr": [],
    },
)
async def scenario_depth_force_new_loop(obs: Observer) -> None:
    entered, finished = threading.Event(), threading.Event()

    async def inner() -> str:
        entered.set()
        try:
            await asyncio.sleep(0.5)
        except asyncio.CancelledError:
            obs("inner cancelled", True)
            raise
        return "inner slept"

    def sync_fn() -> str:
        try:
            return async_to_sync(inner, force_new_loop=True)()
        except BaseException as error:
            obs("async_to_sync raised", describe_exception(error))
            raise
        finally:
            finished.set()

    task = asyncio.ensure_future(sync_to_async(sync_fn)())
    obs("inner entered", await until(entered))
    task.cancel()
    caught: BaseException | None = None
    try:
        await task
    except BaseException as error:
        caught = error
    obs("sync function finished", await until(finished))
    # The original's message names tasks and source lines: keep only what is stable.
    obs("await raised", type(caught).__name__ if caught is not None else None)
    obs("says attached to a different loop", "attached to a different loop" in str(caught))


# --- the sync function's own view after its caller was cancelled ------------------------------


async def scenario_async_to_sync_after_caller_cancelled(obs: Observer) -> None:
    blocker = Blocker(obs)

    async def inner() -> bool:
        return threading.current_thread() is threading.main_thread()

    def sync_fn() -> str:
        blocker()
        obs.call(
            "async_to_sync after the cancellation (runs on the main thread)",
            lambda: async_to_sync(inner)(),
        )
        return "sync result"

    done_event = threading.Event()

    def wrapped() -> str:
        try:
            return sync_fn()
        finally:
            done_event.set()

    task = asyncio.ensure_future(sync_to_async(wrapped)())
    obs("function started", await until(blocker.started))
    task.cancel()
    await obs.acall("await", task)
    blocker.go.set()
    obs("sync function finished", await until(done_event))


async def scenario_inner_coroutine_cancels_itself(obs: Observer) -> None:
    async def inner() -> None:
        raise asyncio.CancelledError("inner gave up")

    def via_async_to_sync() -> None:
        try:
            async_to_sync(inner)()
        except BaseException as error:
            obs("async_to_sync raised", describe_exception(error))
            raise

    def raises_cancelled() -> None:
        raise asyncio.CancelledError("sync gave up")

    fn: Callable[[], None]
    for name, fn in (("via async_to_sync", via_async_to_sync), ("sync raises", raises_cancelled)):
        task = asyncio.ensure_future(sync_to_async(fn)())
        await obs.acall(f"{name}: await", task)
        obs(f"{name}: task.cancelled()", task.cancelled())
