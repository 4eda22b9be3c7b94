"""The life around sync_to_async / async_to_sync calls: forking, event loops that stop or close
while a sync thread still runs, event loops run inside sync threads, tasks that outlive their
call, KeyboardInterrupt, and the threads the bridge leaves behind.

Every wait is bounded: where one side deadlocks, the work runs on a daemon thread joined with a
timeout (or in a child process killed after one), and the scenario records "hung".
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import select
import threading
from collections.abc import Callable
from typing import Any

from _observe import Observer, differs, outcome, until

from asgiref.sync import ThreadSensitiveContext, async_to_sync, sync_to_async

# How long a blocked sync function waits to be released before it gives up.
BLOCK = 1.5
# How long the parent waits for a forked child's answer.
CHILD_WAIT = 6.0


def _bounded(fn: Callable[[], None], timeout: float = 3.0) -> bool:
    """Run fn on a daemon thread; whether it finished within `timeout` seconds."""
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    thread.join(timeout)
    return not thread.is_alive()


def _polluntil(condition: Callable[[], bool], timeout: float = 2.0) -> bool:
    event = threading.Event()
    waited = 0.0
    while not condition():
        if waited >= timeout:
            return False
        event.wait(0.02)
        waited += 0.02
    return True


# --- fork --------------------------------------------------------------------------------------


async def _child_coroutine() -> Any:
    await asyncio.sleep(0)
    on_main = await sync_to_async(lambda: threading.current_thread() is threading.main_thread())()
    return ("child's thread-sensitive call ran on its main thread", on_main)


def _fork_with_multiprocessing(obs: Observer, thread_sensitive: bool) -> None:
    def child(connection: Any) -> None:
        connection.send(outcome(lambda: async_to_sync(_child_coroutine)()))
        connection.close()

    def in_thread() -> None:
        context = multiprocessing.get_context("fork")
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=child, args=(sender,))
        process.start()
        answer = receiver.recv() if receiver.poll(CHILD_WAIT) else "hung"
        # The child still has to end its threads and exit after answering: on a loaded machine
        # that can take more than a second, which is no difference between the two packages.
        process.join(CHILD_WAIT)
        if process.is_alive():
            process.kill()
            process.join(1.0)
        obs("child's async_to_sync", answer)
        obs("child exit code", process.exitcode)

    async def main() -> None:
        await sync_to_async(in_thread, thread_sensitive=thread_sensitive)()

    asyncio.run(main())


@differs("SYNC-5", original={"child exit code": 1}, ours={"child exit code": 0})
def scenario_fork_multiprocessing_in_thread_sensitive_thread(obs: Observer) -> None:
    _fork_with_multiprocessing(obs, thread_sensitive=True)


def scenario_fork_multiprocessing_in_non_sensitive_thread(obs: Observer) -> None:
    _fork_with_multiprocessing(obs, thread_sensitive=False)


def _os_fork(child_work: Callable[[], Any]) -> tuple[Any, int]:
    """Fork; the child sends repr(outcome(child_work)) through a pipe and exits. Returns the
    child's answer ("hung" if none came in time) and its exit code."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            os.close(read_end)
            os.write(write_end, repr(outcome(child_work)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    ready = select.select([read_end], [], [], CHILD_WAIT)[0]
    answer: Any = os.read(read_end, 65536).decode() if ready else "hung"
    os.close(read_end)
    if not ready:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    return answer, os.waitstatus_to_exitcode(status)


def scenario_os_fork_in_thread_sensitive_thread_then_async_to_sync(obs: Observer) -> None:
    async def main() -> tuple[Any, int]:
        return await sync_to_async(lambda: _os_fork(lambda: async_to_sync(_child_coroutine)()))()

    answer, code = asyncio.run(main())
    obs("child's async_to_sync", answer)
    obs("child exit code", code)


def scenario_os_fork_in_thread_sensitive_thread_child_runs_loop(obs: Observer) -> None:
    async def child_main() -> bool:
        return await sync_to_async(lambda: threading.current_thread() is threading.main_thread())()

    def child() -> bool:
        return asyncio.run(asyncio.wait_for(child_main(), 1.0))

    async def main() -> tuple[Any, int]:
        return await sync_to_async(lambda: _os_fork(child))()

    answer, code = asyncio.run(main())
    obs("child's asyncio.run of a thread-sensitive call", answer)
    obs("child exit code", code)


def scenario_os_fork_from_main_after_async_to_sync(obs: Observer) -> None:
    async def warm() -> Any:
        return await sync_to_async(lambda: "warm")()

    obs("parent's async_to_sync", async_to_sync(warm)())
    answer, code = _os_fork(lambda: async_to_sync(_child_coroutine)())
    obs("child's async_to_sync", answer)
    obs("child exit code", code)


@differs(
    "SYNC-4",
    original={
        "child's thread-sensitive call": "{'raised': {'exception': 'TimeoutError', 'message': ''}}"
    },
    ours={"child's thread-sensitive call": "{'returned': False}"},
)
def scenario_os_fork_from_main_after_thread_sensitive_call(obs: Observer) -> None:
    async def call() -> bool:
        return await sync_to_async(lambda: threading.current_thread() is threading.main_thread())()

    obs("parent's call on the main thread", asyncio.run(call()))
    # The child makes a thread-sensitive call outside any async_to_sync: it needs the thread that
    # served the parent's, which the child does not have.
    answer, code = _os_fork(lambda: asyncio.run(asyncio.wait_for(call(), 1.0)))
    obs("child's thread-sensitive call", answer)
    obs("child exit code", code)


# --- the outer event loop stops or closes under a running sync function ------------------------


def _loop_gone_while_running(obs: Observer, close: bool) -> None:
    started, go, done = threading.Event(), threading.Event(), threading.Event()

    async def inner() -> bool:
        return threading.current_thread() is threading.main_thread()

    def fn() -> str:
        started.set()
        obs("function released", go.wait(BLOCK))
        obs.call("async_to_sync (inner ran on the main thread)", lambda: async_to_sync(inner)())
        done.set()
        return "function result"

    loop = asyncio.new_event_loop()
    task = loop.create_task(sync_to_async(fn)())
    loop.run_until_complete(until(started))
    if close:
        loop.close()
    go.set()
    obs("async_to_sync done while the loop was not running", done.wait(1.0))
    if not close:
        loop.run_until_complete(until(done, 1.0))
        obs("async_to_sync done after the loop ran again", done.is_set())
        loop.run_until_complete(asyncio.wait({task}, timeout=1.0))
        obs("task result", task.result() if task.done() else "pending")
        loop.close()


def scenario_async_to_sync_after_outer_loop_closed(obs: Observer) -> None:
    _loop_gone_while_running(obs, close=True)


@differs(
    "SYNC-3",
    original={
        "async_to_sync done while the loop was not running": False,
        "async_to_sync (inner ran on the main thread)": {"returned": True},
    },
    ours={
        "async_to_sync done while the loop was not running": True,
        "async_to_sync (inner ran on the main thread)": {"returned": False},
    },
)
def scenario_async_to_sync_while_outer_loop_stopped(obs: Observer) -> None:
    _loop_gone_while_running(obs, close=False)


def scenario_error_raised_after_outer_loop_closed(obs: Observer) -> None:
    started, go, done = threading.Event(), threading.Event(), threading.Event()

    def fn() -> None:
        started.set()
        try:
            obs("function released", go.wait(BLOCK))
        finally:
            done.set()
        raise ValueError("nobody is waiting")

    with obs.logs("log records"):
        loop = asyncio.new_event_loop()
        task = loop.create_task(sync_to_async(fn)())
        loop.run_until_complete(until(started))
        obs("task done when the loop closed", task.done())
        loop.close()
        go.set()
        obs("function finished", done.wait(2.0))
        threading.Event().wait(0.2)  # let the thread report the error, if it does


def scenario_asyncio_run_returns_while_thread_sensitive_call_runs(obs: Observer) -> None:
    started, go, done = threading.Event(), threading.Event(), threading.Event()

    def fn() -> str:
        started.set()
        obs("function released", go.wait(BLOCK))
        done.set()
        return "function result"

    tasks: list[asyncio.Future[str]] = []

    async def main() -> None:
        tasks.append(asyncio.ensure_future(sync_to_async(fn)()))
        obs("function started", await until(started))
        # main returns: asyncio.run cancels the task awaiting the call and closes the loop.

    asyncio.run(main())
    obs("asyncio.run returned while the function still ran", not done.is_set())
    obs("task cancelled", tasks[0].cancelled())
    go.set()
    obs("function finished", done.wait(2.0))


def scenario_abandoned_loop_with_pending_call(obs: Observer) -> None:
    # A loop left without being run again or closed, while a call it awaits still runs: the
    # function finishes after the scenario (the interpreter waits for it, or not).
    started = threading.Event()

    def fn() -> None:
        started.set()
        threading.Event().wait(1.0)
        obs("function finished after the scenario", True)

    loop = asyncio.new_event_loop()
    task = loop.create_task(sync_to_async(fn)())
    loop.run_until_complete(until(started))
    obs("function started", started.is_set())
    obs("task done", task.done())


async def scenario_context_exit_waits_for_running_call(obs: Observer) -> None:
    # A task made a thread-sensitive call in the context and is still waiting for it when the
    # context is left; another task releases the call a little later.
    started, go, finished = threading.Event(), threading.Event(), threading.Event()

    def fn() -> str:
        started.set()
        obs("function released", go.wait(BLOCK))
        finished.set()
        return "function result"

    async def release_later() -> None:
        await asyncio.sleep(0.1)
        obs("releaser ran", True)
        go.set()

    async with ThreadSensitiveContext():
        task = asyncio.ensure_future(sync_to_async(fn)())
        obs("function started", await until(started))
        releaser = asyncio.create_task(release_later())
    obs("function finished when the context was left", finished.is_set())
    await obs.acall("task", task)
    await releaser


# --- event loops inside sync threads ----------------------------------------------------------


async def _thread_label_via_thread_sensitive_call(obs: Observer) -> str:
    return await sync_to_async(obs.thread_label)()


def _in_sync_thread(
    obs: Observer,
    work: Callable[[], Any],
    thread_sensitive: bool = True,
    in_context: bool = False,
) -> None:
    """Run `work` in a sync_to_async thread (on a daemon thread's event loop, bounded), inside a
    ThreadSensitiveContext if `in_context`."""

    def run() -> None:
        def in_thread() -> None:
            obs.thread("sync thread")
            obs.call("work", work)

        async def main() -> None:
            if in_context:
                async with ThreadSensitiveContext():
                    await sync_to_async(in_thread, thread_sensitive=thread_sensitive)()
            else:
                await sync_to_async(in_thread, thread_sensitive=thread_sensitive)()

        asyncio.run(main())

    obs("finished in time", _bounded(run))


def scenario_asyncio_run_in_thread_sensitive_thread(obs: Observer) -> None:
    async def plain() -> str:
        await asyncio.sleep(0)
        return obs.thread_label()

    def work() -> Any:
        return asyncio.run(plain())

    _in_sync_thread(obs, work)


def scenario_asyncio_run_in_thread_sensitive_thread_with_thread_sensitive_call(
    obs: Observer,
) -> None:
    def work() -> Any:
        return asyncio.run(asyncio.wait_for(_thread_label_via_thread_sensitive_call(obs), 0.5))

    _in_sync_thread(obs, work)


def scenario_asyncio_run_in_context_thread_with_thread_sensitive_call(obs: Observer) -> None:
    # The loop's task inherits the ThreadSensitiveContext, whose thread is the one waiting.
    def work() -> Any:
        return asyncio.run(asyncio.wait_for(_thread_label_via_thread_sensitive_call(obs), 0.5))

    _in_sync_thread(obs, work, in_context=True)


def scenario_run_until_complete_in_thread_sensitive_thread(obs: Observer) -> None:
    def work() -> Any:
        loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(
                asyncio.wait_for(_thread_label_via_thread_sensitive_call(obs), 0.5)
            )
        finally:
            loop.close()

    _in_sync_thread(obs, work)


def scenario_asyncio_run_in_non_sensitive_thread_with_thread_sensitive_call(
    obs: Observer,
) -> None:
    def work() -> Any:
        return asyncio.run(asyncio.wait_for(_thread_label_via_thread_sensitive_call(obs), 1.0))

    _in_sync_thread(obs, work, thread_sensitive=False)


def scenario_asyncio_run_in_helper_thread_of_thread_sensitive_thread(obs: Observer) -> None:
    # The thread-sensitive thread starts a thread of its own that runs an event loop making a
    # thread-sensitive call, and waits for it: the call needs the waiting thread.
    def work() -> Any:
        box: list[Any] = []

        def helper() -> None:
            box.append(
                outcome(
                    lambda: asyncio.run(
                        asyncio.wait_for(_thread_label_via_thread_sensitive_call(obs), 0.5)
                    )
                )
            )

        thread = threading.Thread(target=helper, daemon=True)
        thread.start()
        thread.join(2.0)
        return box[0] if box else "hung"

    _in_sync_thread(obs, work)


# --- tasks that outlive their async_to_sync call ---------------------------------------------


async def _task_outliving_async_to_sync(obs: Observer, prefix: str) -> None:
    release = asyncio.Event()
    holder: list[asyncio.Task[Any]] = []

    async def background() -> Any:
        await release.wait()
        return await sync_to_async(obs.thread_label)()

    async def starter() -> str:
        holder.append(asyncio.create_task(background()))
        return "started"

    def sync_fn() -> str:
        obs.thread(f"{prefix}sync function thread")
        return async_to_sync(starter)()

    obs(f"{prefix}sync_to_async", await sync_to_async(sync_fn)())
    release.set()
    await obs.acall(f"{prefix}background task's thread-sensitive call", holder[0])


async def scenario_task_outliving_async_to_sync_makes_thread_sensitive_call(
    obs: Observer,
) -> None:
    await _task_outliving_async_to_sync(obs, "")
    async with ThreadSensitiveContext():
        await _task_outliving_async_to_sync(obs, "in context: ")


def scenario_pending_tasks_at_async_to_sync_return(obs: Observer) -> None:
    holder: list[asyncio.Task[None]] = []
    ended = threading.Event()

    async def background() -> None:
        try:
            await asyncio.sleep(0.5)
            obs("background task finished its sleep", True)
        except asyncio.CancelledError:
            obs("background task cancelled", True)
            raise
        finally:
            ended.set()

    async def starter() -> str:
        holder.append(asyncio.create_task(background()))
        await asyncio.sleep(0)
        return "started"

    obs("async_to_sync", async_to_sync(starter)())
    task = holder[0]
    obs("task done when async_to_sync returned", task.done())
    obs("background task ended within 1.5 s", ended.wait(1.5))
    obs("task cancelled", task.cancelled())


def scenario_async_to_sync_loops_between_calls(obs: Observer) -> None:
    async def running_loop() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    first = async_to_sync(running_loop)()
    second = async_to_sync(running_loop)()
    obs("same loop for two calls", first is second)
    obs("first loop closed", first.is_closed())
    obs("first loop running", first.is_running())


# --- KeyboardInterrupt -----------------------------------------------------------------------


def scenario_keyboard_interrupt_in_async_to_sync_coroutine(obs: Observer) -> None:
    async def interrupted() -> None:
        await asyncio.sleep(0)
        raise KeyboardInterrupt("stop")

    async def fine() -> str:
        return "fine"

    obs.call("from the main thread", lambda: async_to_sync(interrupted)())
    obs.call("a later call", lambda: async_to_sync(fine)())

    async def main() -> None:
        await obs.acall(
            "from a sync_to_async thread",
            sync_to_async(lambda: outcome(lambda: async_to_sync(interrupted)()))(),
        )
        await asyncio.sleep(0.01)
        obs("outer loop still running", True)

    obs.call("asyncio.run", lambda: asyncio.run(main()))


def scenario_keyboard_interrupt_in_sync_to_async_function(obs: Observer) -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt("stop")

    async def main() -> None:
        await obs.acall("thread-sensitive", sync_to_async(interrupted)())
        await obs.acall(
            "not thread-sensitive", sync_to_async(interrupted, thread_sensitive=False)()
        )
        await obs.acall("a later call", sync_to_async(lambda: "fine")())

    obs.call("asyncio.run", lambda: asyncio.run(main()))


# --- the threads the bridge runs on ----------------------------------------------------------


def scenario_worker_threads_are_daemon(obs: Observer) -> None:
    def daemon() -> bool:
        return threading.current_thread().daemon

    async def coroutine_daemon() -> bool:
        return daemon()

    async def main() -> None:
        obs("thread-sensitive", await sync_to_async(daemon)())
        obs("not thread-sensitive", await sync_to_async(daemon, thread_sensitive=False)())
        async with ThreadSensitiveContext():
            obs("in a ThreadSensitiveContext", await sync_to_async(daemon)())

    asyncio.run(main())
    obs("async_to_sync from the main thread", async_to_sync(coroutine_daemon)())
    obs(
        "async_to_sync with force_new_loop",
        async_to_sync(coroutine_daemon, force_new_loop=True)(),
    )


def scenario_threads_after_many_thread_sensitive_contexts(obs: Observer) -> None:
    before = threading.active_count()

    async def one_request() -> None:
        async with ThreadSensitiveContext():
            await sync_to_async(lambda: None)()

    async def main() -> None:
        for _ in range(20):
            await one_request()
        await asyncio.gather(*(one_request() for _ in range(20)))

    asyncio.run(main())
    obs(
        "at most 2 more threads than before (within 2 s)",
        _polluntil(lambda: threading.active_count() <= before + 2),
    )


def scenario_threads_after_many_calls(obs: Observer) -> None:
    before = threading.active_count()

    async def coroutine() -> str:
        return await sync_to_async(lambda: "x")()

    async def main() -> None:
        for _ in range(30):
            await sync_to_async(lambda: None)()
            await sync_to_async(lambda: None, thread_sensitive=False)()

    asyncio.run(main())
    for _ in range(30):
        async_to_sync(coroutine)()
    obs(
        "at most 3 more threads than before (within 2 s)",
        _polluntil(lambda: threading.active_count() <= before + 3),
    )
