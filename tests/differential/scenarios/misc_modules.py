"""asgiref.timeout, asgiref.compatibility, asgiref.current_thread_executor, asgiref.typing, and
the public names of every module."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import importlib
import inspect
import signal
import threading
import typing
import warnings
from collections.abc import Callable
from typing import Any

from _observe import Observer, differs, without_addresses

from asgiref.compatibility import (
    double_to_single_callable,
    guarantee_single_callable,
    is_double_callable,
)
from asgiref.current_thread_executor import CurrentThreadExecutor
from asgiref.timeout import timeout

WAIT = 2.0


def _quiet_timeout(delay: float | None, **kwargs: Any) -> Any:
    """`timeout(delay)` without its deprecation warning (recorded by its own scenario)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return timeout(delay, **kwargs)


# --- timeout ----------------------------------------------------------------------------------


def scenario_timeout_deprecation_warning(obs: Observer) -> None:
    async def main() -> None:
        with obs.warnings("construct"):
            timeout(1)
        with obs.warnings("construct None"):
            timeout(None)
        with obs.warnings("construct with loop"):
            timeout(1, loop=asyncio.get_running_loop())
        # Which frame each warning is attributed to decides whether the default filters show it.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            timeout(1, loop=asyncio.get_running_loop())
        obs("attributed to this file", [w.filename == __file__ for w in caught])

    asyncio.run(main())


def scenario_timeout_expiry_async_with(obs: Observer) -> None:
    async def main() -> None:
        cm = _quiet_timeout(0.05)
        obs("expired before", cm.expired)
        obs("remaining before enter", cm.remaining)
        try:
            async with cm as entered:
                obs("as target is the timeout", entered is cm)
                remaining = cm.remaining
                obs("remaining inside is a float in (0, 0.05]", 0 < remaining <= 0.05)
                await asyncio.sleep(WAIT)
            obs("raised", None)
        except BaseException as error:
            obs("raised", error)
            obs("exception class", f"{type(error).__module__}.{type(error).__qualname__}")
            obs("is TimeoutError", isinstance(error, TimeoutError))
            obs("is asyncio.TimeoutError", isinstance(error, asyncio.TimeoutError))
            obs("context", type(error.__context__).__name__)
            obs("cause", type(error.__cause__).__name__)
            obs("suppress_context", error.__suppress_context__)
        obs("expired after", cm.expired)
        obs("remaining after", cm.remaining)

    asyncio.run(main())


def scenario_timeout_expiry_sync_with(obs: Observer) -> None:
    async def main() -> None:
        cm = _quiet_timeout(0.05)
        try:
            with cm as entered:
                obs("as target is the timeout", entered is cm)
                await asyncio.sleep(WAIT)
            obs("raised", None)
        except BaseException as error:
            obs("raised", error)
        obs("expired after", cm.expired)
        obs("remaining after", cm.remaining)

    asyncio.run(main())


def scenario_timeout_none_and_in_time(obs: Observer) -> None:
    async def main() -> None:
        never = _quiet_timeout(None)
        async with never:
            await asyncio.sleep(0.01)
        obs("None expired", never.expired)
        obs("None remaining", never.remaining)
        in_time = _quiet_timeout(WAIT)
        async with in_time:
            await asyncio.sleep(0)
        obs("in time expired", in_time.expired)
        obs("in time remaining type", type(in_time.remaining).__name__)
        obs("in time remaining positive", in_time.remaining > 0)
        failing = _quiet_timeout(WAIT)
        try:
            async with failing:
                raise ValueError("body failed")
        except ValueError as error:
            obs("body exception passes through", error)
        obs("body exception expired", failing.expired)

    asyncio.run(main())


def scenario_timeout_zero_and_negative(obs: Observer) -> None:
    async def main() -> None:
        for delay in (0, -1):
            cm = _quiet_timeout(delay)
            entered = False
            try:
                async with cm:
                    entered = True
                    await asyncio.sleep(0.01)
                obs(f"{delay} raised", None)
            except BaseException as error:
                obs(f"{delay} raised", error)
            obs(f"{delay} body entered", entered)
            obs(f"{delay} expired", cm.expired)

    asyncio.run(main())


def scenario_timeout_nested(obs: Observer) -> None:
    async def main() -> None:
        outer = _quiet_timeout(0.05)
        inner = _quiet_timeout(WAIT)
        try:
            async with outer:
                try:
                    async with inner:
                        await asyncio.sleep(WAIT)
                except BaseException as error:
                    obs("outer expires: inner sees", error)
                    raise
        except BaseException as error:
            obs("outer expires: outer raises", error)
        obs("outer expires: flags", (outer.expired, inner.expired))
        outer = _quiet_timeout(WAIT)
        inner = _quiet_timeout(0.05)
        async with outer:
            try:
                async with inner:
                    await asyncio.sleep(WAIT)
            except BaseException as error:
                obs("inner expires: inner raises", error)
        obs("inner expires: flags", (outer.expired, inner.expired))

    asyncio.run(main())


def scenario_timeout_enclosing_task_cancelled(obs: Observer) -> None:
    async def main() -> None:
        cm = _quiet_timeout(WAIT)
        entered = asyncio.Event()

        async def victim() -> None:
            async with cm:
                entered.set()
                await asyncio.sleep(WAIT)

        task = asyncio.ensure_future(victim())
        await asyncio.wait_for(entered.wait(), WAIT)
        task.cancel()
        obs("task outcome", (await asyncio.gather(task, return_exceptions=True))[0])
        obs("expired", cm.expired)

    asyncio.run(main())


def scenario_timeout_reused(obs: Observer) -> None:
    async def main() -> None:
        cm = _quiet_timeout(WAIT)
        async with cm:
            pass
        try:
            async with cm:
                await asyncio.sleep(0)
            obs("second use", "no error")
        except BaseException as error:
            obs("second use", error)
        short = _quiet_timeout(0.05)
        for attempt in ("first", "again"):
            try:
                async with short:
                    await asyncio.sleep(WAIT)
                obs(f"{attempt} expiry", None)
            except BaseException as error:
                obs(f"{attempt} expiry", error)
        async with short:
            obs("entered after expiry: expired", short.expired)
            obs("entered after expiry: remaining positive", (short.remaining or 0) > 0)
        nested = _quiet_timeout(0.05)
        try:
            async with nested:
                async with nested:
                    pass
                # Entering again replaced the first deadline; leaving cancelled the second.
                await asyncio.sleep(0.2)
            obs("nested in itself", "no timeout")
        except BaseException as error:
            obs("nested in itself", error)

    asyncio.run(main())


def scenario_timeout_remaining(obs: Observer) -> None:
    async def main() -> None:
        for delay in (None, 0, -1):
            cm = _quiet_timeout(delay)
            obs(f"{delay}: before", cm.remaining)
            try:
                async with cm:
                    obs(f"{delay}: inside", cm.remaining)
                    await asyncio.sleep(0)  # a zero or negative delay cancels at the next turn
                obs(f"{delay}: raised", None)
            except BaseException as error:
                obs(f"{delay}: raised", error)
            obs(f"{delay}: after", (cm.remaining, cm.expired))
        cm = _quiet_timeout(WAIT)
        obs("before", cm.remaining)
        async with cm:
            pass
        left = cm.remaining
        await asyncio.sleep(0.01)
        obs(
            "after the block, still counting down", cm.remaining is not None and cm.remaining < left
        )
        obs("type", type(left).__name__)

    asyncio.run(main())


def scenario_timeout_without_running_loop(obs: Observer) -> None:
    obs.call("construct outside a loop", lambda: without_addresses(repr(_quiet_timeout(1))))
    loop = asyncio.new_event_loop()
    try:
        cm = _quiet_timeout(1, loop=loop)
        obs("constructed with a loop outside it", type(cm).__name__)
        with obs.raises("sync with outside a loop"), cm:
            pass

        async def elsewhere() -> None:
            with obs.raises("async with in another loop"):
                async with cm:
                    pass

        asyncio.run(elsewhere())
    finally:
        loop.close()

    async def in_callback() -> None:
        running = asyncio.get_running_loop()
        done: asyncio.Future[None] = running.create_future()
        cm = _quiet_timeout(1)

        def callback() -> None:
            with obs.raises("with in a loop callback"), cm:
                pass
            done.set_result(None)

        running.call_soon(callback)
        await asyncio.wait_for(done, WAIT)

    asyncio.run(in_callback())


@differs(
    "TIMEOUT-1",
    original={
        "cancelling after a caught timeout": 1,
        "Ctrl-C after a caught timeout": "CancelledError",
    },
    ours={
        "cancelling after a caught timeout": 0,
        "Ctrl-C after a caught timeout": "KeyboardInterrupt",
    },
)
def scenario_timeout_takes_back_its_cancellation(obs: Observer) -> None:
    async def main() -> None:
        with contextlib.suppress(TimeoutError):
            async with _quiet_timeout(0.01):
                await asyncio.sleep(WAIT)
        task: Any = asyncio.current_task()  # Task.cancelling() is 3.11+, as is this suite
        obs("cancelling after a caught timeout", task.cancelling())
        # The user presses Ctrl-C: asyncio.run's handler (installed in the main thread) cancels
        # this task and turns the cancellation into KeyboardInterrupt only if it is the sole one.
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            signal.raise_signal(signal.SIGINT)
        await asyncio.sleep(WAIT)

    try:
        asyncio.run(main())
        obs("Ctrl-C after a caught timeout", "asyncio.run returned")
    except BaseException as error:
        obs("Ctrl-C after a caught timeout", type(error).__name__)


@differs(
    "TIMEOUT-2",
    original={
        "cancelled with the deadline: the task saw": "TimeoutError",
        "cancelled with the deadline: task": "finished",
        "cancelled after an earlier expiry: the task saw": "TimeoutError",
        "cancelled after an earlier expiry: task": "finished",
    },
    ours={
        "cancelled with the deadline: the task saw": "CancelledError",
        "cancelled with the deadline: task": "cancelled",
        "cancelled after an earlier expiry: the task saw": "CancelledError",
        "cancelled after an earlier expiry: task": "cancelled",
    },
)
def scenario_timeout_keeps_outside_cancellation(obs: Observer) -> None:
    async def victim(cm: Any, key: str) -> str:
        task = asyncio.current_task()
        assert task is not None
        try:
            async with cm:
                # Someone cancels this task; with a zero delay, in the same loop turn as the timer.
                asyncio.get_running_loop().call_soon(task.cancel)
                await asyncio.sleep(WAIT)
        except TimeoutError:
            obs(f"{key}: the task saw", "TimeoutError")
        except asyncio.CancelledError:
            obs(f"{key}: the task saw", "CancelledError")
            raise
        await asyncio.sleep(0.05)
        return "finished"

    async def outcome(cm: Any, key: str) -> None:
        task = asyncio.ensure_future(victim(cm, key))
        result = (await asyncio.gather(task, return_exceptions=True))[0]
        obs(f"{key}: task", "cancelled" if task.cancelled() else result)

    async def main() -> None:
        await outcome(_quiet_timeout(0), "cancelled with the deadline")
        expired_before = _quiet_timeout(0.05)
        with contextlib.suppress(TimeoutError):
            async with expired_before:
                await asyncio.sleep(WAIT)
        obs("expired before", expired_before.expired)
        await outcome(expired_before, "cancelled after an earlier expiry")

    asyncio.run(main())


# --- compatibility ----------------------------------------------------------------------------


async def _asgi3(scope: Any, receive: Any, send: Any) -> None:
    await send({"app": "asgi3", "scope": scope, "received": await receive()})


def _asgi2(scope: Any) -> Any:
    async def inner(receive: Any, send: Any) -> None:
        await send({"app": "asgi2", "scope": scope, "received": await receive()})

    return inner


class _Asgi2Class:
    def __init__(self, scope: Any) -> None:
        self.scope = scope

    async def __call__(self, receive: Any, send: Any) -> None:
        await send({"app": "asgi2 class", "scope": self.scope, "received": await receive()})


class _Asgi3Instance:
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"app": "asgi3 instance", "received": await receive()})


class _Asgi2Instance:
    def __call__(self, scope: Any) -> Any:
        async def inner(receive: Any, send: Any) -> None:
            await send({"app": "asgi2 instance", "received": await receive()})

        return inner


class _MarkedSingle:
    _asgi_single_callable = True

    def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        async def run() -> None:
            await send({"app": "marked single", "received": await receive()})

        return run()


class _MarkedDouble:
    _asgi_double_callable = True

    async def __call__(self, scope: Any, receive: Any = None, send: Any = None) -> None:
        if send is not None:
            await send({"app": "marked double called with three", "received": await receive()})


def _marked_single_function(scope: Any, receive: Any, send: Any) -> Any:
    async def run() -> None:
        await send({"app": "marked single function", "received": await receive()})

    return run()


_marked_single_function._asgi_single_callable = True  # type: ignore[attr-defined]


def _marked_double_function(scope: Any) -> Any:
    return _Asgi2Class(scope)


_marked_double_function._asgi_double_callable = True  # type: ignore[attr-defined]


def _compat_cases() -> dict[str, Any]:
    return {
        "asgi3 coroutine function": _asgi3,
        "asgi2 function": _asgi2,
        "asgi2 class": _Asgi2Class,
        "asgi3 instance": _Asgi3Instance(),
        "asgi2 instance": _Asgi2Instance(),
        "marked single instance": _MarkedSingle(),
        "marked double instance": _MarkedDouble(),
        "marked single function": _marked_single_function,
        "marked double function": _marked_double_function,
        "partial of asgi3": functools.partial(_asgi3),
        "partial of asgi2": functools.partial(_asgi2),
        "lambda returning a coroutine": lambda scope, receive, send: _asgi3(scope, receive, send),
        "bound coroutine method": _Asgi3Instance().__call__,
    }


async def _drive(application: Any) -> Any:
    sent: list[Any] = []

    async def receive() -> Any:
        return {"type": "http.request"}

    async def send(message: Any) -> None:
        sent.append(message)

    try:
        await application({"type": "http"}, receive, send)
    except Exception as error:
        return ("raised", type(error).__name__, without_addresses(str(error)))
    return sent


def scenario_compatibility_is_double_callable(obs: Observer) -> None:
    for name, application in _compat_cases().items():
        obs(name, is_double_callable(application))


def scenario_compatibility_guarantee_single_callable(obs: Observer) -> None:
    for name, application in _compat_cases().items():
        single = guarantee_single_callable(application)
        obs(f"{name}: same object", single is application)
        obs(f"{name}: iscoroutinefunction", inspect.iscoroutinefunction(single))
        obs(f"{name}: name", getattr(single, "__name__", None))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            obs(f"{name}: runs", asyncio.run(_drive(single)))


def scenario_compatibility_double_to_single(obs: Observer) -> None:
    for name in ("asgi2 function", "asgi2 class", "asgi3 coroutine function"):
        application = _compat_cases()[name]
        single = double_to_single_callable(application)
        obs(f"{name}: iscoroutinefunction", inspect.iscoroutinefunction(single))
        obs(f"{name}: name", getattr(single, "__name__", None))
        obs(f"{name}: has __wrapped__", hasattr(single, "__wrapped__"))
        obs(f"{name}: runs", asyncio.run(_drive(single)))
    nothing: Any = None
    obs("not callable: is_double_callable", is_double_callable(nothing))
    obs("not callable: guarantee_single_callable", callable(guarantee_single_callable(nothing)))


def scenario_compatibility_iscoroutinefunction(obs: Observer) -> None:
    import asgiref.compatibility
    import asgiref.sync

    check = asgiref.compatibility.iscoroutinefunction
    obs("same as asgiref.sync's", check is asgiref.sync.iscoroutinefunction)

    def plain(scope: Any) -> None:
        pass

    marked = asgiref.sync.markcoroutinefunction(lambda scope: None)
    cases: dict[str, Any] = {
        "async def": _asgi3,
        "def": plain,
        "marked": marked,
        "class with async __call__": _Asgi3Instance,
        "instance with async __call__": _Asgi3Instance(),
        "bound async method": _Asgi3Instance().__call__,
        "partial of async def": functools.partial(_asgi3),
        "lambda": lambda: None,
        "None": None,
    }
    for name, value in cases.items():
        obs(name, check(value))


# --- current_thread_executor ------------------------------------------------------------------


def _attempt(fn: Callable[[], Any]) -> Any:
    try:
        return ("returned", fn())
    except Exception as error:
        return ("raised", type(error).__name__, without_addresses(str(error)))


def _serve(executor: CurrentThreadExecutor, work: Callable[[], Any]) -> Any:
    """Run `work` in another thread while this thread serves `executor`; `work`'s result."""
    done: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def other() -> None:
        try:
            done.set_result(_attempt(work))
        except BaseException as error:  # pragma: no cover - set_result cannot fail here
            done.set_exception(error)

    thread = threading.Thread(target=other)
    thread.start()
    executor.run_until_future(done)
    thread.join(WAIT)
    return done.result(0)


def scenario_cte_constructor(obs: Observer) -> None:
    obs("parameters", list(inspect.signature(CurrentThreadExecutor).parameters))
    executor_class: Any = CurrentThreadExecutor
    obs("no argument", _attempt(lambda: type(executor_class()).__name__))
    obs("None", _attempt(lambda: type(CurrentThreadExecutor(None)).__name__))
    outer = CurrentThreadExecutor(None)
    obs("old_executor", _attempt(lambda: type(CurrentThreadExecutor(old_executor=outer)).__name__))
    obs("is an Executor", issubclass(CurrentThreadExecutor, concurrent.futures.Executor))


def scenario_cte_submit_from_other_thread(obs: Observer) -> None:
    executor = CurrentThreadExecutor(None)
    obs.thread("serving thread")

    def work() -> Any:
        obs.thread("submitting thread")

        def add(a: int, b: int = 0) -> int:
            obs.thread("work ran on")
            return a + b

        future = executor.submit(add, 1, b=2)
        obs("future type", type(future).__name__)
        obs("result", future.result(WAIT))
        failing = executor.submit(lambda: 1 // 0)
        try:
            failing.result(WAIT)
        except ZeroDivisionError as error:
            obs("failing work raises", error)
        mapped = list(executor.map(lambda x: x * 2, [1, 2, 3], timeout=WAIT))
        return mapped

    obs("map", _serve(executor, work))


def scenario_cte_submit_from_own_thread(obs: Observer) -> None:
    executor = CurrentThreadExecutor(None)
    obs("submit", _attempt(lambda: executor.submit(lambda: 1)))


def scenario_cte_submit_after_quit(obs: Observer) -> None:
    executor = CurrentThreadExecutor(None)
    obs("served", _serve(executor, lambda: executor.submit(lambda: 1).result(WAIT)))
    late: list[Any] = []
    thread = threading.Thread(target=lambda: late.append(_attempt(lambda: executor.submit(int))))
    thread.start()
    thread.join(WAIT)
    obs("submit after quit", late)


def scenario_cte_run_from_other_thread(obs: Observer) -> None:
    executor = CurrentThreadExecutor(None)
    future: concurrent.futures.Future[None] = concurrent.futures.Future()
    outcome: list[Any] = []
    thread = threading.Thread(
        target=lambda: outcome.append(_attempt(lambda: executor.run_until_future(future)))
    )
    thread.start()
    thread.join(WAIT)
    if thread.is_alive():
        future.set_result(None)
        thread.join(WAIT)
        outcome.append("was still running")
    obs("run_until_future from another thread", outcome)


def scenario_cte_shutdown_and_cancel(obs: Observer) -> None:
    executor = CurrentThreadExecutor(None)
    obs("shutdown before use", _attempt(executor.shutdown))
    ran: list[str] = []

    def cancel_one() -> Any:
        future = executor.submit(lambda: ran.append("ran"))
        return future.cancel()

    obs("cancel before it ran", _serve(executor, cancel_one))
    obs("cancelled work ran", ran)
    done: concurrent.futures.Future[int] = concurrent.futures.Future()
    done.set_result(5)
    obs("run_until_future on a done future", _attempt(lambda: executor.run_until_future(done)))
    with CurrentThreadExecutor(None) as entered:
        obs("context manager", type(entered).__name__)


# --- typing and public names ------------------------------------------------------------------

# Everything asgiref 3.13's asgiref.typing offers by name: its TypedDicts, aliases and protocol, and
# the typing helpers it imports (which code does import from there, e.g. `Union`).
TYPING_TYPEDDICTS = (
    "ASGIVersions",
    "HTTPDisconnectEvent",
    "HTTPRequestEvent",
    "HTTPResponseBodyEvent",
    "HTTPResponseDebugEvent",
    "HTTPResponsePathsendEvent",
    "HTTPResponseStartEvent",
    "HTTPResponseTrailersEvent",
    "HTTPScope",
    "HTTPServerPushEvent",
    "LifespanScope",
    "LifespanShutdownCompleteEvent",
    "LifespanShutdownEvent",
    "LifespanShutdownFailedEvent",
    "LifespanStartupCompleteEvent",
    "LifespanStartupEvent",
    "LifespanStartupFailedEvent",
    "WebSocketAcceptEvent",
    "WebSocketCloseEvent",
    "WebSocketConnectEvent",
    "WebSocketDisconnectEvent",
    "WebSocketReceiveEvent",
    "WebSocketResponseBodyEvent",
    "WebSocketResponseStartEvent",
    "WebSocketScope",
    "WebSocketSendEvent",
)
TYPING_ALIASES = (
    "ASGI2Application",
    "ASGI3Application",
    "ASGIApplication",
    "ASGIReceiveCallable",
    "ASGIReceiveEvent",
    "ASGISendCallable",
    "ASGISendEvent",
    "Scope",
    "WWWScope",
)
TYPING_HELPERS = (
    "Any",
    "Awaitable",
    "Callable",
    "Iterable",
    "Literal",
    "NotRequired",
    "Protocol",
    "TypedDict",
    "Union",
)
TYPING_NAMES = (*TYPING_TYPEDDICTS, *TYPING_ALIASES, "ASGI2Protocol", *TYPING_HELPERS)

# The members of asgiref 3.13's unions; ours may add extension events (additions, not recorded).
TYPING_UNION_MEMBERS = {
    "Scope": ("HTTPScope", "WebSocketScope", "LifespanScope"),
    "WWWScope": ("HTTPScope", "WebSocketScope"),
    "ASGIReceiveEvent": (
        "HTTPRequestEvent",
        "HTTPDisconnectEvent",
        "WebSocketConnectEvent",
        "WebSocketReceiveEvent",
        "WebSocketDisconnectEvent",
        "LifespanStartupEvent",
        "LifespanShutdownEvent",
    ),
    "ASGISendEvent": (
        "HTTPResponseStartEvent",
        "HTTPResponseBodyEvent",
        "HTTPResponseTrailersEvent",
        "HTTPServerPushEvent",
        "HTTPDisconnectEvent",
        "WebSocketAcceptEvent",
        "WebSocketSendEvent",
        "WebSocketResponseStartEvent",
        "WebSocketResponseBodyEvent",
        "WebSocketCloseEvent",
        "LifespanStartupCompleteEvent",
        "LifespanStartupFailedEvent",
        "LifespanShutdownCompleteEvent",
        "LifespanShutdownFailedEvent",
    ),
}

# The required keys of asgiref 3.13's TypedDicts (its only optional key is `state`, in the
# scopes), and the keys the ASGI spec calls optional, which ours marks NotRequired (DMISC3).
TYPING_REQUIRED_IN_ORIGINAL = {
    "ASGIVersions": ("spec_version", "version"),
    "HTTPRequestEvent": ("body", "more_body", "type"),
    "HTTPResponseBodyEvent": ("body", "more_body", "type"),
    "HTTPResponseStartEvent": ("headers", "status", "trailers", "type"),
    "HTTPResponseTrailersEvent": ("headers", "more_trailers", "type"),
    "HTTPScope": (
        "asgi",
        "client",
        "extensions",
        "headers",
        "http_version",
        "method",
        "path",
        "query_string",
        "raw_path",
        "root_path",
        "scheme",
        "server",
        "type",
    ),
    "LifespanShutdownFailedEvent": ("message", "type"),
    "LifespanStartupFailedEvent": ("message", "type"),
    "WebSocketAcceptEvent": ("headers", "subprotocol", "type"),
    "WebSocketCloseEvent": ("code", "reason", "type"),
    "WebSocketDisconnectEvent": ("code", "reason", "type"),
    "WebSocketReceiveEvent": ("bytes", "text", "type"),
    "WebSocketResponseBodyEvent": ("body", "more_body", "type"),
    "WebSocketResponseStartEvent": ("headers", "status", "type"),
    "WebSocketScope": (
        "asgi",
        "client",
        "extensions",
        "headers",
        "http_version",
        "path",
        "query_string",
        "raw_path",
        "root_path",
        "scheme",
        "server",
        "subprotocols",
        "type",
    ),
    "WebSocketSendEvent": ("bytes", "text", "type"),
}
TYPING_SPEC_OPTIONAL = {
    "ASGIVersions": ("spec_version",),
    "HTTPRequestEvent": ("body", "more_body"),
    "HTTPResponseBodyEvent": ("body", "more_body"),
    "HTTPResponseStartEvent": ("headers", "trailers"),
    "HTTPResponseTrailersEvent": ("more_trailers",),
    "HTTPScope": ("client", "extensions", "raw_path", "root_path", "scheme", "server"),
    "LifespanShutdownFailedEvent": ("message",),
    "LifespanStartupFailedEvent": ("message",),
    "WebSocketAcceptEvent": ("headers", "subprotocol"),
    "WebSocketCloseEvent": ("code", "reason"),
    "WebSocketDisconnectEvent": ("reason",),
    "WebSocketReceiveEvent": ("bytes", "text"),
    "WebSocketResponseBodyEvent": ("body", "more_body"),
    "WebSocketResponseStartEvent": ("headers",),
    "WebSocketScope": (
        "client",
        "extensions",
        "http_version",
        "query_string",
        "raw_path",
        "root_path",
        "scheme",
        "server",
        "subprotocols",
    ),
    "WebSocketSendEvent": ("bytes", "text"),
}
_SCOPES_WITH_STATE = ("HTTPScope", "WebSocketScope")


def _keys_as_recorded(optional_in_ours: bool) -> dict[str, Any]:
    """The `required` / `optional` records of the TypedDicts whose keys differ, for one side."""
    records: dict[str, Any] = {}
    for name, required in TYPING_REQUIRED_IN_ORIGINAL.items():
        moved = TYPING_SPEC_OPTIONAL[name] if optional_in_ours else ()
        optional = ("state",) if name in _SCOPES_WITH_STATE else ()
        records[f"{name} required"] = sorted(set(required) - set(moved))
        records[f"{name} optional"] = sorted({*optional, *moved})
    return records


def scenario_typing_names(obs: Observer) -> None:
    import asgiref.typing

    obs("missing", [name for name in TYPING_NAMES if not hasattr(asgiref.typing, name)])
    star: dict[str, Any] = {}
    exec("from asgiref.typing import *", star)
    original_all = [n for n in TYPING_NAMES if n not in TYPING_HELPERS]
    original_all.remove("HTTPResponseDebugEvent")  # not in asgiref 3.13's __all__
    obs("missing from import *", [name for name in original_all if name not in star])
    obs("__all__ type", type(asgiref.typing.__all__).__name__)
    obs(
        "helpers are typing's",
        [
            getattr(asgiref.typing, n, None) is getattr(typing, n)
            for n in ("Any", "Literal", "Protocol", "Union")
        ],
    )


@differs("TYPING-1", original=_keys_as_recorded(False), ours=_keys_as_recorded(True))
def scenario_typing_typeddict_keys(obs: Observer) -> None:
    import asgiref.typing

    for name in TYPING_TYPEDDICTS:
        value: Any = getattr(asgiref.typing, name)
        obs(f"{name} required", sorted(value.__required_keys__))
        obs(f"{name} optional", sorted(value.__optional_keys__))
        obs(f"{name} total", value.__total__)


def scenario_typing_field_types(obs: Observer) -> None:
    """The value type of every key, as run-time introspection (and a type checker) sees it."""
    import asgiref.typing

    for name in TYPING_TYPEDDICTS:
        hints = typing.get_type_hints(getattr(asgiref.typing, name))  # NotRequired[] stripped
        obs(name, {key: repr(hint) for key, hint in hints.items()})


def scenario_typing_aliases(obs: Observer) -> None:
    import asgiref.typing

    for name in TYPING_ALIASES:
        value = getattr(asgiref.typing, name)
        origin = typing.get_origin(value)
        obs(f"{name} origin", None if origin is None else repr(origin))
    for name, members in TYPING_UNION_MEMBERS.items():
        args = typing.get_args(getattr(asgiref.typing, name))
        present = {arg.__name__ for arg in args}
        obs(f"{name} missing members", [member for member in members if member not in present])
    obs("ASGI2Application", repr(asgiref.typing.ASGI2Application))
    # Its other member, ASGI3Application, names ASGISendEvent, which ours extends.
    ours_or_original = typing.get_args(asgiref.typing.ASGIApplication)
    obs("ASGIApplication first member", repr(ours_or_original[0]))
    obs("ASGI2Protocol is a Protocol", getattr(asgiref.typing.ASGI2Protocol, "_is_protocol", False))
    obs("ASGIVersions annotations", sorted(asgiref.typing.ASGIVersions.__annotations__))


# The classes and functions each module of asgiref 3.13 offers that a user could reasonably import:
# its own, and those of other asgiref modules it imports (not the standard library's or typing's).
# Names only ours has are additions, not differences, so they are not listed.
PUBLIC_NAMES = {
    "asgiref": (),
    "asgiref.sync": (
        "AsyncSingleThreadContext",
        "AsyncToSync",
        "CurrentThreadExecutor",
        "Local",
        "SyncToAsync",
        "ThreadSensitiveContext",
        "async_to_sync",
        "iscoroutinefunction",
        "markcoroutinefunction",
        "sync_to_async",
    ),
    "asgiref.local": ("Local",),
    "asgiref.server": ("StatelessServer", "guarantee_single_callable"),
    "asgiref.wsgi": ("AsyncToSync", "WsgiToAsgi", "WsgiToAsgiInstance", "sync_to_async"),
    "asgiref.testing": ("ApplicationCommunicator", "guarantee_single_callable"),
    "asgiref.timeout": ("timeout",),
    "asgiref.compatibility": (
        "double_to_single_callable",
        "guarantee_single_callable",
        "is_double_callable",
        "iscoroutinefunction",
    ),
    "asgiref.current_thread_executor": ("CurrentThreadExecutor",),
}

# Where asgiref 3.13 defines the ones it defines itself (`__module__`, seen in reprs and pickles).
DEFINED_IN = {
    "AsyncSingleThreadContext": "asgiref.sync",
    "AsyncToSync": "asgiref.sync",
    "SyncToAsync": "asgiref.sync",
    "ThreadSensitiveContext": "asgiref.sync",
    "async_to_sync": "asgiref.sync",
    "markcoroutinefunction": "asgiref.sync",
    "sync_to_async": "asgiref.sync",
    "CurrentThreadExecutor": "asgiref.current_thread_executor",
    "Local": "asgiref.local",
    "StatelessServer": "asgiref.server",
    "WsgiToAsgi": "asgiref.wsgi",
    "WsgiToAsgiInstance": "asgiref.wsgi",
    "ApplicationCommunicator": "asgiref.testing",
    "timeout": "asgiref.timeout",
    "double_to_single_callable": "asgiref.compatibility",
    "guarantee_single_callable": "asgiref.compatibility",
    "is_double_callable": "asgiref.compatibility",
}


def scenario_public_names(obs: Observer) -> None:
    import asgiref

    for name, expected in PUBLIC_NAMES.items():
        module = importlib.import_module(name)
        obs(f"{name} missing", [n for n in expected if not hasattr(module, n)])
        star: dict[str, Any] = {}
        exec(f"from {name} import *", star)
        # What the module defines itself is what a star import is for.
        own = [n for n in expected if DEFINED_IN.get(n) == name]
        obs(f"{name} missing from import *", [n for n in own if n not in star])
    obs("asgiref.__version__", getattr(asgiref, "__version__", None))


def scenario_public_classes_and_functions(obs: Observer) -> None:
    """What the names asgiref 3.13 offers are (class or function), and where those it defines
    itself say they come from."""
    for name, expected in PUBLIC_NAMES.items():
        module = importlib.import_module(name)
        kinds = {}
        for attribute in expected:
            value = getattr(module, attribute, None)
            kinds[attribute] = (
                "class" if inspect.isclass(value) else "function" if callable(value) else None
            )
        obs(f"{name} kinds", kinds)
        obs(
            f"{name} defined in",
            {
                a: getattr(getattr(module, a, None), "__module__", None)
                for a in expected
                if a in DEFINED_IN
            },
        )
