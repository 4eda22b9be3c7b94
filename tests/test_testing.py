"""Tests for asgiref.testing: the communicators, against small real ASGI applications."""

from __future__ import annotations

import asyncio
import gc
import traceback
from typing import Any

import pytest

from asgiref.testing import (
    ApplicationCommunicator,
    HttpCommunicator,
    HttpResponse,
    LifespanCommunicator,
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
async def test_application_exception_surfaces_with_its_traceback() -> None:
    communicator = ApplicationCommunicator(failing_app, {"type": "test"})
    await communicator.send_input({"type": "go"})
    with pytest.raises(AppFailure, match="broken on purpose") as info:
        await communicator.receive_output()
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert "failing_app" in frames
    with pytest.raises(AppFailure):
        await communicator.send_input({"type": "again"})
    with pytest.raises(AppFailure):
        communicator.stop()


@pytest.mark.asyncio
async def test_receive_output_timeout_says_what_it_waited_for_and_cancels() -> None:
    communicator = ApplicationCommunicator(silent_app, {"type": "test"})
    with pytest.raises(asyncio.TimeoutError, match=r"sent nothing within 0\.05 s"):
        await communicator.receive_output(timeout=0.05)
    assert communicator.future.cancelled()


@pytest.mark.asyncio
async def test_wait_timeout_cancels_the_application() -> None:
    communicator = ApplicationCommunicator(silent_app, {"type": "test"})
    with pytest.raises(asyncio.TimeoutError, match=r"did not finish within 0\.05 s"):
        await communicator.wait(timeout=0.05)
    assert communicator.future.cancelled()


@pytest.mark.asyncio
async def test_receive_nothing_is_false_when_something_was_sent() -> None:
    communicator = ApplicationCommunicator(echo_app, {"type": "test"})
    await communicator.send_input({"type": "ping"})
    assert not await communicator.receive_nothing(timeout=1)
    assert (await communicator.receive_output())["type"] == "echo"
    communicator.stop()


@pytest.mark.asyncio
async def test_stop_and_garbage_collection_leave_no_pending_task() -> None:
    stopped = ApplicationCommunicator(silent_app, {"type": "test"})
    await stopped.send_input({"type": "anything"})
    stopped.stop()
    await asyncio.gather(stopped.future, return_exceptions=True)
    assert stopped.future.cancelled()

    dropped = ApplicationCommunicator(silent_app, {"type": "test"})
    await dropped.send_input({"type": "anything"})
    task = dropped.future
    del dropped
    gc.collect()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()

    never_used = ApplicationCommunicator(silent_app, {"type": "test"})
    del never_used
    gc.collect()
    assert len(asyncio.all_tasks()) == 1  # only this test's own task


def test_communicator_can_be_built_outside_an_event_loop() -> None:
    communicator = ApplicationCommunicator(echo_app, {"type": "test"})

    async def use() -> Message:
        await communicator.send_input({"type": "ping"})
        reply = await communicator.receive_output()
        await communicator.send_input({"type": "stop"})
        await communicator.wait()
        return reply

    assert asyncio.run(use())["type"] == "echo"


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

        async def receive_output(self, timeout: float = 1) -> Message:
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


@pytest.mark.asyncio
async def test_websocket_close_and_denial() -> None:
    closed = WebsocketCommunicator(websocket_app, "/close")
    assert await closed.connect() == (False, 4001)
    denied = WebsocketCommunicator(websocket_app, "/deny")
    accepted, response = await denied.connect()
    assert not accepted
    assert isinstance(response, HttpResponse)
    assert (response.status, response.body) == (403, b"no")
    with pytest.raises(TypeError, match="exactly one of"):
        await WebsocketCommunicator(websocket_app, "/x").send_to()


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


@pytest.mark.asyncio
async def test_lifespan_failure_is_reported() -> None:
    async def failing_startup(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    communicator = LifespanCommunicator(failing_startup)
    with pytest.raises(RuntimeError, match="lifespan startup failed: no database"):
        await communicator.startup()
