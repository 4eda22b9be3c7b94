"""Context variables across sync_to_async / async_to_sync: what each side sees, and the context=
parameter."""

from __future__ import annotations

import asyncio
import contextvars
import re
import threading
from typing import Any

from _observe import Observer, describe_exception

from asgiref.sync import ThreadSensitiveContext, async_to_sync, sync_to_async

BOUND = 1.0

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")
user: contextvars.ContextVar[str] = contextvars.ContextVar("user", default="unset")
level: contextvars.ContextVar[str] = contextvars.ContextVar("level", default="unset")
extra: contextvars.ContextVar[str] = contextvars.ContextVar("extra", default="unset")


def _raised(error: BaseException) -> dict[str, Any]:
    """The exception, with the object addresses its message may carry blanked out."""
    described = describe_exception(error)
    described["message"] = re.sub(r" at 0x[0-9a-fA-F]+", " at 0x?", described["message"])
    return {"raised": described}


def scenario_set_in_sync_function_seen_after_await(obs: Observer) -> None:
    def set_both(value: str) -> str:
        seen = request_id.get()
        request_id.set(value)
        user.set(value + " user")
        return seen

    async def main() -> None:
        request_id.set("caller")
        obs("sensitive saw", await sync_to_async(set_both)("sensitive"))
        obs("after sensitive", [request_id.get(), user.get()])
        obs("insensitive saw", await sync_to_async(set_both, thread_sensitive=False)("insensitive"))
        obs("after insensitive", [request_id.get(), user.get()])

    asyncio.run(main())


def scenario_set_in_coroutine_seen_after_async_to_sync(obs: Observer) -> None:
    async def set_both(value: str) -> str:
        seen = request_id.get()
        request_id.set(value)
        user.set(value + " user")
        return seen

    request_id.set("main")
    obs("no loop: coroutine saw", async_to_sync(set_both)("no loop"))
    obs("no loop: after", [request_id.get(), user.get()])

    def in_thread() -> None:
        request_id.set("thread")
        obs("outer loop: coroutine saw", async_to_sync(set_both)("outer loop"))
        obs("outer loop: after", [request_id.get(), user.get()])

    async def main() -> None:
        await sync_to_async(in_thread)()
        obs("main coroutine after", [request_id.get(), user.get()])

    asyncio.run(main())


def scenario_nested_propagation_depth_three(obs: Observer) -> None:
    def sync_one() -> None:
        obs("sync 1 sees", [request_id.get(), user.get(), level.get(), extra.get()])
        user.set("sync 1")
        async_to_sync(async_two)()
        obs("sync 1 after", [request_id.get(), user.get(), level.get(), extra.get()])

    async def async_two() -> None:
        obs("async 2 sees", [request_id.get(), user.get(), level.get(), extra.get()])
        level.set("async 2")
        await sync_to_async(sync_three)()
        obs("async 2 after", [request_id.get(), user.get(), level.get(), extra.get()])

    def sync_three() -> None:
        obs("sync 3 sees", [request_id.get(), user.get(), level.get(), extra.get()])
        extra.set("sync 3")
        request_id.set("overwritten by sync 3")

    async def main() -> None:
        request_id.set("main")
        await sync_to_async(sync_one)()
        obs("main after", [request_id.get(), user.get(), level.get(), extra.get()])

    asyncio.run(main())


def scenario_context_parameter(obs: Observer) -> None:
    given = contextvars.copy_context()
    given.run(request_id.set, "in given")

    def work(value: str) -> str:
        seen = request_id.get()
        request_id.set(value)
        user.set(value)
        return seen

    async def main() -> None:
        request_id.set("caller")
        wrapper: Any = sync_to_async(work, context=given)
        obs("context attribute is given", getattr(wrapper, "context", None) is given)
        obs("first call saw", await wrapper("first"))
        obs("given after first", [given.get(request_id), given.get(user, "unset")])
        obs("caller after first", [request_id.get(), user.get()])
        obs("second call saw", await wrapper("second"))
        insensitive: Any = sync_to_async(work, thread_sensitive=False, context=given)
        obs("insensitive call saw", await insensitive("insensitive"))
        obs("given after insensitive", [given.get(request_id), given.get(user, "unset")])
        obs("caller after insensitive", [request_id.get(), user.get()])

    asyncio.run(main())


def scenario_context_parameter_entered_twice_at_once(obs: Observer) -> None:
    given = contextvars.copy_context()
    first_entered = threading.Event()
    second_done = threading.Event()

    def first() -> str:
        first_entered.set()
        return "released" if second_done.wait(BOUND) else "timed out"

    def second() -> str:
        return "second ran"

    async def run_second() -> None:
        # The second call starts only once the first one runs inside the context.
        loop = asyncio.get_running_loop()
        obs("first entered", await loop.run_in_executor(None, first_entered.wait, BOUND))
        try:
            obs(
                "second",
                {"returned": await sync_to_async(second, thread_sensitive=False, context=given)()},
            )
        except Exception as error:
            obs("second", _raised(error))
        finally:
            second_done.set()

    async def main() -> None:
        first_result, _ = await asyncio.gather(
            sync_to_async(first, thread_sensitive=False, context=given)(), run_second()
        )
        obs("first", first_result)

    asyncio.run(main())


def scenario_context_parameter_with_running_context(obs: Observer) -> None:
    given = contextvars.copy_context()

    def work() -> str:
        request_id.set("set by work")
        return request_id.get()

    def call_inside_given() -> Any:
        async def main() -> Any:
            try:
                return {"returned": await sync_to_async(work, context=given)()}
            except Exception as error:
                return _raised(error)

        return asyncio.run(main())

    # The caller runs inside the very context it hands to sync_to_async.
    obs("call from inside the given context", given.run(call_inside_given))
    obs("given afterwards", given.get(request_id))


def scenario_contextvars_and_thread_sensitive_context(obs: Observer) -> None:
    def read_and_set() -> str:
        seen = request_id.get()
        user.set("set in sync")
        return seen

    async def main() -> None:
        request_id.set("before context")
        async with ThreadSensitiveContext():
            obs("inside sees", await sync_to_async(read_and_set)())
            request_id.set("inside context")
            obs("inside after set sees", await sync_to_async(read_and_set)())
            obs("inside after sync set", user.get())
        obs("after context", [request_id.get(), user.get()])

    asyncio.run(main())


def scenario_gathered_requests_keep_their_own_values(obs: Observer) -> None:
    a_set = threading.Event()

    def read(tag: str) -> str:
        if tag == "b":
            a_set.wait(BOUND)
        value = request_id.get()
        request_id.set(value + " touched")
        if tag == "a":
            a_set.set()
        return value

    async def request(tag: str) -> list[str]:
        request_id.set(tag)
        seen = await sync_to_async(read, thread_sensitive=False)(tag)
        return [seen, request_id.get()]

    async def main() -> None:
        results = await asyncio.gather(request("a"), request("b"))
        obs("a", results[0])
        obs("b", results[1])
        obs("main", request_id.get())

    asyncio.run(main())


def scenario_contextvars_in_tasks_spawned_inside_async_to_sync(obs: Observer) -> None:
    async def child() -> str:
        seen = request_id.get()
        user.set("set by child task")
        return seen

    async def coroutine() -> None:
        request_id.set("set by coroutine")
        task = asyncio.create_task(child())
        obs("child saw", await task)
        obs("coroutine after child", [request_id.get(), user.get()])

    request_id.set("main")
    async_to_sync(coroutine)()
    obs("main after", [request_id.get(), user.get()])


def scenario_contextvar_changes_when_the_call_raises(obs: Observer) -> None:
    def sync_fails() -> None:
        request_id.set("set before sync raise")
        raise ValueError("sync failed")

    async def async_fails() -> None:
        user.set("set before async raise")
        raise ValueError("async failed")

    try:
        async_to_sync(async_fails)()
    except ValueError as error:
        obs("a2s raised", str(error))
    obs("after a2s raised", user.get())

    async def main() -> None:
        try:
            await sync_to_async(sync_fails)()
        except ValueError as error:
            obs("s2a raised", str(error))
        obs("after s2a raised", request_id.get())

    asyncio.run(main())


def scenario_contextvar_tokens_across_the_bridge(obs: Observer) -> None:
    async def main() -> None:
        token: Any = await sync_to_async(request_id.set)("set in sync")
        obs("value after set in sync", request_id.get())
        try:
            request_id.reset(token)
        except Exception as error:
            obs("reset in caller", _raised(error))
        else:
            obs("reset in caller", {"returned": request_id.get()})
        caller_token = user.set("set in caller")

        def reset_inside() -> str:
            user.reset(caller_token)
            return user.get()

        try:
            obs("reset inside sync", {"returned": await sync_to_async(reset_inside)()})
        except Exception as error:
            obs("reset inside sync", _raised(error))
        obs("user after", user.get())

    asyncio.run(main())
