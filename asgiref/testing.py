"""Driving ASGI applications from tests: `ApplicationCommunicator`, and a communicator per protocol.

`ApplicationCommunicator` behaves as asgiref 3.13.0's does, error states and timeouts included,
because test suites (and Channels, which subclasses it) depend on them; docs/testing.rst says how,
point by point. The protocol communicators are additions of this package.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import sys
from collections.abc import Iterable
from typing import Any

from . import _lifespan
from ._messages import Message
from .compatibility import guarantee_single_callable

if sys.version_info >= (3, 11):
    from asyncio import timeout as _deadline
else:  # asgiref's own, which warns only on 3.11+ (where asyncio has its own)
    from .timeout import timeout as _deadline

__all__ = [
    "ApplicationCommunicator",
    "HttpCommunicator",
    "HttpResponse",
    "LifespanCommunicator",
    "WebsocketCommunicator",
]


class ApplicationCommunicator:
    """Runs one instance of an ASGI application for `scope` and talks to it through queues."""

    def __init__(self, application: Any, scope: Any) -> None:
        # Any: test applications are loosely typed, and messages here are plain dicts.
        self.application: Any = guarantee_single_callable(application)
        self.scope = scope
        self._input_queue: asyncio.Queue[Message] | None = None
        self._output_queue: asyncio.Queue[Message] | None = None
        self._future: asyncio.Task[Any] | None = None

    @property
    def input_queue(self) -> asyncio.Queue[Message]:
        """Messages waiting for the application's `receive()`."""
        if self._input_queue is None:
            self._input_queue = asyncio.Queue()
        return self._input_queue

    @property
    def output_queue(self) -> asyncio.Queue[Message]:
        """Messages the application has sent and nobody has read yet."""
        if self._output_queue is None:
            self._output_queue = asyncio.Queue()
        return self._output_queue

    @property
    def future(self) -> asyncio.Task[Any]:
        """The task running the application, started on first use.

        With no running loop this raises `RuntimeError` and starts nothing (a later use inside
        a loop starts the application then)."""
        if self._future is None:
            coroutine = self.application(self.scope, self.input_queue.get, self.output_queue.put)
            # A task copies the context it is created in: created inside an empty one, the
            # application starts with no context variables set.
            self._future = contextvars.Context().run(asyncio.create_task, coroutine)
        return self._future

    def _raise_if_ended(self) -> None:
        """Raise what the application ended with: its exception, or `CancelledError`."""
        future = self.future
        if future.done():
            future.result()

    async def send_input(self, message: Message) -> None:
        """Give the application one message to receive."""
        self._raise_if_ended()
        self.input_queue.put_nowait(message)  # unbounded: never waits

    async def receive_output(self, timeout: float | None = 1) -> Message:
        """The next message the application sends, waiting at most `timeout` seconds (None: no
        limit).

        On timeout: the application's exception if it has failed; otherwise the application is
        cancelled and `TimeoutError` raised."""
        self._raise_if_ended()
        queue = self.output_queue
        if not queue.empty():
            return queue.get_nowait()  # what the timed get below would return without waiting
        try:
            async with _deadline(timeout):
                return await queue.get()
        except asyncio.TimeoutError:
            await self._end_after_timeout()
            raise

    async def _end_after_timeout(self) -> None:
        """After `receive_output` timed out: raise what the application ended with meanwhile
        (a normal end raises nothing), or cancel it and wait until it has ended."""
        future = self.future
        if future.done():
            future.result()
            return
        future.cancel()
        # Only the expected CancelledError is swallowed: anything else the application raises
        # as it is cancelled is raised instead of the TimeoutError.
        with contextlib.suppress(asyncio.CancelledError):
            await future

    async def receive_nothing(self, timeout: float = 0.1, interval: float = 0.01) -> bool:
        """Whether the application sends nothing for `timeout` seconds (checked every
        `interval`); returns False as soon as a message arrives (the message stays queued)."""
        self._raise_if_ended()
        queue = self.output_queue
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if not queue.empty():
                return False
            await asyncio.sleep(interval)
        return queue.empty()

    async def wait(self, timeout: float | None = 1) -> None:
        """Wait for the application to end; raise its exception if it failed.

        One still running after `timeout` seconds (None: no limit) is cancelled, and `wait()`
        returns."""
        future = self.future
        async with _deadline(timeout):
            # The task itself is awaited, so cancelling this one (the deadline does, and so may
            # anyone else) cancels the application; its CancelledError then ends the wait.
            with contextlib.suppress(asyncio.CancelledError):
                await future

    def stop(self, exceptions: bool = True) -> None:
        """Cancel the application if it runs (not starting it if it never did); if it has ended,
        with `exceptions`, raise what it ended with (its exception, or `CancelledError`)."""
        future = self._future
        if future is None:
            return
        if not future.done():
            future.cancel()
        elif exceptions:
            future.result()

    def __del__(self) -> None:
        future = self._future
        if future is None or future.done():
            return
        with contextlib.suppress(RuntimeError):  # its loop is closed: the task never runs again
            future.cancel()


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


class HttpCommunicator(ApplicationCommunicator):
    """One HTTP request to an ASGI application, and its response."""

    def __init__(
        self,
        application: Any,
        method: str,
        path: str,
        body: bytes = b"",
        headers: _Headers | None = None,
        query_string: bytes | str = b"",
        scope: dict[str, Any] | None = None,
    ) -> None:
        self.scope = _connection_scope("http", "2.3", path, headers)
        self.scope.update(method=method.upper(), scheme="http")
        if query_string:
            if isinstance(query_string, str):
                query_string = query_string.encode("latin-1")
            self.scope["query_string"] = query_string
        self.scope.update(scope or {})
        self.body = body
        super().__init__(application, self.scope)

    async def get_response(self, timeout: float = 1) -> HttpResponse:
        """Send the request body and collect the whole response; then wait for the application
        to end (one still running after `timeout` seconds is cancelled)."""
        await self.send_input({"type": "http.request", "body": self.body, "more_body": False})
        start = await self.receive_output(timeout)
        if start["type"] != "http.response.start":
            raise AssertionError(f"expected http.response.start, the application sent {start!r}")
        response = await _rest_of_response(self, start, "http.response.body", timeout)
        await self.wait(timeout)
        return response


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


class WebsocketCommunicator(ApplicationCommunicator):
    """A WebSocket conversation with an ASGI application."""

    def __init__(
        self,
        application: Any,
        path: str,
        headers: _Headers | None = None,
        subprotocols: list[str] | None = None,
        scope: dict[str, Any] | None = None,
    ) -> None:
        self.scope = _connection_scope("websocket", "2.4", path, headers)
        extensions: Message = {"websocket.http.response": {}}
        self.scope.update(scheme="ws", subprotocols=subprotocols or [], extensions=extensions)
        self.scope.update(scope or {})
        self.accepted_subprotocol: str | None = None
        self.response_headers: list[tuple[bytes, bytes]] = []
        super().__init__(application, self.scope)

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

    async def disconnect(self, code: int = 1000, timeout: float = 1) -> None:
        """Close from the client side and wait for the application to end (one still running
        after `timeout` seconds is cancelled)."""
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self.wait(timeout)


class LifespanCommunicator(ApplicationCommunicator):
    """An application's startup and shutdown, as a server drives them."""

    def __init__(self, application: Any, state: dict[str, Any] | None = None) -> None:
        self.scope = _lifespan.scope({} if state is None else state)
        super().__init__(application, self.scope)

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
