"""The Django project (tests/integration/intsite) served by real servers, requested over real
sockets on 127.0.0.1 with httpx and the websockets client.

Three stacks, each a server subprocess with a database of its own:

* `uvicorn`: uvicorn (uvloop, httptools) serving `intsite.asgi:application`: Channels'
  ProtocolTypeRouter, with Django's ASGI handler for HTTP and consumers for WebSockets.
* `daphne`: Daphne (Twisted) serving the same application.
* `wsgi`: uvicorn serving `intsite.wsgi_on_asgi:application`: Django's WSGI handler behind this
  package's `WsgiToAsgi`.

After every test (`Site.check`): the server has logged no traceback, no SynchronousOnlyOperation
and no "You cannot call this from an async context", and, within a bounded wait, holds no file
descriptor to its SQLite database (or its journal) open: with CONN_MAX_AGE=0 Django closes a
request's connection when the request finishes, so one left open is a leaked connection. The
log is checked once more after the server has stopped.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from stacks import HTTP_TIMEOUT, Server, copy_database, python_module, server_env, serving
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect


def _uvicorn(app: str, lifespan: str) -> Callable[[int], Sequence[str]]:
    def argv(port: int) -> Sequence[str]:
        return python_module(
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--lifespan",
            lifespan,
            "--no-access-log",
            "--log-level",
            "warning",
        )

    return argv


def _daphne(port: int) -> Sequence[str]:
    return python_module(
        "daphne", "-v", "0", "-b", "127.0.0.1", "-p", str(port), "intsite.asgi:application"
    )


STACKS: dict[str, Callable[[int], Sequence[str]]] = {
    # Django's ASGI handler speaks no lifespan protocol.
    "uvicorn": _uvicorn("intsite.asgi:application", "off"),
    "daphne": _daphne,
    # WsgiToAsgi does speak it.
    "wsgi": _uvicorn("intsite.wsgi_on_asgi:application", "on"),
}
ALL_STACKS = pytest.mark.parametrize("site", list(STACKS), indirect=True)
ASGI_STACKS = pytest.mark.parametrize("site", ["uvicorn", "daphne"], indirect=True)


@dataclass
class Site:
    stack: str
    server: Server
    database: Path
    client: httpx.Client

    def check(self) -> None:
        self.server.assert_log_clean()
        self.server.assert_no_open_files_under(self.database)

    def async_client(self, connections: int = 10) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.server.url,
            timeout=HTTP_TIMEOUT,
            limits=httpx.Limits(max_connections=connections),
        )


@pytest.fixture(scope="module")
def site(
    request: pytest.FixtureRequest, pristine_db: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    stack: str = request.param
    directory = tmp_path_factory.mktemp(stack)
    database = copy_database(pristine_db, directory)
    env = server_env(DJANGO_SETTINGS_MODULE="intsite.settings", INTSITE_DB=str(database))
    with (
        serving(stack, STACKS[stack], env=env, log=directory / "server.log") as server,
        httpx.Client(base_url=server.url, timeout=HTTP_TIMEOUT) as client,
    ):
        yield Site(stack, server, database, client)


def _assert_both_middleware_ran(response: httpx.Response) -> None:
    assert response.headers["x-async-middleware"] == "ran"
    assert int(response.headers["x-sync-middleware"]) > 0  # a thread id


# --- HTTP ------------------------------------------------------------------------------------


@ALL_STACKS
def test_hello_views_pass_through_both_middleware(site: Site) -> None:
    sync = site.client.get("/sync/")
    assert sync.status_code == 200
    assert sync.text == "hello sync"
    assert sync.headers["content-type"] == "text/plain; charset=utf-8"
    _assert_both_middleware_ran(sync)
    # The sync-only middleware ran on the sync view's own thread (one sync world per request).
    assert sync.headers["x-sync-middleware"] == sync.headers["x-view-thread"]

    async_view = site.client.get("/async/")
    assert async_view.status_code == 200
    assert async_view.text == "hello async"
    _assert_both_middleware_ran(async_view)
    site.check()


@ALL_STACKS
def test_orm_view_creates_and_counts_items_and_both_signal_receivers_run(site: Site) -> None:
    before = site.client.get("/orm/")
    assert before.status_code == 200
    assert before.json() == {"count": before.json()["count"], "created": None}
    count = before.json()["count"]

    name = f"item-{uuid.uuid4().hex[:12]}"
    response = site.client.post("/orm/", params={"name": name})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == count + 1
    created = body["created"]
    # post_save ran both receivers, and both wrote on the thread that saved the item: the async
    # receiver through async_to_sync (on the server's loop), its write back through
    # sync_to_async onto the waiting thread.
    assert created["logs"] == [
        {"receiver": "async", "thread": created["thread"]},
        {"receiver": "sync", "thread": created["thread"]},
    ]
    _assert_both_middleware_ran(response)
    assert site.client.get("/orm/").json() == {"count": count + 1, "created": None}
    site.check()


@ALL_STACKS
def test_whoami_reports_the_view_threads_own_connection(site: Site) -> None:
    for _ in range(3):
        report = site.client.get("/whoami/").json()
        assert report["wrapper_thread"] == report["thread"]
    site.check()


@ALL_STACKS
@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_streaming_response(site: Site, flavour: str) -> None:
    chunks = 50
    with site.client.stream("GET", f"/stream/{flavour}/", params={"n": chunks}) as response:
        assert response.status_code == 200
        assert "content-length" not in response.headers  # streamed, not buffered
        body = b"".join(response.iter_bytes())
    assert body.decode().splitlines() == [f"{flavour} chunk {n}" for n in range(chunks)]
    _assert_both_middleware_ran(response)
    site.check()


def _streamed_through_a_gate(site: Site, path: str, count: int) -> list[str]:
    """Stream `path`; after its first line, open the gate its generator waits at (so the first
    line arrived before the generator made the rest), then read the rest."""
    key = uuid.uuid4().hex
    params = {"id": key, "n": str(count)}
    with site.client.stream("GET", path, params=params) as response:
        assert response.status_code == 200
        assert "content-length" not in response.headers
        lines = response.iter_lines()
        first = next(lines)
        assert site.client.get("/stream/release/", params={"id": key}).text == "released"
        return [first, *lines]


@ASGI_STACKS
def test_a_sync_generator_reading_the_orm_streams_through_sync_to_async_iter(site: Site) -> None:
    logged_before = len(site.server.log_text())  # the log is shared by the module's tests
    lines = _streamed_through_a_gate(site, "/stream/orm-bridged/", 5)
    assert [line.split(" thread")[0] for line in lines] == [f"row {n}" for n in range(5)]
    threads = {line.split("thread ")[1].split(" ")[0] for line in lines}
    assert len(threads) == 1  # every step, ORM included, on the request's one database thread
    assert "must consume synchronous iterators" not in site.server.log_text()[logged_before:]
    site.check()


@pytest.mark.parametrize("site", ["wsgi"], indirect=True)
def test_an_async_generator_streams_under_wsgi_through_async_to_sync_iter(site: Site) -> None:
    logged_before = len(site.server.log_text())
    lines = _streamed_through_a_gate(site, "/stream/async-bridged/", 4)
    assert lines == [f"async chunk {n}" for n in range(4)]
    assert "must consume asynchronous iterators" not in site.server.log_text()[logged_before:]
    site.check()


@ALL_STACKS
@pytest.mark.asyncio
async def test_concurrent_sync_orm_requests_each_hold_their_own_connection(site: Site) -> None:
    """24 requests to a sync view that opens its thread's connection and then waits (a barrier,
    bounded) until all 24 hold theirs at the same time: each must be served at once, on a thread
    of its own, with a connection of its own."""
    parties = 24
    params = {"parties": str(parties), "round": uuid.uuid4().hex}
    async with site.async_client(connections=parties) as client:
        responses = await asyncio.gather(
            *(client.get("/orm/hold/", params=params) for _ in range(parties))
        )
    assert [response.status_code for response in responses] == [200] * parties
    reports = [response.json() for response in responses]
    assert len({report["thread"] for report in reports}) == parties
    assert all(report["wrapper_thread"] == report["thread"] for report in reports)
    # All alive at once (at the barrier), so distinct ids are distinct objects.
    assert len({report["wrapper"] for report in reports}) == parties
    assert len({report["raw"] for report in reports}) == parties
    site.check()


@ALL_STACKS
@pytest.mark.asyncio
async def test_concurrent_orm_writes(site: Site) -> None:
    """40 concurrent POSTs to the async ORM view (each save firing both receivers): all succeed,
    every item gets its two log rows, and the count adds up."""
    writes = 40
    async with site.async_client(connections=20) as client:
        count = (await client.get("/orm/")).json()["count"]
        responses = await asyncio.gather(
            *(client.post("/orm/", params={"name": f"bulk-{n}"}) for n in range(writes))
        )
        assert [response.status_code for response in responses] == [200] * writes
        for response in responses:
            created = response.json()["created"]
            assert [log["receiver"] for log in created["logs"]] == ["async", "sync"]
            assert {log["thread"] for log in created["logs"]} == {created["thread"]}
        assert (await client.get("/orm/")).json()["count"] == count + writes
    site.check()


@pytest.mark.parametrize("site", ["wsgi"], indirect=True)
def test_group_send_many_times_from_a_wsgi_request_thread(site: Site) -> None:
    # No consumer listens in this process; the point is 50 async_to_sync calls in a row from one
    # of WsgiToAsgi's request threads.
    response = site.client.get("/groupsend/", params={"group": "nobody", "n": "50"})
    assert response.status_code == 200
    assert response.json()["sent"] == 50
    site.check()


# --- WebSockets (Channels) -------------------------------------------------------------------


async def _receive(socket: ClientConnection) -> str | bytes:
    return await asyncio.wait_for(socket.recv(), HTTP_TIMEOUT)


@ASGI_STACKS
@pytest.mark.asyncio
async def test_group_send_from_a_sync_view_reaches_websocket_consumers(site: Site) -> None:
    """A sync view calls `async_to_sync(channel_layer.group_send)` 50 times in a row; a sync and
    an async consumer in the group each get all 50 messages, in order. The in-memory layer's
    queues belong to the server's event loop: every call must run there."""
    group = f"g{uuid.uuid4().hex}"
    messages = 50
    async with (
        ws_connect(f"{site.server.ws_url}/ws/echo/?group={group}") as sync_socket,
        ws_connect(f"{site.server.ws_url}/ws/async/?group={group}") as async_socket,
        site.async_client() as client,
    ):
        # The consumers joined the group before accepting, so both are in it now.
        response = await client.get("/groupsend/", params={"group": group, "n": str(messages)})
        assert response.status_code == 200
        assert response.json()["sent"] == messages
        for socket, consumer in ((sync_socket, "sync"), (async_socket, "async")):
            received = [json.loads(await _receive(socket)) for _ in range(messages)]
            assert received == [{"consumer": consumer, "seq": seq} for seq in range(messages)]
    site.check()


@ASGI_STACKS
@pytest.mark.asyncio
async def test_websocket_consumers(site: Site) -> None:
    async with ws_connect(f"{site.server.ws_url}/ws/echo/") as socket:
        await socket.send("hello")
        assert await _receive(socket) == "HELLO"
        await socket.send(b"abc")
        assert await _receive(socket) == b"cba"
        await socket.send("db")
        report = json.loads(await _receive(socket))
        assert report["count"] >= 0

    async with ws_connect(f"{site.server.ws_url}/ws/async/") as socket:
        await socket.send("hi")
        assert await _receive(socket) == "async:hi"
        await socket.send(b"ab")
        assert await _receive(socket) == b"abab"
        await socket.send("count")
        assert json.loads(await _receive(socket))["count"] >= 0

    name = f"ws-{uuid.uuid4().hex[:12]}"
    async with ws_connect(f"{site.server.ws_url}/ws/json/") as socket:
        await socket.send(json.dumps({"action": "count"}))
        count = json.loads(await _receive(socket))["count"]
        await socket.send(json.dumps({"action": "create", "name": name}))
        created = json.loads(await _receive(socket))
        assert created["count"] == count + 1
        assert created["logs"] == [
            {"receiver": "async", "thread": created["thread"]},
            {"receiver": "sync", "thread": created["thread"]},
        ]
        await socket.send(json.dumps({"action": "dance"}))
        assert json.loads(await _receive(socket)) == {"error": "unknown action 'dance'"}
    site.check()


@ASGI_STACKS
@pytest.mark.asyncio
async def test_database_sync_to_async_closes_old_connections_in_a_live_consumer(
    site: Site,
) -> None:
    """Channels' `database_sync_to_async` subclasses `SyncToAsync` and overrides `thread_handler`
    to close old connections around the call: after it, the thread's connection is closed;
    after plain `sync_to_async`, on the same thread, it is still open."""
    async with ws_connect(f"{site.server.ws_url}/ws/async/") as socket:
        await socket.send("dbcheck")
        report: dict[str, Any] = json.loads(await _receive(socket))
    database = report["database_sync_to_async"]
    assert database["during"]["open"] is True
    assert database["after"] == {"thread": database["during"]["thread"], "open": False}
    plain = report["sync_to_async"]
    assert plain["during"]["open"] is True
    assert plain["after"] == {"thread": plain["during"]["thread"], "open": True}
    site.check()
