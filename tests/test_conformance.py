"""`asgiref.conformance.ApplicationChecker`: every rule is broken by one application and kept by
another, and real frameworks' applications keep them all."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest

from asgiref.conformance import ApplicationChecker, ProtocolError
from asgiref.testing import ApplicationCommunicator, HttpCommunicator, WebsocketCommunicator

Message = dict[str, Any]
RECEIVE = "receive"  # a step of a scripted application: call receive() once

HTTP: Message = {"type": "http", "method": "GET", "path": "/", "headers": []}
WS: Message = {"type": "websocket", "path": "/ws", "headers": [], "subprotocols": ["chat"]}
LIFESPAN: Message = {"type": "lifespan"}
REQUEST: Message = {"type": "http.request", "body": b"", "more_body": False}
CONNECT: Message = {"type": "websocket.connect"}
START: Message = {"type": "http.response.start", "status": 200}
BODY: Message = {"type": "http.response.body", "body": b"ok"}
ACCEPT: Message = {"type": "websocket.accept"}


def scripted(*steps: Any) -> Callable[..., Any]:
    """An application that receives (for each `RECEIVE`) and sends (each message), in order."""

    async def application(scope: Any, receive: Any, send: Any) -> None:
        for step in steps:
            if step == RECEIVE:
                await receive()
            else:
                await send(step)

    return application


class Case(NamedTuple):
    rule: str
    scope: Message
    inputs: list[Message]
    broken: tuple[Any, ...]
    kept: tuple[Any, ...]


def with_extensions(scope: Message, *names: str) -> Message:
    return {**scope, "extensions": {name: {} for name in names}}


CASES = [
    Case("message-is-a-dict", HTTP, [REQUEST], (RECEIVE, "start"), (RECEIVE, START, BODY)),
    Case(
        "message-type-allowed-for-scope",
        HTTP,
        [REQUEST],
        (RECEIVE, ACCEPT),
        (RECEIVE, START, BODY),
    ),
    Case(
        "message-keys-and-types",
        HTTP,
        [REQUEST],
        (RECEIVE, {"type": "http.response.start", "status": "200"}),
        (RECEIVE, START, BODY),
    ),
    Case(
        "headers-are-byte-pairs",
        HTTP,
        [REQUEST],
        (RECEIVE, {**START, "headers": [(b"content-type", "text/plain")]}, BODY),
        (RECEIVE, {**START, "headers": [(b"content-type", b"text/plain")]}, BODY),
    ),
    Case("one-response-start", HTTP, [REQUEST], (RECEIVE, START, START), (RECEIVE, START, BODY)),
    Case("response-start-before-body", HTTP, [REQUEST], (RECEIVE, BODY), (RECEIVE, START, BODY)),
    Case(
        "nothing-after-the-final-body",
        HTTP,
        [REQUEST],
        (RECEIVE, START, BODY, BODY),
        (RECEIVE, START, {**BODY, "more_body": True}, BODY),
    ),
    Case(
        "started-response-is-finished",
        HTTP,
        [REQUEST],
        (RECEIVE, START, {**BODY, "more_body": True}),
        (RECEIVE, START, {**BODY, "more_body": True}, BODY),
    ),
    Case(
        "trailers-only-when-announced",
        with_extensions(HTTP, "http.response.trailers"),
        [REQUEST],
        (RECEIVE, START, BODY, {"type": "http.response.trailers", "headers": []}),
        (
            RECEIVE,
            {**START, "trailers": True},
            BODY,
            {"type": "http.response.trailers", "headers": [(b"x-digest", b"1")]},
        ),
    ),
    Case(
        "extension-announced-by-scope",
        HTTP,
        [REQUEST],
        (RECEIVE, START, {"type": "http.response.pathsend", "path": "/etc/hostname"}),
        (RECEIVE, START, BODY),
    ),
    Case(
        "request-body-then-disconnect",
        HTTP,
        [REQUEST, REQUEST],
        (RECEIVE, RECEIVE, START, BODY),
        (RECEIVE, START, BODY),
    ),
    Case("websocket-connect-first", WS, [CONNECT], (ACCEPT,), (RECEIVE, ACCEPT)),
    Case("accept-or-close-answers-connect", WS, [CONNECT], (RECEIVE, ACCEPT, ACCEPT), (RECEIVE,)),
    Case(
        "subprotocol-was-offered",
        WS,
        [CONNECT],
        (RECEIVE, {**ACCEPT, "subprotocol": "graphql"}),
        (RECEIVE, {**ACCEPT, "subprotocol": "chat"}),
    ),
    Case(
        "websocket-send-after-accept",
        WS,
        [CONNECT],
        (RECEIVE, {"type": "websocket.send", "text": "hi"}),
        (RECEIVE, ACCEPT, {"type": "websocket.send", "text": "hi"}),
    ),
    Case(
        "exactly-one-of-bytes-and-text",
        WS,
        [CONNECT],
        (RECEIVE, ACCEPT, {"type": "websocket.send", "text": "hi", "bytes": b"hi"}),
        (RECEIVE, ACCEPT, {"type": "websocket.send", "text": "hi", "bytes": None}),
    ),
    Case(
        "valid-close-code",
        WS,
        [CONNECT],
        (RECEIVE, ACCEPT, {"type": "websocket.close", "code": 1005}),
        (RECEIVE, ACCEPT, {"type": "websocket.close", "code": 4000, "reason": "bye"}),
    ),
    Case(
        "nothing-after-websocket-close",
        WS,
        [CONNECT],
        (RECEIVE, {"type": "websocket.close"}, ACCEPT),
        (RECEIVE, {"type": "websocket.close"}),
    ),
    Case(
        "no-receive-after-websocket-disconnect",
        WS,
        [CONNECT, {"type": "websocket.disconnect", "code": 1000}],
        (RECEIVE, ACCEPT, RECEIVE, RECEIVE),
        (RECEIVE, ACCEPT, RECEIVE),
    ),
    Case(
        "lifespan-answers-each-step-once",
        LIFESPAN,
        [{"type": "lifespan.startup"}],
        ({"type": "lifespan.startup.complete"},),
        (RECEIVE, {"type": "lifespan.startup.complete"}),
    ),
]


async def requested(application: Any) -> tuple[ApplicationChecker, ApplicationCommunicator]:
    """`application`, checked, given one HTTP request (not yet waited for)."""
    checker = ApplicationChecker(application)
    communicator = ApplicationCommunicator(checker, dict(HTTP))
    await communicator.send_input(REQUEST)
    return checker, communicator


async def run_checked(case: Case, steps: tuple[Any, ...]) -> ApplicationChecker:
    checker = ApplicationChecker(scripted(*steps))
    communicator = ApplicationCommunicator(checker, dict(case.scope))
    for message in case.inputs:
        await communicator.send_input(message)
    await communicator.wait(timeout=1)
    return checker


@pytest.mark.asyncio
@pytest.mark.parametrize("case", CASES, ids=[case.rule for case in CASES])
async def test_each_rule_is_broken_by_one_application(case: Case) -> None:
    with pytest.raises(ProtocolError) as raised:
        await run_checked(case, case.broken)
    assert raised.value.rule == case.rule
    assert "ASGI specification" in str(raised.value)


@pytest.mark.asyncio
@pytest.mark.parametrize("case", CASES, ids=[case.rule for case in CASES])
async def test_each_rule_is_kept_by_another(case: Case) -> None:
    checker = await run_checked(case, case.kept)
    assert checker.violations == []


def test_every_rule_of_the_checker_has_a_case() -> None:
    from asgiref import _asgi_rules

    rules = {
        value.name for value in vars(_asgi_rules).values() if isinstance(value, _asgi_rules.Rule)
    }
    assert rules == {case.rule for case in CASES} | {"header-names-lowercase"}


@pytest.mark.asyncio
async def test_a_swallowed_violation_is_raised_when_the_application_returns() -> None:
    async def application(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        with contextlib.suppress(Exception):  # an application that hides its errors
            await send({"type": "http.response.body", "body": b"too early"})
        await send(START)
        await send(BODY)

    checker, communicator = await requested(application)
    with pytest.raises(ProtocolError, match="response-start-before-body"):
        await communicator.wait()
    assert [error.rule for error in checker.violations] == ["response-start-before-body"]


@pytest.mark.asyncio
async def test_the_error_names_the_rule_the_message_and_the_section() -> None:
    start = {**START, "headers": [(b":status", b"200")]}
    _, communicator = await requested(scripted(RECEIVE, start, BODY))
    with pytest.raises(ProtocolError) as raised:
        await communicator.wait()
    error = raised.value
    assert error.rule == "headers-are-byte-pairs"
    assert error.section == "www.rst, Response Start - send event"
    assert error.asgi_message == start
    assert "b':status' is a pseudo-header" in str(error)


@pytest.mark.asyncio
async def test_header_names_with_capitals_are_an_advisory_not_an_error() -> None:
    start = {**START, "headers": [(b"Content-Type", b"text/plain")]}
    checker, communicator = await requested(scripted(RECEIVE, start, BODY))
    await communicator.wait()
    assert checker.violations == []
    assert [advisory.rule for advisory in checker.advisories] == ["header-names-lowercase"]


@pytest.mark.asyncio
async def test_communicators_validate_when_asked() -> None:
    broken = scripted(RECEIVE, BODY)
    with pytest.raises(ProtocolError, match="response-start-before-body"):
        await HttpCommunicator(broken, "GET", "/", validate=True).get_response()
    unchecked = HttpCommunicator(broken, "GET", "/")
    with pytest.raises(AssertionError, match=r"expected http\.response\.start"):
        await unchecked.get_response()


@pytest.mark.asyncio
async def test_an_unknown_scope_type_is_refused() -> None:
    communicator = ApplicationCommunicator(ApplicationChecker(scripted()), {"type": "smtp"})
    with pytest.raises(ProtocolError, match="message-type-allowed-for-scope"):
        await communicator.wait()


# --- real frameworks keep the rules -----------------------------------------------------------


@pytest.mark.asyncio
async def test_a_starlette_application_keeps_the_rules() -> None:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket

    async def hello(request: Any) -> JSONResponse:
        return JSONResponse({"hello": "world"})

    async def stream(request: Any) -> StreamingResponse:
        async def numbers() -> Any:
            for number in range(3):
                yield f"{number}\n"

        return StreamingResponse(numbers())

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept(subprotocol="chat")
        await websocket.send_text(await websocket.receive_text())
        await websocket.close(code=1000)

    app = Starlette(
        routes=[Route("/", hello), Route("/stream", stream), WebSocketRoute("/ws", echo)]
    )
    response = await HttpCommunicator(app, "GET", "/", validate=True).get_response()
    assert response.json() == {"hello": "world"}
    streamed = await HttpCommunicator(app, "GET", "/stream", validate=True).get_response()
    assert streamed.body == b"0\n1\n2\n"
    missing = await HttpCommunicator(app, "GET", "/missing", validate=True).get_response()
    assert missing.status == 404
    socket = WebsocketCommunicator(app, "/ws", subprotocols=["chat"], validate=True)
    assert await socket.connect() == (True, "chat")
    await socket.send_to(text_data="ping")
    assert await socket.receive_from() == "ping"
    assert (await socket.receive_output())["type"] == "websocket.close"
    await socket.wait()


DJANGO_AND_CHANNELS = """
import asyncio, django
from django.conf import settings
settings.configure(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["*"], SECRET_KEY="x", DEBUG=False)
django.setup()
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.asgi import get_asgi_application
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import path
from asgiref.conformance import ApplicationChecker
from asgiref.testing import HttpCommunicator, WebsocketCommunicator

def hello(request):
    return HttpResponse("hello")

async def streamed(request):
    async def parts():
        for part in (b"a", b"b"):
            yield part
    return StreamingHttpResponse(parts())

class Echo(AsyncWebsocketConsumer):
    async def receive(self, text_data=None, bytes_data=None):
        await self.send(text_data=text_data)

urlpatterns = [path("", hello), path("stream", streamed)]
app = ApplicationChecker(get_asgi_application())

async def main():
    for url in ("/", "/stream", "/missing"):
        response = await HttpCommunicator(app, "GET", url).get_response()
        print(url, response.status)
    print("advisories", sorted({advisory.rule for advisory in app.advisories}))
    socket = WebsocketCommunicator(Echo.as_asgi(), "/ws", validate=True)
    print("connect", await socket.connect())
    await socket.send_to(text_data="ping")
    print("echo", await socket.receive_from())
    print("left", await socket.disconnect())

asyncio.run(main())
"""


def test_django_and_channels_keep_the_rules() -> None:
    import subprocess
    import sys

    # Django's settings are process-wide: checked in a process of its own.
    result = subprocess.run(
        [sys.executable, "-c", DJANGO_AND_CHANNELS],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "/ 200",
        "/stream 200",
        "/missing 404",
        # Django writes header names as "Content-Type": the specification says "must be
        # lowercased", every server accepts them; an advisory, not a violation.
        "advisories ['header-names-lowercase']",
        "connect (True, None)",
        "echo ping",
        "left True",
    ]


@pytest.mark.asyncio
async def test_a_lifespan_application_keeps_the_rules() -> None:
    from asgiref.testing import LifespanCommunicator

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return

    async with LifespanCommunicator(app, validate=True):
        await asyncio.sleep(0)


@pytest.mark.asyncio
async def test_a_response_cut_short_because_the_client_left_is_no_violation() -> None:
    async def endless(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send(START)
        while True:
            await send({**BODY, "more_body": True})
            await asyncio.sleep(0)

    checker = ApplicationChecker(endless)
    client = HttpCommunicator(checker, "GET", "/")
    await client.send_body()
    await client.receive_start()
    await client.receive_body_chunk()
    assert await client.disconnect() is True  # its send() raised, and it ended mid-body
    assert checker.violations == []


# --- checking servers: the probe application and its driver ------------------------------------


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_uvicorn_serving_the_probe_keeps_every_rule() -> None:
    from helpers import serving_with_uvicorn

    from asgiref.conformance import check_server, probe_app

    with serving_with_uvicorn(probe_app) as url:
        report = check_server("127.0.0.1", port_of(url))
    assert len(report.results) == 20
    assert report.passed, report.text()
    assert report.text().endswith("20 of 20 kept")


def merging_duplicate_headers(application: Any) -> Any:
    """A server that joins repeated request headers into one (the spec says to keep them)."""

    async def served(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            merged: dict[bytes, bytes] = {}
            for name, value in scope["headers"]:
                merged[name] = merged[name] + b", " + value if name in merged else value
            scope = {**scope, "headers": list(merged.items())}
        await application(scope, receive, send)

    return served


def closing_with_1000(application: Any) -> Any:
    """A server that closes every WebSocket with 1000, whatever code the application gave."""

    async def served(scope: Any, receive: Any, send: Any) -> None:
        async def send_with_1000(message: Message) -> None:
            if message["type"] == "websocket.close":
                message = {**message, "code": 1000}
            await send(message)

        await application(scope, receive, send_with_1000)

    return served


def query_string_as_text(application: Any) -> Any:
    """A server that gives the query string as text (the spec says bytes)."""

    async def served(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = {**scope, "query_string": scope["query_string"].decode("latin-1")}
        await application(scope, receive, send)

    return served


@pytest.mark.parametrize(
    ("breaking", "broken"),
    [
        (merging_duplicate_headers, "duplicate request headers kept, in order"),
        (closing_with_1000, "WebSocket close with the app's code"),
        (query_string_as_text, "request scope: keys, values and types"),
    ],
)
def test_the_driver_catches_a_server_that_breaks_a_rule(
    breaking: Callable[[Any], Any], broken: str
) -> None:
    from helpers import serving_with_uvicorn

    from asgiref.conformance import check_server, probe_app

    with serving_with_uvicorn(breaking(probe_app)) as url:
        report = check_server("127.0.0.1", port_of(url))
    assert not report.passed
    assert broken in {name for name, ok, _ in report.results if not ok}, report.text()
    assert f"BROKEN {broken}" in report.text()


def test_the_command_line_reports_and_exits_with_the_outcome(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from helpers import serving_with_uvicorn

    from asgiref.conformance import main, probe_app

    with serving_with_uvicorn(probe_app) as url:
        assert main(["server", f"127.0.0.1:{port_of(url)}"]) == 0
    assert "20 of 20 kept" in capsys.readouterr().out
    with serving_with_uvicorn(closing_with_1000(probe_app)) as url:
        assert main(["server", f"127.0.0.1:{port_of(url)}"]) == 1
    assert main(["servers", "nowhere"]) == 2
    assert "usage: python -m asgiref.conformance server HOST:PORT" in capsys.readouterr().err
