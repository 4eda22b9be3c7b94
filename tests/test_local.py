"""Tests for asgiref.local: where a `Local`'s values are visible, when they are released, and what
users see of the object itself (its class, its errors, names its class has), as in asgiref 3.13.

Concurrency is arranged with events and barriers, never with sleeps or elapsed times; a deadlock
fails by the per-test timeout (pyproject sets one) instead of hanging the suite.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import gc
import inspect
import pickle
import re
import sys
import threading
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest
from helpers import run_in_thread

from asgiref.local import Local
from asgiref.sync import async_to_sync, sync_to_async

_T = TypeVar("_T")

# A missing attribute's error names the storage it was looked up in, as asgiref 3.13's does: the
# Local's map of context variables, or (thread-critical, sync code) its `threading.local`.
MISSING_X = r"^<asgiref\.local\._CVar object at 0x[0-9a-f]+> object has no attribute 'x'$"
MISSING_X_THREAD_LOCAL = r"^'_thread\._local' object has no attribute 'x'$"


def _delete_error_of_a_thread_local(name: str = "x") -> AttributeError:
    """What this Python's own `threading.local` raises for `del` of a missing attribute (its
    message, name and object changed in 3.11 and 3.13)."""
    plain = threading.local()
    try:
        delattr(plain, name)
    except AttributeError as error:
        return error
    raise AssertionError("deleting a missing attribute of a threading.local did not raise")


def _thread_local_delete_error(name: str) -> str:
    """The message of `_delete_error_of_a_thread_local`, as a pattern matching it whole."""
    return f"^{re.escape(str(_delete_error_of_a_thread_local(name)))}$"


MISSING_X_DELETE = _thread_local_delete_error("x")


class Value:
    """A weakly referenceable value, so tests can see when a `Local` lets go of it."""

    def __init__(self, label: str = "") -> None:
        self.label = label


def seen(local: Local, name: str = "x") -> Any:
    """The value of `local.<name>`, or None when it is not visible."""
    return getattr(local, name, None)


@contextmanager
def gc_disabled() -> Iterator[None]:
    """Let only reference counting free objects, so a reference cycle would keep them alive."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# --- the attribute protocol -----------------------------------------------------------------------


@pytest.mark.parametrize("thread_critical", [False, True])
def test_set_get_and_delete(thread_critical: bool) -> None:
    local = Local(thread_critical=thread_critical)
    local.x = 1
    assert local.x == 1
    local.x = 2
    assert local.x == 2
    local.y = "other"
    assert (local.x, local.y) == (2, "other")
    del local.x
    assert not hasattr(local, "x")
    assert local.y == "other"
    local.x = 3
    assert local.x == 3


@pytest.mark.parametrize("thread_critical", [False, True])
def test_missing_attribute_raises_attribute_error(thread_critical: bool) -> None:
    local = Local(thread_critical=thread_critical)
    missing_x = MISSING_X_THREAD_LOCAL if thread_critical else MISSING_X
    with pytest.raises(AttributeError, match=missing_x):
        local.x  # noqa: B018
    # A thread-local's failed delete says what Python's own `threading.local` says (before 3.11,
    # only the name).
    with pytest.raises(AttributeError, match=MISSING_X_DELETE if thread_critical else missing_x):
        del local.x
    assert not hasattr(local, "x")
    assert getattr(local, "x", "default") == "default"
    local.x = None
    assert hasattr(local, "x")
    assert getattr(local, "x", "default") is None
    del local.x
    with pytest.raises(AttributeError, match=MISSING_X_DELETE if thread_critical else missing_x):
        del local.x


@pytest.mark.parametrize("thread_critical", [False, True])
@pytest.mark.asyncio
async def test_set_get_and_delete_in_async_code(thread_critical: bool) -> None:
    local = Local(thread_critical=thread_critical)
    with pytest.raises(AttributeError, match=MISSING_X):
        local.x  # noqa: B018
    local.x = 1
    assert local.x == 1
    assert getattr(local, "y", "default") == "default"
    del local.x
    assert not hasattr(local, "x")
    with pytest.raises(AttributeError, match=MISSING_X):
        del local.x


def test_locals_are_independent() -> None:
    first, second = Local(), Local()
    first.x = 1
    assert not hasattr(second, "x")
    second.x = 2
    assert (first.x, second.x) == (1, 2)


# --- async code: values follow the context --------------------------------------------------------


@pytest.mark.asyncio
async def test_value_is_visible_to_awaited_code_and_spawned_tasks() -> None:
    local = Local()
    local.x = "parent"

    async def read() -> Any:
        return seen(local)

    assert await read() == "parent"
    assert await asyncio.create_task(read()) == "parent"


@pytest.mark.asyncio
async def test_value_set_by_awaited_coroutine_is_visible_to_the_awaiter() -> None:
    local = Local()

    async def write() -> None:
        local.x = "awaited"

    await write()
    assert local.x == "awaited"


@pytest.mark.asyncio
async def test_value_set_in_child_task_does_not_leak_to_parent() -> None:
    local = Local()
    local.x = "parent"

    async def child() -> Any:
        local.x = "child"
        local.y = "child only"
        return seen(local), seen(local, "y")

    assert await asyncio.create_task(child()) == ("child", "child only")
    assert local.x == "parent"
    assert not hasattr(local, "y")


@pytest.mark.asyncio
async def test_sibling_tasks_are_isolated() -> None:
    local = Local()
    first_set, second_set = asyncio.Event(), asyncio.Event()

    async def first() -> Any:
        local.x = "first"
        first_set.set()
        await second_set.wait()
        return seen(local)

    async def second() -> Any:
        await first_set.wait()
        before = seen(local)
        local.x = "second"
        second_set.set()
        return before, seen(local)

    results = await asyncio.gather(first(), second())
    assert tuple(results) == ("first", (None, "second"))
    assert not hasattr(local, "x")


@pytest.mark.asyncio
async def test_delete_in_child_task_does_not_affect_parent() -> None:
    local = Local()
    local.x = "parent"

    async def child() -> bool:
        del local.x
        return hasattr(local, "x")

    assert await asyncio.create_task(child()) is False
    assert local.x == "parent"


@pytest.mark.asyncio
async def test_delete_in_parent_does_not_affect_running_child_task() -> None:
    local = Local()
    local.x = "parent"
    deleted = asyncio.Event()

    async def child() -> Any:
        await deleted.wait()
        return seen(local)

    task = asyncio.create_task(child())
    del local.x
    deleted.set()
    assert await task == "parent"
    assert not hasattr(local, "x")


# --- across the sync/async bridge -----------------------------------------------------------------


@pytest.mark.parametrize("thread_sensitive", [True, False])
@pytest.mark.asyncio
async def test_value_crosses_sync_to_async_both_ways(thread_sensitive: bool) -> None:
    local = Local()
    local.x = "from async"

    def in_thread() -> tuple[Any, bool]:
        before = seen(local)
        local.y = "from sync"
        return before, threading.current_thread() is threading.main_thread()

    before, on_main_thread = await sync_to_async(in_thread, thread_sensitive=thread_sensitive)()
    assert not on_main_thread
    assert before == "from async"
    assert local.y == "from sync"
    assert local.x == "from async"


@pytest.mark.asyncio
async def test_delete_in_sync_to_async_is_visible_to_the_caller() -> None:
    local = Local()
    local.x = "from async"

    def delete() -> None:
        del local.x

    await sync_to_async(delete)()
    assert not hasattr(local, "x")


@pytest.mark.parametrize("in_new_thread", [False, True])
def test_value_crosses_async_to_sync_both_ways(in_new_thread: bool) -> None:
    local = Local()

    async def in_loop() -> Any:
        before = seen(local)
        local.y = "from async"
        return before

    def scenario() -> tuple[Any, Any, Any]:
        local.x = "from sync"
        before = async_to_sync(in_loop)()
        return before, seen(local), seen(local, "y")

    if in_new_thread:
        result = run_in_thread(scenario)
        assert not hasattr(local, "x")
    else:
        result = scenario()
    assert result == ("from sync", "from sync", "from async")


@pytest.mark.parametrize("thread_sensitive", [True, False])
def test_value_crosses_nested_hops_from_sync_code(thread_sensitive: bool) -> None:
    local = Local()
    local.a = "outer sync"

    async def middle() -> Any:
        local.b = "async"
        seen_inner = await sync_to_async(inner, thread_sensitive=thread_sensitive)()
        return seen_inner, seen(local, "c")

    def inner() -> Any:
        local.c = "inner sync"
        return seen(local, "a"), seen(local, "b")

    (inner_saw, middle_saw) = async_to_sync(middle)()
    assert inner_saw == ("outer sync", "async")
    assert middle_saw == "inner sync"
    assert (local.a, local.b, local.c) == ("outer sync", "async", "inner sync")


@pytest.mark.asyncio
async def test_value_crosses_nested_async_sync_async_sync() -> None:
    local = Local()
    local.a = 1
    observed: dict[str, tuple[Any, ...]] = {}

    def sync_one() -> None:
        observed["sync one"] = (seen(local, "a"),)
        local.b = 2
        async_to_sync(async_two)()
        observed["sync one after"] = (seen(local, "c"), seen(local, "d"))

    async def async_two() -> None:
        observed["async two"] = (seen(local, "a"), seen(local, "b"))
        local.c = 3
        await sync_to_async(sync_three)()
        observed["async two after"] = (seen(local, "d"),)

    def sync_three() -> None:
        observed["sync three"] = (seen(local, "a"), seen(local, "b"), seen(local, "c"))
        local.d = 4

    await sync_to_async(sync_one)()
    assert observed == {
        "sync one": (1,),
        "async two": (1, 2),
        "sync three": (1, 2, 3),
        "async two after": (4,),
        "sync one after": (3, 4),
    }
    assert (local.a, local.b, local.c, local.d) == (1, 2, 3, 4)


# --- plain sync threads ---------------------------------------------------------------------------


def test_value_is_not_visible_in_a_new_thread() -> None:
    local = Local()
    local.x = "main"
    assert run_in_thread(lambda: seen(local)) is None
    assert local.x == "main"


def test_value_is_not_visible_in_a_thread_that_inherits_the_context() -> None:
    local = Local()
    local.x = "main"
    local.y = "main"
    local.w = "main"
    del local.w  # a delete stores the remaining attributes anew; they stay private all the same

    def in_thread() -> tuple[Any, Any, Any]:
        before = seen(local)
        with pytest.raises(AttributeError, match=MISSING_X):
            del local.x
        local.z = "thread"
        after = seen(local), seen(local, "y")
        return before, *after

    # As on free-threaded Python 3.14, where new threads start with a copy of the parent's context.
    assert run_in_thread(in_thread, inherit_context=True) == (None, None, None)
    assert run_in_thread(lambda: seen(local), inherit_context=True) is None
    assert (local.x, local.y, seen(local, "z")) == ("main", "main", None)


@pytest.mark.parametrize("thread_sensitive", [True, False])
@pytest.mark.parametrize("in_new_thread", [False, True])
def test_sync_code_behind_the_bridge_sees_values_of_plain_sync_code(
    thread_sensitive: bool, in_new_thread: bool
) -> None:
    local = Local()

    async def middle(caller: threading.Thread) -> tuple[Any, bool]:
        def read() -> tuple[Any, bool]:
            return seen(local), threading.current_thread() is caller

        return await sync_to_async(read, thread_sensitive=thread_sensitive)()

    def scenario() -> tuple[Any, bool]:
        local.x = "plain sync"
        return async_to_sync(middle)(threading.current_thread())

    # Inheriting the context must not matter: the bridge, not the thread, carries the value.
    result = run_in_thread(scenario, inherit_context=True) if in_new_thread else scenario()
    # Thread-sensitive calls come back to the calling thread; the others run elsewhere, and both
    # see the value.
    assert result == ("plain sync", thread_sensitive)


def test_thread_does_not_see_values_of_another_thread() -> None:
    local = Local()
    set_in_first, read_in_second = threading.Event(), threading.Event()
    results: dict[str, Any] = {}

    def first() -> None:
        local.x = "first"
        set_in_first.set()
        read_in_second.wait(30)
        results["first"] = seen(local)

    def second() -> None:
        set_in_first.wait(30)
        results["second"] = seen(local)
        local.x = "second"
        read_in_second.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == {"first": "first", "second": None}
    assert not hasattr(local, "x")


def test_sync_code_run_by_the_bridge_in_another_thread_sees_values() -> None:
    local = Local()

    async def main() -> tuple[Any, bool]:
        local.x = "async"

        def read() -> tuple[Any, bool]:
            return seen(local), threading.current_thread() is threading.main_thread()

        return await sync_to_async(read, thread_sensitive=False)()

    def scenario() -> tuple[Any, bool]:
        return async_to_sync(main)()

    assert run_in_thread(scenario, inherit_context=True) == ("async", False)


# --- thread_critical=True -------------------------------------------------------------------------


def test_thread_critical_is_shared_by_contexts_of_one_thread() -> None:
    local = Local(thread_critical=True)

    def write() -> None:
        local.x = "set in a context"

    contextvars.Context().run(write)
    assert local.x == "set in a context"
    assert contextvars.copy_context().run(seen, local) == "set in a context"
    assert contextvars.Context().run(seen, local) == "set in a context"

    def delete() -> None:
        del local.x

    contextvars.copy_context().run(delete)
    assert not hasattr(local, "x")


@pytest.mark.parametrize("inherit_context", [False, True])
def test_thread_critical_is_not_visible_in_other_threads(inherit_context: bool) -> None:
    local = Local(thread_critical=True)
    local.x = "main"

    def in_thread() -> tuple[Any, Any]:
        before = seen(local)
        local.x = "thread"
        return before, seen(local)

    assert run_in_thread(in_thread, inherit_context=inherit_context) == (None, "thread")
    assert local.x == "main"


@pytest.mark.parametrize("thread_sensitive", [True, False])
@pytest.mark.asyncio
async def test_thread_critical_does_not_cross_sync_to_async(thread_sensitive: bool) -> None:
    local = Local(thread_critical=True)
    local.x = "async caller"

    def in_worker() -> tuple[Any, Any]:
        before = seen(local)
        local.x = "worker"
        local.y = "worker"
        return before, seen(local)

    worker = sync_to_async(in_worker, thread_sensitive=thread_sensitive)
    assert await worker() == (None, "worker")
    assert local.x == "async caller"
    assert not hasattr(local, "y")


def test_thread_critical_does_not_cross_async_to_sync() -> None:
    local = Local(thread_critical=True)

    async def in_loop() -> Any:
        before = seen(local)
        local.x = "coroutine"
        local.y = "coroutine"
        return before

    def scenario() -> tuple[Any, Any, Any]:
        local.x = "sync thread"
        before = async_to_sync(in_loop)()
        return before, seen(local), seen(local, "y")

    assert run_in_thread(scenario) == (None, "sync thread", None)


def test_thread_critical_is_seen_again_on_the_same_thread_through_the_bridge() -> None:
    local = Local(thread_critical=True)
    local.x = "main thread"

    async def middle() -> tuple[Any, Any, bool]:
        in_loop = seen(local)

        def back_on_the_sync_thread() -> tuple[Any, bool]:
            return seen(local), threading.current_thread() is threading.main_thread()

        return (in_loop, *await sync_to_async(back_on_the_sync_thread)())

    # The loop runs elsewhere and must not see the value; the thread-sensitive call comes back to
    # this thread, where the value is (it is per thread, like threading.local).
    assert async_to_sync(middle)() == (None, "main thread", True)


@pytest.mark.asyncio
async def test_thread_critical_is_not_visible_to_async_code_on_another_thread() -> None:
    local = Local(thread_critical=True)
    local.x = "main loop"

    async def read() -> Any:
        with pytest.raises(AttributeError, match=MISSING_X):
            del local.x
        return seen(local)

    def other_loop() -> Any:
        return asyncio.run(read())

    # The other thread's loop runs in a copy of this context, and still must not see the value.
    result = await sync_to_async(
        lambda: run_in_thread(other_loop, inherit_context=True), thread_sensitive=False
    )()
    assert result is None
    assert local.x == "main loop"


@pytest.mark.asyncio
async def test_thread_critical_in_async_code_is_per_context() -> None:
    local = Local(thread_critical=True)
    local.x = "parent"

    async def child() -> tuple[Any, Any]:
        before = seen(local)
        local.x = "child"
        local.y = "child"
        return before, seen(local)

    assert await asyncio.create_task(child()) == ("parent", "child")
    assert local.x == "parent"
    assert not hasattr(local, "y")

    async def deleting_child() -> bool:
        del local.x
        return hasattr(local, "x")

    assert await asyncio.create_task(deleting_child()) is False
    assert local.x == "parent"


@pytest.mark.asyncio
async def test_thread_critical_sibling_tasks_are_isolated() -> None:
    local = Local(thread_critical=True)
    first_set = asyncio.Event()

    async def first() -> Any:
        local.x = "first"
        first_set.set()
        await asyncio.sleep(0)
        return seen(local)

    async def second() -> Any:
        await first_set.wait()
        return seen(local)

    assert tuple(await asyncio.gather(first(), second())) == ("first", None)


# --- releasing values -----------------------------------------------------------------------------


def _store_value(local: Local) -> weakref.ref[Value]:
    value = Value()
    local.x = value
    return weakref.ref(value)


@pytest.mark.parametrize("thread_critical", [False, True])
def test_value_set_in_a_context_is_released_with_the_context(thread_critical: bool) -> None:
    local = Local(thread_critical=thread_critical)
    if thread_critical:
        # In sync code a thread-critical value belongs to the thread, so use async code.
        async def store() -> weakref.ref[Value]:
            return _store_value(local)

        context = contextvars.copy_context()
        ref = context.run(async_to_sync(store))
        del context
    else:
        context = contextvars.copy_context()
        ref = context.run(_store_value, local)
        assert ref() is not None
        del context
    gc.collect()
    assert ref() is None


@pytest.mark.asyncio
async def test_value_set_in_a_task_is_released_with_the_task() -> None:
    local = Local()

    async def store() -> weakref.ref[Value]:
        return _store_value(local)

    task = asyncio.create_task(store())
    ref = await task
    assert ref() is not None
    del task
    # The loop's handle that resumed us still refers to the finished task until we yield.
    await asyncio.sleep(0)
    gc.collect()
    assert ref() is None


@pytest.mark.parametrize("thread_critical", [False, True])
def test_value_is_released_with_the_thread_that_set_it(thread_critical: bool) -> None:
    local = Local(thread_critical=thread_critical)
    ref = run_in_thread(lambda: _store_value(local))
    gc.collect()
    assert ref() is None


def test_value_is_released_when_overwritten_or_deleted() -> None:
    local = Local()
    with gc_disabled():
        ref = _store_value(local)
        local.x = "replaced"
        assert ref() is None
        ref = _store_value(local)
        del local.x
        assert ref() is None


@pytest.mark.parametrize("thread_critical", [False, True])
def test_no_reference_cycles_keep_values_alive(thread_critical: bool) -> None:
    with gc_disabled():
        local = Local(thread_critical=thread_critical)
        context = contextvars.copy_context()
        ref = context.run(_store_value, local)
        assert ref() is not None
        del local, context
        assert ref() is None


def test_no_reference_cycles_in_async_code() -> None:
    with gc_disabled():
        local = Local()
        released = threading.Event()

        async def store(local: Local) -> weakref.ref[Value]:
            value = Value()
            local.x = value
            return weakref.ref(value, lambda _: released.set())

        context = contextvars.copy_context()
        ref = context.run(async_to_sync(store), local)
        assert ref() is not None
        del local, context
        # The loop thread that ran the coroutine may drop its last reference to the coroutine's
        # context just after async_to_sync has returned; with the collector off, only reference
        # counting can free the value, so a cycle would keep it alive and this wait fail.
        assert released.wait(5)


def test_local_itself_is_released_by_refcounting() -> None:
    with gc_disabled():
        local = Local()
        local.x = Value()
        ref = weakref.ref(local)
        del local
        assert ref() is None


@pytest.mark.parametrize("thread_critical", [False, True])
def test_new_local_never_sees_values_of_a_dead_one(thread_critical: bool) -> None:
    for i in range(500):
        local = Local(thread_critical=thread_critical)
        assert not hasattr(local, "x"), f"round {i} saw {local.x!r}"
        local.x = i
        del local


@pytest.mark.asyncio
async def test_new_local_never_sees_values_of_a_dead_one_in_async_code() -> None:
    for i in range(500):
        local = Local()
        assert not hasattr(local, "x"), f"round {i} saw {local.x!r}"
        local.x = i
        del local


# --- concurrency ----------------------------------------------------------------------------------


@pytest.mark.parametrize("thread_critical", [False, True])
def test_threads_each_see_their_own_value(thread_critical: bool) -> None:
    local = Local(thread_critical=thread_critical)
    thread_count, rounds = 20, 200
    barrier = threading.Barrier(thread_count)
    wrong: list[tuple[int, int, Any]] = []
    errors: list[BaseException] = []

    def work(number: int) -> None:
        try:
            barrier.wait(30)
            for round_ in range(rounds):
                local.value = (number, round_)
                local.other = number
                if local.value != (number, round_):
                    wrong.append((number, round_, local.value))
                if round_ % 2:
                    del local.other
                    if hasattr(local, "other"):
                        wrong.append((number, round_, "other survived del"))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(thread_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert wrong == []
    assert not hasattr(local, "value")


@pytest.mark.parametrize("thread_critical", [False, True])
@pytest.mark.asyncio
async def test_tasks_each_see_their_own_value(thread_critical: bool) -> None:
    local = Local(thread_critical=thread_critical)
    task_count, rounds = 200, 5
    wrong: list[tuple[int, int, Any]] = []

    async def work(number: int) -> None:
        for round_ in range(rounds):
            local.value = (number, round_)
            await asyncio.sleep(0)
            if local.value != (number, round_):
                wrong.append((number, round_, local.value))

    await asyncio.gather(*(work(n) for n in range(task_count)))
    assert wrong == []
    assert not hasattr(local, "value")


@pytest.mark.asyncio
async def test_concurrent_sync_to_async_calls_each_see_their_own_value() -> None:
    local = Local()
    call_count = 50
    barrier = threading.Barrier(call_count)

    def read(number: int) -> tuple[int, Any]:
        # Every call waits for all others, so they really run at the same time on different
        # threads of the executor.
        barrier.wait(30)
        local.written = number
        return number, (seen(local), seen(local, "written"))

    async def call(number: int) -> tuple[int, Any]:
        local.x = number
        return await sync_to_async(read, thread_sensitive=False, executor=executor)(number)

    with ThreadPoolExecutor(max_workers=call_count) as executor:
        results = await asyncio.gather(*(call(n) for n in range(call_count)))
    assert results == [(n, (n, n)) for n in range(call_count)]
    assert not hasattr(local, "x")


# --- the class, its errors, and special names ---------------------------------------------------


def test_local_returns_an_instance_of_a_private_class_per_mode() -> None:
    plain, critical = Local(), Local(thread_critical=True)
    assert (type(plain).__name__, type(critical).__name__) == (
        "_DefaultLocal",
        "_ThreadCriticalLocal",
    )
    assert isinstance(plain, Local)
    assert isinstance(critical, Local)
    assert type(Local(True)) is type(critical)
    assert type(Local(thread_critical=0)) is type(plain)  # type: ignore[arg-type]
    assert re.fullmatch(r"<asgiref\.local\._DefaultLocal object at 0x[0-9a-f]+>", repr(plain))
    assert re.fullmatch(
        r"<asgiref\.local\._ThreadCriticalLocal object at 0x[0-9a-f]+>", str(critical)
    )
    assert str(inspect.signature(Local)) == "(thread_critical: bool = False) -> 'Local'"


def test_local_cannot_be_subclassed() -> None:
    class Settings(Local):  # type: ignore[misc]  # the class statement itself is allowed
        pass

    with pytest.raises(TypeError, match=r"^asgiref\.local\.Local cannot be subclassed$"):
        Settings()
    # Nor can the private classes be instantiated (copy.copy goes that way).
    with pytest.raises(TypeError, match="cannot be subclassed"):
        type(Local())()
    with pytest.raises(TypeError, match="cannot be subclassed"):
        copy.copy(Local(thread_critical=True))


@pytest.mark.parametrize("thread_critical", [False, True])
def test_a_local_cannot_be_pickled(thread_critical: bool) -> None:
    local = Local(thread_critical=thread_critical)
    with pytest.raises(TypeError, match="cannot pickle"):
        pickle.dumps(local)


@pytest.mark.parametrize("thread_critical", [False, True])
def test_missing_attribute_error_carries_the_storage(thread_critical: bool) -> None:
    local = Local(thread_critical=thread_critical)
    with pytest.raises(AttributeError) as read:
        local.x  # noqa: B018
    with pytest.raises(AttributeError) as delete:
        del local.x
    storage = read.value.obj
    assert read.value.name == "x"
    assert type(storage).__name__ == ("_local" if thread_critical else "_CVar")
    if not thread_critical or sys.version_info >= (3, 11):
        assert str(read.value) == str(delete.value)
    assert str(read.value).startswith(repr(storage) if not thread_critical else "'_thread._local'")
    # As in asgiref 3.13: raised while handling the KeyError of a lookup (not for thread-locals),
    # and a failed delete carries neither name nor object.
    context = read.value.__context__
    if thread_critical:
        assert context is None
    else:
        assert isinstance(context, KeyError)
        assert context.args == ("x",)
    if thread_critical:
        # Whatever Python's own `threading.local` says about a failed delete (3.13 added the
        # name and the object).
        plain = _delete_error_of_a_thread_local()
        expected = (plain.name is not None, plain.obj is not None)
        assert (delete.value.name is not None, delete.value.obj is not None) == expected
        assert delete.value.obj in (None, storage)
    else:
        assert (delete.value.name, delete.value.obj) == (None, None)
    assert delete.value.__context__ is None
    if not thread_critical:
        # Tracebacks suggest names from dir(error.obj); a dict's methods must not be offered.
        assert dir(storage) == []


@pytest.mark.asyncio
async def test_missing_attribute_error_in_async_code_names_the_variables() -> None:
    for local in (Local(), Local(thread_critical=True)):
        with pytest.raises(AttributeError, match=MISSING_X) as read:
            local.x  # noqa: B018
        assert type(read.value.obj).__name__ == "_CVar"


@pytest.mark.parametrize("thread_critical", [False, True])
def test_instances_have_an_empty_dict(thread_critical: bool) -> None:
    local = Local(thread_critical=thread_critical)
    local.x = 1
    assert vars(local) == {}
    assert "x" not in dir(local)
    # Something put into the instance dict by hand is found, as on any object.
    local.__dict__["by_hand"] = "found"
    assert local.by_hand == "found"


@pytest.mark.parametrize("name", ["__class__", "__dict__", "__doc__", "__module__", "__init__"])
def test_names_of_the_class_read_as_the_class_attribute(name: str) -> None:
    local = Local()
    real = getattr(local, name)
    setattr(local, name, "value")
    assert getattr(local, name) == real
    assert isinstance(local, Local)
    delattr(local, name)  # the stored value, which exists
    with pytest.raises(AttributeError, match=r"_CVar object at 0x[0-9a-f]+> object has no attr"):
        delattr(local, name)
    assert getattr(local, name) == real


@pytest.mark.asyncio
async def test_names_of_the_class_read_as_the_class_attribute_in_async_code() -> None:
    local = Local(thread_critical=True)
    local.__doc__ = "value"
    assert local.__doc__ == type(local).__doc__
    del local.__doc__
    with pytest.raises(AttributeError, match="_CVar object"):
        del local.__doc__


def test_names_of_the_class_on_a_thread_critical_local_in_sync_code() -> None:
    # Stored through a `threading.local`, which refuses what it refuses in asgiref 3.13.
    local = Local(thread_critical=True)
    with pytest.raises(TypeError, match=r"^__class__ must be set to a class, not 'str' object$"):
        local.__class__ = "value"  # type: ignore[assignment]
    with pytest.raises(TypeError, match=r"^can't delete __class__ attribute$"):
        del local.__class__
    read_only = r"^'_thread\._local' object attribute '__dict__' is read-only$"
    with pytest.raises(AttributeError, match=read_only):
        local.__dict__ = "value"  # type: ignore[assignment]
    with pytest.raises(AttributeError, match=read_only):
        del local.__dict__
    local.__doc__ = "value"
    assert local.__doc__ == type(local).__doc__
    del local.__doc__
    with pytest.raises(AttributeError, match=_thread_local_delete_error("__doc__")):
        del local.__doc__
    assert type(local).__name__ == "_ThreadCriticalLocal"


@pytest.mark.parametrize("thread_critical", [False, True])
def test_attributes_named_like_internals_are_ordinary_values(thread_critical: bool) -> None:
    local = Local(thread_critical=thread_critical)
    local._var = "var"
    local._vars = {"not": "the storage"}
    local._own_vars = local._thread = local._own_thread = local.shown = "internal-looking"
    local._thread_critical = not thread_critical
    local._thread_storage = "storage"
    local.x = "x"
    assert (local._var, local._thread_critical, local._thread_storage, local.x) == (
        "var",
        not thread_critical,
        "storage",
        "x",
    )
    assert local._vars == {"not": "the storage"}
    assert (local._own_vars, local._thread, local._own_thread) == ("internal-looking",) * 3
    # The Local still works as before: values stay where they belong.
    assert run_in_thread(lambda: seen(local)) is None
    assert run_in_thread(lambda: seen(local, "_var")) != "var"
    assert run_in_thread(lambda: seen(local, "_vars")) != {"not": "the storage"}
    local.x = "changed"
    assert local.x == "changed"
    del local.x
    assert not hasattr(local, "x")
    assert local._var == "var"


@pytest.mark.asyncio
async def test_attributes_named_like_internals_do_not_break_async_code() -> None:
    local = Local(thread_critical=True)
    local._thread_critical = False
    local._var = None
    local._vars = {}
    local.x = "parent"

    async def child() -> Any:
        local.x = "child"
        return seen(local)

    assert await asyncio.create_task(child()) == "child"
    assert local.x == "parent"
    assert local._var is None
    # Still thread-critical: the value does not cross to a worker thread.
    assert await sync_to_async(lambda: seen(local))() is None


def test_thread_inheriting_a_context_sees_nothing_from_its_own_event_loop() -> None:
    # On free-threaded 3.14 every new thread starts with its parent's context; one that runs an
    # event loop (and the bridge from there) must still not see the parent thread's values.
    local = Local()
    local.secret = "parent's"

    async def look() -> tuple[bool, bool]:
        in_async = hasattr(local, "secret")
        in_worker = await sync_to_async(lambda: hasattr(local, "secret"))()
        return in_async, in_worker

    assert run_in_thread(lambda: asyncio.run(look()), inherit_context=True) == (False, False)


def test_values_stored_by_a_flow_follow_it_through_the_bridge_and_back() -> None:
    local = Local()

    def sync_part() -> str:
        local.trail += " > worker"
        return str(async_to_sync(async_part)())

    async def async_part() -> str:
        local.trail += " > loop"
        return str(local.trail)

    def caller() -> tuple[str, str]:
        local.trail = "thread"
        seen = async_to_sync(sync_to_async(sync_part))()
        return seen, local.trail

    assert run_in_thread(caller) == (
        "thread > worker > loop",
        "thread > worker > loop",
    )
