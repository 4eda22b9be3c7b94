"""Tests for asgiref.wsgi: both adapters, driven directly (the servers' turn is in
test_wsgi_servers.py, hostile input's in test_wsgi_properties.py)."""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import io
import logging
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from asgiref._asgi_on_wsgi import BODY_CHUNK
from asgiref._wsgi_on_asgi import BODY_BUFFER
from asgiref._wsgi_request import environ_from_scope, scope_from_environ
from asgiref.local import Local
from asgiref.sync import sync_to_async
from asgiref.wsgi import (
    AsgiToWsgi,
    ClientDisconnectedError,
    FileWrapper,
    LifespanStartupFailedError,
    RequestBodyTooLargeError,
    WsgiToAsgi,
    WsgiToAsgiInstance,
)

Message = dict[str, Any]
Environ = dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], None]]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]

WAIT = 10.0  # seconds: generous bounds for events that should happen at once


def http_scope(**overrides: Any) -> Message:
    scope: Message = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"example.com")],
        "client": ("127.0.0.1", 51000),
        "server": ("127.0.0.1", 8000),
    }
    scope.update(overrides)
    return scope


class Client:
    """Plays the ASGI server for one request: feeds `receive`, collects what is sent."""

    def __init__(self, app: Any, scope: Message) -> None:
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.sent: list[Message] = []
        self.received_count = 0
        self.send_gate: asyncio.Event | None = None  # when set to an unset Event, send() waits
        self._sent_more = asyncio.Condition()
        self.task = asyncio.get_running_loop().create_task(app(scope, self.receive, self.send))

    async def receive(self) -> Message:
        message = await self.inbox.get()
        self.received_count += 1
        return message

    async def send(self, message: Message) -> None:
        self.sent.append(message)
        async with self._sent_more:
            self._sent_more.notify_all()
        if self.send_gate is not None:
            await self.send_gate.wait()

    def body(self, data: bytes, more_body: bool = False) -> None:
        self.inbox.put_nowait({"type": "http.request", "body": data, "more_body": more_body})

    def disconnect(self) -> None:
        self.inbox.put_nowait({"type": "http.disconnect"})

    async def wait_until_sent(self, predicate: Callable[[list[Message]], bool]) -> None:
        async with self._sent_more:
            await asyncio.wait_for(self._sent_more.wait_for(lambda: predicate(self.sent)), WAIT)

    async def finish(self) -> None:
        await asyncio.wait_for(self.task, WAIT)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.sent[0]["headers"])

    @property
    def response_body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


async def request(app: Any, body: bytes = b"", **scope: Any) -> Client:
    client = Client(app, http_scope(**scope))
    client.body(body)
    await client.finish()
    return client


async def wait_for_thread_event(event: threading.Event) -> None:
    assert await asyncio.to_thread(event.wait, WAIT), "the event was never set"


def hello(environ: Environ, start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello"]


# --- the environ ---------------------------------------------------------------------------


def test_environ_is_built_per_pep_3333() -> None:
    body = io.BytesIO()
    scope = http_scope(
        method="POST",
        path="/app/caf\u00e9",
        raw_path=b"/app/caf%C3%A9",
        root_path="/app",
        query_string=b"a=1&b=%20",
        headers=[
            (b"host", b"example.com"),
            (b"content-type", b"text/plain"),
            (b"content-length", b"3"),
            (b"accept", b"a"),
            (b"accept", b"b"),
            (b"cookie", b"x=1"),
            (b"cookie", b"y=2"),
            (b"x-forwarded-for", b"10.0.0.1"),
            (b"x_forwarded_for", b"6.6.6.6"),
        ],
    )
    assert environ_from_scope(scope, body, 100) == {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "/app",
        "PATH_INFO": "/caf\u00c3\u00a9",  # the UTF-8 bytes, as latin-1
        "QUERY_STRING": "a=1&b=%20",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "51000",
        "CONTENT_TYPE": "text/plain",
        "CONTENT_LENGTH": "3",
        "HTTP_HOST": "example.com",
        "HTTP_ACCEPT": "a,b",
        "HTTP_COOKIE": "x=1; y=2",
        "HTTP_X_FORWARDED_FOR": "10.0.0.1",  # the underscore twin is dropped, not merged
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
        "asgi.scope": scope,
    }


@pytest.mark.parametrize(
    ("path", "raw_path", "root_path", "script_name", "path_info"),
    [
        ("/a/b", None, "", "", "/a/b"),
        ("/app", None, "/app", "/app", ""),
        ("/app/x", None, "/app/", "/app", "/x"),
        ("/application", None, "/app", "/app", "/application"),  # not a whole segment
        ("/a b", b"/a%20b", "", "", "/a b"),
        # raw_path keeps bytes that are not UTF-8, which `path` cannot carry.
        ("/\ufffd", b"/%FF", "", "", "/\xff"),
        # A raw_path left stale by middleware that rewrote `path` is ignored.
        ("/new", b"/old", "", "", "/new"),
        ("/a%2Fb", b"/a%252Fb", "", "", "/a%2Fb"),
    ],
)
def test_script_name_and_path_info(
    path: str, raw_path: bytes | None, root_path: str, script_name: str, path_info: str
) -> None:
    scope = http_scope(path=path, raw_path=raw_path, root_path=root_path)
    environ = environ_from_scope(scope, None, 100)
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == (script_name, path_info)


@pytest.mark.parametrize(
    ("server", "host", "scheme", "expected"),
    [
        (("10.0.0.5", 9000), b"example.com", "http", ("10.0.0.5", "9000")),
        (None, b"example.com:8080", "http", ("example.com", "8080")),
        (None, b"example.com", "https", ("example.com", "443")),
        (None, None, "http", ("localhost", "80")),
        (("/tmp/app.sock", None), None, "http", ("/tmp/app.sock", "80")),
    ],
)
def test_server_name_and_port_fall_back_to_the_host_header(
    server: Any, host: bytes | None, scheme: str, expected: tuple[str, str]
) -> None:
    headers = [] if host is None else [(b"host", host)]
    scope = http_scope(server=server, headers=headers, scheme=scheme)
    environ = environ_from_scope(scope, None, 100)
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == expected


def test_scope_from_environ_for_asgi_to_wsgi() -> None:
    environ: Environ = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "/app",
        "PATH_INFO": "/caf\u00c3\u00a9",
        "QUERY_STRING": "q=1",
        "SERVER_NAME": "example.com",
        "SERVER_PORT": "8080",
        "SERVER_PROTOCOL": "HTTP/1.0",
        "REMOTE_ADDR": "10.1.2.3",
        "REMOTE_PORT": "4567",
        "CONTENT_TYPE": "text/plain",
        "CONTENT_LENGTH": "",
        "HTTP_X_TRACE": "abc",
        "wsgi.url_scheme": "https",
    }
    assert scope_from_environ(environ) == {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.0",
        "method": "POST",
        "scheme": "https",
        "path": "/app/caf\u00e9",
        "raw_path": b"/app/caf%C3%A9",
        "root_path": "/app",
        "query_string": b"q=1",
        "headers": [(b"content-type", b"text/plain"), (b"x-trace", b"abc")],
        "server": ("example.com", 8080),
        "client": ("10.1.2.3", 4567),
        "extensions": {},
    }


# --- WsgiToAsgi: requests that are refused --------------------------------------------------


def recording_app(calls: list[Environ]) -> WsgiApp:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        calls.append(environ)
        return hello(environ, start_response)

    return app


@pytest.mark.asyncio
async def test_too_many_repeats_of_a_header_get_400_without_running_the_app() -> None:
    calls: list[Environ] = []
    app = WsgiToAsgi(recording_app(calls), duplicate_header_limit=3)
    client = await request(app, headers=[(b"x-a", b"1")] * 4)
    assert client.status == 400
    assert calls == []
    client = await request(app, headers=[(b"x-a", b"1")] * 3)
    assert client.status == 200
    assert calls[0]["HTTP_X_A"] == "1,1,1"


@pytest.mark.asyncio
async def test_duplicate_header_limit_none_disables_the_check() -> None:
    calls: list[Environ] = []
    app = WsgiToAsgi(recording_app(calls), duplicate_header_limit=None)
    client = await request(app, headers=[(b"x-a", b"v")] * 5000)
    assert client.status == 200
    assert calls[0]["HTTP_X_A"] == ",".join(["v"] * 5000)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "headers",
    [
        [(b"x-a", b"evil\r\nSet-Cookie: x")],
        [(b"x-a", b"nul\x00")],
        [(b"bad name", b"1")],
        [(b"content-length", b"10"), (b"content-length", b"11")],
        [(b"content-length", b"-1")],
    ],
)
async def test_malformed_headers_get_400(
    headers: list[tuple[bytes, bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[Environ] = []
    with caplog.at_level(logging.WARNING, "asgiref.wsgi"):
        client = await request(WsgiToAsgi(recording_app(calls)), headers=headers)
    assert client.status == 400
    assert calls == []
    assert "400" in caplog.text


@pytest.mark.asyncio
async def test_declared_body_over_max_body_size_gets_413_at_once() -> None:
    calls: list[Environ] = []
    app = WsgiToAsgi(recording_app(calls), max_body_size=10)
    client = Client(app, http_scope(method="POST", headers=[(b"content-length", b"11")]))
    client.body(b"0123456789", more_body=True)  # the rest never needs to arrive
    await client.finish()
    assert client.status == 413
    assert calls == []


@pytest.mark.asyncio
async def test_streamed_body_over_max_body_size_gets_413() -> None:
    errors: list[BaseException] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        try:
            environ["wsgi.input"].read()
        except OSError as error:
            errors.append(error)
            raise
        return hello(environ, start_response)

    client = Client(WsgiToAsgi(app, max_body_size=10), http_scope(method="POST"))
    client.body(b"012345", more_body=True)
    client.body(b"6789ab", more_body=True)
    await client.finish()
    assert client.status == 413
    assert client.response_body == b"Request body too large"
    assert len(errors) == 1
    assert isinstance(errors[0], RequestBodyTooLargeError)


@pytest.mark.asyncio
async def test_non_http_scopes_get_a_clear_error() -> None:
    client = Client(WsgiToAsgi(hello), {"type": "websocket", "path": "/"})
    with pytest.raises(ValueError, match=r"WsgiToAsgi serves 'http'.*'websocket'"):
        await client.finish()


@pytest.mark.asyncio
async def test_lifespan_is_acknowledged_and_shutdown_ends_the_worker_threads() -> None:
    started = threading.Event()
    release = threading.Event()

    def slow(environ: Environ, start_response: StartResponse) -> list[bytes]:
        started.set()
        release.wait(WAIT)
        return hello(environ, start_response)

    app = WsgiToAsgi(slow)
    lifespan = Client(app, {"type": "lifespan"})
    lifespan.inbox.put_nowait({"type": "lifespan.startup"})
    client = await request_in_background(app)
    await wait_for_thread_event(started)
    workers = [t for t in threading.enumerate() if t.name.startswith("asgiref-wsgi")]
    assert len(workers) == 1
    release.set()
    await client.finish()
    lifespan.inbox.put_nowait({"type": "lifespan.shutdown"})
    await lifespan.finish()
    assert [m["type"] for m in lifespan.sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    await asyncio.to_thread(workers[0].join, WAIT)
    assert not workers[0].is_alive()
    # A request after shutdown still gets served (on a fresh thread).
    assert (await request(app)).status == 200


async def request_in_background(app: Any, **scope: Any) -> Client:
    client = Client(app, http_scope(**scope))
    client.body(b"")
    return client


# --- WsgiToAsgi: the request body streams ---------------------------------------------------


@pytest.mark.asyncio
async def test_app_starts_on_the_first_body_message_and_reads_as_data_arrives() -> None:
    first_read = threading.Event()
    seen: list[bytes] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        body = environ["wsgi.input"]
        seen.append(body.read(5))
        first_read.set()
        seen.append(body.read())
        return hello(environ, start_response)

    client = Client(WsgiToAsgi(app), http_scope(method="POST"))
    client.body(b"hello", more_body=True)
    # The app has read the first part while the rest of the body has not even been sent.
    await wait_for_thread_event(first_read)
    client.body(b" wor", more_body=True)
    client.body(b"ld")
    await client.finish()
    assert seen == [b"hello", b" world"]


@pytest.mark.asyncio
async def test_readline_readlines_and_iteration_across_chunk_boundaries() -> None:
    results: dict[str, Any] = {}

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        body = environ["wsgi.input"]
        results["line"] = body.readline()
        results["limited"] = body.readline(3)
        results["rest_of_line"] = body.readline()
        results["lines"] = body.readlines(1)
        results["iterated"] = list(body)
        results["eof"] = (body.read(), body.readline(), body.read(10))
        return hello(environ, start_response)

    client = Client(WsgiToAsgi(app), http_scope(method="POST"))
    for piece in [b"fir", b"st\nsec", b"ond line\nthi", b"rd\n", b"fourth\nlast"]:
        client.body(piece, more_body=True)
    client.body(b"")
    await client.finish()
    assert results == {
        "line": b"first\n",
        "limited": b"sec",
        "rest_of_line": b"ond line\n",
        "lines": [b"third\n"],
        "iterated": [b"fourth\n", b"last"],
        "eof": (b"", b"", b""),
    }


@pytest.mark.asyncio
@pytest.mark.parametrize("reads_first", [False, True])
async def test_body_is_back_pressured_while_the_app_does_not_read(reads_first: bool) -> None:
    has_read = threading.Event()
    may_read = threading.Event()
    digest = hashlib.sha256()

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        body = environ["wsgi.input"]
        if reads_first:
            digest.update(body.read(1))
        has_read.set()
        may_read.wait(WAIT)
        digest.update(body.read())
        return hello(environ, start_response)

    chunk = b"x" * 16384
    client = Client(WsgiToAsgi(app), http_scope(method="POST"))
    for _ in range(200):  # 3.2 MB offered
        client.body(chunk, more_body=True)
    client.body(b"")
    await wait_for_thread_event(has_read)
    # Let the adapter take all it wants while the app does not read. (Each pass gives the loop
    # one turn; taking a message costs a few, and all the adapter may take is a few dozen.)
    for _ in range(500):
        await asyncio.sleep(0)
    taken = client.received_count
    if reads_first:
        # The pipe's budget, plus the message being read and one more.
        bound = BODY_BUFFER // len(chunk) + 2
        assert 2 < taken <= bound, f"the adapter took {taken} chunks (bound {bound})"
    else:
        # An app that has not read yet (or waits for a worker thread) gets one message only.
        assert taken == 1
    may_read.set()
    await client.finish()
    assert digest.hexdigest() == hashlib.sha256(chunk * 200).hexdigest()


@pytest.mark.asyncio
async def test_client_disconnect_while_the_app_reads_raises_oserror_in_the_app() -> None:
    reading = threading.Event()
    errors: list[BaseException] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        body = environ["wsgi.input"]
        body.read(1)
        reading.set()
        try:
            body.read()
        except OSError as error:
            errors.append(error)
            raise
        return hello(environ, start_response)

    client = Client(WsgiToAsgi(app), http_scope(method="POST"))
    client.body(b"a", more_body=True)
    await wait_for_thread_event(reading)
    client.disconnect()
    await client.finish()
    assert len(errors) == 1
    assert isinstance(errors[0], ClientDisconnectedError)
    assert client.sent == []  # nobody to answer


# --- WsgiToAsgi: the response streams ------------------------------------------------------


@pytest.mark.asyncio
async def test_hello_world_is_two_messages_with_the_body_ending_the_response() -> None:
    client = await request(WsgiToAsgi(hello))
    assert client.sent == [
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        },
        {"type": "http.response.body", "body": b"Hello", "more_body": False},
    ]


@pytest.mark.asyncio
async def test_each_chunk_is_sent_as_the_app_yields_it() -> None:
    client_has_first = threading.Event()

    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b"first"
        # Only continues once the client has the first chunk: proves it was sent at once.
        assert client_has_first.wait(WAIT)
        yield b""  # empty chunks are skipped
        yield b"second"

    client = Client(WsgiToAsgi(app), http_scope())
    client.body(b"")
    await client.wait_until_sent(lambda sent: any(m.get("body") == b"first" for m in sent))
    client_has_first.set()
    await client.finish()
    assert [(m["type"], m.get("body"), m.get("more_body")) for m in client.sent] == [
        ("http.response.start", None, None),
        ("http.response.body", b"first", True),
        ("http.response.body", b"second", True),
        ("http.response.body", b"", False),
    ]


@pytest.mark.asyncio
async def test_a_slow_client_holds_back_the_app() -> None:
    produced = 0
    ran_ahead = threading.Event()

    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        nonlocal produced
        start_response("200 OK", [])
        for _ in range(100):
            produced += 1
            if produced > 8:  # 512 KiB: twice the response buffer
                ran_ahead.set()
            yield b"y" * 65536

    client = Client(WsgiToAsgi(app), http_scope())
    client.send_gate = asyncio.Event()  # the client takes the first message, then stalls
    client.body(b"")
    await client.wait_until_sent(lambda sent: len(sent) == 1)
    # A negative check needs a bound: the app would run past it in microseconds if unbounded.
    assert not await asyncio.to_thread(ran_ahead.wait, 0.5), "the app ran ahead of the client"
    client.send_gate.set()
    await client.finish()
    assert produced == 100
    assert len(client.response_body) == 100 * 65536


@pytest.mark.asyncio
async def test_write_callable_and_iterable_together() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        write = start_response("200 OK", [])
        write(b"written ")
        return [b"returned"]

    client = await request(WsgiToAsgi(app))
    assert client.response_body == b"written returned"


@pytest.mark.asyncio
async def test_body_is_cut_at_the_declared_content_length() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Length", "4")])
        return [b"abc", b"def", b"ghi"]

    client = await request(WsgiToAsgi(app))
    assert client.response_body == b"abcd"


class ClosingBody:
    """A response iterable that records whether the adapter closed it."""

    def __init__(self, chunks: Iterable[bytes], fail_after: int | None = None) -> None:
        self.chunks = list(chunks)
        self.fail_after = fail_after
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        for index, chunk in enumerate(self.chunks):
            if index == self.fail_after:
                raise RuntimeError("broken mid-body")
            yield chunk

    def close(self) -> None:
        self.closed.set()


@pytest.mark.asyncio
async def test_close_is_called_after_a_normal_response() -> None:
    result = ClosingBody([b"a", b"b"])

    def app(environ: Environ, start_response: StartResponse) -> ClosingBody:
        start_response("200 OK", [])
        return result

    client = await request(WsgiToAsgi(app))
    assert client.response_body == b"ab"
    assert result.closed.is_set()


@pytest.mark.asyncio
async def test_error_mid_body_ends_the_response_and_closes_the_iterable() -> None:
    result = ClosingBody([b"a", b"b", b"c"], fail_after=1)

    def app(environ: Environ, start_response: StartResponse) -> ClosingBody:
        start_response("200 OK", [])
        return result

    client = Client(WsgiToAsgi(app), http_scope())
    client.body(b"")
    # The adapter raises, so the server cuts the connection rather than end it as if complete.
    with pytest.raises(RuntimeError, match="broken mid-body"):
        await client.finish()
    assert result.closed.is_set()
    assert [m.get("more_body") for m in client.sent[1:]] == [True]


@pytest.mark.asyncio
async def test_disconnect_mid_download_closes_the_iterable() -> None:
    generator_closed = threading.Event()

    def endless() -> Iterator[bytes]:
        try:
            while True:
                yield b"z" * 65536
        finally:
            generator_closed.set()

    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        return endless()

    client = Client(WsgiToAsgi(app), http_scope())
    client.body(b"")
    await client.wait_until_sent(lambda sent: len(sent) >= 3)
    client.disconnect()
    await client.finish()
    assert generator_closed.is_set()


@pytest.mark.asyncio
async def test_send_raising_oserror_stops_the_app() -> None:
    generator_closed = threading.Event()

    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        try:
            while True:
                yield b"z" * 1024
        finally:
            generator_closed.set()

    client = Client(WsgiToAsgi(app), http_scope())
    original_send = client.send

    async def failing_send(message: Message) -> None:
        await original_send(message)
        if len(client.sent) == 3:
            raise ClientDisconnectedError("gone")

    client.task.cancel()
    await asyncio.wait([client.task])
    client.task = asyncio.get_running_loop().create_task(
        WsgiToAsgi(app)(http_scope(), client.receive, failing_send)
    )
    client.body(b"")
    await client.finish()
    assert generator_closed.is_set()


@pytest.mark.asyncio
async def test_app_raising_before_the_response_gets_a_500_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        raise LookupError("no such thing")

    with caplog.at_level(logging.ERROR, "asgiref.wsgi"):
        client = await request(WsgiToAsgi(app))
    assert client.status == 500
    assert client.response_body == b"Internal Server Error"
    assert "no such thing" in caplog.text


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("status", "headers"),
    [
        ("200 OK", [("Location", "/x\r\nSet-Cookie: evil=1")]),
        ("200 OK", [("X-Nul", "a\x00b")]),
        ("200 OK", [("Bad Name", "v")]),
        ("200 OK\r\nX-Evil: 1", []),
        ("OK", []),
        ("20 OK", []),
    ],
)
async def test_unsafe_status_or_headers_are_never_sent(
    status: str, headers: list[tuple[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response(status, headers)
        return [b"body"]

    with caplog.at_level(logging.ERROR, "asgiref.wsgi"):
        client = await request(WsgiToAsgi(app))
    assert client.status == 500
    assert b"evil" not in repr(client.sent).encode().lower()
    assert "InvalidResponseError" in caplog.text


@pytest.mark.asyncio
async def test_exc_info_replaces_a_response_not_yet_sent() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("X-First", "1")])
        try:
            raise KeyError("late problem")
        except KeyError:
            start_response("503 Service Unavailable", [("X-Second", "1")], sys.exc_info())
        return [b"sorry"]

    client = await request(WsgiToAsgi(app))
    assert (client.status, client.headers, client.response_body) == (
        503,
        {b"x-second": b"1"},
        b"sorry",
    )


@pytest.mark.asyncio
async def test_exc_info_after_the_response_was_sent_reraises() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b"part"
        try:
            raise KeyError("too late")
        except KeyError:
            start_response("500 Internal Server Error", [], sys.exc_info())
        yield b"never"

    client = Client(WsgiToAsgi(app), http_scope())
    client.body(b"")
    with pytest.raises(KeyError, match="too late"):
        await client.finish()
    assert client.response_body == b"part"


@pytest.mark.asyncio
async def test_second_start_response_without_exc_info_is_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])
        start_response("201 Created", [])
        return [b"x"]

    with caplog.at_level(logging.ERROR, "asgiref.wsgi"):
        client = await request(WsgiToAsgi(app))
    assert client.status == 500
    assert "second time without exc_info" in caplog.text


@pytest.mark.asyncio
async def test_text_instead_of_bytes_is_a_500_with_a_helpful_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[str]:
        start_response("200 OK", [])
        return ["text"]

    with caplog.at_level(logging.ERROR, "asgiref.wsgi"):
        client = await request(WsgiToAsgi(app))  # type: ignore[arg-type]
    assert client.status == 500
    assert "must produce bytes, not str" in caplog.text


class CountingFile(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.read_sizes: list[int] = []
        self.was_closed = False

    def read(self, size: int | None = -1) -> bytes:
        self.read_sizes.append(-1 if size is None else size)
        return super().read(size)

    def close(self) -> None:
        self.was_closed = True
        super().close()


@pytest.mark.asyncio
async def test_file_wrapper_streams_the_file_in_blocks() -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    files: list[CountingFile] = []

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Length", str(len(data)))])
        file = CountingFile(data)
        files.append(file)
        wrapper: Iterable[bytes] = environ["wsgi.file_wrapper"](file, 32768)
        return wrapper

    client = await request(WsgiToAsgi(app))
    assert client.response_body == data
    assert set(files[0].read_sizes) == {32768}  # never the whole file at once
    assert files[0].was_closed
    assert FileWrapper(io.BytesIO(b"abc"), 2).block_size == 2


# --- WsgiToAsgi: threads and context ------------------------------------------------------


@pytest.mark.asyncio
async def test_slow_requests_run_concurrently_on_bounded_threads() -> None:
    barrier = threading.Barrier(3, timeout=WAIT)
    threads: set[str] = set()

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        threads.add(threading.current_thread().name)
        barrier.wait()  # only passes once three requests run at the same time
        return hello(environ, start_response)

    adapter = WsgiToAsgi(app, max_workers=3)
    clients = [await request_in_background(adapter) for _ in range(6)]
    for client in clients:
        await client.finish()
        assert client.status == 200
    assert len(threads) == 3


def test_max_workers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_workers must be at least 1"):
        WsgiToAsgi(hello, max_workers=0)


@pytest.mark.asyncio
async def test_context_and_locals_reach_the_wsgi_app() -> None:
    variable: contextvars.ContextVar[str] = contextvars.ContextVar("variable")
    local = Local()
    seen: list[tuple[str, str]] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        seen.append((variable.get(), local.value))
        return hello(environ, start_response)

    variable.set("from the task")
    local.value = "local value"
    await request(WsgiToAsgi(app))
    assert seen == [("from the task", "local value")]


@pytest.mark.asyncio
async def test_instance_works_on_its_own() -> None:
    client = await request(WsgiToAsgiInstance(hello))
    assert (client.status, client.response_body) == (200, b"Hello")


@pytest.mark.asyncio
async def test_build_environ_can_be_extended_by_a_subclass() -> None:
    class Tagged(WsgiToAsgiInstance):
        def build_environ(self, scope: Any, body: Any) -> dict[str, Any]:
            environ = super().build_environ(scope, body)
            environ["custom.tag"] = "yes"
            return environ

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])
        return [environ["custom.tag"].encode()]

    client = await request(Tagged(app))
    assert client.response_body == b"yes"


# --- AsgiToWsgi -----------------------------------------------------------------------------


class StartResponseRecorder:
    def __init__(self) -> None:
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []

    def __call__(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        self.status, self.headers = status, headers
        return lambda data: None


def wsgi_environ(method: str = "GET", body: bytes = b"", **extra: Any) -> Environ:
    environ: Environ = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
    }
    if body:
        environ["CONTENT_LENGTH"] = str(len(body))
    environ.update(extra)
    return environ


def call_wsgi(app: Any, environ: Environ) -> tuple[StartResponseRecorder, list[bytes]]:
    start_response = StartResponseRecorder()
    result = app(environ, start_response)
    try:
        chunks = list(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return start_response, chunks


class LifespanApp:
    """An ASGI app with lifespan and a few endpoints, recording what happens to it."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.loops: set[asyncio.AbstractEventLoop] = set()
        self.threads: list[str] = []

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        self.loops.add(asyncio.get_running_loop())
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                self.events.append(message["type"])
                if message["type"] == "lifespan.startup":
                    scope["state"]["db"] = "connected"
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path = scope["path"]
        if path == "/echo":
            body = b""
            chunks = 0
            while True:
                message = await receive()
                body += message.get("body", b"")
                chunks += 1
                if not message.get("more_body"):
                    break
            await respond(send, 200, b"%d:%s" % (chunks, body))
        elif path == "/state":
            await respond(send, 200, scope["state"]["db"].encode())
        elif path == "/thread":

            def which() -> str:
                return threading.current_thread().name

            await respond(send, 200, (await sync_to_async(which)()).encode())
        elif path == "/stream":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for index in range(3):
                await send(
                    {"type": "http.response.body", "body": b"%d," % index, "more_body": True}
                )
            await send({"type": "http.response.body", "body": b""})
        elif path == "/fail-early":
            raise LookupError("nothing here")
        elif path == "/fail-late":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"part", "more_body": True})
            raise LookupError("broke mid-body")


async def respond(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"x-app", b"yes")]})
    await send({"type": "http.response.body", "body": body})


def test_asgi_to_wsgi_runs_lifespan_once_on_one_loop_and_shuts_down_on_close() -> None:
    app = LifespanApp()
    adapter = AsgiToWsgi(app)
    for _ in range(3):
        start_response, chunks = call_wsgi(adapter, wsgi_environ(PATH_INFO="/state"))
        assert (start_response.status, chunks) == ("200 OK", [b"connected"])
        assert start_response.headers == [("x-app", "yes")]
    assert app.events == ["lifespan.startup"]
    assert len(app.loops) == 1
    adapter.close()
    assert app.events == ["lifespan.startup", "lifespan.shutdown"]
    assert not any(t.name == "asgiref-asgi-to-wsgi" for t in threading.enumerate())


def test_asgi_to_wsgi_streams_the_body_to_receive() -> None:
    app = LifespanApp()
    adapter = AsgiToWsgi(app)
    body = b"a" * (2 * BODY_CHUNK + 1000)
    _, chunks = call_wsgi(adapter, wsgi_environ("POST", body, PATH_INFO="/echo"))
    count, _, echoed = b"".join(chunks).partition(b":")
    assert echoed == body
    assert int(count) == 3  # a chunk at a time, never the whole body at once
    adapter.close()


def test_asgi_to_wsgi_reads_a_terminated_input_without_content_length() -> None:
    adapter = AsgiToWsgi(LifespanApp())
    environ = wsgi_environ("POST", PATH_INFO="/echo")
    environ["wsgi.input"] = io.BytesIO(b"chunked body")
    environ["wsgi.input_terminated"] = True
    _, chunks = call_wsgi(adapter, environ)
    assert b"".join(chunks).endswith(b":chunked body")
    adapter.close()


def test_asgi_to_wsgi_streams_the_response() -> None:
    adapter = AsgiToWsgi(LifespanApp())
    start_response = StartResponseRecorder()
    result = adapter(wsgi_environ(PATH_INFO="/stream"), start_response)
    iterator = iter(result)
    assert next(iterator) == b"0,"
    assert list(iterator) == [b"1,", b"2,"]
    result.close()  # type: ignore[attr-defined]
    adapter.close()


def test_thread_sensitive_calls_run_on_the_wsgi_thread() -> None:
    adapter = AsgiToWsgi(LifespanApp())
    names: list[str] = []

    def serve() -> None:
        _, chunks = call_wsgi(adapter, wsgi_environ(PATH_INFO="/thread"))
        names.append(b"".join(chunks).decode())

    thread = threading.Thread(target=serve, name="wsgi-server-thread")
    thread.start()
    thread.join(WAIT)
    assert names == ["wsgi-server-thread"]
    adapter.close()


def test_asgi_app_failing_before_its_response_gives_500(caplog: pytest.LogCaptureFixture) -> None:
    adapter = AsgiToWsgi(LifespanApp())
    with caplog.at_level(logging.ERROR, "asgiref.wsgi"):
        start_response, chunks = call_wsgi(adapter, wsgi_environ(PATH_INFO="/fail-early"))
    assert (start_response.status, chunks) == (
        "500 Internal Server Error",
        [b"Internal Server Error"],
    )
    assert "nothing here" in caplog.text
    adapter.close()


def test_asgi_app_failing_mid_body_raises_to_the_wsgi_server() -> None:
    adapter = AsgiToWsgi(LifespanApp())
    result = adapter(wsgi_environ(PATH_INFO="/fail-late"), StartResponseRecorder())
    iterator = iter(result)
    assert next(iterator) == b"part"
    with pytest.raises(LookupError, match="broke mid-body"):
        next(iterator)
    result.close()  # type: ignore[attr-defined]
    adapter.close()


def test_closing_early_tells_the_app_the_client_is_gone() -> None:
    send_errors: list[BaseException] = []
    disconnects: list[Message] = []
    ended = threading.Event()

    async def app(scope: Message, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError("no lifespan here")
        try:
            assert (await receive())["type"] == "http.request"
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"1", "more_body": True})
            disconnects.append(await receive())
            await send({"type": "http.response.body", "body": b"2", "more_body": True})
        except OSError as error:
            send_errors.append(error)
        finally:
            ended.set()

    adapter = AsgiToWsgi(app)
    result = adapter(wsgi_environ(), StartResponseRecorder())
    assert next(iter(result)) == b"1"
    result.close()  # type: ignore[attr-defined]
    assert ended.is_set()
    assert disconnects == [{"type": "http.disconnect"}]
    assert [type(e) for e in send_errors] == [ClientDisconnectedError]
    adapter.close()


def test_lifespan_startup_failure_refuses_requests() -> None:
    async def app(scope: Message, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    adapter = AsgiToWsgi(app)
    for _ in range(2):
        with pytest.raises(LifespanStartupFailedError, match="no database"):
            adapter(wsgi_environ(), StartResponseRecorder())
    adapter.close()


@pytest.mark.asyncio
async def test_a_response_costs_one_trip_to_a_worker_thread_and_back() -> None:
    def ten_chunks(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])
        return [b"%d" % n for n in range(10)]

    adapter = WsgiToAsgi(ten_chunks)
    await request(adapter)  # the worker thread now exists
    loop = asyncio.get_running_loop()
    wakeups: list[str] = []
    call_soon_threadsafe = loop.call_soon_threadsafe

    def counting(callback: Callable[..., Any], *args: Any, **kwargs: Any) -> asyncio.Handle:
        wakeups.append(getattr(callback, "__qualname__", repr(callback)))
        return call_soon_threadsafe(callback, *args, **kwargs)

    loop.call_soon_threadsafe = counting  # type: ignore[method-assign,assignment]
    try:
        client = await request(adapter)
    finally:
        del loop.call_soon_threadsafe
    assert (client.status, client.response_body) == (200, b"0123456789")
    assert len(client.sent) == 11
    # The worker wakes the loop once for the whole response (messages written while a wake-up
    # is pending ride along) and once for the call's end; not once per ASGI message. (The OS
    # preempting the worker between two writes can add a wake-up, hence "at most".)
    assert wakeups.count("Inbox._drain") == 1
    assert 1 <= wakeups.count("Pipe._wake_loop") <= 3
    assert len(wakeups) <= 4


def test_an_app_that_ignores_the_departed_client_is_cancelled_after_a_grace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("asgiref._asgi_on_wsgi.ABANDON_GRACE", 0.0)
    cancelled = threading.Event()

    async def app(scope: Message, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError("no lifespan here")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"1", "more_body": True})
        try:
            await asyncio.Event().wait()  # never looks at the client again
        except asyncio.CancelledError:
            cancelled.set()
            raise

    adapter = AsgiToWsgi(app)
    result = adapter(wsgi_environ(), StartResponseRecorder())
    assert next(iter(result)) == b"1"
    result.close()  # type: ignore[attr-defined]
    assert cancelled.is_set()
    adapter.close()


@pytest.mark.asyncio
async def test_send_failing_unexpectedly_unblocks_and_waits_for_the_app_thread() -> None:
    generator_closed = threading.Event()

    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        try:
            while True:
                yield b"z" * 65536
        finally:
            generator_closed.set()

    inbox: asyncio.Queue[Message] = asyncio.Queue()
    inbox.put_nowait({"type": "http.request", "body": b""})
    sent: list[Message] = []

    async def broken_send(message: Message) -> None:
        sent.append(message)
        if len(sent) == 2:
            raise RuntimeError("protocol error in the server")

    with pytest.raises(RuntimeError, match="protocol error"):
        await asyncio.wait_for(WsgiToAsgi(app)(http_scope(), inbox.get, broken_send), WAIT)
    # By the time the adapter raised, the app's thread had finished and closed its iterable.
    assert generator_closed.is_set()


@pytest.mark.asyncio
async def test_spaces_around_response_header_values_are_trimmed() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Set-Cookie", " a=1; Path=/"), ("X-Tab", "\tv\t")])
        return [b""]

    client = await request(WsgiToAsgi(app))
    assert client.sent[0]["headers"] == [(b"set-cookie", b"a=1; Path=/"), (b"x-tab", b"v")]


def test_a_body_ending_early_is_a_disconnect_for_the_asgi_app() -> None:
    seen: list[Message] = []

    async def app(scope: Message, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError("no lifespan here")
        while True:
            message = await receive()
            seen.append(message)
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})

    adapter = AsgiToWsgi(app)
    environ = wsgi_environ("POST", CONTENT_LENGTH="100")
    environ["wsgi.input"] = io.BytesIO(b"ten bytes!")  # the client left after ten bytes
    call_wsgi(adapter, environ)
    assert seen == [
        {"type": "http.request", "body": b"ten bytes!", "more_body": True},
        {"type": "http.disconnect"},
    ]
    adapter.close()
