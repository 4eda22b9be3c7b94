"""sync_to_async / async_to_sync as wrappers: what they return, their attributes, their errors."""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from typing import Any

from _observe import Observer

from asgiref.sync import async_to_sync, sync_to_async


def scenario_sync_to_async_result_and_thread(obs: Observer) -> None:
    def work(a: int, b: int = 2) -> int:
        obs.thread("work thread")
        return a + b

    async def main() -> None:
        obs.thread("caller thread")
        obs("result", await sync_to_async(work)(1, b=5))

    asyncio.run(main())


def scenario_wrapper_attributes(obs: Observer) -> None:
    def documented(x: int) -> int:
        """Doc of documented."""
        return x

    async def adocumented(x: int) -> int:
        """Doc of adocumented."""
        return x

    s2a: Any = sync_to_async(documented)
    a2s: Any = async_to_sync(adocumented)
    for name, wrapper, wrapped in (
        ("sync_to_async", s2a, documented),
        ("async_to_sync", a2s, adocumented),
    ):
        obs(f"{name} __name__", wrapper.__name__)
        obs(f"{name} __qualname__", getattr(wrapper, "__qualname__", None))
        obs(f"{name} __doc__", wrapper.__doc__)
        obs(f"{name} __wrapped__ is func", getattr(wrapper, "__wrapped__", None) is wrapped)
        obs(f"{name} inspect.iscoroutinefunction", inspect.iscoroutinefunction(wrapper))
        obs(f"{name} asyncio.iscoroutinefunction", asyncio.iscoroutinefunction(wrapper))
        obs(f"{name} class", type(wrapper).__name__)
    obs("s2a context", s2a.context)
    obs("s2a thread_sensitive", s2a.thread_sensitive)


def scenario_bound_method_self(obs: Observer) -> None:
    class Middleware:
        def sync_method(self) -> str:
            return "sync"

        async def async_method(self) -> str:
            return "async"

    instance = Middleware()
    a2s = async_to_sync(instance.async_method)
    s2a = sync_to_async(instance.sync_method)
    obs("a2s has __self__", hasattr(a2s, "__self__"))
    obs("a2s __self__ is instance", getattr(a2s, "__self__", None) is instance)
    obs("s2a has __self__", hasattr(s2a, "__self__"))
    obs("s2a __self__ is instance", getattr(s2a, "__self__", None) is instance)
    obs("a2s call", a2s())


def scenario_sync_to_async_of_coroutine_function(obs: Observer) -> None:
    async def coroutine_function() -> None:
        pass

    obs.call("wrap", lambda: sync_to_async(coroutine_function))


def scenario_async_to_sync_of_plain_function(obs: Observer) -> None:
    def plain() -> Any:
        return 1

    with obs.warnings("warnings"):
        obs.call("wrap then call", lambda: async_to_sync(plain)())


def scenario_async_to_sync_in_running_loop(obs: Observer) -> None:
    async def inner() -> int:
        return 1

    async def main() -> None:
        obs.call("call", lambda: async_to_sync(inner)())

    asyncio.run(main())


def scenario_executor_with_thread_sensitive(obs: Observer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as executor:
        obs.call("wrap", lambda: sync_to_async(lambda: 1, executor=executor))
        obs.call(
            "wrap explicit",
            lambda: sync_to_async(lambda: 1, thread_sensitive=True, executor=executor),
        )


def scenario_partial_and_lambda(obs: Observer) -> None:
    def add(a: int, b: int) -> int:
        return a + b

    async def main() -> None:
        obs("partial", await sync_to_async(functools.partial(add, 1))(2))
        obs(
            "lambda",
            await sync_to_async(lambda: threading.current_thread() is threading.main_thread())(),
        )

    asyncio.run(main())
