"""The seed page's WebSocket, load balancing and lifecycle `StatelessServer` examples
(examples/seed/), run as written against this package; the HTTP one is tested in
tests/test_server.py."""

from __future__ import annotations

import asyncio
import re
import socket
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from asgiref.server import StatelessServer

Message = dict[str, Any]

# Bounds for the waits below: event-loop turns for in-process work, seconds for network work.
TURNS = 1000
TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as probe:  # a free loopback port
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def other_tasks() -> set[asyncio.Task[Any]]:
    """Tasks still pending besides the test's own."""
    current = asyncio.current_task()
    return {task for task in asyncio.all_tasks() if task is not current}


async def turns_until(condition: Any, turns: int = TURNS) -> None:
    """Let the event loop turn until `condition()` holds (bounded in turns)."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


async def stop(running: asyncio.Future[Any]) -> None:
    """Cancel a running `arun()` and wait (bounded) until it has stopped."""
    running.cancel()
    done, _ = await asyncio.wait({running}, timeout=TIMEOUT)
    assert done, "the server did not stop"
    assert running.cancelled()


async def connect_when_listening(uri: str) -> ClientConnection:
    for _ in range(500):  # until the server listens (bounded)
        try:
            return await connect(uri, open_timeout=TIMEOUT)
        except OSError:
            await asyncio.sleep(0.01)
    raise AssertionError("the example server never started listening")


# --- WebSocket Server Implementation ---------------------------------------------------------


@pytest.mark.asyncio
async def test_seed_websocket_server_echoes_a_real_client(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from examples.seed.websocket_server import SimpleWebSocketServer, echo_websocket_app

    port = free_port()
    server: Any = SimpleWebSocketServer(echo_websocket_app, host="127.0.0.1", port=port)  # type: ignore[no-untyped-call]
    running = asyncio.ensure_future(server.arun())
    try:
        client = await connect_when_listening(f"ws://127.0.0.1:{port}/echo")
        try:
            replies = []
            for text in ["hello", "second message"]:
                await client.send(text)
                replies.append(await asyncio.wait_for(client.recv(), TIMEOUT))
        finally:
            await client.close()
        assert client.close_code == 1000
    finally:
        await stop(running)
    assert replies == ["Echo: hello", "Echo: second message"]
    assert server.application_instances == {}
    assert f"WebSocket server running on 127.0.0.1:{port}" in capsys.readouterr().out
    assert other_tasks() == set()


@pytest.mark.asyncio
async def test_seed_websocket_server_scope_and_disconnect_on_client_close() -> None:
    from examples.seed.websocket_server import SimpleWebSocketServer, echo_websocket_app

    received: list[Message] = []
    scopes: list[Message] = []
    finished = asyncio.Event()

    async def recording_echo(scope: Message, receive: Any, send: Any) -> None:
        async def recording_receive() -> Message:
            message: Message = await receive()
            received.append(message)
            return message

        scopes.append(scope)
        await echo_websocket_app(scope, recording_receive, send)  # type: ignore[no-untyped-call]
        finished.set()

    port = free_port()
    server: Any = SimpleWebSocketServer(recording_echo, host="127.0.0.1", port=port)  # type: ignore[no-untyped-call]
    running = asyncio.ensure_future(server.arun())
    try:
        client = await connect_when_listening(f"ws://127.0.0.1:{port}/chat/room")
        try:
            await client.send("ping")
            assert await asyncio.wait_for(client.recv(), TIMEOUT) == "Echo: ping"
            await client.send(b"raw")  # binary: passed on as bytes, not echoed by the app
            await client.send("pong")
            assert await asyncio.wait_for(client.recv(), TIMEOUT) == "Echo: pong"
        finally:
            await client.close()
        # A normal close by the client ends the application (it gets websocket.disconnect)
        # while the server goes on serving.
        await asyncio.wait_for(finished.wait(), TIMEOUT)
        assert not running.done()
    finally:
        await stop(running)
    assert [scope["type"] for scope in scopes] == ["websocket"]
    assert scopes[0]["path"] == "/chat/room"
    assert scopes[0]["server"] == ("127.0.0.1", port)
    assert received == [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": "ping"},
        {"type": "websocket.receive", "bytes": b"raw"},
        {"type": "websocket.receive", "text": "pong"},
        {"type": "websocket.disconnect", "code": 1000},
    ]
    assert server.application_instances == {}
    assert other_tasks() == set()


@pytest.mark.asyncio
async def test_seed_websocket_server_stops_with_a_client_still_connected() -> None:
    from examples.seed.websocket_server import SimpleWebSocketServer, echo_websocket_app

    port = free_port()
    server: Any = SimpleWebSocketServer(echo_websocket_app, host="127.0.0.1", port=port)  # type: ignore[no-untyped-call]
    running = asyncio.ensure_future(server.arun())
    client: ClientConnection | None = None
    try:
        client = await connect_when_listening(f"ws://127.0.0.1:{port}/")
        await client.send("still here")
        assert await asyncio.wait_for(client.recv(), TIMEOUT) == "Echo: still here"
        assert len(server.application_instances) == 1
    finally:
        await stop(running)  # closes the connection (1001, going away) and ends its handler
        if client is not None:
            await asyncio.wait_for(client.wait_closed(), TIMEOUT)
    assert client.close_code == 1001
    assert server.application_instances == {}
    assert other_tasks() == set()


def test_seed_websocket_server_usage_object() -> None:
    from examples.seed.websocket_server import (
        SimpleWebSocketServer,
        echo_websocket_app,
        ws_server,
    )

    assert isinstance(ws_server, SimpleWebSocketServer)
    assert isinstance(ws_server, StatelessServer)
    assert (ws_server.host, ws_server.port) == ("127.0.0.1", 8001)
    assert ws_server.application is echo_websocket_app
    assert ws_server.max_applications == 1000


# --- Load Balancing Server -------------------------------------------------------------------


@pytest.mark.asyncio
async def test_seed_load_balancer_round_robin_through_the_instances_application() -> None:
    from examples.seed.load_balancer import LoadBalancingServer, app1, app2

    server: Any = LoadBalancingServer([app1, app2])  # type: ignore[no-untyped-call]
    bodies: list[bytes] = []
    starts: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            starts.append(message)
        else:
            bodies.append(message["body"])

    for number in range(5):
        scope_id = f"client-{number}"
        scope: Message = {"type": "http", "method": "GET", "path": "/"}
        instance = await server.get_or_create_application_instance(scope_id, scope)
        assert instance["scope"] is scope
        await instance["application"](scope, receive, send)
        await server.delete_application_instance(scope_id)

    assert bodies == [
        b"Response from App 1",
        b"Response from App 2",
        b"Response from App 1",
        b"Response from App 2",
        b"Response from App 1",
    ]
    assert [start["status"] for start in starts] == [200] * 5
    assert server.application_instances == {}
    # The base class's own runs, cancelled before they began, end at the next loop turns.
    await turns_until(lambda: other_tasks() == set())


@pytest.mark.asyncio
async def test_seed_load_balancer_runs_instances_started_by_the_base_class(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from examples.seed.load_balancer import LoadBalancingServer, app1, app2

    server: Any = LoadBalancingServer([app1, app2])  # type: ignore[no-untyped-call]
    server.application_checker_interval = 0  # a check every loop turn: bounded in turns below
    running = asyncio.ensure_future(server.arun())
    try:
        instances = []
        for scope_id in ["a", "b", "c"]:  # called plainly, used as the input queue
            instance = server.get_or_create_application_instance(scope_id, {"type": "http"})
            instance.put_nowait({"type": "http.request", "body": b""})  # starts it
            instances.append(instance)
        await asyncio.wait_for(asyncio.gather(*(i["future"] for i in instances)), TIMEOUT)
        assert server.current_app_index == 1  # app1, app2, app1: app2 is next
        # The checker forgets the instances that finished.
        await turns_until(lambda: server.application_instances == {})
        assert not running.done()
    finally:
        await stop(running)
    out = capsys.readouterr().out
    assert "Load balancing server with 2 applications" in out
    assert out.count("Sending message: http.response.start") == 3
    assert out.count("Sending message: http.response.body") == 3
    assert other_tasks() == set()


@pytest.mark.asyncio
async def test_seed_load_balancer_reports_a_failing_application(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from examples.seed.load_balancer import LoadBalancingServer, app1

    async def failing(scope: Message, receive: Any, send: Any) -> None:
        raise RuntimeError("backend down")

    server: Any = LoadBalancingServer([failing, app1])  # type: ignore[no-untyped-call]
    server.application_checker_interval = 0
    running = asyncio.ensure_future(server.arun())
    try:
        broken = server.get_or_create_application_instance("broken", {"type": "http"})
        broken.put_nowait({"type": "http.request", "body": b""})
        healthy = server.get_or_create_application_instance("healthy", {"type": "http"})
        healthy.put_nowait({"type": "http.request", "body": b""})
        await asyncio.wait_for(healthy["future"], TIMEOUT)
        await turns_until(lambda: "Application exception" in capsys.readouterr().out)
        await turns_until(lambda: server.application_instances == {})
        assert not running.done()
    finally:
        await stop(running)
    assert broken["future"].exception() is not None
    assert other_tasks() == set()


@pytest.mark.asyncio
async def test_seed_load_balancer_exception_hook_prints_its_context(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from examples.seed.load_balancer import LoadBalancingServer, app1, app2

    server: Any = LoadBalancingServer([app1, app2])  # type: ignore[no-untyped-call]
    await server.application_exception(ValueError("boom"), {"scope_id": "x"})
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "Application exception in load balancer: boom",
        "Application details: {'scope_id': 'x'}",
    ]


def test_seed_load_balancer_usage_object() -> None:
    from examples.seed.load_balancer import LoadBalancingServer, app1, app2, load_balancer

    assert isinstance(load_balancer, LoadBalancingServer)
    assert load_balancer.applications == [app1, app2]
    assert load_balancer.current_app_index == 0
    assert load_balancer.application == load_balancer.dispatcher_app
    assert load_balancer.max_applications == 1000


# --- Custom Application Lifecycle Management -------------------------------------------------

LIFETIME_LINE = r"Instance {} lived \d+\.\d\ds, handled 0 requests"


@pytest.mark.asyncio
async def test_seed_managed_lifecycle_tracks_and_deletes_instances(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from examples.seed.http_server import simple_app
    from examples.seed.managed_lifecycle import ManagedLifecycleServer

    server: Any = ManagedLifecycleServer(simple_app)  # type: ignore[no-untyped-call]
    first = await server.get_or_create_application_instance("a", {"type": "http"})
    second = await server.get_or_create_application_instance("b", {"type": "http"})
    assert first is not second
    assert await server.get_or_create_application_instance("a", {"type": "http"}) is first
    # Listed in creation order; using "a" again made its last_used the newest.
    assert list(server.application_instances) == ["a", "b"]
    entries = server.application_instances
    assert entries["a"]["last_used"] >= entries["b"]["last_used"]
    assert set(server.instance_stats) == {"a", "b"}
    for stats in server.instance_stats.values():
        assert set(stats) == {"created_at", "request_count", "last_activity"}
        assert stats["request_count"] == 0

    # The base class started both applications when it made the instances, with its own send.
    await asyncio.wait_for(asyncio.gather(first["future"], second["future"]), TIMEOUT)
    out = capsys.readouterr().out
    assert out.count("Sending http.response.start for scope None") == 2
    assert out.count("Sending http.response.body for scope None") == 2

    await server.delete_application_instance("a")
    assert re.fullmatch(LIFETIME_LINE.format("a") + "\n", capsys.readouterr().out)
    assert "a" not in server.instance_stats
    assert "a" not in server.application_instances
    await server.delete_application_instance("b")
    assert re.fullmatch(LIFETIME_LINE.format("b") + "\n", capsys.readouterr().out)
    assert server.instance_stats == {}
    assert server.application_instances == {}
    with pytest.raises(KeyError, match="never-made"):  # as asgiref 3.13.0 does
        await server.delete_application_instance("never-made")
    assert capsys.readouterr().out == ""
    assert other_tasks() == set()


@pytest.mark.asyncio
async def test_seed_managed_lifecycle_checker_rounds_and_idle_expiry(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from examples.seed.http_server import simple_app
    from examples.seed.managed_lifecycle import ManagedLifecycleServer

    server: Any = ManagedLifecycleServer(simple_app)  # type: ignore[no-untyped-call]
    server.application_checker_interval = 0  # a round every loop turn: bounded in turns below
    running = asyncio.ensure_future(server.arun())
    try:
        await server.get_or_create_application_instance("idle", {"type": "http"})
        await server.get_or_create_application_instance("busy", {"type": "http"})
        seen: list[str] = []

        def rounds(count: int) -> Any:
            def enough() -> bool:
                seen.append(capsys.readouterr().out)
                return "".join(seen).count("Active instances: ") >= count

            return enough

        await turns_until(rounds(2))
        assert "Active instances: 2" in "".join(seen)
        # Idle for more than 30 seconds: the checker deletes it through the override.
        server.instance_stats["idle"]["last_activity"] -= 60
        seen.clear()
        await turns_until(lambda: "idle" not in server.instance_stats)
        await turns_until(rounds(2))
        out = "".join(seen)
        assert re.search(LIFETIME_LINE.format("idle"), out)
        assert "Active instances: 1" in out
        assert list(server.application_instances) == ["busy"]
        assert not running.done()
    finally:
        await stop(running)
    # Stopping the server leaves its instances listed, as asgiref 3.13.0 does ("busy" has
    # finished: simple_app answered at once, and this checker forgets only idle instances).
    assert list(server.application_instances) == ["busy"]
    assert server.application_instances["busy"]["future"].done()
    assert other_tasks() == set()


@pytest.mark.asyncio
async def test_seed_managed_lifecycle_eviction_calls_the_async_override(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from examples.seed.http_server import simple_app
    from examples.seed.managed_lifecycle import ManagedLifecycleServer

    server: Any = ManagedLifecycleServer(simple_app, max_applications=2)  # type: ignore[no-untyped-call]
    for scope_id in ["a", "b", "c"]:
        await server.get_or_create_application_instance(scope_id, {"type": "http"})
    # As in asgiref 3.13.0, eviction starts only when more than max_applications are listed.
    assert list(server.application_instances) == ["a", "b", "c"]
    assert "Instance" not in capsys.readouterr().out
    # Making "d" evicts "a" through the overridden (coroutine) delete, which runs as a task; the
    # awaited get_or_create_application_instance returns once it has finished.
    await server.get_or_create_application_instance("d", {"type": "http"})
    assert list(server.application_instances) == ["b", "c", "d"]
    assert set(server.instance_stats) == {"b", "c", "d"}
    out = capsys.readouterr().out
    assert re.search(LIFETIME_LINE.format("a"), out)
    assert "Instance b" not in out
    await turns_until(lambda: other_tasks() == set(), turns=100)


def test_seed_managed_lifecycle_usage_object() -> None:
    from examples.seed import http_server
    from examples.seed.managed_lifecycle import ManagedLifecycleServer, managed_server

    assert isinstance(managed_server, ManagedLifecycleServer)
    assert managed_server.application is http_server.simple_app
    assert managed_server.max_applications == 500
    assert managed_server.instance_stats == {}
