"""Which thread runs what: sync_to_async / async_to_sync and the contexts that steer them.

Threads are captured as objects while the scenario runs and turned into labels only at the end,
in a fixed order, so labels never depend on which thread happened to run first.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from _observe import Observer, describe_exception

from asgiref.sync import (
    AsyncSingleThreadContext,
    SyncToAsync,
    ThreadSensitiveContext,
    async_to_sync,
    sync_to_async,
)

# How long a scenario waits for something that should happen at once; reached only when it does
# not happen, which is then what the scenario records.
BOUND = 1.0


def _current() -> threading.Thread:
    return threading.current_thread()


def _label_all(obs: Observer, seen: dict[str, Any], keys: list[str]) -> None:
    """Record the thread of each key, labelled in the order of `keys`."""
    for key in keys:
        obs(key, obs.thread_label(seen[key]))


def _executor_thread(executor: ThreadPoolExecutor) -> threading.Thread:
    return executor.submit(_current).result(timeout=BOUND)


def _outcome_of(error: BaseException) -> dict[str, Any]:
    return {"raised": describe_exception(error)}


# --- sync_to_async from an event loop ---------------------------------------------------------


def scenario_thread_sensitive_calls_from_main_loop(obs: Observer) -> None:
    seen: dict[str, Any] = {}

    async def main(run: str) -> None:
        seen[f"{run} loop thread"] = _current()
        seen[f"{run} first call"] = await sync_to_async(_current)()
        seen[f"{run} second call"] = await sync_to_async(_current)()
        seen[f"{run} explicit thread_sensitive=True"] = await sync_to_async(
            _current, thread_sensitive=True
        )()
        both = await asyncio.gather(sync_to_async(_current)(), sync_to_async(_current)())
        seen[f"{run} gathered a"], seen[f"{run} gathered b"] = both

    asyncio.run(main("run 1"))
    asyncio.run(main("run 2"))
    keys = [
        f"{run} {what}"
        for run in ("run 1", "run 2")
        for what in (
            "loop thread",
            "first call",
            "second call",
            "explicit thread_sensitive=True",
            "gathered a",
            "gathered b",
        )
    ]
    _label_all(obs, seen, keys)


def scenario_thread_insensitive_on_default_executor(obs: Observer) -> None:
    seen: dict[str, Any] = {}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        default = ThreadPoolExecutor(1)
        loop.set_default_executor(default)
        seen["default executor thread"] = _executor_thread(default)
        seen["sensitive"] = await sync_to_async(_current)()
        seen["insensitive"] = await sync_to_async(_current, thread_sensitive=False)()
        seen["insensitive again"] = await sync_to_async(_current, thread_sensitive=False)()

    asyncio.run(main())
    obs(
        "insensitive on the loop's default executor",
        seen["insensitive"] is seen["default executor thread"],
    )
    _label_all(obs, seen, ["sensitive", "insensitive", "insensitive again"])


def scenario_explicit_executor(obs: Observer) -> None:
    seen: dict[str, Any] = {}
    executor = ThreadPoolExecutor(1)

    async def main() -> None:
        seen["executor thread"] = _executor_thread(executor)
        wrapper = sync_to_async(_current, thread_sensitive=False, executor=executor)
        seen["call"] = await wrapper()
        seen["call again"] = await wrapper()
        seen["sensitive"] = await sync_to_async(_current)()

    asyncio.run(main())
    obs("call on the executor", seen["call"] is seen["executor thread"])
    obs("executor still usable", executor.submit(lambda: "yes").result(timeout=BOUND))
    executor.shutdown()
    _label_all(obs, seen, ["executor thread", "call", "call again", "sensitive"])


def scenario_sync_to_async_from_loops_in_other_threads(obs: Observer) -> None:
    seen: dict[str, Any] = {}

    async def probe(tag: str) -> None:
        seen[f"{tag} loop thread"] = _current()
        seen[f"{tag} sensitive"] = await sync_to_async(_current)()

    asyncio.run(probe("main"))
    for tag in ("thread A", "thread B"):
        thread = threading.Thread(target=lambda tag=tag: asyncio.run(probe(tag)))
        thread.start()
        thread.join(5 * BOUND)
    keys = [
        f"{tag} {what}"
        for tag in ("main", "thread A", "thread B")
        for what in ("loop thread", "sensitive")
    ]
    _label_all(obs, seen, keys)


# --- nesting ----------------------------------------------------------------------------------


def scenario_nesting_returns_to_the_same_sync_thread(obs: Observer) -> None:
    seen: dict[str, Any] = {}

    def sync_level(depth: int) -> int:
        seen[f"sync {depth}"] = _current()
        if depth == 4:
            return depth
        return async_to_sync(async_level)(depth + 1)

    async def async_level(depth: int) -> int:
        seen[f"async {depth}"] = _current()
        seen[f"async {depth} sensitive sibling"] = await sync_to_async(_current)()
        return await sync_to_async(sync_level)(depth)

    asyncio.run(async_level(1))
    keys = []
    for depth in (1, 2, 3, 4):
        keys += [f"async {depth}", f"async {depth} sensitive sibling", f"sync {depth}"]
    _label_all(obs, seen, keys)


def scenario_nesting_under_a_thread_insensitive_call(obs: Observer) -> None:
    seen: dict[str, Any] = {}

    async def inner() -> None:
        seen["inner coroutine"] = _current()
        seen["inner loop is main loop"] = asyncio.get_running_loop() is seen["main loop"]
        seen["inner sensitive"] = await sync_to_async(_current)()
        seen["inner insensitive"] = await sync_to_async(_current, thread_sensitive=False)()

    def outer() -> None:
        seen["outer insensitive"] = _current()
        async_to_sync(inner)()

    async def main() -> None:
        seen["main loop"] = asyncio.get_running_loop()
        seen["top sensitive"] = await sync_to_async(_current)()
        await sync_to_async(outer, thread_sensitive=False)()

    asyncio.run(main())
    obs("inner loop is main loop", seen["inner loop is main loop"])
    obs(
        "inner insensitive is outer insensitive",
        seen["inner insensitive"] is seen["outer insensitive"],
    )
    _label_all(
        obs, seen, ["top sensitive", "outer insensitive", "inner coroutine", "inner sensitive"]
    )


# --- async_to_sync without an event loop ------------------------------------------------------


def scenario_async_to_sync_from_main_without_loop(obs: Observer) -> None:
    seen: dict[str, Any] = {}

    async def work(call: str) -> None:
        seen[f"{call} coroutine"] = _current()
        seen[f"{call} loop"] = asyncio.get_running_loop()
        seen[f"{call} sensitive"] = await sync_to_async(_current)()
        seen[f"{call} sensitive again"] = await sync_to_async(_current)()

    async_to_sync(work)("first")
    obs("first loop closed after return", seen["first loop"].is_closed())
    async_to_sync(work)("second")
    obs("second loop is first loop", seen["second loop"] is seen["first loop"])
    obs("second loop closed after return", seen["second loop"].is_closed())
    obs("main thread has a running loop afterwards", obs.loop_running())
    keys = [
        f"{call} {what}"
        for call in ("first", "second")
        for what in ("coroutine", "sensitive", "sensitive again")
    ]
    _label_all(obs, seen, keys)


def scenario_async_to_sync_from_plain_thread(obs: Observer) -> None:
    seen: dict[str, Any] = {}

    async def work() -> None:
        seen["coroutine"] = _current()
        seen["sensitive"] = await sync_to_async(_current)()

    def body() -> None:
        seen["plain thread"] = _current()
        async_to_sync(work)()

    seen["main"] = _current()
    thread = threading.Thread(target=body)
    thread.start()
    thread.join(BOUND)
    obs("joined", not thread.is_alive())
    _label_all(obs, seen, ["main", "plain thread", "coroutine", "sensitive"])
    obs("sensitive call on the plain thread", seen["sensitive"] is seen["plain thread"])


def scenario_async_to_sync_in_two_threads_at_once(obs: Observer) -> None:
    a_inside = threading.Event()
    b_inside = threading.Event()
    seen: dict[str, Any] = {}

    def meet(mine: threading.Event, other: threading.Event, tag: str) -> None:
        mine.set()
        seen[f"{tag} met the other"] = other.wait(BOUND)
        seen[f"{tag} sensitive"] = _current()

    async def work(mine: threading.Event, other: threading.Event, tag: str) -> None:
        seen[f"{tag} coroutine"] = _current()
        await sync_to_async(meet)(mine, other, tag)

    def body(mine: threading.Event, other: threading.Event, tag: str) -> None:
        seen[f"{tag} thread"] = _current()
        async_to_sync(work)(mine, other, tag)

    threads = [
        threading.Thread(target=body, args=(a_inside, b_inside, "A")),
        threading.Thread(target=body, args=(b_inside, a_inside, "B")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(3 * BOUND)
    obs("A met B", seen["A met the other"])
    obs("B met A", seen["B met the other"])
    obs("A sensitive on A's thread", seen["A sensitive"] is seen["A thread"])
    obs("B sensitive on B's thread", seen["B sensitive"] is seen["B thread"])
    obs("coroutines on distinct threads", seen["A coroutine"] is not seen["B coroutine"])
    obs("A coroutine on A's thread", seen["A coroutine"] is seen["A thread"])


def scenario_tasks_left_running_without_outer_loop(obs: Observer) -> None:
    trigger = threading.Event()
    ended = threading.Event()
    state: dict[str, str] = {}
    tasks: list[asyncio.Task[None]] = []

    async def background() -> None:
        state["started"] = "yes"
        try:
            # A threading.Event, polled: the main thread sets it after async_to_sync returned.
            while not trigger.is_set():  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            state["end"] = "completed"
        except asyncio.CancelledError:
            state["end"] = "cancelled"
            raise
        finally:
            ended.set()

    async def main() -> str:
        tasks.append(asyncio.create_task(background()))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return "main returned"

    obs("result", async_to_sync(main)())
    obs("started", state.get("started", "no"))
    obs("ended by the time async_to_sync returned", ended.is_set())
    obs("end right after return", state.get("end", "not yet"))
    trigger.set()
    obs("ended after the trigger", ended.wait(BOUND))
    obs("end", state.get("end", "never"))
    obs("task done", tasks[0].done())


def scenario_tasks_left_running_on_outer_loop(obs: Observer) -> None:
    state: dict[str, Any] = {}
    tasks: list[asyncio.Task[None]] = []

    async def background(gate: asyncio.Event) -> None:
        state["background thread"] = _current()
        try:
            await gate.wait()
            state["end"] = "completed"
        except asyncio.CancelledError:
            state["end"] = "cancelled"
            raise

    async def spawn(gate: asyncio.Event) -> str:
        tasks.append(asyncio.create_task(background(gate)))
        await asyncio.sleep(0)
        return "spawned"

    def sync_part(gate: asyncio.Event) -> None:
        state["result"] = async_to_sync(spawn)(gate)
        state["done after return"] = tasks[0].done()

    async def main() -> None:
        gate = asyncio.Event()
        await sync_to_async(sync_part)(gate)
        state["done back on the loop"] = tasks[0].done()
        gate.set()
        try:
            await asyncio.wait_for(asyncio.shield(tasks[0]), BOUND)
        except BaseException as error:
            state["awaiting the task"] = _outcome_of(error)
        state["end"] = state.get("end", "never")

    asyncio.run(main())
    for key in ("result", "done after return", "done back on the loop", "end"):
        obs(key, state[key])
    obs("awaiting the task", state.get("awaiting the task", "fine"))
    obs("background thread", obs.thread_label(state["background thread"]))


# --- ThreadSensitiveContext -------------------------------------------------------------------


def scenario_thread_sensitive_context_threads(obs: Observer) -> None:
    seen: dict[str, Any] = {}
    marks = threading.local()

    def mark() -> str:
        previous = getattr(marks, "mark", "unset")
        marks.mark = "set"
        return str(previous)

    async def main() -> None:
        seen["outside before"] = await sync_to_async(_current)()
        async with ThreadSensitiveContext():
            seen["first context a"] = await sync_to_async(_current)()
            seen["first context b"] = await sync_to_async(_current)()
            seen["first context mark"] = await sync_to_async(mark)()
            async with ThreadSensitiveContext():
                seen["nested context"] = await sync_to_async(_current)()
            seen["first context after nested"] = await sync_to_async(_current)()
        async with ThreadSensitiveContext():
            seen["second context"] = await sync_to_async(_current)()
            seen["second context mark"] = await sync_to_async(mark)()
        seen["outside after"] = await sync_to_async(_current)()

    asyncio.run(main())
    obs("first context mark", seen["first context mark"])
    obs("second context mark (thread-local left by the first)", seen["second context mark"])
    obs("second context thread is first's", seen["second context"] is seen["first context a"])
    seen["first context a"].join(BOUND / 2)
    obs("first context thread ended after exit", not seen["first context a"].is_alive())
    _label_all(
        obs,
        seen,
        [
            "outside before",
            "first context a",
            "first context b",
            "nested context",
            "first context after nested",
            "outside after",
        ],
    )


def scenario_thread_sensitive_contexts_in_parallel(obs: Observer) -> None:
    b_ran = threading.Event()
    seen: dict[str, Any] = {}

    def a_work() -> None:
        seen["A thread"] = _current()
        seen["A saw B run meanwhile"] = b_ran.wait(BOUND)

    def b_work() -> None:
        seen["B thread"] = _current()
        b_ran.set()

    async def request(work: Any) -> None:
        async with ThreadSensitiveContext():
            await sync_to_async(work)()

    async def main() -> None:
        seen["outside"] = await sync_to_async(_current)()
        await asyncio.gather(request(a_work), request(b_work))

    asyncio.run(main())
    obs("A saw B run meanwhile", seen["A saw B run meanwhile"])
    obs("A and B on distinct threads", seen["A thread"] is not seen["B thread"])
    obs("A on the outside thread", seen["A thread"] is seen["outside"])
    obs("B on the outside thread", seen["B thread"] is seen["outside"])


def scenario_thread_sensitive_context_with_executor(obs: Observer) -> None:
    seen: dict[str, Any] = {}
    executor = ThreadPoolExecutor(1)

    async def main() -> None:
        seen["executor thread"] = _executor_thread(executor)
        context = ThreadSensitiveContext(executor=executor)
        async with context:
            seen["inside"] = await sync_to_async(_current)()
            seen["insensitive inside"] = await sync_to_async(_current, thread_sensitive=False)()
        seen["outside"] = await sync_to_async(_current)()
        async with ThreadSensitiveContext():
            seen["plain context"] = await sync_to_async(_current)()
            async with ThreadSensitiveContext(executor=executor):
                seen["executor context nested in plain"] = await sync_to_async(_current)()
            seen["plain context after nested"] = await sync_to_async(_current)()
        try:
            async with context:
                seen["re-entered"] = await sync_to_async(_current)()
        except Exception as error:
            seen["enter again"] = _outcome_of(error)
        else:
            seen["enter again"] = "entered"

    asyncio.run(main())
    obs("inside on the executor", seen["inside"] is seen["executor thread"])
    obs("insensitive inside on the executor", seen["insensitive inside"] is seen["executor thread"])
    obs(
        "nested on the executor",
        seen["executor context nested in plain"] is seen["executor thread"],
    )
    obs("plain after nested is plain", seen["plain context after nested"] is seen["plain context"])
    obs("enter again", seen["enter again"])
    obs("executor still usable", executor.submit(lambda: "yes").result(timeout=BOUND))
    executor.shutdown()
    _label_all(obs, seen, ["executor thread", "outside", "plain context"])


def scenario_thread_sensitive_context_calls_after_exit(obs: Observer) -> None:
    seen: dict[str, Any] = {}
    executor = ThreadPoolExecutor(1)

    async def later(gate: asyncio.Event) -> threading.Thread:
        await gate.wait()
        return await sync_to_async(_current)()

    async def run(tag: str, context: ThreadSensitiveContext) -> None:
        gate = asyncio.Event()
        async with context:
            seen[f"{tag} inside"] = await sync_to_async(_current)()
            task = asyncio.create_task(later(gate))
            await asyncio.sleep(0)
        seen[f"{tag} outside"] = await sync_to_async(_current)()
        gate.set()
        try:
            seen[f"{tag} late call"] = await asyncio.wait_for(task, BOUND)
        except BaseException as error:
            seen[f"{tag} late call outcome"] = _outcome_of(error)
        else:
            seen[f"{tag} late call outcome"] = "returned"

    async def main() -> None:
        seen["executor thread"] = _executor_thread(executor)
        await run("plain", ThreadSensitiveContext())
        await run("executor", ThreadSensitiveContext(executor=executor))

    asyncio.run(main())
    executor.shutdown()
    for tag in ("plain", "executor"):
        obs(f"{tag} late call outcome", seen[f"{tag} late call outcome"])
        if f"{tag} late call" in seen:
            late = seen[f"{tag} late call"]
            obs(f"{tag} late call on the context's thread", late is seen[f"{tag} inside"])
            obs(f"{tag} late call on the outside thread", late is seen[f"{tag} outside"])
    obs("executor inside on the executor", seen["executor inside"] is seen["executor thread"])


def scenario_single_thread_executor_reassigned(obs: Observer) -> None:
    obs("has single_thread_executor", hasattr(SyncToAsync, "single_thread_executor"))
    seen: dict[str, Any] = {}
    replacement = ThreadPoolExecutor(1)
    previous = getattr(SyncToAsync, "single_thread_executor", None)
    try:
        SyncToAsync.single_thread_executor = replacement
        seen["replacement thread"] = _executor_thread(replacement)

        async def main() -> None:
            seen["sensitive"] = await sync_to_async(_current)()

        asyncio.run(main())
    finally:
        if previous is not None:
            SyncToAsync.single_thread_executor = previous
        replacement.shutdown()
    obs("sensitive call on the replacement", seen["sensitive"] is seen["replacement thread"])


# --- AsyncSingleThreadContext -----------------------------------------------------------------


def scenario_async_single_thread_context(obs: Observer) -> None:
    seen: dict[str, Any] = {}

    async def probe(tag: str) -> None:
        seen[f"{tag} thread"] = _current()
        seen[f"{tag} loop"] = asyncio.get_running_loop()
        seen[f"{tag} sensitive"] = await sync_to_async(_current)()

    with AsyncSingleThreadContext():
        async_to_sync(probe)("a")
        async_to_sync(probe)("b")
        with AsyncSingleThreadContext():
            async_to_sync(probe)("nested")
        async_to_sync(probe)("c")
        obs("loop of a closed inside the context", seen["a loop"].is_closed())
    obs("loop of c closed after the context", seen["c loop"].is_closed())
    async_to_sync(probe)("after")
    with AsyncSingleThreadContext():
        async_to_sync(probe)("second context")
    obs("b loop is a loop", seen["b loop"] is seen["a loop"])
    obs("nested loop is a loop", seen["nested loop"] is seen["a loop"])
    obs("c thread is a thread", seen["c thread"] is seen["a thread"])
    obs("after thread is a thread", seen["after thread"] is seen["a thread"])
    obs("second context thread is a thread", seen["second context thread"] is seen["a thread"])
    _label_all(
        obs,
        seen,
        ["a thread", "a sensitive", "b thread", "nested thread", "c thread", "b sensitive"],
    )


def scenario_async_single_thread_context_in_a_thread(obs: Observer) -> None:
    seen: dict[str, Any] = {}

    async def probe(tag: str) -> None:
        seen[f"{tag} thread"] = _current()
        seen[f"{tag} sensitive"] = await sync_to_async(_current)()

    def body() -> None:
        seen["worker"] = _current()
        with AsyncSingleThreadContext():
            async_to_sync(probe)("one")
            async_to_sync(probe)("two")

    def main_body() -> None:
        with AsyncSingleThreadContext():
            async_to_sync(probe)("main")
            thread = threading.Thread(target=body)
            thread.start()
            thread.join(5 * BOUND)

    main_body()
    obs("worker's coroutines share a thread", seen["one thread"] is seen["two thread"])
    obs("worker's coroutines on main context's thread", seen["one thread"] is seen["main thread"])
    obs("worker's sensitive calls on the worker", seen["one sensitive"] is seen["worker"])
    obs("main's sensitive call on main", seen["main sensitive"] is threading.main_thread())


# --- what bridged code sees of event loops ----------------------------------------------------


def scenario_loop_and_task_visibility(obs: Observer) -> None:
    def sync_side(tag: str) -> None:
        obs(f"{tag}: sync code sees a running loop", obs.loop_running())

    async def coroutine_side(tag: str) -> None:
        obs(f"{tag}: coroutine has a current task", asyncio.current_task() is not None)
        await sync_to_async(sync_side)(f"{tag} -> s2a")
        await sync_to_async(sync_side, thread_sensitive=False)(f"{tag} -> insensitive s2a")

    async_to_sync(coroutine_side)("a2s from main")

    def nested() -> None:
        sync_side("s2a")
        async_to_sync(coroutine_side)("s2a -> a2s")

    async def main() -> None:
        await sync_to_async(nested)()
        await sync_to_async(sync_side, thread_sensitive=False)("insensitive s2a")

    asyncio.run(main())


def scenario_async_to_sync_in_running_loop_with_force_new_loop(obs: Observer) -> None:
    async def inner() -> str:
        return "ran"

    async def main() -> None:
        try:
            obs("call", {"returned": async_to_sync(inner, force_new_loop=True)()})
        except Exception as error:
            obs("call", _outcome_of(error))

    asyncio.run(main())


def scenario_asyncio_run_inside_thread_sensitive_function(obs: Observer) -> None:
    seen: dict[str, Any] = {}

    async def inner() -> None:
        try:
            result = await asyncio.wait_for(sync_to_async(_current)(), BOUND)
        except BaseException as error:
            seen["inner sensitive call"] = _outcome_of(error)
        else:
            seen["inner sensitive call"] = "returned"
            seen["inner thread"] = result

    def sync_part() -> None:
        seen["sync thread"] = _current()
        asyncio.run(inner())

    async def main() -> None:
        await sync_to_async(sync_part)()

    # In a thread of its own, so that a deadlock is seen (and not waited for).
    runner = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    runner.start()
    runner.join(3 * BOUND)
    obs("finished", not runner.is_alive())
    obs("inner sensitive call", seen.get("inner sensitive call", "never ended"))
    if "inner thread" in seen:
        obs("inner ran on the sync thread", seen["inner thread"] is seen["sync thread"])
