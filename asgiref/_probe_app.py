"""The probe application: what a server under test serves for `asgiref.conformance`'s driver.

It answers a fixed set of HTTP and WebSocket endpoints, each of which makes the server do one
thing the specification describes, and reports back (as JSON in its responses) what the server
handed it: the scope, the request body's messages, whether it was told of a client that left.
Every message the server hands it also goes through the specification's rules for what servers
send (`_asgi_rules`); a rule broken is reported in the next JSON answer of that connection.

Endpoints (HTTP): ``/scope`` (the scope, as JSON), ``/body`` (length, SHA-256 and message count
of the request body), ``/stream?n=N`` (N chunks), ``/large?size=N`` (N bytes), ``/empty``,
``/slow?id=X`` (a chunk every 10 ms until the client leaves), ``/left?id=X`` (what ``/slow``
saw), ``/lifespan`` (whether startup ran, and the state the scope carries). WebSocket:
``/ws/echo`` (accepts the first subprotocol offered, echoes frames, closes with code N on
``close:N``) and ``/ws/deny`` (denies the handshake with 403, by a denial response where the
scope announces that extension).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

from ._asgi_rules import Conversation, ProtocolError, conversation_for
from ._messages import Message, Receive, Send

# What `/slow` saw of each client that left, by the id the driver gave; and the lifespan's record.
# Module-level because the server calls the application anew for each connection.
_LEFT: dict[str, dict[str, Any]] = {}
_LIFESPAN: dict[str, Any] = {"startup": False}


class _Connection:
    """One connection: what the server hands the probe is checked against the rules for what
    servers send (what the probe sends is followed too, so that the state is right)."""

    def __init__(self, scope: Message, receive: Receive, send: Send) -> None:
        self.conversation: Conversation = conversation_for(scope)
        self._receive = receive
        self._send = send
        self.violations: list[str] = []

    async def receive(self) -> Message:
        message: Message = await self._receive()
        try:
            self.conversation.received(message)
        except ProtocolError as error:
            self.violations.append(str(error))
        return message

    async def send(self, message: Message) -> None:
        self.conversation.sent(message)  # the probe keeps the rules: this never raises
        await self._send(message)


def _text(value: Any) -> Any:
    """`value` made JSON-friendly, bytes spelt as latin-1 text (what a test compares)."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin-1")
    if isinstance(value, (list, tuple)):
        return [_text(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _text(item) for key, item in value.items()}
    return value


def _types(scope: Message) -> dict[str, str]:
    return {key: type(value).__name__ for key, value in scope.items()}


async def _answer(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _json(send: Send, data: Any) -> None:
    await _answer(send, 200, json.dumps(data).encode(), b"application/json")


def _query(scope: Message) -> dict[str, str]:
    pairs = (item.partition("=") for item in scope["query_string"].decode().split("&") if item)
    return {key: value for key, _, value in pairs}


async def _read_body(connection: _Connection) -> tuple[bytes, int]:
    chunks, messages = [], 0
    while True:
        message = await connection.receive()
        if message["type"] != "http.request":
            break
        messages += 1
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks), messages


async def _slow(scope: Message, connection: _Connection, send: Send) -> None:
    record: dict[str, Any] = {"saw_disconnect": False, "send_raised": None, "chunks": 0}
    _LEFT[_query(scope).get("id", "")] = record
    while len(_LEFT) > 100:  # a server probed for long keeps only the latest records
        del _LEFT[next(iter(_LEFT))]
    await _read_body(connection)

    async def listen() -> None:
        while (await connection.receive())["type"] != "http.disconnect":
            pass
        record["saw_disconnect"] = True

    listener = asyncio.ensure_future(listen())
    tick: Message = {"type": "http.response.body", "body": b"tick\n", "more_body": True}
    try:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(3000):  # 30 s at the most
            await send(tick)
            record["chunks"] += 1
            await asyncio.sleep(0.01)
            if listener.done():
                await send(tick)  # told the client left: one more send, which should raise
                break
    except OSError as error:  # ASGI 2.4: send() on a closed connection
        record["send_raised"] = type(error).__name__
    finally:
        listener.cancel()


async def _http(scope: Message, connection: _Connection, send: Send) -> None:
    path, query = scope["path"], _query(scope)
    if path == "/slow":
        await _slow(scope, connection, send)
        return
    body, messages = await _read_body(connection)
    if path == "/body":
        digest = hashlib.sha256(body).hexdigest()
        data = {"length": len(body), "sha256": digest, "messages": messages}
        await _json(send, {**data, "violations": connection.violations})
    elif path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for number in range(int(query.get("n", "3"))):
            chunk = f"chunk {number}\n".encode()
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body"})
    elif path == "/large":
        size = int(query.get("size", "0"))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for start in range(0, size, 65536):
            piece = b"x" * min(65536, size - start)
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body"})
    elif path == "/empty":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body"})
    elif path == "/left":
        await _json(send, _LEFT.get(query.get("id", ""), {}))
    elif path == "/lifespan":
        await _json(send, {**_LIFESPAN, "state": _text(scope.get("state"))})
    else:  # /scope, and anything else: the scope as the probe got it
        shown = {key: _text(value) for key, value in scope.items() if key != "state"}
        data = {
            "scope": shown,
            "types": _types(scope),
            "extensions": list(scope.get("extensions") or {}),
        }
        await _json(send, {**data, "violations": connection.violations})


async def _websocket(scope: Message, connection: _Connection, send: Send) -> None:
    if (await connection.receive())["type"] != "websocket.connect":
        return
    if scope["path"] == "/ws/deny":
        if "websocket.http.response" in (scope.get("extensions") or {}):
            headers = [(b"content-type", b"text/plain")]
            await send({"type": "websocket.http.response.start", "status": 403, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": b"denied"})
        else:
            await send({"type": "websocket.close"})
        return
    offered = list(scope.get("subprotocols") or [])
    await send({"type": "websocket.accept", "subprotocol": offered[0] if offered else None})
    while True:
        message = await connection.receive()
        if message["type"] != "websocket.receive":
            return
        text = message.get("text")
        if text is not None and text.startswith("close:"):
            await send({"type": "websocket.close", "code": int(text[6:])})
            return
        if text == "violations":
            await send({"type": "websocket.send", "text": json.dumps(connection.violations)})
        elif text is not None:
            await send({"type": "websocket.send", "text": text})
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes")})


async def _lifespan(scope: Message, connection: _Connection, send: Send) -> None:
    while True:
        message = await connection.receive()
        if message["type"] == "lifespan.startup":
            _LIFESPAN["startup"] = True
            state = scope.get("state")
            if state is not None:
                state["probe"] = "ready"
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return


async def probe_app(scope: Message, receive: Receive, send: Send) -> None:
    """The probe application (see the module docstring)."""
    connection = _Connection(scope, receive, send)
    handler = {"http": _http, "websocket": _websocket, "lifespan": _lifespan}[scope["type"]]
    await handler(scope, connection, connection.send)
