"""Tests for asgiref.testing: the communicators, against small real ASGI applications.

`ApplicationCommunicator` must behave as asgiref 3.13.0's does (the differential suite compares
the two); these tests pin that behaviour here, and the protocol communicators built on it.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import sys
import threading
import traceback
from typing import Any

import pytest

from asgiref.sync import sync_to_async
from asgiref.testing import (
    ApplicationCommunicator,
    HttpCommunicator,
    HttpResponse,
    LifespanCommunicator,
    SyncCommunicator,
    WebsocketCommunicator,
)

Message = dict[str, Any]


async def echo_app(scope: Any, receive: Any, send: Any) -> None:
    """Sends back every message it receives until it receives {"type": "stop"}."""
    while True:
        message = await receive()
        if message["type"] == "stop":
            return
        await send({"type": "echo", "got": message})


class AppFailure(Exception):
    pass


async def failing_app(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    raise AppFailure("broken on purpose")


async def silent_app(scope: Any, receive: Any, send: Any) -> None:
    await asyncio.Event().wait()


def on_loop_after(seconds: float) -> asyncio.Event:
    """An event the running loop sets `seconds` from now: set or not, it tells whether a call
    returned before or after that point, without reading a clock in the test."""
    passed = asyncio.Event()
    asyncio.get_running_loop().call_later(seconds, passed.set)
    return passed


# --- messages in and out --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_messages_go_in_and_come_out() -> None:
    communicator = ApplicationCommunicator(echo_app, {"type": "test"})
    await communicator.send_input({"type": "ping", "n": 1})
    assert await communicator.receive_output() == {"type": "echo", "got": {"type": "ping", "n": 1}}
    assert await communicator.receive_nothing()
    await communicator.send_input({"type": "stop"})
    await communicator.wait()
    assert communicator.future.done()


@pytest.mark.asyncio
async def test_the_application_gets_the_queues_methods_as_receive_and_send() -> None:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(receive=receive, send=send)

    communicator = ApplicationCommunicator(app, {"type": "test"})
    await communicator.wait()
    assert seen["receive"] == communicator.input_queue.get
    assert seen["send"] == communicator.output_queue.put


@pytest.mark.asyncio
async def test_the_application_starts_on_first_use_in_an_empty_context() -> None:
    variable: contextvars.ContextVar[str] = contextvars.ContextVar("variable", default="unset")
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.extend([variable.get(), len(contextvars.copy_context())])
        variable.set("set by the application")
        await send({"type": "started"})

    variable.set("set by the test")
    communicator = ApplicationCommunicator(app, {"type": "test"})
    await asyncio.sleep(0)
    assert seen == []  # not started by construction
    assert await communicator.receive_output() == {"type": "started"}
    assert seen == ["unset", 0]
    assert variable.get() == "set by the test"


@pytest.mark.asyncio
async def test_receive_nothing_is_false_when_something_was_sent() -> None:
    communicator = ApplicationCommunicator(echo_app, {"type": "test"})
    await communicator.send_input({"type": "ping"})
    assert not await communicator.receive_nothing(timeout=1)
    assert (await communicator.receive_output())["type"] == "echo"  # it stayed queued
    communicator.stop()


# --- an application that fails --------------------------------------------------------------------


@pytest.mark.asyncio
async def test_application_exception_surfaces_with_its_traceback() -> None:
    communicator = ApplicationCommunicator(failing_app, {"type": "test"})
    await communicator.send_input({"type": "go"})
    with pytest.raises(AppFailure, match="broken on purpose") as info:
        await communicator.wait()
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert "failing_app" in frames
    for call in (
        communicator.receive_output(),
        communicator.send_input({"type": "again"}),
        communicator.receive_nothing(),
        communicator.wait(),
    ):
        with pytest.raises(AppFailure) as again:
            await call
        assert again.value is info.value
    with pytest.raises(AppFailure):
        communicator.stop()
    communicator.stop(exceptions=False)


@pytest.mark.asyncio
async def test_receive_output_notices_a_failure_only_when_its_timeout_expires() -> None:
    communicator = ApplicationCommunicator(failing_app, {"type": "test"})
    await communicator.send_input({"type": "go"})
    passed = on_loop_after(0.1)
    with pytest.raises(AppFailure):
        await communicator.receive_output(timeout=0.3)
    assert passed.is_set()


# --- timeouts and cancellation --------------------------------------------------------------------


@pytest.mark.asyncio
async def test_receive_output_timeout_cancels_the_application() -> None:
    communicator = ApplicationCommunicator(silent_app, {"type": "test"})
    with pytest.raises(asyncio.TimeoutError) as info:
        await communicator.receive_output(timeout=0.05)
    assert str(info.value) == ""
    # asyncio.timeout (3.11+) raises from the CancelledError; asgiref.timeout, used on 3.10,
    # raises while handling it.
    cause = info.value.__cause__ if sys.version_info >= (3, 11) else info.value.__context__
    assert isinstance(cause, asyncio.CancelledError)
    assert communicator.future.cancelled()


@pytest.mark.asyncio
async def test_a_cancelled_application_makes_every_call_raise_cancelled_error() -> None:
    communicator = ApplicationCommunicator(silent_app, {"type": "test"})
    with pytest.raises(asyncio.TimeoutError):
        await communicator.receive_output(timeout=0.05)
    for call in (
        communicator.send_input({"type": "late"}),
        communicator.receive_output(),
        communicator.receive_nothing(),
    ):
        with pytest.raises(asyncio.CancelledError):
            await call
    with pytest.raises(asyncio.CancelledError):
        communicator.stop()
    communicator.stop(exceptions=False)
    await communicator.wait()  # a cancelled application is one that has ended


@pytest.mark.asyncio
async def test_receive_output_on_an_application_that_ended_quietly_waits_out_its_timeout() -> None:
    communicator = ApplicationCommunicator(echo_app, {"type": "test"})
    await communicator.send_input({"type": "stop"})
    passed = on_loop_after(0.1)
    with pytest.raises(asyncio.TimeoutError) as info:
        await communicator.receive_output(timeout=0.3)
    assert str(info.value) == ""
    assert passed.is_set()
    assert not communicator.future.cancelled()  # it had returned: nothing to cancel


@pytest.mark.asyncio
async def test_receive_output_zero_takes_only_what_is_already_queued() -> None:
    fresh = ApplicationCommunicator(echo_app, {"type": "test"})
    await fresh.send_input({"type": "ping"})
    # The application has not run yet: there is nothing to take, and no waiting.
    with pytest.raises(asyncio.TimeoutError):
        await fresh.receive_output(0)
    assert fresh.future.cancelled()

    answered = ApplicationCommunicator(echo_app, {"type": "test"})
    await answered.send_input({"type": "ping"})
    assert not await answered.receive_nothing(timeout=1)
    assert (await answered.receive_output(0))["type"] == "echo"
    answered.stop()


@pytest.mark.asyncio
async def test_none_means_no_timeout() -> None:
    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(0.05)
        await send({"type": "late"})
        await asyncio.sleep(0.05)

    communicator = ApplicationCommunicator(slow, {"type": "test"})
    assert await asyncio.wait_for(communicator.receive_output(None), 5) == {"type": "late"}
    await asyncio.wait_for(communicator.wait(None), 5)
    assert not communicator.future.cancelled()


@pytest.mark.asyncio
async def test_wait_timeout_cancels_the_application_and_returns() -> None:
    communicator = ApplicationCommunicator(silent_app, {"type": "test"})
    await communicator.wait(timeout=0.05)  # returns: no TimeoutError
    assert communicator.future.cancelled()
    with pytest.raises(asyncio.CancelledError):
        await communicator.send_input({"type": "late"})


@pytest.mark.asyncio
async def test_cancelling_a_task_in_wait_cancels_the_application_instead() -> None:
    started = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        started.set()
        await asyncio.Event().wait()

    communicator = ApplicationCommunicator(app, {"type": "test"})
    waiter = asyncio.ensure_future(communicator.wait(timeout=None))
    await asyncio.wait_for(started.wait(), 5)
    waiter.cancel()
    await waiter  # returns: the cancellation went to the application
    assert not waiter.cancelled()
    assert communicator.future.cancelled()


@pytest.mark.asyncio
async def test_an_error_raised_on_cancellation_replaces_the_timeout() -> None:
    async def fails_when_cancelled(scope: Any, receive: Any, send: Any) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise AppFailure("cleanup failed") from None

    receiving = ApplicationCommunicator(fails_when_cancelled, {"type": "test"})
    with pytest.raises(AppFailure, match="cleanup failed"):
        await receiving.receive_output(timeout=0.05)
    waiting = ApplicationCommunicator(fails_when_cancelled, {"type": "test"})
    with pytest.raises(AppFailure, match="cleanup failed"):
        await waiting.wait(timeout=0.05)


# --- stop, garbage collection, event loops --------------------------------------------------------


@pytest.mark.asyncio
async def test_stop_cancels_a_running_application_and_then_reports_it() -> None:
    never_used = ApplicationCommunicator(silent_app, {"type": "test"})
    never_used.stop()
    assert len(asyncio.all_tasks()) == 1  # nothing started: only this test's own task

    communicator = ApplicationCommunicator(silent_app, {"type": "test"})
    await communicator.send_input({"type": "anything"})
    communicator.stop()
    await asyncio.gather(communicator.future, return_exceptions=True)
    assert communicator.future.cancelled()
    with pytest.raises(asyncio.CancelledError):
        communicator.stop()


@pytest.mark.asyncio
async def test_garbage_collection_cancels_the_application() -> None:
    dropped = ApplicationCommunicator(silent_app, {"type": "test"})
    await dropped.send_input({"type": "anything"})
    task = dropped.future
    del dropped
    gc.collect()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()


def test_the_application_starts_in_the_first_loop_that_uses_it() -> None:
    communicator = ApplicationCommunicator(echo_app, {"type": "test"})
    assert communicator.input_queue is communicator.input_queue  # queues need no loop
    # The application's coroutine is made, then dropped when no loop can run it.
    with (
        pytest.warns(RuntimeWarning, match="never awaited"),
        pytest.raises(RuntimeError, match="no running event loop"),
    ):
        _ = communicator.future

    async def use() -> Message:
        await communicator.send_input({"type": "ping"})
        return await communicator.receive_output()

    async def use_again() -> None:
        # The first loop cancelled the application as it closed.
        with pytest.raises(asyncio.CancelledError):
            await communicator.send_input({"type": "ping"})
        await communicator.wait()

    assert asyncio.run(use())["type"] == "echo"
    asyncio.run(use_again())


# --- kinds of application and subclasses ----------------------------------------------------------


@pytest.mark.asyncio
async def test_subclass_in_the_channels_style() -> None:
    seen: list[str] = []

    class ChannelsLike(ApplicationCommunicator):
        def __init__(self, application: Any, path: str) -> None:
            self.scope = {"type": "websocket", "path": path}
            super().__init__(application, self.scope)

        async def send_input(self, message: Message) -> None:
            seen.append("in:" + message["type"])
            await super().send_input(message)

        async def receive_output(self, timeout: float | None = 1) -> Message:
            message = await super().receive_output(timeout)
            seen.append("out:" + message["type"])
            return message

    async def scope_app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "path", "path": scope["path"]})

    communicator = ChannelsLike(scope_app, "/chat/")
    assert communicator.scope == {"type": "websocket", "path": "/chat/"}
    await communicator.send_input({"type": "hello"})
    assert await communicator.receive_output() == {"type": "path", "path": "/chat/"}
    assert seen == ["in:hello", "out:path"]
    await communicator.wait()


@pytest.mark.asyncio
async def test_asgi2_applications_are_accepted() -> None:
    class Asgi2App:
        def __init__(self, scope: Any) -> None:
            self.scope = scope

        async def __call__(self, receive: Any, send: Any) -> None:
            await send({"type": "scope", "value": self.scope["type"]})

    communicator = ApplicationCommunicator(Asgi2App, {"type": "test"})
    assert await communicator.receive_output() == {"type": "scope", "value": "test"}
    await communicator.wait()


# --- HTTP -----------------------------------------------------------------------------------------


async def http_app(scope: Any, receive: Any, send: Any) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = dict(scope["headers"])
    reply = b"%s %s ?%s len=%d ua=%s" % (
        scope["method"].encode(),
        scope["path"].encode(),
        scope["query_string"],
        len(body),
        headers.get(b"user-agent", b"-"),
    )
    await send(
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": reply[:5], "more_body": True})
    await send({"type": "http.response.body", "body": reply[5:]})


@pytest.mark.asyncio
async def test_http_communicator_collects_a_streamed_response() -> None:
    communicator = HttpCommunicator(
        http_app, "POST", "/items/?x=1", body=b"12345", headers=[("User-Agent", "tests")]
    )
    response = await communicator.get_response()
    assert response.status == 201
    assert response.header("Content-Type") == b"text/plain"
    assert response.body == b"POST /items/ ?x=1 len=5 ua=tests"
    assert communicator.future.done()


@pytest.mark.asyncio
async def test_http_communicator_cancels_an_application_still_running_after_its_response() -> None:
    async def waits_for_disconnect(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        await receive()  # http.disconnect, which nobody sends

    communicator = HttpCommunicator(waits_for_disconnect, "GET", "/")
    response = await communicator.get_response(timeout=0.05)
    assert (response.status, response.body) == (204, b"")
    assert communicator.future.cancelled()


@pytest.mark.asyncio
async def test_http_communicator_reports_a_silent_or_failing_application() -> None:
    silent = HttpCommunicator(silent_app, "GET", "/")
    with pytest.raises(asyncio.TimeoutError):
        await silent.get_response(timeout=0.05)
    assert silent.future.cancelled()

    failing = HttpCommunicator(failing_app, "GET", "/")
    with pytest.raises(AppFailure):
        await failing.get_response(timeout=0.05)


# --- WebSocket ------------------------------------------------------------------------------------


async def websocket_app(scope: Any, receive: Any, send: Any) -> None:
    connect = await receive()
    assert connect["type"] == "websocket.connect"
    if scope["path"] == "/deny":
        await send({"type": "websocket.http.response.start", "status": 403, "headers": []})
        await send({"type": "websocket.http.response.body", "body": b"no"})
        return
    if scope["path"] == "/close":
        await send({"type": "websocket.close", "code": 4001})
        return
    await send({"type": "websocket.accept", "subprotocol": scope["subprotocols"][0]})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"].upper()})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"][::-1]})


@pytest.mark.asyncio
async def test_websocket_conversation() -> None:
    communicator = WebsocketCommunicator(websocket_app, "/chat", subprotocols=["v1", "v2"])
    assert await communicator.connect() == (True, "v1")
    await communicator.send_to(text_data="hello")
    assert await communicator.receive_from() == "HELLO"
    await communicator.send_to(bytes_data=b"abc")
    assert await communicator.receive_from() == b"cba"
    await communicator.send_json_to({"a": 1})
    assert await communicator.receive_json_from() == {"A": 1}
    await communicator.disconnect()
    assert communicator.future.done()
    assert not communicator.future.cancelled()


@pytest.mark.asyncio
async def test_websocket_close_and_denial() -> None:
    closed = WebsocketCommunicator(websocket_app, "/close")
    assert await closed.connect() == (False, 4001)
    await closed.disconnect()  # the application has returned: nothing to wait for
    denied = WebsocketCommunicator(websocket_app, "/deny")
    accepted, response = await denied.connect()
    assert not accepted
    assert isinstance(response, HttpResponse)
    assert (response.status, response.body) == (403, b"no")
    with pytest.raises(TypeError, match="exactly one of"):
        await WebsocketCommunicator(websocket_app, "/x").send_to()


@pytest.mark.asyncio
async def test_websocket_disconnect_cancels_an_application_that_keeps_running() -> None:
    async def ignores_disconnect(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            await receive()

    communicator = WebsocketCommunicator(ignores_disconnect, "/")
    assert await communicator.connect() == (True, None)
    await communicator.disconnect(timeout=0.05)
    assert communicator.future.cancelled()
    with pytest.raises(asyncio.CancelledError):
        await communicator.send_to(text_data="late")


# --- lifespan -------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_lifespan_startup_and_shutdown() -> None:
    events: list[str] = []

    async def lifespan_app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            events.append(message["type"])
            if message["type"] == "lifespan.startup":
                scope["state"]["ready"] = True
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return

    state: dict[str, Any] = {}
    communicator = LifespanCommunicator(lifespan_app, state=state)
    await communicator.startup()
    assert state == {"ready": True}
    await communicator.shutdown()
    assert events == ["lifespan.startup", "lifespan.shutdown"]
    assert communicator.future.done()
    assert not communicator.future.cancelled()


@pytest.mark.asyncio
async def test_lifespan_failure_is_reported() -> None:
    async def failing_startup(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    communicator = LifespanCommunicator(failing_startup)
    with pytest.raises(RuntimeError, match="lifespan startup failed: no database"):
        await communicator.startup()


# --- next_output: waiting that leaves the application running -------------------------------------


@pytest.mark.asyncio
async def test_next_output_times_out_and_leaves_the_application_running() -> None:
    communicator = ApplicationCommunicator(echo_app, {"type": "test"})
    with pytest.raises(asyncio.TimeoutError):
        await communicator.next_output(timeout=0.05)
    assert not communicator.future.done()
    await communicator.send_input({"type": "ping"})
    assert await communicator.next_output() == {"type": "echo", "got": {"type": "ping"}}
    await communicator.send_input({"type": "stop"})
    await communicator.wait()


@pytest.mark.asyncio
async def test_next_output_gives_what_was_sent_before_the_end_then_the_end() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "last words"})
        raise AppFailure("gone")

    communicator = ApplicationCommunicator(app, {"type": "test"})
    assert await communicator.next_output() == {"type": "last words"}
    with pytest.raises(AppFailure, match="gone"):
        await communicator.next_output(timeout=None)  # noticed at once, not after a timeout


@pytest.mark.asyncio
async def test_next_output_after_a_quiet_return_says_so() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()

    communicator = ApplicationCommunicator(app, {"type": "test"})
    await communicator.send_input({"type": "go"})
    with pytest.raises(AssertionError, match="ended without sending another message"):
        await communicator.next_output(timeout=None)


# --- streaming HTTP, and a client that leaves -----------------------------------------------------


async def event_stream(scope: Any, receive: Any, send: Any) -> None:
    """A server-sent-events endpoint that never ends by itself: one event per loop turn."""
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-n", b"1")]})
    number = 0
    while True:
        number += 1
        body = f"data: {number}\n\n".encode()
        await send({"type": "http.response.body", "body": body, "more_body": True})
        await asyncio.sleep(0)


@pytest.mark.asyncio
async def test_an_endless_stream_is_read_piece_by_piece_then_left() -> None:
    communicator = HttpCommunicator(event_stream, "GET", "/events")
    await communicator.send_body()
    start = await communicator.receive_start()
    assert (start.status, start.headers) == (200, [(b"x-n", b"1")])
    events = [await communicator.receive_body_chunk() for _ in range(3)]
    assert events == [b"data: 1\n\n", b"data: 2\n\n", b"data: 3\n\n"]
    assert not communicator.response_complete
    assert await communicator.disconnect() is True  # its next send() raised, so it ended
    assert communicator.sent_after_disconnect[0]["type"] == "http.response.body"
    assert communicator.future.done()


@pytest.mark.asyncio
async def test_a_send_after_the_client_left_raises_an_oserror_the_app_can_catch() -> None:
    seen: list[BaseException] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "http.request"
        assert (await receive())["type"] == "http.disconnect"
        try:
            await send({"type": "http.response.start", "status": 200})
        except OSError as error:
            seen.append(error)

    communicator = HttpCommunicator(app, "GET", "/")
    await communicator.send_body()
    assert await communicator.disconnect() is True
    assert [type(error).__name__ for error in seen] == ["ClientDisconnectedError"]
    assert communicator.sent_after_disconnect == [{"type": "http.response.start", "status": 200}]


@pytest.mark.asyncio
async def test_an_app_that_ignores_the_disconnect_is_cancelled_and_reported() -> None:
    communicator = HttpCommunicator(silent_app, "GET", "/")
    assert await communicator.disconnect(timeout=0.05) is False
    assert communicator.future.cancelled()


@pytest.mark.asyncio
async def test_a_failure_other_than_the_disconnect_is_raised_by_disconnect() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await receive()
        raise AppFailure("while cleaning up")

    communicator = HttpCommunicator(app, "GET", "/")
    await communicator.send_body()
    with pytest.raises(AppFailure, match="while cleaning up"):
        await communicator.disconnect()


@pytest.mark.asyncio
async def test_a_request_body_streams_in_pieces() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        pieces = []
        while True:
            message = await receive()
            pieces.append(message["body"])
            await send(
                {"type": "http.response.start", "status": 200}
                if len(pieces) == 1
                else {"type": "http.response.body", "body": b"ack", "more_body": True}
            )
            if not message["more_body"]:
                break
        await send({"type": "http.response.body", "body": b"|".join(pieces)})

    communicator = HttpCommunicator(app, "POST", "/upload")
    await communicator.send_body(b"one", more_body=True)
    assert (await communicator.receive_start()).status == 200  # answered before the body ended
    await communicator.send_body(b"two", more_body=True)
    assert await communicator.receive_body_chunk() == b"ack"
    await communicator.send_body(b"three")
    assert await communicator.receive_body_chunk() == b"ack"
    assert await communicator.receive_body_chunk() == b"one|two|three"
    assert communicator.response_complete
    with pytest.raises(AssertionError, match="the response is complete"):
        await communicator.receive_body_chunk()


@pytest.mark.asyncio
async def test_a_websocket_app_sending_after_the_disconnect_gets_an_oserror() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await receive()  # the disconnect
        await send({"type": "websocket.send", "text": "too late"})

    communicator = WebsocketCommunicator(app, "/ws")
    assert await communicator.connect() == (True, None)
    assert await communicator.disconnect(code=1001) is True
    assert communicator.sent_after_disconnect == [{"type": "websocket.send", "text": "too late"}]


# --- lifespan state, handed to each scope ---------------------------------------------------------


@pytest.mark.asyncio
async def test_lifespan_state_reaches_each_scope_as_a_copy() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    scope["state"]["pool"] = "the pool"
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await receive()
        scope["state"]["per_request"] = True
        body = scope["state"]["pool"].encode()
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": body})

    async with LifespanCommunicator(app) as lifespan:
        first = await HttpCommunicator(app, "GET", "/", state=lifespan.state).get_response()
        second = HttpCommunicator(app, "GET", "/", state=lifespan.state)
        assert (await second.get_response()).body == first.body == b"the pool"
        assert lifespan.state == {"pool": "the pool"}  # a request's own keys stay its own
        assert second.scope["state"] == {"pool": "the pool", "per_request": True}
    assert lifespan.future.done()


# --- the sync facade ------------------------------------------------------------------------------


def test_the_sync_facade_keeps_one_application_task_across_calls() -> None:
    with SyncCommunicator(ApplicationCommunicator(echo_app, {"type": "test"})) as communicator:
        communicator.send_input({"type": "one"})
        assert communicator.receive_output() == {"type": "echo", "got": {"type": "one"}}
        task = communicator.future
        communicator.send_input({"type": "two"})  # the same task, on the same loop, still runs
        assert communicator.receive_output()["got"] == {"type": "two"}
        assert communicator.future is task
        assert not task.done()
    assert task.cancelled()  # closing ended the application
    with pytest.raises(RuntimeError, match="closed"):
        communicator.send_input({"type": "three"})


def test_the_sync_facade_streams_http() -> None:
    with SyncCommunicator(HttpCommunicator(event_stream, "GET", "/events")) as communicator:
        communicator.send_body()
        assert communicator.receive_start().status == 200
        assert communicator.receive_body_chunk() == b"data: 1\n\n"
        assert communicator.disconnect() is True


class RoomApp:
    """Two connections' applications talking through a queue they share, as consumers talk
    through an in-memory channel layer: they must wait on one event loop."""

    def __init__(self) -> None:
        self.room: asyncio.Queue[str] | None = None
        self.loops: list[asyncio.AbstractEventLoop] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.loops.append(asyncio.get_running_loop())
        if self.room is None:
            self.room = asyncio.Queue()
        message = await receive()
        if message["type"] == "say":
            await self.room.put(message["text"])
        else:
            await send({"type": "heard", "text": await self.room.get()})


def test_sync_facades_open_on_one_thread_share_its_loop_then_leave_no_thread() -> None:
    room = RoomApp()
    before = set(threading.enumerate())
    with (
        SyncCommunicator(ApplicationCommunicator(room, {"type": "test"})) as listener,
        SyncCommunicator(ApplicationCommunicator(room, {"type": "test"})) as speaker,
    ):
        listener.send_input({"type": "listen"})
        speaker.send_input({"type": "say", "text": "hello"})
        assert listener.receive_output() == {"type": "heard", "text": "hello"}
        assert room.loops[0] is room.loops[1]
    assert room.loops[0].is_closed()
    assert {t for t in threading.enumerate() if t.is_alive()} - before == set()


@pytest.mark.asyncio
async def test_the_sync_facade_inside_sync_to_async_runs_on_the_awaiting_loop() -> None:
    def sync_test() -> dict[str, Any]:
        with SyncCommunicator(ApplicationCommunicator(echo_app, {"type": "test"})) as facade:
            facade.send_input({"type": "one"})
            output: dict[str, Any] = facade.receive_output()
            assert facade.future.get_loop() is loop
            return output

    loop = asyncio.get_running_loop()
    assert (await sync_to_async(sync_test)())["got"] == {"type": "one"}


def test_closing_a_sync_facade_after_its_awaiting_loop_ended_is_quiet() -> None:
    async def main() -> SyncCommunicator:
        def sync_part() -> SyncCommunicator:
            facade = SyncCommunicator(ApplicationCommunicator(echo_app, {"type": "test"}))
            facade.send_input({"type": "one"})
            return facade

        return await sync_to_async(sync_part)()

    facade = asyncio.run(main())  # the application ended with that loop
    facade.close()
    with pytest.raises(RuntimeError, match="closed"):
        facade.send_input({"type": "two"})


def test_a_dropped_sync_facade_stops_its_application() -> None:
    facade = SyncCommunicator(ApplicationCommunicator(silent_app, {"type": "test"}))
    facade.send_input({"type": "one"})
    task = facade.future
    (loop_thread,) = [t for t in threading.enumerate() if t.name == "asgiref-thread-loop"]
    del facade
    gc.collect()
    loop_thread.join(10)  # the finalizer stopped the application, then the loop
    assert task.cancelled()


def test_the_sync_facade_refuses_what_is_not_a_communicator() -> None:
    with pytest.raises(TypeError, match="wraps a communicator"):
        SyncCommunicator(echo_app)  # type: ignore[arg-type]
