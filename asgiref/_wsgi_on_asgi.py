"""Serving a WSGI app to an ASGI server: the machinery behind `WsgiToAsgi`.

What the server sees is what asgiref 3.13 sends. `receive()` is called until the request body is
complete, never after. Each chunk the app's iterable yields goes out as it is, as
`{"type": "http.response.body", "body": chunk, "more_body": True}` (empty chunks too), the first
one preceded by the `http.response.start` message; a final `{"type": "http.response.body"}` ends
the response. Iteration stops once the declared Content-Length is sent. Whatever the app raises
escapes `__call__` unchanged (the server answers for it), after the messages sent before it.

How a request flows: the ASGI task receives the first body message, then hands the WSGI app to a
thread (one hop, through the bridge's `ThreadCall`). The rest of the body streams to the app's
`wsgi.input` through one bounded `Pipe`, and the response streams back through another, each
message sent as soon as the app produced it, so memory stays bounded for any body size (the
original reads the whole body before starting the app).

Which thread: when the request belongs to a sync world (it is awaited under `async_to_sync`, or
inside a `ThreadSensitiveContext`), the app runs on that world's thread, as the original's
thread-sensitive `sync_to_async` runs it. Otherwise (a plain ASGI server) requests run at once on
the adapter's bounded pool of threads, where the original runs every request of the process, one
at a time, on its single process-wide thread: one slow request would hold up all the others.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from . import _hop
from ._pipe import Pipe
from ._routing import (
    SENSITIVE_CONTEXT,
    send_thread_sensitive,
    send_to_default_executor,
    send_to_executor,
)
from ._wsgi_body import ClientDisconnectedError, RequestBody, RequestBodyTooLargeError
from ._wsgi_request import BadRequestError, content_length, environ_from_scope
from ._wsgi_response import encode_headers, status_code
from .sync import SyncToAsync

if TYPE_CHECKING:  # the standard WSGI types, as type checkers know them (typeshed)
    from _typeshed.wsgi import WSGIEnvironment

# Any callable taking (environ, start_response): apps annotate start_response in many ways.
WsgiApp = Callable[["WSGIEnvironment", Any], Iterable[bytes]]
Message = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]

# How many bytes of request body, and of response, may wait in a pipe before its writer waits.
BODY_BUFFER = 256 * 1024
RESPONSE_BUFFER = 256 * 1024

# The original's answer when building the environ fails with a ValueError.
_TOO_MANY_HEADERS = b"Bad Request: Too many duplicate headers"


def _request_body(message: Message) -> tuple[bytes, bool]:
    """The body chunk of an `http.request` message, and whether more follows."""
    if message["type"] != "http.request":
        raise ValueError("WSGI wrapper received a non-HTTP-request message")
    chunk = message.get("body", b"")
    if type(chunk) is not bytes:
        if not isinstance(chunk, (bytearray, memoryview)):
            raise TypeError(f"a bytes-like object is required, not '{type(chunk).__name__}'")
        chunk = bytes(chunk)  # the server may reuse its buffer once receive() returned
    return chunk, bool(message.get("more_body", False))


def _unshared(chunk: Any) -> Any:
    """`chunk`, copied if the app could change it after yielding it: it is sent after the app
    has moved on (the original waits for each send), and apps do reuse buffers."""
    if type(chunk) is bytes:
        return chunk
    if isinstance(chunk, bytearray):
        return bytearray(chunk)
    if isinstance(chunk, memoryview) and not chunk.readonly:
        return memoryview(chunk.tobytes())
    return chunk


def _size(chunk: Any) -> int:
    try:
        return len(chunk)
    except TypeError:
        return 0


def _plain_response(code: int, text: str) -> list[Message]:
    body = text.encode("utf-8")
    return [
        {
            "type": "http.response.start",
            "status": code,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode("ascii")),
            ],
        },
        {"type": "http.response.body", "body": body, "more_body": False},
    ]


class WsgiToAsgiInstance:
    """One HTTP request served by a WSGI application (see the module docstring for the flow).

    `run_wsgi_app` runs on the app's thread; `build_environ` may be overridden to add to the
    environ (call the original and change its result).
    """

    # Set by __call__. build_environ takes the request headers from here, as the original does.
    scope: dict[str, Any]
    # Set by start_response: the message that starts the response, sent with the first chunk.
    response_start: dict[str, Any]

    def __init__(
        self,
        wsgi_application: WsgiApp,
        duplicate_header_limit: int | None = 100,
        *,
        max_body_size: int | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.wsgi_application = wsgi_application
        self.duplicate_header_limit = duplicate_header_limit
        self.response_started = False  # whether the response_start message was sent
        self.response_content_length: int | None = None
        self._max_body_size = max_body_size
        self._executor = executor
        self._body: Pipe[bytes] | None = None
        self._response: Pipe[Message] | None = None
        self._body_bytes_sent = 0
        self._has_body = False
        # Why receive() ended the request body early: raised once the app has ended.
        self._receive_failure: Exception | None = None

    # --- on the event loop -------------------------------------------------------------------

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise ValueError("WSGI wrapper received a non-HTTP scope")
        self.scope = scope
        chunk, more_body = _request_body(await receive())
        limit = self._max_body_size
        if limit is not None and max(len(chunk), content_length(scope) or 0) > limit:
            for message in _plain_response(413, "Request body too large"):
                await send(message)
            return
        self._has_body = bool(chunk) or more_body
        loop = asyncio.get_running_loop()
        # The app may wait for a thread: until it reads, take in only the first message.
        body = self._body = Pipe(loop, BODY_BUFFER, lazy_reader=True)
        self._response = Pipe(loop, RESPONSE_BUFFER)
        body.put_nowait(chunk, len(chunk))
        if not more_body:
            body.close()
        context = contextvars.copy_context()
        call = _hop.ThreadCall(loop, self.run_wsgi_app, (RequestBody(body),), {}, context, None)
        self._dispatch(loop, call)
        feeder = loop.create_task(self._feed_body(receive, len(chunk))) if more_body else None
        try:
            await self._relay_response(send)
            await call.waiter
        except BaseException:
            # Cancelled, or send() failed: make the app's next read or write raise, and wait for
            # its thread to be done before this request is.
            self._abandon()
            await call.outlast_cancellation()
            raise
        finally:
            if feeder is not None:
                feeder.cancel()
                await asyncio.wait([feeder])
        if call.changed:
            _hop.carry_back(context)  # context changes come back, as from sync_to_async
        if self._receive_failure is not None:
            raise self._receive_failure
        call.outcome()

    def _dispatch(self, loop: asyncio.AbstractEventLoop, call: _hop.ThreadCall) -> None:
        if _hop.CURRENT_LANE.get() is not None or SENSITIVE_CONTEXT.get() is not None:
            send_thread_sensitive(call, SyncToAsync.single_thread_executor)
        elif self._executor is not None:
            send_to_executor(self._executor, call)
        else:  # used on its own, without a WsgiToAsgi to own threads
            send_to_default_executor(loop, call)

    async def _relay_response(self, send: Send) -> None:
        response = self._response
        assert response is not None
        while True:
            message = await response.get()
            if message is None:
                return
            await send(message)

    async def _feed_body(self, receive: Receive, received: int) -> None:
        """Pass the rest of the request body to the app, as it arrives."""
        body = self._body
        assert body is not None
        limit = self._max_body_size
        try:
            while True:
                # Take the next message only once there is room for it: until then it stays in
                # the server, whose flow control stops reading from the client.
                await body.wait_for_room()
                if body.aborted is not None:
                    return  # the app is done with the body (it ended, or it was too large)
                chunk, more_body = _request_body(await receive())
                received += len(chunk)
                if limit is not None and received > limit:
                    body.abort(RequestBodyTooLargeError(f"the request body is over {limit} bytes"))
                    return
                body.put_nowait(chunk, len(chunk))
                if not more_body:
                    body.close()
                    return
        except Exception as error:
            if body.aborted is not None:
                return  # the app is done with the body
            # A disconnect or another message cut the body short (the original raises before
            # starting the app): the app's next read fails, and __call__ raises the error.
            self._receive_failure = error
            body.abort(ClientDisconnectedError(f"the request body was cut short: {error}"))

    def _abandon(self) -> None:
        gone = ClientDisconnectedError("the request was abandoned (cancelled, or send() failed)")
        for pipe in (self._body, self._response):
            if pipe is not None:
                pipe.abort(gone)

    # --- on the app's thread -----------------------------------------------------------------

    def build_environ(self, scope: Any, body: Any) -> WSGIEnvironment:
        """The WSGI environ for `scope`, with `body` as `wsgi.input`.

        As in the original, the request headers are those of `self.scope`. Raises `ValueError`
        for a request the app must not see (the adapter answers 400)."""
        return environ_from_scope(
            scope, self.scope.get("headers", []), body, self.duplicate_header_limit
        )

    def start_response(
        self, status: str, response_headers: Iterable[Any], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        """PEP 3333's `start_response`; returns the `write()` callable."""
        if self.response_started:
            # Too late to change the response: re-raise the app's error (PEP 3333). Without
            # exc_info this raises the original's TypeError.
            try:
                raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # break the frame <-> traceback cycle
        if exc_info is None and hasattr(self, "response_start"):
            raise ValueError("You cannot call start_response a second time without exc_info")
        code = status_code(status)
        headers, self.response_content_length = encode_headers(response_headers)
        self.response_start = {"type": "http.response.start", "status": code, "headers": headers}
        return self._write

    def run_wsgi_app(self, body: Any) -> None:
        """Run the app for this request, streaming its response to the event loop."""
        response = self._response
        assert response is not None
        try:
            if response.aborted is None:  # else abandoned while it waited for a thread
                self._run(body)
        finally:
            response.close()
            if self._body is not None:
                self._body.abort(ClientDisconnectedError("the request is over"))

    def _run(self, body: Any) -> None:
        try:
            environ = self.build_environ(self.scope, body)
        except ValueError as error:
            self._refuse(error)
            return
        if self._has_body and "CONTENT_LENGTH" not in environ:
            # The body's end is the end of wsgi.input (chunked, or HTTP/2 without a length):
            # without this, werkzeug (Flask) reads such a body as empty.
            environ["wsgi.input_terminated"] = True
        try:
            self._respond(environ)
        except BaseException:
            if self.response_started or not self._body_too_large():
                raise
            # The body was over max_body_size: that is the answer, whatever the app made of it.
            for message in _plain_response(413, "Request body too large"):
                self._put(message, 0)

    def _body_too_large(self) -> bool:
        body = self._body
        return body is not None and isinstance(body.aborted, RequestBodyTooLargeError)

    def _respond(self, environ: WSGIEnvironment) -> None:
        result = self.wsgi_application(environ, self.start_response)
        try:
            for chunk in result:
                if self._send_chunk(chunk):
                    break  # the declared length is sent: like the original, pull no more
            if not self.response_started:
                self._send_start()
            self._put({"type": "http.response.body"}, 0)
        finally:
            # PEP 3333 (the original never calls it): Django sends request_finished from here.
            close = getattr(result, "close", None)
            if close is not None:
                close()

    def _send_start(self) -> None:
        start = self.response_start  # AttributeError without start_response, as the original
        if self._body_too_large():
            # The app's answer is a consequence of its failed read: _run answers 413 instead.
            raise RequestBodyTooLargeError("the request body is over max_body_size")
        self.response_started = True
        self._put(start, 0)

    def _send_chunk(self, chunk: Any) -> bool:
        """Send one chunk of the body; return whether the declared length is now reached."""
        if not self.response_started:
            self._send_start()
        length = self.response_content_length
        if length is not None:
            allowed = length - self._body_bytes_sent
            if len(chunk) > allowed:
                chunk = chunk[:allowed]
        message = {"type": "http.response.body", "body": _unshared(chunk), "more_body": True}
        self._put(message, _size(chunk))
        # A chunk without a length (an int, None) fails here, after it was sent, as it does in
        # the original.
        self._body_bytes_sent += len(chunk)
        return self._body_bytes_sent == length

    def _write(self, data: bytes) -> None:
        """The `write()` callable start_response returns (PEP 3333; the original returns None)."""
        self._send_chunk(data)

    def _refuse(self, error: ValueError) -> None:
        """Answer 400 without running the app, as the original does when building the environ
        fails with a ValueError."""
        text = _TOO_MANY_HEADERS
        if isinstance(error, BadRequestError):
            text = f"Bad Request: {error}".encode()
        self._put(
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [(b"content-type", b"text/plain")],
            },
            0,
        )
        self._put({"type": "http.response.body", "body": text}, len(text))

    def _put(self, message: Message, size: int) -> None:
        response = self._response
        assert response is not None
        response.put_blocking(message, size)
