"""sync_to_async / async_to_sync as wrappers: what they return, their attributes, their errors."""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from _observe import Observer, describe_exception

from asgiref.sync import async_to_sync, iscoroutinefunction, markcoroutinefunction, sync_to_async


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
        obs("wrap then call", _outcome(lambda: async_to_sync(plain)()))


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


# --- helpers of the scenarios below ---------------------------------------------------------

# The wrappers, for calls that misuse them on purpose.
any_s2a: Any = sync_to_async
any_a2s: Any = async_to_sync


def _outcome(fn: Callable[[], Any]) -> dict[str, Any]:
    """What calling `fn` did: the value returned (objects by their class) or the exception."""
    try:
        result = fn()
    except Exception as error:
        return {"raised": describe_exception(error)}
    return {"returned": _shown(result)}


async def _aoutcome(awaitable: Any) -> dict[str, Any]:
    try:
        result = await awaitable
    except Exception as error:
        return {"raised": describe_exception(error)}
    return {"returned": _shown(result)}


async def _call_then_await(fn: Any) -> Any:
    return await fn()


def _shown(value: Any) -> Any:
    """Plain data as is; anything else as its class (its repr would carry an address)."""
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    if isinstance(value, (tuple, list)):
        return type(value)(_shown(item) for item in value)
    if inspect.iscoroutine(value):
        value.close()
        return "<coroutine>"
    return "<" + type(value).__module__ + "." + type(value).__qualname__ + ">"


def _attribute(obj: Any, name: str) -> Any:
    try:
        return {"value": _shown(getattr(obj, name))}
    except Exception as error:
        return {"raised": describe_exception(error)}


# --- attributes -----------------------------------------------------------------------------


def scenario_sync_to_async_attributes_in_full(obs: Observer) -> None:
    def view(request: int) -> int:
        return request

    view.csrf_exempt = True  # type: ignore[attr-defined]
    wrapper: Any = sync_to_async(view)
    obs("class", type(wrapper).__name__)
    obs("vars keys", sorted(vars(wrapper)))
    obs("__name__", wrapper.__name__)
    obs("__qualname__", wrapper.__qualname__)
    obs("__module__", wrapper.__module__)
    obs("__doc__ of undocumented", wrapper.__doc__)
    obs("__annotations__", sorted(getattr(wrapper, "__annotations__", {})))
    obs("__wrapped__ is view", getattr(wrapper, "__wrapped__", None) is view)
    obs("func is view", getattr(wrapper, "func", None) is view)
    obs("function attribute copied", getattr(wrapper, "csrf_exempt", "missing"))
    for name in (
        "thread_sensitive",
        "_thread_sensitive",
        "executor",
        "_executor",
        "context",
        "__self__",
        "__func__",
        "awaitable",
        "force_new_loop",
    ):
        obs(f"attribute {name}", _attribute(wrapper, name))
    with ThreadPoolExecutor(1) as executor:
        insensitive: Any = sync_to_async(view, thread_sensitive=False, executor=executor)
        obs("insensitive vars keys", sorted(vars(insensitive)))
        for name in ("thread_sensitive", "_thread_sensitive"):
            obs(f"insensitive {name}", _attribute(insensitive, name))
        for name in ("executor", "_executor"):
            obs(f"insensitive {name} is executor", getattr(insensitive, name, None) is executor)


def scenario_async_to_sync_attributes_in_full(obs: Observer) -> None:
    async def handler(message: int) -> int:
        """Handles."""
        return message

    handler.channel_layer_alias = "default"  # type: ignore[attr-defined]
    wrapper: Any = async_to_sync(handler)
    obs("class", type(wrapper).__name__)
    obs("vars keys", sorted(vars(wrapper)))
    for name in (
        "__name__",
        "__qualname__",
        "__module__",
        "__wrapped__",
        "__self__",
        "awaitable",
        "force_new_loop",
        "func",
        "context",
        "thread_sensitive",
        "channel_layer_alias",
    ):
        obs(f"attribute {name}", _attribute(wrapper, name))
    obs("__doc__ is the function's", wrapper.__doc__ == handler.__doc__)
    obs("__doc__ is the class's", wrapper.__doc__ == type(wrapper).__doc__)
    obs("awaitable is handler", getattr(wrapper, "awaitable", None) is handler)
    obs("callable", callable(wrapper))
    obs("call", wrapper(7))


def scenario_wrapper_signatures(obs: Observer) -> None:
    def plain(a: int, /, b: int, *args: int, c: int = 3, **kwargs: int) -> int:
        return a

    async def aplain(a: int, b: int = 2, *, c: int) -> int:
        return a

    class Thing:
        def method(self, x: int) -> int:
            return x

        async def amethod(self, x: int) -> int:
            return x

    class Callable_:
        def __call__(self, y: int) -> int:
            return y

    thing = Thing()
    cases: list[tuple[str, Any]] = [
        ("s2a function", lambda: sync_to_async(plain)),
        ("s2a bound method", lambda: sync_to_async(thing.method)),
        ("s2a partial", lambda: sync_to_async(functools.partial(plain, 1))),
        ("s2a lambda", lambda: sync_to_async(lambda q, r=1: q)),
        ("s2a callable object", lambda: sync_to_async(Callable_())),
        ("a2s function", lambda: async_to_sync(aplain)),
        ("a2s bound method", lambda: async_to_sync(thing.amethod)),
        ("a2s partial", lambda: async_to_sync(functools.partial(aplain, 1))),
    ]
    for key, make in cases:
        wrapper = make()

        def signature(w: Any = wrapper) -> str:
            return str(inspect.signature(w))

        obs(key, _outcome(signature))


def scenario_constructor_parameters(obs: Observer) -> None:
    from asgiref.sync import (
        AsyncSingleThreadContext,
        AsyncToSync,
        SyncToAsync,
        ThreadSensitiveContext,
    )

    for name, target in (
        ("sync_to_async", sync_to_async),
        ("async_to_sync", async_to_sync),
        ("SyncToAsync", SyncToAsync),
        ("AsyncToSync", AsyncToSync),
        ("ThreadSensitiveContext", ThreadSensitiveContext),
        ("AsyncSingleThreadContext", AsyncSingleThreadContext),
    ):
        parameters = inspect.signature(target).parameters.values()
        obs(
            name,
            [
                [
                    p.name,
                    p.kind.name,
                    "no default" if p.default is inspect.Parameter.empty else _shown(p.default),
                ]
                for p in parameters
            ],
        )


# --- descriptors ----------------------------------------------------------------------------


def scenario_wrappers_as_class_attributes(obs: Observer) -> None:
    class Model:
        def __init__(self, name: str) -> None:
            self.name = name

        def get(self, suffix: str) -> str:
            return self.name + suffix

        async def aget(self, suffix: str) -> str:
            return self.name + suffix

        asave: Any = sync_to_async(get)
        save: Any = async_to_sync(aget)

    model = Model("m")
    obs("instance s2a attribute", _shown(model.asave))
    obs("instance s2a attribute __name__", _attribute(model.asave, "__name__"))
    obs("instance s2a is coroutine function", iscoroutinefunction(model.asave))
    obs("class s2a attribute", _shown(Model.asave))
    obs("instance a2s attribute", _shown(model.save))
    obs("instance a2s attribute __name__", _attribute(model.save, "__name__"))
    obs("class a2s attribute", _shown(Model.save))
    obs("instance a2s call", _outcome(lambda: model.save("?")))
    obs("class a2s call with instance", _outcome(lambda: Model.save(model, "?")))

    async def main() -> None:
        obs("instance s2a call", await _aoutcome(model.asave("!")))
        obs("class s2a call with instance", await _aoutcome(Model.asave(model, "!")))
        obs("vars of instance untouched", sorted(vars(model)))

    asyncio.run(main())


def scenario_staticmethod_and_classmethod(obs: Observer) -> None:
    def double(x: int) -> int:
        return 2 * x

    async def adouble(x: int) -> int:
        return 2 * x

    any_double: Any = double

    class Holder:
        factor = 3

        @staticmethod
        @sync_to_async
        def s2a_static(x: int) -> int:
            return x + 1

        @staticmethod
        @async_to_sync
        async def a2s_static(x: int) -> int:
            return x + 1

        @classmethod
        @sync_to_async
        def s2a_class(cls, x: int) -> int:
            return cls.factor * x

        @classmethod
        @async_to_sync
        async def a2s_class(cls, x: int) -> int:
            return cls.factor * x

    holder: Any = Holder()
    klass: Any = Holder
    obs("a2s static on instance", _outcome(lambda: holder.a2s_static(1)))
    obs("a2s static on class", _outcome(lambda: klass.a2s_static(1)))
    obs("a2s classmethod on instance", _outcome(lambda: holder.a2s_class(2)))
    obs("a2s classmethod on class", _outcome(lambda: klass.a2s_class(2)))
    obs("wrap staticmethod object", _outcome(lambda: sync_to_async(staticmethod(double))))
    obs("wrap classmethod object", _outcome(lambda: any_s2a(classmethod(any_double))))
    with obs.warnings("a2s of staticmethod object warnings"):
        a2s_of_static: Any = _outcome(lambda: async_to_sync(staticmethod(adouble)))
    obs("a2s of staticmethod object", a2s_of_static)

    async def main() -> None:
        obs("s2a static on instance", await _aoutcome(holder.s2a_static(1)))
        obs("s2a static on class", await _aoutcome(klass.s2a_static(1)))
        obs("s2a classmethod on instance", await _aoutcome(holder.s2a_class(2)))
        obs("s2a classmethod on class", await _aoutcome(klass.s2a_class(2)))
        wrapped: Any = sync_to_async(staticmethod(double))
        obs("call wrapped staticmethod object", await _aoutcome(wrapped(4)))

    asyncio.run(main())


# --- decorator forms and construction ---------------------------------------------------------


def scenario_decorator_forms(obs: Observer) -> None:
    def work() -> str:
        return "main" if threading.current_thread() is threading.main_thread() else "other"

    async def awork() -> str:
        return "async"

    factory: Any = sync_to_async(None)
    obs("sync_to_async(None)", _shown(factory))
    obs("sync_to_async(None) callable", callable(factory))
    obs("sync_to_async() no arguments", _outcome(lambda: any_s2a()))
    obs("sync_to_async(None) applied", _shown(factory(work)))
    insensitive: Any = sync_to_async(thread_sensitive=False)(work)
    obs("thread_sensitive=False applied", _shown(insensitive))
    obs("positional thread_sensitive", _outcome(lambda: sync_to_async(work, False)))  # type: ignore[call-overload]
    a2s_factory: Any = async_to_sync(None)
    obs("async_to_sync(None)", _shown(a2s_factory))
    obs("async_to_sync() no arguments", _outcome(lambda: any_a2s()))
    forced: Any = async_to_sync(force_new_loop=True)(awork)
    obs("force_new_loop applied", _shown(forced))
    obs("force_new_loop attribute", _attribute(forced, "force_new_loop"))
    obs("force_new_loop call", forced())
    obs("positional force_new_loop", _outcome(lambda: async_to_sync(awork, True)))  # type: ignore[call-overload]
    obs("a2s(None) applied call", a2s_factory(awork)())

    @sync_to_async
    def bare() -> str:
        return work()

    @sync_to_async()
    def called() -> str:
        return work()

    async def main() -> None:
        obs("bare", await bare())
        obs("called", await called())
        obs("factory", await factory(work)())
        obs("insensitive", await insensitive())

    asyncio.run(main())


def scenario_direct_construction(obs: Observer) -> None:
    from asgiref.sync import AsyncToSync, SyncToAsync

    def work(x: int) -> int:
        return x * 10

    async def awork(x: int) -> int:
        return x * 100

    positional: Any = SyncToAsync(work, False)
    obs("SyncToAsync positional thread_sensitive", _attribute(positional, "_thread_sensitive"))
    obs(
        "SyncToAsync positional thread_sensitive public", _attribute(positional, "thread_sensitive")
    )
    a2s: Any = AsyncToSync(awork, True)
    obs("AsyncToSync positional force_new_loop", _attribute(a2s, "force_new_loop"))
    obs("AsyncToSync call", a2s(2))
    obs("SyncToAsync of coroutine function", _outcome(lambda: SyncToAsync(awork)))
    obs("SyncToAsync missing func", _outcome(lambda: SyncToAsync()))  # type: ignore[call-arg]
    obs("AsyncToSync missing awaitable", _outcome(lambda: AsyncToSync()))  # type: ignore[call-arg]
    obs(
        "SyncToAsync unknown keyword",
        _outcome(lambda: SyncToAsync(work, sensitive=True)),  # type: ignore[call-arg]
    )
    with ThreadPoolExecutor(1) as executor:
        obs(
            "SyncToAsync executor with thread_sensitive default",
            _outcome(lambda: SyncToAsync(work, executor=executor)),
        )

    async def main() -> None:
        obs("SyncToAsync call", await positional(3))
        s2a: Any = SyncToAsync(work)
        obs("SyncToAsync default call", await s2a(4))

    asyncio.run(main())


# --- wrong inputs ---------------------------------------------------------------------------


def _wrong_inputs() -> list[tuple[str, Any]]:
    from unittest import mock

    def generator() -> Any:
        yield 1

    async def async_generator() -> Any:
        yield 1

    async def coroutine_function(x: int = 1) -> int:
        return x

    class AsyncCallable:
        async def __call__(self, x: int = 1) -> int:
            return x

    class SyncCallable:
        def __call__(self, x: int = 1) -> int:
            return x

    class Plain:
        def __init__(self, x: int = 1) -> None:
            self.x = x

    return [
        ("int", 1),
        ("str", "text"),
        ("None", None),
        ("generator function", generator),
        ("async generator function", async_generator),
        ("object with async __call__", AsyncCallable()),
        ("object with sync __call__", SyncCallable()),
        ("partial of coroutine function", functools.partial(coroutine_function, 2)),
        ("class", Plain),
        ("lambda returning a coroutine", lambda x=1: coroutine_function(x)),
        ("AsyncMock", mock.AsyncMock(return_value=5)),
        ("MagicMock", mock.MagicMock(return_value=6)),
        ("sync_to_async wrapper", sync_to_async(lambda x=1: x)),
        ("async_to_sync wrapper", async_to_sync(coroutine_function)),
    ]


def scenario_sync_to_async_wrong_inputs(obs: Observer) -> None:
    from asgiref.sync import SyncToAsync

    cases = _wrong_inputs()
    wrappers: dict[str, Any] = {}
    for name, value in cases:
        with obs.warnings(f"{name}: wrap warnings"):
            try:
                wrappers[name] = sync_to_async(value)
            except Exception as error:
                obs(f"{name}: wrap", {"raised": describe_exception(error)})
            else:
                obs(f"{name}: wrap", {"returned": _shown(wrappers[name])})
    obs("SyncToAsync(None)", _outcome(lambda: SyncToAsync(None)))  # type: ignore[arg-type]

    async def main() -> None:
        for name, _ in cases:
            if name in wrappers:
                with obs.warnings(f"{name}: call warnings"):
                    obs(f"{name}: call", await _aoutcome(_call_then_await(wrappers[name])))

    asyncio.run(main())


def scenario_async_to_sync_wrong_inputs(obs: Observer) -> None:
    for name, value in _wrong_inputs():
        with obs.warnings(f"{name}: wrap warnings"):
            try:
                wrapper: Any = async_to_sync(value)
            except Exception as error:
                obs(f"{name}: wrap", {"raised": describe_exception(error)})
                continue
            obs(f"{name}: wrap", {"returned": _shown(wrapper)})
        with obs.warnings(f"{name}: call warnings"):
            obs(f"{name}: call", _outcome(wrapper))


# --- iscoroutinefunction / markcoroutinefunction ----------------------------------------------


def scenario_iscoroutinefunction_matrix(obs: Observer) -> None:
    from unittest import mock

    def plain() -> None:
        pass

    async def coroutine_function() -> None:
        pass

    class Thing:
        def method(self) -> None:
            pass

        async def amethod(self) -> None:
            pass

        @staticmethod
        async def astatic() -> None:
            pass

        @classmethod
        async def aclass(cls) -> None:
            pass

    class AsyncCallable:
        async def __call__(self) -> None:
            pass

    marked = markcoroutinefunction(lambda: None)
    thing = Thing()
    for name, value in (
        ("async def", coroutine_function),
        ("def", plain),
        ("lambda", lambda: None),
        ("partial of async def", functools.partial(coroutine_function)),
        (
            "partial of partial of async def",
            functools.partial(functools.partial(coroutine_function)),
        ),
        ("partial of def", functools.partial(plain)),
        ("bound async method", thing.amethod),
        ("bound sync method", thing.method),
        ("async staticmethod via class", Thing.astatic),
        ("async classmethod via class", Thing.aclass),
        ("AsyncMock", mock.AsyncMock()),
        ("MagicMock", mock.MagicMock()),
        ("Mock", mock.Mock()),
        ("object with async __call__", AsyncCallable()),
        ("class", Thing),
        ("sync_to_async wrapper", sync_to_async(plain)),
        ("async_to_sync wrapper", async_to_sync(coroutine_function)),
        ("marked lambda", marked),
        ("partial of marked lambda", functools.partial(marked)),
        ("int", 1),
        ("None", None),
        ("coroutine function's coroutine object", "coroutine"),
    ):
        if value == "coroutine":
            coro = coroutine_function()
            obs(name, _outcome(functools.partial(iscoroutinefunction, coro)))
            coro.close()
        else:
            obs(name, _outcome(functools.partial(iscoroutinefunction, value)))


def scenario_markcoroutinefunction_behaviour(obs: Observer) -> None:
    def plain(x: int) -> int:
        return x + 1

    class Thing:
        def method(self) -> int:
            return 1

    class SyncCallable:
        def __call__(self) -> int:
            return 2

    marked = markcoroutinefunction(plain)
    obs("returns the same object", marked is plain)
    obs("still callable synchronously", marked(1))
    obs("vars after marking", sorted(vars(plain)))
    obs("asgiref iscoroutinefunction", iscoroutinefunction(marked))
    obs("asyncio iscoroutinefunction", asyncio.iscoroutinefunction(marked))
    obs("marking twice", _outcome(lambda: markcoroutinefunction(marked) is plain))
    obs("bound method", _outcome(lambda: _shown(markcoroutinefunction(Thing().method))))
    callable_object = SyncCallable()
    obs(
        "object with __call__",
        _outcome(lambda: markcoroutinefunction(callable_object) is callable_object),
    )
    obs("object marked iscoroutinefunction", iscoroutinefunction(callable_object))
    partial = functools.partial(plain, 1)
    obs("partial", _outcome(lambda: markcoroutinefunction(partial) is partial))
    obs("partial marked iscoroutinefunction", iscoroutinefunction(partial))
    obs("builtin", _outcome(lambda: markcoroutinefunction(len)))
    obs("sync_to_async of marked function", _outcome(lambda: sync_to_async(marked)))
    with obs.warnings("async_to_sync of marked function warnings"):
        obs("async_to_sync of marked function", _outcome(lambda: any_a2s(marked)(1)))


# --- force_new_loop and the coroutine a wrapper call returns -----------------------------------


def scenario_force_new_loop_from_sync_thread(obs: Observer) -> None:
    seen: dict[str, Any] = {}

    async def where(tag: str) -> None:
        seen[tag + " thread"] = threading.current_thread()
        seen[tag + " loop"] = asyncio.get_running_loop()
        seen[tag + " s2a thread"] = await sync_to_async(threading.current_thread)()

    def sync_part() -> None:
        seen["sync thread"] = threading.current_thread()
        async_to_sync(where)("plain")
        async_to_sync(where, force_new_loop=True)("forced")
        async_to_sync(where, force_new_loop=True)("forced again")

    async def main() -> None:
        seen["main loop"] = asyncio.get_running_loop()
        await sync_to_async(sync_part)()

    asyncio.run(main())
    for key in (
        "sync thread",
        "plain thread",
        "plain s2a thread",
        "forced thread",
        "forced s2a thread",
        "forced again thread",
        "forced again s2a thread",
    ):
        obs(key, obs.thread_label(seen[key]))
    obs("plain loop is main loop", seen["plain loop"] is seen["main loop"])
    obs("forced loop is main loop", seen["forced loop"] is seen["main loop"])
    obs("forced loops the same", seen["forced loop"] is seen["forced again loop"])
    obs("forced loop closed", seen["forced loop"].is_closed())


def scenario_sync_to_async_call_returns_coroutine(obs: Observer) -> None:
    def work(x: int) -> int:
        return x

    wrapper: Any = sync_to_async(work)
    pending = wrapper(1)
    obs("inspect.iscoroutine", inspect.iscoroutine(pending))
    obs("inspect.isawaitable", inspect.isawaitable(pending))
    obs("type", type(pending).__name__)
    pending.close()
    obs("bad arguments at call", _outcome(lambda: _shown(wrapper(1, 2, 3))))

    async def main() -> None:
        obs("bad arguments awaited", await _aoutcome(wrapper(1, 2, 3)))
        obs("missing argument awaited", await _aoutcome(wrapper()))
        obs("keyword argument", await wrapper(x=4))

    asyncio.run(main())
    a2s: Any = async_to_sync(_takes_one)
    obs("a2s bad arguments", _outcome(lambda: a2s(1, 2)))
    obs("a2s keyword", a2s(x=5))


async def _takes_one(x: int) -> int:
    return x
