"""Driving ASGI applications from tests.

`ApplicationCommunicator` runs one application instance for one scope and lets a test feed it
messages and read what it sends. It is what Channels' communicators stand on, and they subclass
it: they set `self.scope` before calling `super().__init__`, and override `send_input` and
`receive_output`, so those stay the only two doors in and out.

The higher-level helpers (`HttpCommunicator`, `WebsocketCommunicator`, `LifespanCommunicator`)
speak one protocol each, so a test reads like the conversation it checks.

Rules that hold everywhere here:

* The application starts, as a task of the running event loop, on first use (not at
  construction, so a communicator can be built outside a loop).
* An exception raised by the application is raised by the next call that touches it, with the
  application's own traceback.
* A timeout raises `TimeoutError` (`asyncio.TimeoutError` on 3.10) saying what was awaited, and
  cancels the application, which then cannot hang the test's event loop.
* `stop()`, `wait()` and garbage collection never leave a pending task behind, and never start one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable
from typing import Any

from .compatibility import guarantee_single_callable

__all__ = [
    "ApplicationCommunicator",
    "HttpCommunicator",
    "HttpResponse",
    "LifespanCommunicator",
    "WebsocketCommunicator",
]

Message = dict[str, Any]


class ApplicationCommunicator:
    """Runs one instance of an ASGI application for `scope` and talks to it through queues."""

    def __init__(self, application: Any, scope: Any) -> None:
        # Any: test applications are loosely typed, and messages here are plain dicts.
        self.application: Any = guarantee_single_callable(application)
        self.scope = scope
        self._input_queue: asyncio.Queue[Message] | None = None
        self._output_queue: asyncio.Queue[Message] | None = None
        self._future: asyncio.Task[Any] | None = None
        self._outbox: _Outbox | None = None

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
        """The task running the application, started on first use."""
        if self._future is None:
            outbox = self._outbox = _Outbox(self.output_queue)
            self._future = asyncio.ensure_future(
                self.application(self.scope, self.input_queue.get, outbox.send)
            )
            self._future.add_done_callback(outbox.wake_on_end)
        return self._future

    def _raise_if_crashed(self) -> None:
        """Raise the application's exception, if it has ended with one."""
        future = self.future
        if future.done() and not future.cancelled():
            future.result()

    async def send_input(self, message: Message) -> None:
        """Give the application one message to receive."""
        self._raise_if_crashed()
        self.input_queue.put_nowait(message)  # unbounded: never waits

    async def receive_output(self, timeout: float = 1) -> Message:
        """The next message the application sends, waiting at most `timeout` seconds.

        On timeout the application is cancelled and `TimeoutError` raised (unless the
        application had already failed: then its exception is raised instead)."""
        future = self.future
        if future.done() and not future.cancelled():
            future.result()  # the application failed: raise its exception
        queue = self.output_queue
        if queue.empty() and not future.done():
            # Applications mostly answer within one turn of the loop: let it run once before
            # arming a waiter and a timer.
            await asyncio.sleep(0)
            if queue.empty() and not future.done():
                assert self._outbox is not None  # made with the future
                await self._outbox.wait(timeout)
        if not queue.empty():
            return queue.get_nowait()
        if future.done():
            self._raise_if_crashed()
            raise asyncio.TimeoutError(
                "the application finished without sending the message receive_output() waited for"
            )
        await self._cancel()
        raise asyncio.TimeoutError(
            f"the application sent nothing within {timeout} s (waiting in receive_output()); "
            "it has been cancelled"
        )

    async def receive_nothing(self, timeout: float = 0.1, interval: float = 0.01) -> bool:
        """Whether the application sends nothing for `timeout` seconds (checked every
        `interval`); returns False as soon as a message arrives (the message stays queued)."""
        self._raise_if_crashed()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if not self.output_queue.empty():
                return False
            await asyncio.sleep(interval)
        return self.output_queue.empty()

    async def wait(self, timeout: float = 1) -> None:
        """Wait for the application to finish by itself; raise its exception if it failed.

        If it does not finish within `timeout` seconds it is cancelled and `TimeoutError`
        raised."""
        done, _ = await asyncio.wait({self.future}, timeout=timeout)
        if not done:
            await self._cancel()
            raise asyncio.TimeoutError(
                f"the application did not finish within {timeout} s (waiting in wait()); it "
                "has been cancelled"
            )
        self._raise_if_crashed()

    def stop(self, exceptions: bool = True) -> None:
        """Cancel the application if it still runs; else, with `exceptions`, raise what it
        raised."""
        future = self._future
        if future is None:
            return
        if not future.done():
            future.cancel()
        elif exceptions and not future.cancelled():
            future.result()

    async def _cancel(self) -> None:
        future = self.future
        if not future.done():
            future.cancel()
        await asyncio.gather(future, return_exceptions=True)

    def __del__(self) -> None:
        future = self._future
        if future is None or future.done():
            return
        with contextlib.suppress(RuntimeError):  # its loop is closed: the task never runs again
            future.cancel()


class _Outbox:
    """The application's `send`, and the wake-up of a `receive_output` waiting for it.

    One future, resolved by the next message, the application's end or a timer, is far cheaper
    per round trip than a getter task raced against the application's task. It holds no
    reference to the communicator, so a dropped communicator can still be collected (and cancel
    its application) while the application runs."""

    __slots__ = ("_queue", "_waiter")

    def __init__(self, queue: asyncio.Queue[Message]) -> None:
        self._queue = queue
        self._waiter: asyncio.Future[None] | None = None

    async def send(self, message: Message) -> None:
        self._queue.put_nowait(message)
        self._wake()

    def wake_on_end(self, _future: asyncio.Future[Any]) -> None:
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, timeout: float) -> None:
        """Until a message arrives, the application ends, or `timeout` seconds pass."""
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(timeout, self._wake)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None


def _header_list(headers: Iterable[tuple[bytes | str, bytes | str]] | None) -> list[list[bytes]]:
    """Headers as an ASGI scope carries them: byte pairs, names lowercased (the spec says so)."""
    pairs = []
    for name, value in headers or ():
        raw_name = name.encode("latin-1") if isinstance(name, str) else name
        raw_value = value.encode("latin-1") if isinstance(value, str) else value
        pairs.append([raw_name.lower(), raw_value])
    return pairs


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
        headers: Iterable[tuple[bytes | str, bytes | str]] | None = None,
        query_string: bytes | str = b"",
        scope: dict[str, Any] | None = None,
    ) -> None:
        if isinstance(query_string, str):
            query_string = query_string.encode("latin-1")
        raw_path, _, query_in_path = path.partition("?")
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method.upper(),
            "scheme": "http",
            "path": raw_path,
            "raw_path": raw_path.encode("utf-8"),
            "query_string": query_string or query_in_path.encode("latin-1"),
            "root_path": "",
            "headers": _header_list(headers),
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
            **(scope or {}),
        }
        self.body = body
        super().__init__(application, self.scope)

    async def get_response(self, timeout: float = 1) -> HttpResponse:
        """Send the request body and collect the whole response."""
        await self.send_input({"type": "http.request", "body": self.body, "more_body": False})
        start = await self.receive_output(timeout)
        if start["type"] != "http.response.start":
            raise AssertionError(f"expected http.response.start, the application sent {start!r}")
        chunks = []
        while True:
            message = await self.receive_output(timeout)
            if message["type"] != "http.response.body":
                raise AssertionError(
                    f"expected http.response.body, the application sent {message!r}"
                )
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        await self.wait(timeout)
        headers = [(bytes(name), bytes(value)) for name, value in start.get("headers", [])]
        return HttpResponse(start["status"], headers, b"".join(chunks))


class WebsocketCommunicator(ApplicationCommunicator):
    """A WebSocket conversation with an ASGI application."""

    def __init__(
        self,
        application: Any,
        path: str,
        headers: Iterable[tuple[bytes | str, bytes | str]] | None = None,
        subprotocols: list[str] | None = None,
        scope: dict[str, Any] | None = None,
    ) -> None:
        raw_path, _, query = path.partition("?")
        self.scope = {
            "type": "websocket",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": "ws",
            "path": raw_path,
            "raw_path": raw_path.encode("utf-8"),
            "query_string": query.encode("latin-1"),
            "root_path": "",
            "headers": _header_list(headers),
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
            "subprotocols": subprotocols or [],
            "extensions": {"websocket.http.response": {}},
            **(scope or {}),
        }
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
            self.response_headers = [
                (bytes(name), bytes(value)) for name, value in message.get("headers", [])
            ]
            return True, self.accepted_subprotocol
        if message["type"] == "websocket.close":
            return False, message.get("code", 1000)
        if message["type"] == "websocket.http.response.start":
            chunks = []
            while True:
                body = await self.receive_output(timeout)
                chunks.append(body.get("body", b""))
                if not body.get("more_body", False):
                    break
            headers = [(bytes(name), bytes(value)) for name, value in message.get("headers", [])]
            return False, HttpResponse(message["status"], headers, b"".join(chunks))
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
        """Close from the client side and wait for the application to finish."""
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self.wait(timeout)


class LifespanCommunicator(ApplicationCommunicator):
    """An application's startup and shutdown, as a server drives them."""

    def __init__(self, application: Any, state: dict[str, Any] | None = None) -> None:
        self.scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": {} if state is None else state,
        }
        super().__init__(application, self.scope)

    async def startup(self, timeout: float = 1) -> None:
        """Run startup; raise `RuntimeError` with the application's message if it failed."""
        await self._step("startup", timeout)

    async def shutdown(self, timeout: float = 1) -> None:
        """Run shutdown; raise `RuntimeError` with the application's message if it failed."""
        await self._step("shutdown", timeout)
        await self.wait(timeout)

    async def _step(self, step: str, timeout: float) -> None:
        await self.send_input({"type": f"lifespan.{step}"})
        message = await self.receive_output(timeout)
        if message["type"] == f"lifespan.{step}.failed":
            raise RuntimeError(
                f"the application's lifespan {step} failed: {message.get('message', '')}"
            )
        if message["type"] != f"lifespan.{step}.complete":
            raise AssertionError(
                f"expected lifespan.{step}.complete, the application sent {message!r}"
            )
