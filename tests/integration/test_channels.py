"""The Django project's Channels side, in this process: Channels' own test communicators (which
stand on `asgiref.testing.ApplicationCommunicator`), `database_sync_to_async` (a `SyncToAsync`
subclass overriding `thread_handler`), group sends from a sync view, and Channels' worker (a
`StatelessServer` subclass) serving a named channel of the in-memory channel layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from channels.db import DatabaseSyncToAsync, database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import ApplicationCommunicator, HttpCommunicator, WebsocketCommunicator
from channels.worker import Worker

from asgiref.server import StatelessServer
from asgiref.sync import SyncToAsync, sync_to_async

TIMEOUT = 10.0  # seconds, for every message a test waits for
HOST = [(b"host", b"testserver")]


@pytest.fixture
def application(pristine_db: Path) -> Any:
    from intsite.asgi import application

    return application


@pytest_asyncio.fixture
async def layer(application: Any) -> AsyncIterator[Any]:
    """The project's in-memory channel layer, emptied before and after the test."""
    channel_layer = get_channel_layer()
    await channel_layer.flush()
    yield channel_layer
    await channel_layer.flush()


async def _connect(application: Any, path: str) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, path)
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected, path
    return communicator


async def _get(application: Any, path: str, method: str = "GET") -> dict[str, Any]:
    communicator = HttpCommunicator(application, method, path, headers=HOST)
    response: dict[str, Any] = await communicator.get_response(timeout=TIMEOUT)
    await communicator.wait(TIMEOUT)
    return response


def _header(response: dict[str, Any], name: bytes) -> bytes:
    values = [value for key, value in response["headers"] if key.lower() == name]
    assert len(values) == 1, (name, response["headers"])
    value: bytes = values[0]
    return value


# --- WebSocket consumers ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_websocket_consumer(application: Any, layer: Any) -> None:
    communicator = await _connect(application, "/ws/echo/")
    await communicator.send_to(text_data="hello")
    assert await communicator.receive_from(timeout=TIMEOUT) == "HELLO"
    await communicator.send_to(bytes_data=b"abc")
    assert await communicator.receive_from(timeout=TIMEOUT) == b"cba"
    await communicator.send_to(text_data="db")
    report = json.loads(await communicator.receive_from(timeout=TIMEOUT))
    assert report["count"] >= 0
    # A sync consumer's handlers run in a thread, not on the event loop's.
    assert report["thread"] != threading.get_ident()
    assert await communicator.receive_nothing()
    await communicator.disconnect(timeout=TIMEOUT)


@pytest.mark.asyncio
async def test_async_websocket_consumer(application: Any, layer: Any) -> None:
    communicator = await _connect(application, "/ws/async/")
    await communicator.send_to(text_data="hi")
    assert await communicator.receive_from(timeout=TIMEOUT) == "async:hi"
    await communicator.send_to(bytes_data=b"xy")
    assert await communicator.receive_from(timeout=TIMEOUT) == b"xyxy"
    await communicator.send_to(text_data="count")
    report = json.loads(await communicator.receive_from(timeout=TIMEOUT))
    assert report["count"] >= 0
    assert report["thread"] != threading.get_ident()
    await communicator.disconnect(timeout=TIMEOUT)


@pytest.mark.asyncio
async def test_json_websocket_consumer_saves_items_and_signals_run(
    application: Any, layer: Any
) -> None:
    communicator = await _connect(application, "/ws/json/")
    await communicator.send_json_to({"action": "count"})
    count = (await communicator.receive_json_from(timeout=TIMEOUT))["count"]
    for number in range(3):
        name = f"json-{uuid.uuid4().hex[:12]}"
        await communicator.send_json_to({"action": "create", "name": name})
        created = await communicator.receive_json_from(timeout=TIMEOUT)
        assert created["count"] == count + number + 1
        # Both post_save receivers ran on the consumer's thread; the async one through
        # async_to_sync, with its write brought back by (thread-sensitive) sync_to_async.
        assert created["logs"] == [
            {"receiver": "async", "thread": created["thread"]},
            {"receiver": "sync", "thread": created["thread"]},
        ]
    await communicator.send_json_to({"action": "dance"})
    assert await communicator.receive_json_from(timeout=TIMEOUT) == {
        "error": "unknown action 'dance'"
    }
    await communicator.disconnect(timeout=TIMEOUT)


@pytest.mark.asyncio
async def test_unknown_websocket_path_is_an_error(application: Any, layer: Any) -> None:
    communicator = WebsocketCommunicator(application, "/ws/nowhere/")
    with pytest.raises(ValueError, match="No route found"):
        await communicator.connect(timeout=TIMEOUT)


# --- HTTP through HttpCommunicator --------------------------------------------------------


@pytest.mark.asyncio
async def test_http_views_through_http_communicator(application: Any, layer: Any) -> None:
    sync = await _get(application, "/sync/")
    assert sync["status"] == 200
    assert sync["body"] == b"hello sync"
    assert _header(sync, b"x-async-middleware") == b"ran"
    assert _header(sync, b"x-sync-middleware") == _header(sync, b"x-view-thread")

    async_view = await _get(application, "/async/")
    assert async_view["status"] == 200
    assert async_view["body"] == b"hello async"
    assert _header(async_view, b"x-async-middleware") == b"ran"

    count = json.loads((await _get(application, "/orm/"))["body"])["count"]
    created = await _get(application, "/orm/?name=communicated", method="POST")
    body = json.loads(created["body"])
    assert body["count"] == count + 1
    assert [log["receiver"] for log in body["created"]["logs"]] == ["async", "sync"]


@pytest.mark.asyncio
@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_streaming_view_through_application_communicator(
    application: Any, layer: Any, flavour: str
) -> None:
    """Chunk by chunk, with Channels' ApplicationCommunicator (HttpCommunicator reads whole
    bodies only, and expects a `body` key in every message, which ASGI does not require)."""
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "path": f"/stream/{flavour}/",
        "query_string": b"n=7",
        "headers": HOST,
    }
    communicator = ApplicationCommunicator(application, scope)
    # Django says so when its ASGI handler has to consume a sync iterator.
    warns: contextlib.AbstractContextManager[object] = (
        pytest.warns(Warning, match="must consume synchronous iterators")
        if flavour == "sync"
        else contextlib.nullcontext()
    )
    chunks: list[bytes] = []
    with warns:
        await communicator.send_input({"type": "http.request", "body": b""})
        start = await communicator.receive_output(timeout=TIMEOUT)
        assert start["type"] == "http.response.start"
        assert start["status"] == 200
        for _ in range(100):  # bounded: 7 chunks and an end
            message = await communicator.receive_output(timeout=TIMEOUT)
            assert message["type"] == "http.response.body"
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
    assert b"".join(chunks).decode().splitlines() == [f"{flavour} chunk {n}" for n in range(7)]
    assert len([chunk for chunk in chunks if chunk]) == 7  # one message per chunk
    await communicator.wait(TIMEOUT)


@pytest.mark.asyncio
async def test_group_send_from_a_sync_view_reaches_every_consumer_in_the_group(
    application: Any, layer: Any
) -> None:
    """The sync view calls `async_to_sync(channel_layer.group_send)` 50 times in a row from its
    thread; every call must run on this test's event loop, which owns the layer's queues the
    consumers wait on, so both consumers get all 50 messages, in order."""
    group = f"g{uuid.uuid4().hex}"
    messages = 50
    sync_consumer = await _connect(application, f"/ws/echo/?group={group}")
    async_consumer = await _connect(application, f"/ws/async/?group={group}")
    response = await _get(application, f"/groupsend/?group={group}&n={messages}")
    assert response["status"] == 200
    assert json.loads(response["body"])["sent"] == messages
    for communicator, consumer in ((sync_consumer, "sync"), (async_consumer, "async")):
        received = [
            json.loads(await communicator.receive_from(timeout=TIMEOUT)) for _ in range(messages)
        ]
        assert received == [{"consumer": consumer, "seq": seq} for seq in range(messages)]
        assert await communicator.receive_nothing()
        await communicator.disconnect(timeout=TIMEOUT)


# --- database_sync_to_async -----------------------------------------------------------------


@pytest.mark.asyncio
async def test_database_sync_to_async_closes_old_connections(application: Any) -> None:
    """Channels' `DatabaseSyncToAsync` overrides `SyncToAsync.thread_handler` to call Django's
    `close_old_connections()` before and after the function (with CONN_MAX_AGE=0 that closes
    the thread's connection). Called directly (Channels' communicators patch that call out
    while they wait), on the one thread-sensitive thread."""
    from intsite.consumers import close_connection, connection_state, touch_database

    assert issubclass(DatabaseSyncToAsync, SyncToAsync)
    assert DatabaseSyncToAsync.thread_handler is not SyncToAsync.thread_handler

    during = await database_sync_to_async(touch_database)()
    after = await sync_to_async(connection_state)()
    assert during["open"] is True
    assert after == {"thread": during["thread"], "open": False}

    # Plain sync_to_async leaves it open: the difference is the override's doing.
    during = await sync_to_async(touch_database)()
    after = await sync_to_async(connection_state)()
    assert during["open"] is True
    assert after == {"thread": during["thread"], "open": True}
    await sync_to_async(close_connection)()

    # The override passes arguments and results (and exceptions) through.
    assert await database_sync_to_async(lambda a, b=0: a + b)(2, b=3) == 5
    with pytest.raises(ZeroDivisionError):
        await database_sync_to_async(lambda: 1 // 0)()


# --- Channels' worker (a StatelessServer) ---------------------------------------------------


@pytest.mark.asyncio
# The server's `send` is a plain callable, so Channels' SyncConsumer wrapping it in async_to_sync
# gets asgiref 3.13's "non-async-marked callable" warning, here as there.
@pytest.mark.filterwarnings("ignore:async_to_sync was passed a non-async-marked callable")
async def test_worker_serves_a_named_channel(application: Any, layer: Any) -> None:
    """`Worker(application, ["tasks"], layer)`, as `manage.py runworker tasks` builds it, run
    with `arun()` in a task: one application instance (a TaskConsumer) for the channel gets
    every message, saves an Item for each and answers on the reply channel; then the worker is
    cancelled."""
    from intsite.shop.models import Item

    worker = Worker(application=application, channels=["tasks"], channel_layer=layer)
    assert isinstance(worker, StatelessServer)
    reply_to = await layer.new_channel()
    names = [f"task-{uuid.uuid4().hex[:8]}-{n}" for n in range(20)]
    for name in names:
        await layer.send("tasks", {"type": "task.record", "name": name, "reply_to": reply_to})

    before = asyncio.all_tasks()
    running = asyncio.ensure_future(worker.arun())
    try:
        replies = [await asyncio.wait_for(layer.receive(reply_to), TIMEOUT) for _ in names]
        assert list(worker.application_instances) == ["tasks"]
    finally:
        running.cancel()
        await asyncio.wait_for(asyncio.gather(running, return_exceptions=True), TIMEOUT)
        # Channels' Worker.handle() starts a listener task per channel and does not cancel them
        # when it is cancelled itself: end them here, so the test leaves nothing running.
        leftovers = asyncio.all_tasks() - before - {asyncio.current_task()}
        for task in leftovers:
            task.cancel()
        if leftovers:
            await asyncio.wait(leftovers, timeout=TIMEOUT)
    assert running.cancelled()
    # As in asgiref 3.13, the instance stays listed after the server stopped; the task clean-up
    # above cancelled it.
    assert list(worker.application_instances) == ["tasks"]
    assert worker.application_instances["tasks"]["future"].cancelled()
    assert [reply["name"] for reply in replies] == names
    assert all(reply["type"] == "task.done" for reply in replies)

    def stored() -> list[str]:
        return sorted(Item.objects.filter(name__in=names).values_list("name", flat=True))

    assert await database_sync_to_async(stored)() == sorted(names)


# --- the sync facade ------------------------------------------------------------------------


def test_sync_tests_drive_consumers_that_talk_through_the_channel_layer(application: Any) -> None:
    """From sync test code (a Django sync `TestCase` method), through `SyncCommunicator`: the
    facades open on this thread share its loop, so the in-memory layer's queues, which the
    consumers wait on, and the group sends of the sync view all meet on one loop."""
    from asgiref.sync import async_to_sync
    from asgiref.testing import HttpCommunicator as AsgirefHttp
    from asgiref.testing import SyncCommunicator
    from asgiref.testing import WebsocketCommunicator as AsgirefWebsocket

    group = f"g{uuid.uuid4().hex}"
    async_to_sync(get_channel_layer().flush)()
    with (
        SyncCommunicator(AsgirefWebsocket(application, f"/ws/echo/?group={group}")) as first,
        SyncCommunicator(AsgirefWebsocket(application, f"/ws/async/?group={group}")) as second,
    ):
        assert first.connect(TIMEOUT)[0]
        assert second.connect(TIMEOUT)[0]
        view = SyncCommunicator(AsgirefHttp(application, "GET", f"/groupsend/?group={group}&n=3"))
        with view:
            assert view.get_response(TIMEOUT).status == 200
        for facade, consumer in ((first, "sync"), (second, "async")):
            received = [json.loads(facade.receive_from(TIMEOUT)) for _ in range(3)]
            assert received == [{"consumer": consumer, "seq": seq} for seq in range(3)]
            facade.disconnect(timeout=TIMEOUT)
    async_to_sync(get_channel_layer().flush)()
