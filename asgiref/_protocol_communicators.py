"""The protocol communicators: `HttpCommunicator`, `WebsocketCommunicator`, `LifespanCommunicator`.

Additions of this package (asgiref 3.13 has only `ApplicationCommunicator`): each builds the scope
of one protocol and speaks it, so a test reads like the conversation it checks. Beyond a whole
request and response, a test can play a client as real ones behave: stream a request body in
pieces, read a response as it is sent (a server-sent-events endpoint that never ends included),
and leave at any moment. Once the client has left, a `send()` the application makes raises
`ClientDisconnectedError`, an `OSError`, as ASGI 2.4 asks of servers, so a test can check that the
application notices and stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable
from typing import Any

from . import _lifespan
from ._app_communicator import ApplicationCommunicator
from ._messages import Message, Receive, Send
from ._wsgi_body import ClientDisconnectedError
from .conformance import ApplicationChecker

_Headers = Iterable[tuple[bytes | str, bytes | str]]


def _connection_scope(kind: str, version: str, path: str, headers: _Headers | None) -> Message:
    """The keys HTTP and WebSocket scopes share, for a local client's connection to `path` (a
    query string may follow "?"), header names lowercased as the spec asks."""
    raw_path, _, query = path.partition("?")
    pairs = []
    for name, value in headers or ():
        raw_name = name.encode("latin-1") if isinstance(name, str) else name
        raw_value = value.encode("latin-1") if isinstance(value, str) else value
        pairs.append([raw_name.lower(), raw_value])
    return {
        "type": kind,
        "asgi": {"version": "3.0", "spec_version": version},
        "http_version": "1.1",
        "path": raw_path,
        "raw_path": raw_path.encode("utf-8"),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": pairs,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }


def _byte_pairs(headers: Iterable[Any]) -> list[tuple[bytes, bytes]]:
    return [(bytes(name), bytes(value)) for name, value in headers]


class HttpResponse:
    """A whole HTTP response, as `HttpCommunicator.get_response()` collects it."""

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str) -> bytes | None:
        """The first value of header `name` (case-insensitive), or None."""
        wanted = name.lower().encode("latin-1")
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<HttpResponse {self.status} {len(self.body)} bytes>"


class _Connection:
    """The client's side of one connection: whether it has left, and what the application tried
    to send after that."""

    __slots__ = ("gone", "sent_after_gone")

    def __init__(self) -> None:
        self.gone = False
        self.sent_after_gone: list[Message] = []

    def guard(self, application: Any) -> Any:
        """`application`, given a `send` that raises `ClientDisconnectedError` once the client
        has left (the message is kept, not delivered)."""
        connection = self

        async def guarded(scope: Message, receive: Receive, send: Send) -> None:
            async def send_unless_gone(message: Message) -> None:
                if connection.gone:
                    connection.sent_after_gone.append(message)
                    raise ClientDisconnectedError("the client has disconnected")
                await send(message)

            await application(scope, receive, send_unless_gone)

        return guarded


class _ClientCommunicator(ApplicationCommunicator):
    """What the HTTP and WebSocket communicators share: a client that can leave."""

    def __init__(
        self, application: Any, scope: Message, state: dict[str, Any] | None, validate: bool
    ) -> None:
        if state is not None:
            scope["state"] = dict(state)  # each connection gets a shallow copy, as from a server
        super().__init__(ApplicationChecker(application) if validate else application, scope)
        self._connection = _Connection()
        self.application = self._connection.guard(self.application)

    @property
    def sent_after_disconnect(self) -> list[Message]:
        """The messages the application tried to send after the client left (each `send()`
        raised `ClientDisconnectedError`)."""
        return self._connection.sent_after_gone

    async def _leave(self, message: Message, timeout: float | None) -> bool:
        """The client leaves: the application receives `message`; wait up to `timeout` seconds
        for it to end, and cancel it if it has not. Return whether it ended by itself."""
        self._connection.gone = True
        await self.send_input(message)
        future = self.future
        done, _ = await asyncio.wait((future,), timeout=timeout)
        if not done:
            future.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await future
            return False
        with contextlib.suppress(ClientDisconnectedError):  # ending with it is ending well
            future.result()
        return True


class HttpCommunicator(_ClientCommunicator):
    """One HTTP request to an ASGI application, and its response: whole (`get_response`), or
    streamed (`send_body`, `receive_start`, `receive_body_chunk`, `disconnect`)."""

    def __init__(
        self,
        application: Any,
        method: str,
        path: str,
        body: bytes = b"",
        headers: _Headers | None = None,
        query_string: bytes | str = b"",
        scope: dict[str, Any] | None = None,
        *,
        state: dict[str, Any] | None = None,
        validate: bool = False,
    ) -> None:
        self.scope = _connection_scope("http", "2.3", path, headers)
        self.scope.update(method=method.upper(), scheme="http")
        if query_string:
            if isinstance(query_string, str):
                query_string = query_string.encode("latin-1")
            self.scope["query_string"] = query_string
        self.scope.update(scope or {})
        self.body = body
        self.response_complete = False
        super().__init__(application, self.scope, state, validate)

    async def get_response(self, timeout: float = 1) -> HttpResponse:
        """Send the request body and collect the whole response; then wait for the application
        to end (one still running after `timeout` seconds is cancelled)."""
        await self.send_input({"type": "http.request", "body": self.body, "more_body": False})
        start = await self.receive_output(timeout)
        if start["type"] != "http.response.start":
            raise AssertionError(f"expected http.response.start, the application sent {start!r}")
        response = await _rest_of_response(self, start, "http.response.body", timeout)
        self.response_complete = True
        await self.wait(timeout)
        return response

    async def send_body(self, body: bytes = b"", *, more_body: bool = False) -> None:
        """Send one piece of the request body; `more_body=True` says that more pieces follow."""
        await self.send_input({"type": "http.request", "body": body, "more_body": more_body})

    async def receive_start(self, timeout: float | None = 1) -> HttpResponse:
        """Wait for the response to start: its status and headers (the body is read with
        `receive_body_chunk`). A timeout leaves the application running."""
        message = await self.next_output(timeout)
        if message["type"] != "http.response.start":
            raise AssertionError(f"expected http.response.start, the application sent {message!r}")
        return HttpResponse(message["status"], _byte_pairs(message.get("headers", [])), b"")

    async def receive_body_chunk(self, timeout: float | None = 1) -> bytes:
        """The next piece of the response body, as the application sent it (`response_complete`
        tells whether it was the last). A timeout leaves the application running."""
        if self.response_complete:
            raise AssertionError("the response is complete: there is no more body to read")
        message = await self.next_output(timeout)
        if message["type"] != "http.response.body":
            raise AssertionError(f"expected http.response.body, the application sent {message!r}")
        self.response_complete = not message.get("more_body", False)
        return bytes(message.get("body", b""))

    async def disconnect(self, timeout: float | None = 1) -> bool:
        """The client goes away: the application receives `http.disconnect`, and each `send()` it
        makes from now on raises `ClientDisconnectedError`. Wait up to `timeout` seconds for it to
        end (then it is cancelled); return whether it ended by itself. What it raised is raised
        here, except `ClientDisconnectedError`."""
        return await self._leave({"type": "http.disconnect"}, timeout)


async def _rest_of_response(
    communicator: ApplicationCommunicator, start: Message, body_type: str, timeout: float
) -> HttpResponse:
    """The HTTP response `start` began, once its `body_type` messages are read."""
    chunks = []
    while True:
        message = await communicator.receive_output(timeout)
        if message["type"] != body_type:
            raise AssertionError(f"expected {body_type}, the application sent {message!r}")
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return HttpResponse(start["status"], _byte_pairs(start.get("headers", [])), b"".join(chunks))


class WebsocketCommunicator(_ClientCommunicator):
    """A WebSocket conversation with an ASGI application."""

    def __init__(
        self,
        application: Any,
        path: str,
        headers: _Headers | None = None,
        subprotocols: list[str] | None = None,
        scope: dict[str, Any] | None = None,
        *,
        state: dict[str, Any] | None = None,
        validate: bool = False,
    ) -> None:
        self.scope = _connection_scope("websocket", "2.4", path, headers)
        extensions: Message = {"websocket.http.response": {}}
        self.scope.update(scheme="ws", subprotocols=subprotocols or [], extensions=extensions)
        self.scope.update(scope or {})
        self.accepted_subprotocol: str | None = None
        self.response_headers: list[tuple[bytes, bytes]] = []
        super().__init__(application, self.scope, state, validate)

    async def connect(self, timeout: float = 1) -> tuple[bool, str | int | HttpResponse | None]:
        """Open the connection. Returns (True, subprotocol-or-None) when accepted; (False, close
        code) when closed; (False, HttpResponse) when denied with an HTTP response."""
        await self.send_input({"type": "websocket.connect"})
        message = await self.receive_output(timeout)
        if message["type"] == "websocket.accept":
            self.accepted_subprotocol = message.get("subprotocol")
            self.response_headers = _byte_pairs(message.get("headers", []))
            return True, self.accepted_subprotocol
        if message["type"] == "websocket.close":
            return False, message.get("code", 1000)
        if message["type"] == "websocket.http.response.start":
            body_type = "websocket.http.response.body"
            return False, await _rest_of_response(self, message, body_type, timeout)
        raise AssertionError(f"expected the connection answered, the application sent {message!r}")

    async def send_to(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Send one text or bytes frame to the application."""
        if (text_data is None) == (bytes_data is None):
            raise TypeError("send_to() takes exactly one of text_data and bytes_data")
        if text_data is not None:
            await self.send_input({"type": "websocket.receive", "text": text_data})
        else:
            await self.send_input({"type": "websocket.receive", "bytes": bytes_data})

    async def send_json_to(self, data: Any) -> None:
        """Send `data` as a JSON text frame."""
        await self.send_to(text_data=json.dumps(data))

    async def receive_from(self, timeout: float = 1) -> str | bytes:
        """The next frame the application sends (text as str, bytes as bytes)."""
        message = await self.receive_output(timeout)
        if message["type"] != "websocket.send":
            raise AssertionError(f"expected websocket.send, the application sent {message!r}")
        if message.get("text") is not None:
            return str(message["text"])
        return bytes(message.get("bytes") or b"")

    async def receive_json_from(self, timeout: float = 1) -> Any:
        """The next frame, decoded from JSON (it must be a text frame)."""
        payload = await self.receive_from(timeout)
        if not isinstance(payload, str):
            raise AssertionError(f"expected a text frame with JSON, got bytes {payload!r}")
        return json.loads(payload)

    async def disconnect(self, code: int = 1000, timeout: float | None = 1) -> bool:
        """Close from the client side: the application receives `websocket.disconnect`, and each
        `send()` it makes from now on raises `ClientDisconnectedError`. Wait up to `timeout`
        seconds for it to end (then it is cancelled); return whether it ended by itself."""
        return await self._leave({"type": "websocket.disconnect", "code": code}, timeout)


class LifespanCommunicator(ApplicationCommunicator):
    """An application's startup and shutdown, as a server drives them. As an async context
    manager, it runs startup on entry and shutdown on exit; `state` is the lifespan state, to hand
    to the other communicators (``state=lifespan.state``) as a server hands it to each scope."""

    def __init__(
        self, application: Any, state: dict[str, Any] | None = None, *, validate: bool = False
    ) -> None:
        self.state: dict[str, Any] = {} if state is None else state
        self.scope = _lifespan.scope(self.state)
        super().__init__(ApplicationChecker(application) if validate else application, self.scope)

    async def __aenter__(self) -> LifespanCommunicator:
        await self.startup()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.shutdown()

    async def startup(self, timeout: float = 1) -> None:
        """Run startup; raise `RuntimeError` with the application's message if it failed."""
        await self._step(_lifespan.STARTUP, timeout)

    async def shutdown(self, timeout: float = 1) -> None:
        """Run shutdown; raise `RuntimeError` with the application's message if it failed.
        Then wait for the application to end (one still running after `timeout` seconds is
        cancelled)."""
        await self._step(_lifespan.SHUTDOWN, timeout)
        await self.wait(timeout)

    async def _step(self, step: str, timeout: float) -> None:
        await self.send_input(_lifespan.event(step))
        reply = await self.receive_output(timeout)
        if _lifespan.replied(step, reply, "failed"):
            message = reply.get("message", "")
            raise RuntimeError(f"the application's lifespan {step} failed: {message}")
        if not _lifespan.replied(step, reply, "complete"):
            raise AssertionError(
                f"expected lifespan.{step}.complete, the application sent {reply!r}"
            )
