"""asgiref.testing.ApplicationCommunicator: when the application starts, what each call returns or
raises on normal and error paths, what becomes of the application, and what it sees (its task, its
context)."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import inspect
import threading
from collections.abc import Awaitable
from typing import Any

from _observe import Observer

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from asgiref.testing import ApplicationCommunicator

Scope = dict[str, Any]
Receive = Any
Send = Any


def _state(communicator: ApplicationCommunicator) -> dict[str, bool]:
    """What a test can see of the application's task: done, cancelled, failed."""
    future = communicator.future
    failed = future.done() and not future.cancelled() and future.exception() is not None
    return {"done": future.done(), "cancelled": future.cancelled(), "failed": failed}


async def _ended_after(obs: Observer, key: str, awaitable: Awaitable[Any], mark: float) -> None:
    """Record what `awaitable` returns or raises, and whether `mark` seconds had passed by then
    (the margins are wide: what is compared is "at once" against "after the whole timeout")."""
    passed = asyncio.Event()
    handle = asyncio.get_running_loop().call_later(mark, passed.set)
    await obs.acall(key, awaitable)
    obs(f"{key}: ended after {mark} s", passed.is_set())
    handle.cancel()


def _cancellation_requests() -> Any:
    """How many cancellations of the running task are pending (`Task.cancelling()`, 3.11+): what
    `asyncio.timeout` and `TaskGroup` in the caller go by."""
    return getattr(asyncio.current_task(), "cancelling", lambda: None)()


def _link(error: BaseException | None) -> str | None:
    """The class of an exception's `__cause__` or `__context__`, as a traceback names it."""
    return None if error is None else type(error).__name__


async def _echo(scope: Scope, receive: Receive, send: Send) -> None:
    while True:
        await send(await receive())


def _silent_app(log: list[str]) -> Any:
    """An application that never sends anything and logs its cancellation."""

    async def silent(scope: Scope, receive: Receive, send: Send) -> None:
        log.append("started")
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            log.append("cancelled")
            raise

    return silent


# --- the module's public surface -------------------------------------------------------------


def scenario_public_surface(obs: Observer) -> None:
    # What the original offers. This package adds protocol communicators (and an `__all__` that
    # lists them, as each of its modules has one) and `next_output` (DIFFERENCES.md, Additions):
    # additions, not recorded.
    namespace: dict[str, Any] = {}
    exec("from asgiref.testing import *", namespace)
    obs(
        "a star import brings ApplicationCommunicator",
        namespace.get("ApplicationCommunicator") is ApplicationCommunicator,
    )
    additions = {"next_output"}
    public = sorted(
        name
        for name in dir(ApplicationCommunicator)
        if not name.startswith("_") and name not in additions
    )
    obs(
        "public members and their kinds",
        {
            name: type(inspect.getattr_static(ApplicationCommunicator, name)).__name__
            for name in public
        },
    )
    for name in ("__init__", "send_input", "receive_output", "receive_nothing", "wait", "stop"):
        parameters = inspect.signature(getattr(ApplicationCommunicator, name)).parameters.values()
        obs(
            f"{name} parameters",
            [
                (p.name, p.kind.name, None if p.default is p.empty else p.default)
                for p in parameters
            ],
        )
    obs("bases", [base.__name__ for base in ApplicationCommunicator.__mro__])


# --- construction and start ------------------------------------------------------------------


def scenario_construct_outside_loop_then_use(obs: Observer) -> None:
    scope = {"type": "test"}
    communicator = ApplicationCommunicator(_echo, scope)
    obs("scope is the dict given", communicator.scope is scope)
    obs("application is the function given", communicator.application is _echo)
    obs("input_queue outside a loop", type(communicator.input_queue).__name__)
    obs("output_queue outside a loop", type(communicator.output_queue).__name__)
    obs("input_queue is stable", communicator.input_queue is communicator.input_queue)

    async def main() -> None:
        await obs.acall("send_input", communicator.send_input({"n": 1}))
        await obs.acall("receive_output", communicator.receive_output(0.5))
        obs("future is an asyncio.Task", isinstance(communicator.future, asyncio.Task))
        obs("future is stable", communicator.future is communicator.future)
        obs("state", _state(communicator))
        communicator.stop()

    asyncio.run(main())


def scenario_future_outside_loop(obs: Observer) -> None:
    communicator = ApplicationCommunicator(_echo, {"type": "test"})
    with obs.warnings("warnings"):
        obs.call("future outside a loop", lambda: type(communicator.future).__name__)
        gc.collect()

    async def main() -> None:
        # only the class: a failure here would name a task and a loop by address
        try:
            await communicator.send_input({"n": 1})
            obs("then in a loop", await communicator.receive_output(0.5))
        except BaseException as error:
            obs("then in a loop", type(error).__name__)
        communicator.stop(exceptions=False)

    asyncio.run(main())


async def scenario_application_starts_on_first_use(obs: Observer) -> None:
    log: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        log.append("started")
        log.append(await receive())
        await send({"type": "reply"})

    communicator = ApplicationCommunicator(app, {"type": "test"})
    for _ in range(3):
        await asyncio.sleep(0)
    obs("log after construction", list(log))
    communicator.input_queue.put_nowait({"type": "direct"})
    communicator.output_queue  # noqa: B018 - the queues alone do not start it
    await asyncio.sleep(0)
    obs("log after the queues were used", list(log))
    await communicator.send_input({"type": "second"})
    obs("log right after send_input", list(log))
    obs("input queue size right after send_input", communicator.input_queue.qsize())
    obs("state right after send_input", _state(communicator))
    await asyncio.sleep(0)
    obs("log one loop turn later", list(log))
    await obs.acall("receive_output", communicator.receive_output(0.5))
    await obs.acall("wait", communicator.wait(0.5))
    obs("input queue size at the end", communicator.input_queue.qsize())


async def scenario_messages_and_scope_identity(obs: Observer) -> None:
    seen: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen["scope"] = scope
        message = await receive()
        seen["message"] = message
        seen["send returned"] = await send(message)

    scope = {"type": "test", "path": "/"}
    communicator = ApplicationCommunicator(app, scope)
    sent = {"type": "in", "body": b"x"}
    await communicator.send_input(sent)
    received = await communicator.receive_output(0.5)
    obs("app got the scope object", seen["scope"] is scope)
    obs("app got the message object", seen["message"] is sent)
    obs("test got the object the app sent", received is sent)
    obs("send returned", seen["send returned"])
    await obs.acall("wait", communicator.wait(0.5))
    obs("state", _state(communicator))


async def scenario_application_receive_and_send_callables(obs: Observer) -> None:
    seen: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen["receive"] = receive
        seen["send"] = send
        await send(await receive())

    communicator = ApplicationCommunicator(app, {"type": "test"})
    await communicator.send_input({"type": "in"})
    await communicator.receive_output(0.5)
    receive, send = seen["receive"], seen["send"]
    obs("receive __name__", getattr(receive, "__name__", None))
    obs("send __name__", getattr(send, "__name__", None))
    obs(
        "receive is input_queue.get", getattr(receive, "__self__", None) is communicator.input_queue
    )
    obs("send is output_queue.put", getattr(send, "__self__", None) is communicator.output_queue)


# --- receive_output ----------------------------------------------------------------------------


async def scenario_receive_output_timeout_then_send_input(obs: Observer) -> None:
    log: list[str] = []
    communicator = ApplicationCommunicator(_silent_app(log), {"type": "test"})
    await obs.acall("receive_output", communicator.receive_output(0.1))
    obs("state after the timeout", _state(communicator))
    obs("app log", list(log))
    await obs.acall("send_input after the timeout", communicator.send_input({"type": "x"}))
    await obs.acall("send_input again", communicator.send_input({"type": "y"}))


async def scenario_receive_output_timeout_then_every_call(obs: Observer) -> None:
    log: list[str] = []
    communicator = ApplicationCommunicator(_silent_app(log), {"type": "test"})
    await obs.acall("receive_output", communicator.receive_output(0.1))
    await obs.acall("receive_output again", communicator.receive_output(0.1))
    await obs.acall("receive_nothing", communicator.receive_nothing(0.05))
    await obs.acall("wait", communicator.wait(0.1))
    obs.call("stop()", communicator.stop)
    obs.call("stop(exceptions=False)", lambda: communicator.stop(exceptions=False))
    obs("state", _state(communicator))


async def scenario_receive_output_after_normal_finish(obs: Observer) -> None:
    async def two(scope: Scope, receive: Receive, send: Send) -> str:
        await send({"n": 1})
        await send({"n": 2})
        return "result"

    communicator = ApplicationCommunicator(two, {"type": "test"})
    await obs.acall("wait", communicator.wait(0.5))
    obs("state", _state(communicator))
    obs("queued", communicator.output_queue.qsize())
    await obs.acall("first", communicator.receive_output(0.5))
    await obs.acall("second", communicator.receive_output(0.5))
    await obs.acall("third", communicator.receive_output(0.1))
    await obs.acall("receive_nothing", communicator.receive_nothing(0.05))
    obs.call("stop()", communicator.stop)
    obs("future result", communicator.future.result())


async def scenario_receive_output_on_app_that_ends_quietly(obs: Observer) -> None:
    async def quiet(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()

    communicator = ApplicationCommunicator(quiet, {"type": "test"})
    await communicator.send_input({"type": "go"})
    await _ended_after(obs, "receive_output(0.8)", communicator.receive_output(0.8), 0.3)
    obs("state", _state(communicator))


async def scenario_receive_output_on_app_that_fails_meanwhile(obs: Observer) -> None:
    async def fails(scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        raise KeyError(message["type"])

    communicator = ApplicationCommunicator(fails, {"type": "test"})
    await communicator.send_input({"type": "go"})
    await _ended_after(obs, "receive_output(0.8)", communicator.receive_output(0.8), 0.3)
    obs("state", _state(communicator))


async def scenario_app_exception_surfaces_in_every_call(obs: Observer) -> None:
    async def boom(scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        raise ValueError(f"boom on {message['type']}")

    communicator = ApplicationCommunicator(boom, {"type": "test"})
    await obs.acall("send_input", communicator.send_input({"type": "first"}))
    caught: list[BaseException] = []
    for key in ("receive_output", "receive_output again"):
        try:
            await communicator.receive_output(0.2)
        except BaseException as error:
            caught.append(error)
            obs(key, {"raised": error})
        else:
            obs(key, "returned")
    obs("the same exception object both times", len(caught) == 2 and caught[0] is caught[1])
    await obs.acall("send_input after", communicator.send_input({"type": "second"}))
    await obs.acall("receive_nothing", communicator.receive_nothing(0.05))
    await obs.acall("wait", communicator.wait(0.2))
    obs.call("stop()", communicator.stop)
    obs.call("stop(exceptions=False)", lambda: communicator.stop(exceptions=False))
    obs("state", _state(communicator))


async def scenario_app_exception_hides_queued_messages(obs: Observer) -> None:
    async def sends_then_fails(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"n": 1})
        await send({"n": 2})
        raise RuntimeError("after sending")

    communicator = ApplicationCommunicator(sends_then_fails, {"type": "test"})
    await obs.acall("first receive_output", communicator.receive_output(0.5))
    await asyncio.sleep(0)
    obs("state", _state(communicator))
    obs("still queued", communicator.output_queue.qsize())
    await obs.acall("second receive_output", communicator.receive_output(0.5))
    await obs.acall("receive_nothing", communicator.receive_nothing(0.05))


async def scenario_receive_output_zero_and_none_timeouts(obs: Observer) -> None:
    first = ApplicationCommunicator(_echo, {"type": "test"})
    await first.send_input({"n": 1})
    await obs.acall("receive_output(0) before the app ran", first.receive_output(0))
    obs("state after it", _state(first))

    second = ApplicationCommunicator(_echo, {"type": "test"})
    await second.send_input({"n": 2})
    for _ in range(3):
        await asyncio.sleep(0)
    await obs.acall("receive_output(0) with a message queued", second.receive_output(0))
    second.stop()

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(0.05)
        await send({"n": 3})
        await asyncio.sleep(0.05)

    third = ApplicationCommunicator(slow, {"type": "test"})
    await obs.acall(
        "receive_output(None) on a slow app",
        asyncio.wait_for(third.receive_output(None), 1.0),
    )
    await obs.acall("wait(None) on a slow app", asyncio.wait_for(third.wait(None), 1.0))


async def scenario_app_raises_when_cancelled(obs: Observer) -> None:
    async def raises_on_cancel(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            raise RuntimeError("raised on cancellation") from None

    communicator = ApplicationCommunicator(raises_on_cancel, {"type": "test"})
    await obs.acall("receive_output", communicator.receive_output(0.1))
    obs("state", _state(communicator))
    await obs.acall("receive_output again", communicator.receive_output(0.1))

    other = ApplicationCommunicator(raises_on_cancel, {"type": "test"})
    await obs.acall("wait", other.wait(0.1))
    obs("state after wait", _state(other))
    await obs.acall("wait again", other.wait(0.1))


async def scenario_app_swallows_cancellation(obs: Observer) -> None:
    async def stubborn(scope: Scope, receive: Receive, send: Send) -> str:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            return "swallowed"
        return "slept"

    communicator = ApplicationCommunicator(stubborn, {"type": "test"})
    await obs.acall("receive_output", communicator.receive_output(0.1))
    obs("state", _state(communicator))
    obs("result", communicator.future.result())
    await obs.acall("send_input", communicator.send_input({"type": "x"}))
    await obs.acall("wait", communicator.wait(0.1))
    obs.call("stop()", communicator.stop)

    other = ApplicationCommunicator(stubborn, {"type": "test"})
    await obs.acall("wait on another", other.wait(0.1))
    obs("state of the other", _state(other))


async def scenario_app_sends_while_being_cancelled(obs: Observer) -> None:
    async def says_goodbye(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            await send({"type": "goodbye"})
            raise

    communicator = ApplicationCommunicator(says_goodbye, {"type": "test"})
    await obs.acall("receive_output", communicator.receive_output(0.1))
    obs("state", _state(communicator))
    obs("queued", communicator.output_queue.qsize())
    await obs.acall("receive_output again", communicator.receive_output(0.1))


async def scenario_app_cancels_itself(obs: Observer) -> None:
    async def gives_up(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        raise asyncio.CancelledError()

    communicator = ApplicationCommunicator(gives_up, {"type": "test"})
    await obs.acall("send_input", communicator.send_input({"type": "go"}))
    await obs.acall("receive_output", communicator.receive_output(0.2))
    obs("state", _state(communicator))
    await obs.acall("send_input again", communicator.send_input({"type": "go"}))
    await obs.acall("wait", communicator.wait(0.2))
    obs.call("stop()", communicator.stop)


async def scenario_receive_output_timeout_details(obs: Observer) -> None:
    communicator = ApplicationCommunicator(_silent_app([]), {"type": "test"})
    try:
        await communicator.receive_output(0.05)
    except BaseException as error:
        obs("raised", {"raised": error})
        obs("cause", _link(error.__cause__))
        obs("context", _link(error.__context__))
        obs("context suppressed", error.__suppress_context__)
    obs("the caller's pending cancellations", _cancellation_requests())

    async def fails(scope: Scope, receive: Receive, send: Send) -> None:
        raise KeyError("failed before sending")

    failing = ApplicationCommunicator(fails, {"type": "test"})
    try:
        await failing.receive_output(0.05)
    except BaseException as error:
        obs("failure found at the timeout", {"raised": error})
        obs("its context", _link(error.__context__))

    empty = ApplicationCommunicator(_echo, {"type": "test"})
    await obs.acall("receive_output(-1) with nothing queued", empty.receive_output(-1))
    obs("state after it", _state(empty))


async def scenario_receive_output_cancelled_from_outside(obs: Observer) -> None:
    log: list[str] = []
    communicator = ApplicationCommunicator(_silent_app(log), {"type": "test"})
    receiver = asyncio.ensure_future(communicator.receive_output(5))
    for _ in range(3):
        await asyncio.sleep(0)
    receiver.cancel()
    await obs.acall("the cancelled receive_output", receiver)
    obs("receiver cancelled", receiver.cancelled())
    obs("app state", _state(communicator))
    obs("app log", list(log))
    await obs.acall("send_input after", communicator.send_input({"type": "x"}))
    communicator.stop()


async def scenario_receive_output_gets_what_the_test_queues(obs: Observer) -> None:
    communicator = ApplicationCommunicator(_silent_app([]), {"type": "test"})

    async def put_soon() -> None:
        await asyncio.sleep(0.05)
        communicator.output_queue.put_nowait({"type": "put by the test"})

    putter = asyncio.ensure_future(put_soon())
    await _ended_after(obs, "receive_output(2)", communicator.receive_output(2), 1.0)
    await putter
    communicator.stop()


# --- wait ---------------------------------------------------------------------------------------


async def scenario_wait_timeout_on_running_app(obs: Observer) -> None:
    log: list[str] = []
    communicator = ApplicationCommunicator(_silent_app(log), {"type": "test"})
    await obs.acall("wait(0.1)", communicator.wait(0.1))
    obs("state", _state(communicator))
    obs("app log", list(log))
    await obs.acall("send_input after", communicator.send_input({"type": "x"}))
    await obs.acall("wait again", communicator.wait(0.1))


async def scenario_wait_on_finished_and_failed_apps(obs: Observer) -> None:
    async def returns(scope: Scope, receive: Receive, send: Send) -> int:
        await receive()
        return 42

    async def fails(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        raise LookupError("failed")

    ok = ApplicationCommunicator(returns, {"type": "test"})
    await ok.send_input({"type": "go"})
    await obs.acall("wait on an app that returns", ok.wait(0.5))
    obs("its state", _state(ok))

    failing = ApplicationCommunicator(fails, {"type": "test"})
    await failing.send_input({"type": "go"})
    await obs.acall("wait on an app that fails", failing.wait(0.5))
    await obs.acall("wait again", failing.wait(0.5))
    await obs.acall("then receive_output", failing.receive_output(0.1))
    obs("its state", _state(failing))


async def scenario_wait_cancelled_from_outside(obs: Observer) -> None:
    log: list[str] = []
    communicator = ApplicationCommunicator(_silent_app(log), {"type": "test"})
    waiter = asyncio.ensure_future(communicator.wait(5))
    for _ in range(3):
        await asyncio.sleep(0)
    waiter.cancel()
    await obs.acall("the cancelled wait", waiter)
    obs("waiter cancelled", waiter.cancelled())
    obs("app state", _state(communicator))
    obs("app log", list(log))
    communicator.stop(exceptions=False)

    other = ApplicationCommunicator(_silent_app([]), {"type": "test"})
    await obs.acall("wait(None) under wait_for(0.1)", asyncio.wait_for(other.wait(None), 0.1))
    obs("that app's state", _state(other))


async def scenario_wait_details(obs: Observer) -> None:
    communicator = ApplicationCommunicator(_silent_app([]), {"type": "test"})
    await obs.acall("wait(0.05)", communicator.wait(0.05))
    obs("the caller's pending cancellations after the timeout", _cancellation_requests())

    other = ApplicationCommunicator(_silent_app([]), {"type": "test"})

    async def waits() -> Any:
        await other.wait(5)
        return _cancellation_requests()

    waiter = asyncio.ensure_future(waits())
    for _ in range(3):
        await asyncio.sleep(0)
    waiter.cancel()
    await obs.acall("pending cancellations of a waiter cancelled from outside", waiter)

    log: list[str] = []

    async def lingers(scope: Scope, receive: Receive, send: Send) -> str:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            log.append("cancelled")
        await asyncio.sleep(0.05)
        log.append("returned")
        return "late"

    lingering = ApplicationCommunicator(lingers, {"type": "test"})
    await obs.acall("wait(0.05) on an app that lingers when cancelled", lingering.wait(0.05))
    obs("its log", list(log))
    obs("its state", _state(lingering))


# --- stop and garbage collection --------------------------------------------------------------


async def scenario_stop_on_fresh_and_running_apps(obs: Observer) -> None:
    log: list[str] = []
    fresh = ApplicationCommunicator(_echo, {"type": "test"})
    obs.call("stop() before any use", fresh.stop)
    await asyncio.sleep(0)
    await fresh.send_input({"n": 1})
    await obs.acall("then a round trip", fresh.receive_output(0.5))
    fresh.stop()

    running = ApplicationCommunicator(_silent_app(log), {"type": "test"})
    await running.send_input({"type": "x"})
    await asyncio.sleep(0)
    obs.call("stop() while running", running.stop)
    obs("state right after stop", _state(running))
    await asyncio.sleep(0)
    obs("state one loop turn later", _state(running))
    obs("app log", list(log))
    obs.call("stop() again", running.stop)
    obs.call("stop(exceptions=False) again", lambda: running.stop(exceptions=False))
    await obs.acall("send_input after stop", running.send_input({"type": "y"}))


async def scenario_stop_on_finished_and_failed_apps(obs: Observer) -> None:
    async def returns(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()

    async def fails(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        raise ArithmeticError("failed")

    ok = ApplicationCommunicator(returns, {"type": "test"})
    await ok.send_input({"type": "go"})
    await ok.wait(0.5)
    obs.call("stop() on a finished app", ok.stop)

    failing = ApplicationCommunicator(fails, {"type": "test"})
    await failing.send_input({"type": "go"})
    for _ in range(3):
        await asyncio.sleep(0)
    obs("failed state", _state(failing))
    obs.call("stop(exceptions=False) on a failed app", lambda: failing.stop(exceptions=False))
    obs.call("stop() on a failed app", failing.stop)
    obs.call("stop() again", failing.stop)


async def scenario_dropped_communicator_cancels_app(obs: Observer) -> None:
    log: list[str] = []
    communicator: ApplicationCommunicator | None = ApplicationCommunicator(
        _silent_app(log), {"type": "test"}
    )
    assert communicator is not None
    await communicator.send_input({"type": "x"})
    await asyncio.sleep(0)
    communicator = None
    gc.collect()
    for _ in range(3):
        await asyncio.sleep(0)
    obs("app log after the communicator was dropped", list(log))


# --- receive_nothing --------------------------------------------------------------------------


async def scenario_receive_nothing(obs: Observer) -> None:
    log: list[Any] = []

    async def answers_second(scope: Scope, receive: Receive, send: Send) -> None:
        log.append("started")
        await receive()
        message = await receive()
        await send({"reply to": message["type"]})
        await receive()
        raise OSError("third message")

    communicator = ApplicationCommunicator(answers_second, {"type": "test"})
    await obs.acall("on a fresh communicator", communicator.receive_nothing(0.05))
    obs("log", list(log))
    await communicator.send_input({"type": "one"})
    await obs.acall("after a message it does not answer", communicator.receive_nothing(0.05))
    await communicator.send_input({"type": "two"})
    await obs.acall("after a message it answers", communicator.receive_nothing(0.5, 0.01))
    obs("the answer stays queued", communicator.output_queue.qsize())
    await obs.acall("and again", communicator.receive_nothing(0.05))
    await obs.acall("receive_output", communicator.receive_output(0.5))
    await obs.acall("then nothing", communicator.receive_nothing(0.05))
    await communicator.send_input({"type": "three"})
    await obs.acall("while the app fails", communicator.receive_nothing(0.05))
    await obs.acall("after it failed", communicator.receive_nothing(0.05))


# --- application kinds --------------------------------------------------------------------------


async def scenario_asgi2_application(obs: Observer) -> None:
    class Asgi2:
        def __init__(self, scope: Scope) -> None:
            self.scope = scope

        async def __call__(self, receive: Receive, send: Send) -> None:
            message = await receive()
            await send({"scope type": self.scope["type"], "got": message["type"]})

    communicator = ApplicationCommunicator(Asgi2, {"type": "double"})
    obs("application is the class", communicator.application is Asgi2)
    obs(
        "application is a coroutine function", asyncio.iscoroutinefunction(communicator.application)
    )
    await communicator.send_input({"type": "in"})
    await obs.acall("receive_output", communicator.receive_output(0.5))
    await obs.acall("wait", communicator.wait(0.5))


async def scenario_non_callable_application(obs: Observer) -> None:
    not_an_app: Any = 42
    communicator = obs.call("construct", lambda: ApplicationCommunicator(not_an_app, {}))
    assert communicator is not None
    await obs.acall("send_input", communicator.send_input({"type": "x"}))
    await obs.acall("receive_output", communicator.receive_output(0.1))
    await obs.acall("wait", communicator.wait(0.1))
    obs.call("stop()", communicator.stop)


async def scenario_application_returns_no_coroutine(obs: Observer) -> None:
    calls: list[str] = []

    def plain(scope: Scope, receive: Receive, send: Send) -> None:
        calls.append("called")

    marked: Any = plain
    marked._asgi_single_callable = True  # taken as an ASGI 3 application as it is
    communicator = ApplicationCommunicator(plain, {"type": "test"})
    await obs.acall("send_input", communicator.send_input({"type": "x"}))
    await obs.acall("send_input again", communicator.send_input({"type": "x"}))
    obs("calls", list(calls))
    obs.call("stop()", communicator.stop)
    await obs.acall("wait", communicator.wait(0.1))


async def scenario_receive_nothing_zero(obs: Observer) -> None:
    log: list[str] = []
    communicator = ApplicationCommunicator(_silent_app(log), {"type": "test"})
    await obs.acall("receive_nothing(0)", communicator.receive_nothing(0))
    obs("app log right after", list(log))
    obs("state right after", _state(communicator))
    await obs.acall("receive_nothing(0.02, 0.1)", communicator.receive_nothing(0.02, 0.1))
    obs("app log then", list(log))
    communicator.stop()


def scenario_reuse_across_event_loops(obs: Observer) -> None:
    communicator = ApplicationCommunicator(_echo, {"type": "test"})

    async def first() -> None:
        await communicator.send_input({"n": 1})
        obs("first loop", await communicator.receive_output(0.5))

    async def second() -> None:
        obs("app state in the second loop", _state(communicator))
        await obs.acall("send_input", communicator.send_input({"n": 2}))
        await obs.acall("receive_output", communicator.receive_output(0.1))
        await obs.acall("wait", communicator.wait(0.1))

    asyncio.run(first())
    asyncio.run(second())


# --- what the application sees ------------------------------------------------------------------

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


async def scenario_app_context_is_fresh(obs: Observer) -> None:
    seen: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen["at start"] = _request_id.get()
        seen["variables at start"] = len(contextvars.copy_context())
        _request_id.set("set by the app")
        await receive()
        seen["after receive"] = _request_id.get()
        await send({"type": "done"})

    _request_id.set("set by the test")
    communicator = ApplicationCommunicator(app, {"type": "test"})
    await communicator.send_input({"type": "go"})
    await communicator.receive_output(0.5)
    obs("app saw at start", seen["at start"])
    obs("context variables the app saw at start", seen["variables at start"])
    obs("app saw after its own set", seen["after receive"])
    obs("test sees afterwards", _request_id.get())


async def scenario_two_communicators_contexts_and_order(obs: Observer) -> None:
    order: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        _request_id.set(scope["name"])
        order.append(f"{scope['name']} started")
        while True:
            message = await receive()
            order.append(f"{scope['name']} got {message['n']}")
            await send({"name": scope["name"], "sees": _request_id.get(), "n": message["n"]})

    first = ApplicationCommunicator(app, {"type": "test", "name": "first"})
    second = ApplicationCommunicator(app, {"type": "test", "name": "second"})
    await first.send_input({"n": 1})
    await second.send_input({"n": 2})
    await first.send_input({"n": 3})
    obs("second 1", await second.receive_output(0.5))
    obs("first 1", await first.receive_output(0.5))
    obs("first 2", await first.receive_output(0.5))
    obs("order", list(order))
    obs("distinct tasks", first.future is not second.future)
    obs("test's variable", _request_id.get())
    first.stop()
    second.stop()
    await obs.acall("wait first", first.wait(0.5))
    await obs.acall("wait second", second.wait(0.5))


async def scenario_app_runs_as_the_future_task(obs: Observer) -> None:
    seen: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen["task at start"] = asyncio.current_task()
        await receive()
        seen["task after receive"] = asyncio.current_task()
        await send({"type": "done"})

    communicator = ApplicationCommunicator(app, {"type": "test"})
    await communicator.send_input({"type": "go"})
    await communicator.receive_output(0.5)
    obs("task at start is future", seen["task at start"] is communicator.future)
    obs("task after receive is future", seen["task after receive"] is communicator.future)
    obs("not the test's task", seen["task at start"] is not asyncio.current_task())


async def scenario_thread_sensitive_context_not_inherited(obs: Observer) -> None:
    threads: dict[str, threading.Thread] = {}

    def note(name: str) -> None:
        threads[name] = threading.current_thread()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await sync_to_async(note)(scope["name"])
        await send({"type": "done"})

    async with ThreadSensitiveContext():
        await sync_to_async(note)("test")
        first = ApplicationCommunicator(app, {"type": "test", "name": "first"})
        second = ApplicationCommunicator(app, {"type": "test", "name": "second"})
        await first.send_input({"type": "go"})
        await second.send_input({"type": "go"})
        await first.receive_output(0.5)
        await second.receive_output(0.5)
    await sync_to_async(note)("outside any context")
    obs("first app ran where the test's context runs", threads["first"] is threads["test"])
    obs("second app ran where the test's context runs", threads["second"] is threads["test"])
    obs("the apps shared a thread", threads["first"] is threads["second"])
    obs(
        "the apps ran where code outside any context runs",
        threads["first"] is threads["outside any context"],
    )


# --- subclassing as Channels does ---------------------------------------------------------------


async def scenario_subclass_like_channels(obs: Observer) -> None:
    calls: list[Any] = []

    class Communicator(ApplicationCommunicator):
        def __init__(self, application: Any, path: str) -> None:
            self.scope = {"type": "websocket", "path": path}
            self.extra = "kept"
            super().__init__(application, self.scope)

        async def send_input(self, message: dict[str, Any]) -> None:
            calls.append(["send_input", message["type"]])
            return await super().send_input(message)

        async def receive_output(self, timeout: float | None = 1) -> dict[str, Any]:
            calls.append(["receive_output", timeout])
            return await super().receive_output(timeout)

    class OtherScope(ApplicationCommunicator):
        def __init__(self, application: Any) -> None:
            self.scope = {"type": "set before"}
            super().__init__(application, {"type": "passed"})

    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])
        message = await receive()
        await send(message)

    communicator = Communicator(app, "/ws/")
    obs("scope", communicator.scope)
    obs("extra", communicator.extra)
    await communicator.send_input({"type": "websocket.connect"})
    await obs.acall("receive_output", communicator.receive_output(0.5))
    await obs.acall("receive_nothing", communicator.receive_nothing(0.05))
    await obs.acall("wait", communicator.wait(0.5))
    obs.call("stop", communicator.stop)
    obs("overridden calls", list(calls))

    other = OtherScope(app)
    obs("scope when another is passed", other.scope)
    await other.send_input({"type": "x"})
    await other.receive_output(0.5)
    obs("scope types the apps saw", list(seen))
