"""asgiref.local.Local: values across threads, tasks and the sync/async bridge, deletion, errors,
attribute names, the class itself, and when values are released."""

from __future__ import annotations

import asyncio
import copy
import gc
import inspect
import pickle
import threading
import weakref
from collections.abc import Callable
from typing import Any

from _observe import Observer, without_addresses

from asgiref.local import Local
from asgiref.sync import ThreadSensitiveContext, async_to_sync, sync_to_async

MISSING = "<missing>"


def _get(local: Any, name: str = "v") -> Any:
    return getattr(local, name, MISSING)


def _attempt(fn: Callable[[], Any]) -> Any:
    """The result of `fn()`, or the exception it raised as (class name, address-free message)."""
    try:
        return fn()
    except Exception as error:
        return (type(error).__name__, without_addresses(str(error)))


class _Value:
    """Something a weak reference can point to."""


def scenario_missing_attribute_errors(obs: Observer) -> None:
    for critical in (False, True):
        _missing_attribute_errors(obs, critical)


def _missing_attribute_errors(obs: Observer, critical: bool) -> None:
    local: Any = Local(thread_critical=critical)
    tag = f"critical={critical}"
    obs(f"{tag} read missing", _attempt(lambda: local.missing))
    obs(f"{tag} delete missing", _attempt(lambda: delattr(local, "missing")))
    obs(f"{tag} hasattr missing", hasattr(local, "missing"))
    obs(f"{tag} getattr default", getattr(local, "missing", "default"))
    local.present = 1
    del local.present
    obs(f"{tag} read deleted", _attempt(lambda: local.present))
    obs(f"{tag} delete deleted", _attempt(lambda: delattr(local, "present")))

    async def in_async() -> None:
        obs(f"{tag} async read missing", _attempt(lambda: local.missing))
        obs(f"{tag} async delete missing", _attempt(lambda: delattr(local, "missing")))

    asyncio.run(in_async())


def scenario_missing_attribute_error_attributes(obs: Observer) -> None:
    for critical in (False, True):
        _missing_attribute_error_attributes(obs, critical)


def _missing_attribute_error_attributes(obs: Observer, critical: bool) -> None:
    local: Any = Local(thread_critical=critical)
    tag = f"critical={critical}"
    local.value = 1
    try:
        _ = local.missing
    except AttributeError as error:
        obs(f"{tag} name", error.name)
        obs(f"{tag} obj is the Local", error.obj is local)
        obs(f"{tag} obj class", type(error.obj).__name__)
        obs(f"{tag} message starts with repr(obj)", str(error).startswith(repr(error.obj)))
        # Tracebacks suggest a name from dir(error.obj) ("Did you mean: ...?").
        public = [name for name in dir(error.obj) if not name.startswith("_")]
        obs(f"{tag} names a traceback could suggest", public)
        obs(f"{tag} context", repr(error.__context__))
        obs(f"{tag} cause and suppress_context", (error.__cause__, error.__suppress_context__))
    try:
        del local.missing
    except AttributeError as error:
        obs(f"{tag} delete: name, obj, context", (error.name, error.obj, error.__context__))

    async def in_async() -> None:
        try:
            _ = local.missing
        except AttributeError as error:
            obs(f"{tag} async obj class", type(error.obj).__name__)
            obs(f"{tag} async context", repr(error.__context__))

    asyncio.run(in_async())


def scenario_underscore_names(obs: Observer) -> None:
    for critical in (False, True):
        for name in ("plain", "_private", "__mangled", "__dunder__", "_"):
            _underscore_names(obs, critical, name)


def _underscore_names(obs: Observer, critical: bool, name: str) -> None:
    local: Any = Local(thread_critical=critical)
    tag = f"critical={critical} {name}"
    obs(f"{tag} before", hasattr(local, name))
    setattr(local, name, "value")
    obs(f"{tag} read", getattr(local, name))
    obs(f"{tag} other thread sees", _in_thread(lambda: hasattr(local, name)))
    delattr(local, name)
    obs(f"{tag} after delete", hasattr(local, name))


def scenario_special_attribute_names(obs: Observer) -> None:
    # Names the class itself has. (Not the original's private `_lock` / `_storage`: what those do
    # is not API, and ours keeps its internals out of the way of user attributes instead.)
    for critical in (False, True):
        for name in ("__class__", "__dict__", "__doc__", "__module__", "__init__"):
            _special_attribute_names(obs, critical, name)

    async def in_async() -> None:
        for critical in (False, True):
            _special_attribute_names(obs, critical, "__doc__", "async ")

    asyncio.run(in_async())


def _special_attribute_names(obs: Observer, critical: bool, name: str, where: str = "") -> None:
    local: Any = Local(thread_critical=critical)
    tag = f"{where}critical={critical} {name}"
    real = getattr(local, name)
    set_result = _attempt(lambda: setattr(local, name, "value"))
    obs(f"{tag} set", set_result)
    obs(f"{tag} read is the value", _attempt(lambda: getattr(local, name)) == "value")
    obs(f"{tag} read is the real attribute", getattr(local, name) == real)
    local.other = 1
    obs(f"{tag} other attribute still works", _attempt(lambda: local.other))
    obs(f"{tag} delete", _attempt(lambda: delattr(local, name)))
    obs(f"{tag} delete again", _attempt(lambda: delattr(local, name)))
    obs(f"{tag} read after delete is the value", _get(local, name) == "value")
    obs(f"{tag} still a Local", isinstance(local, Local))


def scenario_class_and_subclassing(obs: Observer) -> None:
    plain, critical = Local(), Local(thread_critical=True)
    obs("type is Local", type(plain) is Local)
    obs("critical type is Local", type(critical) is Local)
    obs("isinstance", isinstance(plain, Local) and isinstance(critical, Local))
    obs("type name", type(plain).__name__)
    obs("critical type name", type(critical).__name__)
    obs("type module", (type(plain).__module__, type(critical).__module__))
    obs("Local module and qualname", (Local.__module__, Local.__qualname__))
    obs("positional thread_critical", _attempt(lambda: type(Local(True)).__name__))
    obs("falsy thread_critical", _attempt(lambda: type(Local(0)).__name__))  # type: ignore[arg-type]
    obs("signature", str(inspect.signature(Local)))
    obs("too many arguments", _attempt(lambda: Local(True, 1)))  # type: ignore[call-arg]
    obs("Local.__final__", getattr(Local, "__final__", None))

    def subclass_statement() -> Any:
        class Settings(Local):  # type: ignore[misc]
            pass

        return Settings

    settings = obs.call("subclass statement", lambda: subclass_statement().__name__)
    if settings is not None:
        obs("subclass instance", _attempt(lambda: subclass_statement()()))
    obs("instantiate type(Local())", _attempt(lambda: type(plain)()))
    obs("copy.copy", _attempt(lambda: copy.copy(plain)))
    obs("pickle raises", _attempt(lambda: pickle.dumps(plain))[0])
    obs("pickle critical raises", _attempt(lambda: pickle.dumps(critical))[0])
    obs("weakref to a Local", _attempt(lambda: weakref.ref(plain)() is plain))
    obs("equality and hash", (plain == plain, plain == critical, isinstance(hash(plain), int)))
    obs("truthiness", bool(plain))


def scenario_repr_and_dir(obs: Observer) -> None:
    for critical in (False, True):
        _repr_and_dir(obs, critical)


def _repr_and_dir(obs: Observer, critical: bool) -> None:
    # What users see of the object itself; not which private names it has (not API).
    local: Any = Local(thread_critical=critical)
    tag = f"critical={critical}"
    obs(f"{tag} repr", without_addresses(repr(local)))
    obs(f"{tag} str", without_addresses(str(local)))
    local.visible = 1
    obs(f"{tag} dir shows set attribute", "visible" in dir(local))
    obs(f"{tag} has __dict__", hasattr(local, "__dict__"))
    obs(f"{tag} __dict__ is a dict", type(local.__dict__).__name__)
    obs(f"{tag} vars() shows set attribute", "visible" in vars(local))
    obs(f"{tag} __doc__ is the class's", local.__doc__ == type(local).__doc__)
    local.__dict__["by_hand"] = "in the instance dict"
    obs(f"{tag} value put in __dict__ by hand is read", _get(local, "by_hand"))


def _in_thread(fn: Callable[[], Any]) -> Any:
    """`fn()` run in a new thread; its result (bounded wait)."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(_attempt(fn)))
    thread.start()
    thread.join(2)
    return result[0] if result else "thread did not finish"


def scenario_threads(obs: Observer) -> None:
    for critical in (False, True):
        _threads(obs, critical)


def _threads(obs: Observer, critical: bool) -> None:
    local: Any = Local(thread_critical=critical)
    tag = f"critical={critical}"
    local.v = "main"
    obs(f"{tag} new thread sees main's value", _in_thread(lambda: _get(local)))

    def set_in_thread() -> Any:
        local.v = "thread"
        return _get(local)

    obs(f"{tag} thread reads its own value", _in_thread(set_in_thread))
    obs(f"{tag} main after thread set", _get(local))
    barrier = threading.Barrier(3, timeout=2)
    seen: dict[int, Any] = {}

    def worker(index: int) -> None:
        local.v = index
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            seen[index] = "barrier broken"
            return
        seen[index] = _get(local)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(3)
    obs(f"{tag} three threads at a barrier", sorted(seen.items()))


def scenario_tasks_and_gather(obs: Observer) -> None:
    for critical in (False, True):
        _tasks_and_gather(obs, critical)


def _tasks_and_gather(obs: Observer, critical: bool) -> None:
    local: Any = Local(thread_critical=critical)
    tag = f"critical={critical}"

    async def main() -> None:
        local.v = "parent"

        async def child(value: str) -> Any:
            seen = _get(local)
            local.v = value
            return seen

        obs(f"{tag} task sees", await asyncio.create_task(child("task")))
        obs(f"{tag} parent after task", _get(local))
        obs(f"{tag} gather sees", await asyncio.gather(child("g1"), child("g2")))
        obs(f"{tag} parent after gather", _get(local))
        obs(f"{tag} awaited coroutine sees", await child("awaited"))
        obs(f"{tag} parent after awaited coroutine", _get(local))

        async def reader() -> Any:
            await asyncio.sleep(0)
            return _get(local)

        task = asyncio.create_task(reader())
        local.v = "changed after create_task"
        obs(f"{tag} task created before change sees", await task)

    asyncio.run(main())


def scenario_sync_to_async_bridge(obs: Observer) -> None:
    for critical in (False, True):
        for sensitive in (True, False):
            _sync_to_async_bridge(obs, critical, sensitive)


def _sync_to_async_bridge(obs: Observer, critical: bool, sensitive: bool) -> None:
    local: Any = Local(thread_critical=critical)
    tag = f"critical={critical} thread_sensitive={sensitive}"

    async def main() -> None:
        local.v = "async"

        def sync_part() -> Any:
            seen = _get(local)
            local.v = "set in sync_to_async"
            return seen

        obs(
            f"{tag} sync function sees",
            await sync_to_async(sync_part, thread_sensitive=sensitive)(),
        )
        obs(f"{tag} caller after", _get(local))

    asyncio.run(main())


def scenario_async_to_sync_bridge(obs: Observer) -> None:
    for critical in (False, True):
        _async_to_sync_bridge(obs, critical)


def _async_to_sync_bridge(obs: Observer, critical: bool) -> None:
    local: Any = Local(thread_critical=critical)
    tag = f"critical={critical}"

    def sync_thread() -> None:
        local.v = "sync"

        async def coroutine() -> Any:
            seen = _get(local)
            local.v = "set in async_to_sync"
            return seen

        obs(f"{tag} coroutine sees", async_to_sync(coroutine)())
        obs(f"{tag} sync after", _get(local))

    thread = threading.Thread(target=sync_thread)
    thread.start()
    thread.join(3)


def scenario_bridge_round_trip(obs: Observer) -> None:
    for critical in (False, True):
        _bridge_round_trip(obs, critical)


def _bridge_round_trip(obs: Observer, critical: bool) -> None:
    local: Any = Local(thread_critical=critical)
    tag = f"critical={critical}"

    async def outer() -> None:
        local.v = "outer async"

        def middle() -> None:
            obs(f"{tag} sync middle sees", _get(local))
            local.v = "sync middle"

            async def inner() -> None:
                obs(f"{tag} inner async sees", _get(local))
                local.v = "inner async"

            async_to_sync(inner)()
            obs(f"{tag} sync middle after inner", _get(local))

        await sync_to_async(middle)()
        obs(f"{tag} outer after", _get(local))

    asyncio.run(outer())
    obs(f"{tag} main thread after asyncio.run", _get(local))


def scenario_deletion_in_other_contexts(obs: Observer) -> None:
    for critical in (False, True):
        _deletion_in_other_contexts(obs, critical)


def _deletion_in_other_contexts(obs: Observer, critical: bool) -> None:
    local: Any = Local(thread_critical=critical)
    tag = f"critical={critical}"

    async def main() -> None:
        def remove() -> Any:
            try:
                del local.v
                outcome = "deleted"
            except AttributeError:
                outcome = "AttributeError"
            return (outcome, _get(local))

        async def aremove() -> Any:
            return remove()

        local.v = "parent"
        obs(f"{tag} delete in task", await asyncio.create_task(aremove()))
        obs(f"{tag} parent after task delete", _get(local))
        local.v = "parent"
        obs(f"{tag} delete in awaited coroutine", await aremove())
        obs(f"{tag} parent after awaited delete", _get(local))
        local.v = "parent"
        obs(f"{tag} delete in sync_to_async", await sync_to_async(remove)())
        obs(f"{tag} parent after sync_to_async delete", _get(local))
        local.v = "parent"
        obs(
            f"{tag} delete in sync_to_async thread_sensitive=False",
            await sync_to_async(remove, thread_sensitive=False)(),
        )
        obs(f"{tag} parent after non-sensitive delete", _get(local))

    asyncio.run(main())


def scenario_values_released(obs: Observer) -> None:
    for critical in (False, True):
        _values_released(obs, critical)


def _values_released(obs: Observer, critical: bool) -> None:
    tag = f"critical={critical}"
    refs: dict[str, weakref.ref[_Value]] = {}
    local: Any = Local(thread_critical=critical)

    def set_value(key: str) -> None:
        value = _Value()
        refs[key] = weakref.ref(value)
        local.v = value

    thread = threading.Thread(target=set_value, args=("thread",))
    thread.start()
    thread.join(2)
    del thread
    gc.collect()
    obs(f"{tag} thread's value alive after thread ended", refs["thread"]() is not None)

    async def coroutine() -> None:
        set_value("asyncio.run")

    asyncio.run(coroutine())
    gc.collect()
    obs(f"{tag} coroutine's value alive after asyncio.run", refs["asyncio.run"]() is not None)

    set_value("main")
    gc.collect()
    obs(f"{tag} main's value alive while set", refs["main"]() is not None)
    del local.v
    gc.collect()
    obs(f"{tag} main's value alive after del", refs["main"]() is not None)

    other: Any = Local(thread_critical=critical)
    local_ref = weakref.ref(other)
    other.x = 1
    del other
    gc.collect()
    obs(f"{tag} Local itself released", local_ref() is None)


def scenario_value_set_in_sync_to_async_released(obs: Observer) -> None:
    for critical in (False, True):
        for sensitive in (True, False):
            _value_set_in_sync_to_async_released(obs, critical, sensitive)


def _value_set_in_sync_to_async_released(obs: Observer, critical: bool, sensitive: bool) -> None:
    tag = f"critical={critical} thread_sensitive={sensitive}"
    local: Any = Local(thread_critical=critical)
    refs: list[weakref.ref[_Value]] = []

    def set_value() -> None:
        value = _Value()
        refs.append(weakref.ref(value))
        local.v = value

    async def main() -> None:
        await sync_to_async(set_value, thread_sensitive=sensitive)()

    asyncio.run(main())
    gc.collect()
    obs(f"{tag} alive after asyncio.run", refs[0]() is not None)

    async def unrelated() -> None:
        await sync_to_async(lambda: None, thread_sensitive=sensitive)()

    asyncio.run(unrelated())
    gc.collect()
    obs(f"{tag} alive after a later unrelated call", refs[0]() is not None)


def scenario_concurrent_requests_isolation(obs: Observer) -> None:
    for critical in (False, True):
        _concurrent_requests_isolation(obs, critical)


def _concurrent_requests_isolation(obs: Observer, critical: bool) -> None:
    local: Any = Local(thread_critical=critical)
    tag = f"critical={critical}"

    async def request(index: int) -> Any:
        async with ThreadSensitiveContext():
            local.v = index
            await asyncio.sleep(0)

            def view() -> Any:
                seen = _get(local)
                local.v = index * 10
                return seen

            seen_in_view = await sync_to_async(view)()
            await asyncio.sleep(0)
            return (seen_in_view, _get(local))

    async def main() -> None:
        local.v = "server"
        obs(f"{tag} requests", await asyncio.gather(*(request(i) for i in range(5))))
        obs(f"{tag} server after requests", _get(local))

    asyncio.run(main())


def scenario_many_locals(obs: Observer) -> None:
    for critical in (False, True):
        _many_locals(obs, critical)


def _many_locals(obs: Observer, critical: bool) -> None:
    locals_: list[Any] = [Local(thread_critical=critical) for _ in range(200)]
    tag = f"critical={critical}"
    for index, local in enumerate(locals_):
        local.v = index

    async def main() -> None:
        def read_all() -> list[Any]:
            return [_get(local) for local in locals_]

        obs(f"{tag} sync_to_async sees all", await sync_to_async(read_all)() == list(range(200)))
        obs(f"{tag} async sees all", read_all() == list(range(200)))

    asyncio.run(main())
    obs(f"{tag} other thread sees none", _in_thread(lambda: {_get(x) for x in locals_}))
