"""Application code written against `asgiref.typing`, in which `mypy --strict` must find nothing.

Not a test module: `tests/test_typing.py` runs mypy over it. It is written the way real ASGI
code is written (reading optional keys with ``.get()`` and the spec's default, narrowing on
``type``), so a key marked required by mistake, or a union that does not narrow, shows up here.
"""

from __future__ import annotations

import json

from asgiref.typing import (
    ASGI2Application,
    ASGI2Protocol,
    ASGI3Application,
    ASGIApplication,
    ASGIReceiveCallable,
    ASGIReceiveEvent,
    ASGISendCallable,
    ASGISendEvent,
    HTTPResponseStartEvent,
    HTTPScope,
    LifespanScope,
    Scope,
    WebSocketScope,
    WWWScope,
)


class ClientDisconnected(Exception):
    """The client went away before the request body was complete."""


async def read_body(receive: ASGIReceiveCallable) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        if message["type"] != "http.request":
            raise RuntimeError(f"unexpected message {message['type']!r} while reading the body")
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def has_extension(scope: WWWScope, name: str) -> bool:
    return name in (scope.get("extensions") or {})


def header(scope: WWWScope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return value
    return None


async def http_app(scope: HTTPScope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    body = await read_body(receive)
    client = scope.get("client")
    payload = json.dumps(
        {
            "method": scope["method"],
            "scheme": scope.get("scheme", "http"),
            "path": scope.get("root_path", "") + scope["path"],
            "raw_path": scope.get("raw_path", b"").decode("latin-1"),
            "query": scope["query_string"].decode("latin-1"),
            "http_version": scope["http_version"],
            "spec_version": scope["asgi"].get("spec_version", "2.0"),
            "client": f"{client[0]}:{client[1]}" if client else None,
            "headers": {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
            "body_length": len(body),
            "state_keys": sorted(scope.get("state", {})),
        }
    ).encode()

    if scope["path"] == "/file" and has_extension(scope, "http.response.pathsend"):
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.pathsend", "path": "/srv/static/index.html"})
        return

    if has_extension(scope, "http.response.early_hint"):
        await send({"type": "http.response.early_hint", "links": [b"</style.css>; rel=preload"]})

    send_trailers = has_extension(scope, "http.response.trailers")
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": 200,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ],
    }
    if send_trailers:
        start["trailers"] = True
    await send(start)
    if has_extension(scope, "http.response.push"):
        await send({"type": "http.response.push", "path": "/style.css", "headers": []})
    half = len(payload) // 2
    await send({"type": "http.response.body", "body": payload[:half], "more_body": True})
    await send({"type": "http.response.body", "body": payload[half:]})
    if send_trailers:
        await send({"type": "http.response.trailers", "headers": [(b"x-checksum", b"0")]})


async def websocket_app(
    scope: WebSocketScope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> None:
    connect = await receive()
    if connect["type"] != "websocket.connect":
        raise RuntimeError(f"expected websocket.connect, got {connect['type']!r}")

    if "chat" not in scope.get("subprotocols", []):
        if has_extension(scope, "websocket.http.response"):
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": 400,
                    "headers": [(b"content-type", b"text/plain")],
                }
            )
            await send({"type": "websocket.http.response.body", "body": b"use the chat protocol"})
        else:
            await send({"type": "websocket.close"})
        return

    query = scope.get("query_string", b"")
    await send({"type": "websocket.accept", "subprotocol": "chat", "headers": [(b"x-q", query)]})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            print("closed", message["code"], message.get("reason") or "")
            return
        if message["type"] != "websocket.receive":
            raise RuntimeError(f"unexpected message {message['type']!r}")
        text = message.get("text")
        if text is None:
            data = message.get("bytes") or b""
            await send({"type": "websocket.send", "bytes": data[::-1]})
        elif text == "bye":
            await send({"type": "websocket.close", "code": 1000, "reason": "bye"})
            return
        else:
            await send({"type": "websocket.send", "text": text.upper(), "bytes": None})


async def lifespan_app(
    scope: LifespanScope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            state = scope.get("state")
            try:
                if state is not None:
                    state["pool"] = object()
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if scope.get("state") is None:
                await send({"type": "lifespan.shutdown.failed"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    if scope["type"] == "http":
        await http_app(scope, receive, send)
    elif scope["type"] == "websocket":
        await websocket_app(scope, receive, send)
    else:
        await lifespan_app(scope, receive, send)


def served_by(inner: ASGI3Application) -> ASGI3Application:
    """Middleware: adds a header to HTTP responses and mounts the inner app under /api."""

    async def middleware(
        scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        async def send_with_header(message: ASGISendEvent) -> None:
            if message["type"] == "http.response.start":
                start = message.copy()
                start["headers"] = [*message.get("headers", []), (b"x-served-by", b"asgiref")]
                await send(start)
            else:
                await send(message)

        if scope["type"] == "http":
            child = scope.copy()
            child["root_path"] = scope.get("root_path", "") + "/api"
            await inner(child, receive, send_with_header)
        else:
            await inner(scope, receive, send)

    return middleware


class LegacyApp:
    """An ASGI 2 application: constructed with the scope, then awaited with receive and send."""

    def __init__(self, scope: Scope) -> None:
        if scope["type"] != "http":
            raise ValueError(f"unsupported scope type {scope['type']!r}")
        self.scope: HTTPScope = scope

    async def __call__(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        body = await read_body(receive)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


application: ASGI3Application = served_by(app)
legacy_class: type[ASGI2Protocol] = LegacyApp
legacy: ASGI2Application = legacy_class
every_style: list[ASGIApplication] = [app, application, LegacyApp]


# The server side: the smallest scopes and events the spec allows.
minimal_http_scope: HTTPScope = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "GET",
    "path": "/",
    "query_string": b"",
    "headers": [],
}
full_http_scope: HTTPScope = {
    **minimal_http_scope,
    "asgi": {"version": "3.0", "spec_version": "2.5"},
    "scheme": "https",
    "raw_path": b"/",
    "root_path": "",
    "client": ("127.0.0.1", 50000),
    "server": ("/run/app.sock", None),
    "state": {},
    "extensions": {"http.response.trailers": {}},
}
minimal_websocket_scope: WebSocketScope = {
    "type": "websocket",
    "asgi": {"version": "3.0"},
    "path": "/ws",
    "headers": [(b"host", b"example.com")],
}
minimal_lifespan_scope: LifespanScope = {"type": "lifespan", "asgi": {"version": "3.0"}}


async def receive_one_empty_request() -> ASGIReceiveEvent:
    return {"type": "http.request"}


async def discard(message: ASGISendEvent) -> None:
    del message


async def serve_once() -> None:
    await application(minimal_http_scope, receive_one_empty_request, discard)
    await legacy(minimal_http_scope)(receive_one_empty_request, discard)
