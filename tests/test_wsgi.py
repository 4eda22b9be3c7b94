"""Tests for asgiref.wsgi: both adapters, driven directly (the servers' turn is in
test_wsgi_servers.py, hostile input's in test_wsgi_properties.py).

WsgiToAsgi is pinned to what asgiref 3.13 does (the exact ASGI messages, the environ, the errors),
and to the documented differences (DIFFERENCES.md, ids DWSGI1 to DWSGI13), each test of one
naming its id.
"""

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
from asgiref._messages import BODY_BUFFER, RESPONSE_BUFFER
from asgiref._wsgi_request import environ_from_scope, scope_from_environ, split_path
from asgiref.local import Local
from asgiref.sync import ThreadSensitiveContext, async_to_sync, sync_to_async
from asgiref.wsgi import (
    AsgiToWsgi,
    BadRequestError,
    ClientDisconnectedError,
    InvalidResponseError,
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


async def request_in_background(app: Any, **scope: Any) -> Client:
    client = Client(app, http_scope(**scope))
    client.body(b"")
    return client


async def wait_for_thread_event(event: threading.Event) -> None:
    assert await asyncio.to_thread(event.wait, WAIT), "the event was never set"


def hello(environ: Environ, start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello"]


def replying(body: Any, headers: Any = (), status: Any = "200 OK") -> WsgiApp:
    def app(environ: Environ, start_response: StartResponse) -> Any:
        start_response(status, headers)
        return body

    return app


START = {"type": "http.response.start", "status": 200, "headers": []}
END = {"type": "http.response.body"}


def chunk(data: Any) -> Message:
    return {"type": "http.response.body", "body": data, "more_body": True}


# --- the environ ---------------------------------------------------------------------------


def test_environ_is_the_originals_key_for_key_and_in_order() -> None:
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
            (b"Content-Length", b"9"),  # only the lower-case name is CONTENT_LENGTH
        ],
    )
    environ = environ_from_scope(scope, scope["headers"], body, 100)
    assert list(environ.items()) == [
        ("REQUEST_METHOD", "POST"),
        ("SCRIPT_NAME", "/app"),
        ("PATH_INFO", "/caf\u00c3\u00a9"),  # the UTF-8 bytes, as latin-1; raw_path is ignored
        ("QUERY_STRING", "a=1&b=%20"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("wsgi.version", (1, 0)),
        ("wsgi.url_scheme", "http"),
        ("wsgi.input", body),
        ("wsgi.errors", sys.stderr),
        ("wsgi.multithread", True),
        ("wsgi.multiprocess", True),
        ("wsgi.run_once", False),
        ("SERVER_NAME", "127.0.0.1"),
        ("SERVER_PORT", "8000"),
        ("REMOTE_ADDR", "127.0.0.1"),
        ("HTTP_HOST", "example.com"),
        ("CONTENT_TYPE", "text/plain"),
        ("CONTENT_LENGTH", "3"),
        ("HTTP_ACCEPT", "a,b"),
        ("HTTP_CONTENT_LENGTH", "9"),
    ]


def test_header_entries_drop_underscore_names_and_join_cookies_with_semicolons() -> None:
    headers = [
        (b"x-forwarded-for", b"10.0.0.1"),
        (b"x_forwarded_for", b"6.6.6.6"),  # DWSGI6: would be merged into the dashed twin
        (b"cookie", b"x=1"),
        (b"cookie", b"y=2"),  # DWSGI8
        (b"X-\xe9", b"\xe9"),
    ]
    environ = environ_from_scope(http_scope(), headers, None, 100)
    assert {k: v for k, v in environ.items() if k.startswith("HTTP_")} == {
        "HTTP_X_FORWARDED_FOR": "10.0.0.1",
        "HTTP_COOKIE": "x=1; y=2",
        "HTTP_X_\xc9": "\xe9",
    }


def test_build_environ_takes_the_headers_from_the_instances_scope() -> None:
    instance = WsgiToAsgiInstance(hello)
    with pytest.raises(AttributeError, match="object has no attribute 'scope'"):
        instance.build_environ(http_scope(), None)
    instance.scope = http_scope(headers=[(b"x-from", b"self.scope")])
    environ = instance.build_environ(http_scope(method="PUT", headers=[(b"x-from", b"arg")]), None)
    assert (environ["REQUEST_METHOD"], environ["HTTP_X_FROM"]) == ("PUT", "self.scope")


@pytest.mark.parametrize(
    ("path", "root_path", "script_name", "path_info"),
    [
        ("/a/b", "", "", "/a/b"),
        ("/app", "/app", "/app", ""),
        ("/app/x", "/app", "/app", "/x"),
        ("/x/y", "/app", "/app", "/x/y"),  # not under the root: the whole path
        ("/app/", "/app/", "/app/", ""),
        # DWSGI12: only whole segments come off (the original gives "x" and "lication").
        ("/app/x", "/app/", "/app", "/x"),
        ("/x", "/", "", "/x"),
        ("/application", "/app", "/app", "/application"),
    ],
)
def test_script_name_and_path_info(
    path: str, root_path: str, script_name: str, path_info: str
) -> None:
    assert split_path(path, root_path) == (script_name, path_info)
    environ = environ_from_scope(http_scope(path=path, root_path=root_path), [], None, 100)
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == (script_name, path_info)


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        (("10.0.0.5", 9000), ("10.0.0.5", "9000")),
        (["10.0.0.5", 9000], ("10.0.0.5", "9000")),
        (None, ("localhost", "80")),  # the Host header is not used
        (("/tmp/app.sock", None), ("/tmp/app.sock", "0")),
    ],
)
def test_server_name_and_port_come_from_the_server_only(
    server: Any, expected: tuple[str, str]
) -> None:
    scope = http_scope(server=server, scheme="https")
    environ = environ_from_scope(scope, [(b"host", b"example.com:8443")], None, 100)
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == expected
    assert "REMOTE_PORT" not in environ


@pytest.mark.parametrize(
    ("missing", "error"),
    [
        ("method", KeyError("method")),
        ("path", KeyError("path")),
        ("query_string", KeyError("query_string")),
        ("http_version", KeyError("http_version")),
    ],
)
def test_a_scope_without_a_required_key_raises_key_error(missing: str, error: KeyError) -> None:
    scope = http_scope()
    del scope[missing]
    with pytest.raises(KeyError) as raised:
        environ_from_scope(scope, [], None, 100)
    assert raised.value.args == error.args


def test_query_string_is_ascii() -> None:
    with pytest.raises(UnicodeDecodeError):
        environ_from_scope(http_scope(query_string=b"q=\xc3\xa9"), [], None, 100)


@pytest.mark.parametrize(
    ("count", "limit", "refused"),
    [(3, 3, False), (4, 3, True), (5, 0, False), (150, None, False), (1, -1, True)],
)
def test_duplicate_header_limit(count: int, limit: int | None, refused: bool) -> None:
    headers = [(b"x-rep", b"%d" % n) for n in range(count)]
    if refused:
        message = f"Too many duplicate headers: HTTP_X_REP exceeds limit of{limit}"
        with pytest.raises(ValueError, match=f"^{message}$"):
            environ_from_scope(http_scope(), headers, None, limit)
    else:
        environ = environ_from_scope(http_scope(), headers, None, limit)
        assert environ["HTTP_X_REP"] == ",".join(str(n) for n in range(count))


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ([(b"content-length", b"1"), (b"content-length", b"1")], "more than one Content-Length"),
        ([(b"content-length", b"ten")], "Content-Length is not a number"),
        ([(b"host", b"a"), (b"host", b"b")], "more than one Host"),
        ([(b"x-a", b"evil\r\nSet-Cookie: x")], "CR, LF or NUL"),
        ([(b"x-\x00", b"v")], "CR, LF or NUL"),
    ],
)
def test_smuggling_prone_headers_are_refused(
    headers: list[tuple[bytes, bytes]], reason: str
) -> None:
    """DWSGI7."""
    with pytest.raises(BadRequestError, match=reason):
        environ_from_scope(http_scope(), headers, None, 100)


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


BAD_REQUEST_START = {
    "type": "http.response.start",
    "status": 400,
    "headers": [(b"content-type", b"text/plain")],
}


@pytest.mark.asyncio
async def test_too_many_repeats_of_a_header_get_the_originals_400(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[Environ] = []
    app = WsgiToAsgi(recording_app(calls), duplicate_header_limit=3)
    with caplog.at_level(logging.DEBUG):
        client = await request(app, headers=[(b"x-a", b"1")] * 4)
    assert client.sent == [
        BAD_REQUEST_START,
        {"type": "http.response.body", "body": b"Bad Request: Too many duplicate headers"},
    ]
    assert calls == []
    assert caplog.records == []
    client = await request(app, headers=[(b"x-a", b"1")] * 3)
    assert client.status == 200
    assert calls[0]["HTTP_X_A"] == "1,1,1"


@pytest.mark.asyncio
async def test_any_value_error_building_the_environ_gets_the_originals_400() -> None:
    calls: list[Environ] = []
    client = await request(WsgiToAsgi(recording_app(calls)), query_string=b"q=\xff")
    assert client.sent[1]["body"] == b"Bad Request: Too many duplicate headers"
    assert calls == []


@pytest.mark.asyncio
async def test_smuggling_prone_headers_get_400_saying_why() -> None:
    """DWSGI7."""
    calls: list[Environ] = []
    headers = [(b"content-length", b"10"), (b"content-length", b"11")]
    client = await request(WsgiToAsgi(recording_app(calls)), headers=headers)
    assert client.sent == [
        BAD_REQUEST_START,
        {
            "type": "http.response.body",
            "body": b"Bad Request: the request has more than one Content-Length header",
        },
    ]
    assert calls == []


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
@pytest.mark.parametrize(
    ("adapter", "kind"),
    [
        (WsgiToAsgi, "websocket"),
        (WsgiToAsgiInstance, "websocket"),
        (WsgiToAsgiInstance, "lifespan"),  # WsgiToAsgi answers lifespan (DWSGI11)
    ],
)
async def test_non_http_scopes_raise_the_originals_error(adapter: Any, kind: str) -> None:
    client = Client(adapter(hello), {"type": kind, "path": "/"})
    with pytest.raises(ValueError, match=r"^WSGI wrapper received a non-HTTP scope$"):
        await client.finish()
    assert client.received_count == 0


@pytest.mark.asyncio
async def test_a_first_message_other_than_a_request_raises_without_running_the_app() -> None:
    calls: list[Environ] = []
    client = Client(WsgiToAsgi(recording_app(calls)), http_scope())
    client.disconnect()
    with pytest.raises(ValueError, match=r"^WSGI wrapper received a non-HTTP-request message$"):
        await client.finish()
    assert (calls, client.sent) == ([], [])


@pytest.mark.asyncio
async def test_lifespan_is_acknowledged_and_shutdown_ends_the_worker_threads() -> None:
    """DWSGI11."""
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


# --- WsgiToAsgi: the request body streams (DWSGI1) -----------------------------------------


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
        results["tell"] = body.tell()
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
        "tell": 24,
        "iterated": [b"fourth\n", b"last"],
        "eof": (b"", b"", b""),
    }


@pytest.mark.asyncio
async def test_wsgi_input_is_an_unseekable_file() -> None:
    outcomes: list[Any] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        body = environ["wsgi.input"]
        outcomes.append((body.read(), body.tell(), body.seekable(), body.readable()))
        for method in (lambda: body.seek(0), body.fileno):
            with pytest.raises(io.UnsupportedOperation):
                method()
        return hello(environ, start_response)

    await request(WsgiToAsgi(app), b"body", method="POST")
    assert outcomes == [(b"body", 4, False, True)]


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

    piece = b"x" * 16384
    client = Client(WsgiToAsgi(app), http_scope(method="POST"))
    for _ in range(200):  # 3.2 MB offered
        client.body(piece, more_body=True)
    client.body(b"")
    await wait_for_thread_event(has_read)
    # Let the adapter take all it wants while the app does not read. (Each pass gives the loop
    # one turn; taking a message costs a few, and all the adapter may take is a few dozen.)
    for _ in range(500):
        await asyncio.sleep(0)
    taken = client.received_count
    if reads_first:
        # The pipe's budget, plus the message being read and one more.
        bound = BODY_BUFFER // len(piece) + 2
        assert 2 < taken <= bound, f"the adapter took {taken} chunks (bound {bound})"
    else:
        # An app that has not read yet (or waits for a worker thread) gets one message only.
        assert taken == 1
    may_read.set()
    await client.finish()
    assert digest.hexdigest() == hashlib.sha256(piece * 200).hexdigest()


@pytest.mark.asyncio
@pytest.mark.parametrize("cut_by", [{"type": "http.disconnect"}, {"type": "http.unknown"}])
async def test_a_body_cut_short_fails_the_apps_read_and_raises_the_originals_error(
    cut_by: Message,
) -> None:
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
    client.inbox.put_nowait(cut_by)
    with pytest.raises(ValueError, match=r"^WSGI wrapper received a non-HTTP-request message$"):
        await client.finish()
    assert [type(error) for error in errors] == [ClientDisconnectedError]
    assert client.sent == []


@pytest.mark.asyncio
async def test_receive_is_not_called_once_the_body_is_complete() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])
        return [environ["wsgi.input"].read()]

    client = Client(WsgiToAsgi(app), http_scope(method="POST"))
    client.body(b"a", more_body=True)
    client.body(b"b")
    client.disconnect()  # never taken: the original does not look for it either
    await client.finish()
    assert (client.received_count, client.response_body) == (2, b"ab")


@pytest.mark.asyncio
async def test_a_receive_that_is_always_ready_does_not_starve_the_loop() -> None:
    calls = 0

    async def receive() -> Message:
        nonlocal calls
        calls += 1
        return {"type": "http.request"}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await asyncio.wait_for(WsgiToAsgi(hello)(http_scope(), receive, send), WAIT)
    assert (calls, len(sent)) == (1, 3)


@pytest.mark.asyncio
async def test_a_body_without_content_length_is_marked_terminated() -> None:
    """DWSGI13: werkzeug reads such a body only with wsgi.input_terminated."""
    seen: list[Any] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        seen.append(environ.get("wsgi.input_terminated"))
        return hello(environ, start_response)

    adapter = WsgiToAsgi(app)
    chunked = Client(adapter, http_scope(method="POST", headers=[]))
    chunked.body(b"a", more_body=True)
    chunked.body(b"b")
    await chunked.finish()
    await request(adapter, b"abc", method="POST", headers=[(b"content-length", b"3")])
    await request(adapter)
    assert seen == [True, None, None]


# --- WsgiToAsgi: the response -------------------------------------------------------------


@pytest.mark.asyncio
async def test_hello_world_is_start_a_chunk_and_an_end() -> None:
    client = await request(WsgiToAsgi(hello))
    assert client.sent == [
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        },
        chunk(b"Hello"),
        END,
    ]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "messages"),
    [
        ([], [START, END]),
        (iter([]), [START, END]),
        ([b""], [START, chunk(b""), END]),
        ((b"a", b"", b"b"), [START, chunk(b"a"), chunk(b""), chunk(b"b"), END]),
        ([bytearray(b"ba"), "text"], [START, chunk(bytearray(b"ba")), chunk("text"), END]),
    ],
)
async def test_each_chunk_is_sent_as_it_is(body: Any, messages: list[Message]) -> None:
    client = await request(WsgiToAsgi(replying(body)))
    assert client.sent == messages
    assert [type(m.get("body")) for m in client.sent] == [type(m.get("body")) for m in messages]


@pytest.mark.asyncio
async def test_each_chunk_is_sent_as_the_app_yields_it() -> None:
    client_has_first = threading.Event()

    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b"first"
        # Only continues once the client has the first chunk: proves it was sent at once.
        assert client_has_first.wait(WAIT)
        yield b"second"

    client = Client(WsgiToAsgi(app), http_scope())
    client.body(b"")
    await client.wait_until_sent(lambda sent: any(m.get("body") == b"first" for m in sent))
    client_has_first.set()
    await client.finish()
    assert client.sent == [START, chunk(b"first"), chunk(b"second"), END]


@pytest.mark.asyncio
async def test_a_buffer_the_app_reuses_is_sent_as_it_was_when_yielded() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[Any]:
        start_response("200 OK", [])
        buffer = bytearray(b"one")
        yield buffer
        buffer[:] = b"two"
        yield buffer

    client = await request(WsgiToAsgi(app))
    assert client.sent == [START, chunk(bytearray(b"one")), chunk(bytearray(b"two")), END]


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
async def test_write_callable_sends_before_the_iterable() -> None:
    """DWSGI10."""

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        write = start_response("200 OK", [("Content-Length", "10")])
        write(b"written ")
        return [b"returned"]

    client = await request(WsgiToAsgi(app))
    assert client.sent[1:] == [chunk(b"written "), chunk(b"re"), END]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("length", "chunks", "sent", "pulled"),
    [
        ("5", [b"abc", b"def", b"ghi"], [b"abc", b"de"], 2),
        ("3", [b"ab", b"c", b"d"], [b"ab", b"c"], 2),
        ("0", [b"abc", b"d"], [b""], 1),
        ("10", [b"hi"], [b"hi"], 1),
    ],
)
async def test_body_is_cut_at_the_declared_length_and_iteration_stops(
    length: str, chunks: list[bytes], sent: list[bytes], pulled: int
) -> None:
    produced: list[bytes] = []

    def body() -> Iterator[bytes]:
        for piece in chunks:
            produced.append(piece)
            yield piece

    client = await request(WsgiToAsgi(replying(body(), [("Content-Length", length)])))
    assert client.sent[1:] == [chunk(piece) for piece in sent] + [END]
    assert len(produced) == pulled


class ClosingBody:
    """A response iterable that records whether the adapter closed it."""

    def __init__(self, chunks: Iterable[bytes], fail_after: int | None = None) -> None:
        self.chunks = list(chunks)
        self.fail_after = fail_after
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        for index, piece in enumerate(self.chunks):
            if index == self.fail_after:
                raise RuntimeError("broken mid-body")
            yield piece

    def close(self) -> None:
        self.closed.set()


@pytest.mark.asyncio
@pytest.mark.parametrize("headers", [[], [("Content-Length", "1")]])
async def test_close_is_called_after_the_response(headers: list[tuple[str, str]]) -> None:
    """DWSGI9, also when the body was cut at Content-Length."""
    result = ClosingBody([b"a", b"b"])
    await request(WsgiToAsgi(replying(result, headers)))
    assert result.closed.is_set()


@pytest.mark.asyncio
async def test_error_mid_body_escapes_after_what_was_sent_and_closes_the_iterable() -> None:
    result = ClosingBody([b"a", b"b", b"c"], fail_after=1)
    client = Client(WsgiToAsgi(replying(result)), http_scope())
    client.body(b"")
    with pytest.raises(RuntimeError, match="broken mid-body"):
        await client.finish()
    assert result.closed.is_set()
    assert client.sent == [START, chunk(b"a")]


@pytest.mark.asyncio
async def test_cancelling_the_request_stops_the_app_and_waits_for_its_thread() -> None:
    generator_closed = threading.Event()

    def endless() -> Iterator[bytes]:
        try:
            while True:
                yield b"z" * 65536
        finally:
            generator_closed.set()

    client = Client(WsgiToAsgi(replying(endless())), http_scope())
    client.body(b"")
    await client.wait_until_sent(lambda sent: len(sent) >= 3)
    client.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await client.finish()
    # By the time the task ended, the app's thread had finished and closed its iterable.
    assert generator_closed.is_set()


@pytest.mark.asyncio
@pytest.mark.parametrize("error", [ClientDisconnectedError("gone"), RuntimeError("protocol")])
async def test_send_failing_escapes_after_the_app_thread_is_stopped(error: Exception) -> None:
    generator_closed = threading.Event()

    def endless() -> Iterator[bytes]:
        try:
            while True:
                yield b"z" * 1024
        finally:
            generator_closed.set()

    sent: list[Message] = []

    async def failing_send(message: Message) -> None:
        sent.append(message)
        if len(sent) == 3:
            raise error

    inbox: asyncio.Queue[Message] = asyncio.Queue()
    inbox.put_nowait({"type": "http.request"})
    app = WsgiToAsgi(replying(endless()))
    with pytest.raises(type(error)) as raised:
        await asyncio.wait_for(app(http_scope(), inbox.get, failing_send), WAIT)
    assert raised.value is error
    assert generator_closed.is_set()


def failing_app(kind: str) -> WsgiApp:
    def app(environ: Environ, start_response: StartResponse) -> Any:
        if kind == "raises":
            raise LookupError("no such thing")
        if kind == "no start_response":
            return [b"body"]
        if kind == "returns None":
            start_response("200 OK", [])
            return None
        if kind == "status without reason":
            start_response("200", [])
        if kind == "status not a number":
            start_response("2x OK", [])
        if kind == "int status":
            start_response(200, [])
        if kind == "int header value":
            start_response("200 OK", [("X-N", 5)])
        if kind == "three-item header":
            start_response("200 OK", [("X-A", "v", "w")])
        if kind == "non-ascii header":
            start_response("200 OK", [("X-A", "caf\u00e9")])
        if kind == "bad Content-Length":
            start_response("200 OK", [("Content-Length", "abc")])
        if kind == "second start_response":
            start_response("200 OK", [])
            start_response("201 Created", [])
        return [b"x"]

    return app


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("kind", "error", "message"),
    [
        ("raises", LookupError, "no such thing"),
        ("no start_response", AttributeError, "object has no attribute 'response_start'"),
        ("returns None", TypeError, "'NoneType' object is not iterable"),
        ("status without reason", ValueError, r"not enough values to unpack \(expected 2, got 1\)"),
        ("status not a number", ValueError, "invalid literal for int"),
        ("int status", AttributeError, "'int' object has no attribute 'split'"),
        ("int header value", AttributeError, "'int' object has no attribute 'encode'"),
        ("three-item header", ValueError, r"too many values to unpack \(expected 2\)"),
        ("non-ascii header", UnicodeEncodeError, "'ascii' codec"),
        ("bad Content-Length", ValueError, "invalid literal for int"),
        (
            "second start_response",
            ValueError,
            "^You cannot call start_response a second time without exc_info$",
        ),
    ],
)
async def test_app_errors_escape_unchanged_with_nothing_sent_or_logged(
    kind: str, error: type[BaseException], message: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client(WsgiToAsgi(failing_app(kind)), http_scope())
    client.body(b"")
    with caplog.at_level(logging.DEBUG), pytest.raises(error, match=message):
        await client.finish()
    assert client.sent == []
    assert caplog.records == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ([("Location", "/x\r\nSet-Cookie: evil=1")], "CR, LF or NUL"),  # DWSGI3
        ([("X-Nul\x00", "v")], "CR, LF or NUL"),
        ([("Content-Length", "-1")], "negative"),  # DWSGI5
        ([("Content-Length", "3"), ("content-length", "4")], "disagree"),
    ],
)
async def test_unsafe_response_headers_are_refused(
    headers: list[tuple[str, str]], message: str
) -> None:
    client = Client(WsgiToAsgi(replying([b"body"], headers)), http_scope())
    client.body(b"")
    with pytest.raises(InvalidResponseError, match=message):
        await client.finish()
    assert client.sent == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "headers",
    [
        [("X-Colour", "Blue"), ["Content-Length", "3"]],
        (("X-Colour", "Blue"), ("Content-Length", "3")),
        (pair for pair in [("X-Colour", "Blue"), ("Content-Length", "3")]),  # DWSGI5: enforced
    ],
)
async def test_headers_are_any_iterable_of_pairs(headers: Any) -> None:
    client = await request(WsgiToAsgi(replying([b"abcd"], headers)))
    assert client.sent == [
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"x-colour", b"Blue"), (b"content-length", b"3")],
        },
        chunk(b"abc"),
        END,
    ]


@pytest.mark.asyncio
async def test_status_reason_is_dropped_and_header_values_are_trimmed() -> None:
    """The reason phrase never reaches ASGI; DWSGI4 trims values (Django's cookies)."""
    headers = [("Set-Cookie", " a=1; Path=/"), ("X-Tab", "\tv\t"), ("X-MiXeD", "VaLuE")]
    client = await request(WsgiToAsgi(replying([b""], headers, "299 Whatever\r\nX: y")))
    assert client.sent[0] == {
        "type": "http.response.start",
        "status": 299,
        "headers": [(b"set-cookie", b"a=1; Path=/"), (b"x-tab", b"v"), (b"x-mixed", b"VaLuE")],
    }


@pytest.mark.asyncio
@pytest.mark.parametrize("exc_info", ["real", (None, None, None)])
async def test_exc_info_replaces_a_response_not_yet_sent(exc_info: Any) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("X-First", "1"), ("Content-Length", "2")])
        try:
            raise KeyError("late problem")
        except KeyError:
            start_response(
                "503 Service Unavailable",
                [("X-Second", "1")],
                sys.exc_info() if exc_info == "real" else exc_info,
            )
        return [b"sorry"]

    client = await request(WsgiToAsgi(app))
    assert client.sent == [
        {"type": "http.response.start", "status": 503, "headers": [(b"x-second", b"1")]},
        chunk(b"sorry"),  # the first call's length no longer applies
        END,
    ]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("exc_info", "error", "message"),
    [
        ("real", KeyError, "too late"),
        (None, TypeError, "'NoneType' object is not subscriptable"),
        ((None, None, None), AttributeError, "'NoneType' object has no attribute 'with_traceback'"),
    ],
)
async def test_start_response_after_the_response_was_sent_raises(
    exc_info: Any, error: type[BaseException], message: str
) -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b"part"
        try:
            raise KeyError("too late")
        except KeyError:
            start_response(
                "500 Internal Server Error", [], sys.exc_info() if exc_info == "real" else exc_info
            )
        yield b"never"

    client = Client(WsgiToAsgi(app), http_scope())
    client.body(b"")
    with pytest.raises(error, match=message):
        await client.finish()
    assert client.sent == [START, chunk(b"part")]


@pytest.mark.asyncio
async def test_instance_attributes_follow_the_response() -> None:
    seen: list[tuple[Any, ...]] = []

    def app(environ: Environ, start_response: Any) -> Iterator[bytes]:
        instance = start_response.__self__
        seen.append((instance.response_started, instance.response_content_length))
        start_response("200 OK", [("Content-Length", "2")])
        seen.append((instance.response_started, instance.response_content_length))
        yield b"a"
        seen.append((instance.response_started, instance.response_start["status"]))
        yield b"b"

    await request(WsgiToAsgi(app))
    assert seen == [(False, None), (False, 2), (True, 200)]
    instance = WsgiToAsgiInstance(hello, 7)
    assert vars(instance)["wsgi_application"] is hello
    assert (instance.duplicate_header_limit, instance.response_started) == (7, False)
    assert instance.response_content_length is None


# --- WsgiToAsgi: threads and context ------------------------------------------------------


@pytest.mark.asyncio
async def test_slow_requests_run_concurrently_on_bounded_threads() -> None:
    """DWSGI2: without a sync world, requests do not wait for each other."""
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


def test_under_async_to_sync_the_app_runs_on_the_calling_thread() -> None:
    threads: list[threading.Thread] = []

    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        threads.append(threading.current_thread())
        start_response("200 OK", [])
        # Far more than the response buffer holds: this thread waits for the loop's thread to
        # send it (it must not be needed to run the loop meanwhile).
        for _ in range(4 * RESPONSE_BUFFER // 65536):
            yield b"y" * 65536

    async def serve() -> int:
        client = await request(WsgiToAsgi(app))
        return len(client.response_body)

    assert async_to_sync(serve)() == 4 * RESPONSE_BUFFER
    assert threads == [threading.current_thread()]


@pytest.mark.asyncio
async def test_inside_a_thread_sensitive_context_the_app_runs_on_its_thread() -> None:
    threads: list[threading.Thread] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        threads.append(threading.current_thread())
        return hello(environ, start_response)

    async with ThreadSensitiveContext():
        context_thread = await sync_to_async(threading.current_thread)()
        await request(WsgiToAsgi(app))
        await request(WsgiToAsgi(app))
    assert threads == [context_thread, context_thread]


@pytest.mark.asyncio
async def test_context_and_locals_reach_the_wsgi_app_and_come_back() -> None:
    variable: contextvars.ContextVar[str] = contextvars.ContextVar("variable")
    set_by_app: contextvars.ContextVar[str] = contextvars.ContextVar("set_by_app")
    local = Local()
    seen: list[tuple[str, str]] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        seen.append((variable.get(), local.value))
        set_by_app.set("from the app")
        return hello(environ, start_response)

    async def receive() -> Message:
        return {"type": "http.request"}

    async def send(message: Message) -> None:
        pass

    variable.set("from the task")
    local.value = "local value"
    # Awaited in this task (as a server awaits it, and bounded by the test's timeout): changes
    # to the context come back into it, as from sync_to_async.
    await WsgiToAsgi(app)(http_scope(), receive, send)
    assert seen == [("from the task", "local value")]
    assert set_by_app.get() == "from the app"


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
    assert len(client.sent) == 12
    # Every wake-up goes through the loop's inbox: the worker wakes the loop once for the whole
    # response (messages written while a wake-up is pending ride along) and once for the call's
    # end, or once for both; not once per ASGI message. (The OS preempting the worker between two
    # writes can add a wake-up, hence "at most".)
    assert set(wakeups) == {"Inbox._drain"}
    assert 1 <= len(wakeups) <= 4


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
