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

A request's state is two machines (see `_state`): the loop moves `_Body`, how far the request
body has come in; the app's thread moves `_Response`, how far the response has gone out. What one
side must tell the other goes through the pipes: aborting one, with an error saying why, ends the
other side's reads and writes. (The thread asks `_Body` only whether the request has a body.)
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from ._hop import CURRENT_LANE, ThreadCall, carry_back
from ._messages import BODY_BUFFER, RESPONSE_BUFFER, Message, Receive, Send
from ._pipe import Pipe
from ._routing import SENSITIVE_CONTEXT, route
from ._state import Machine, states
from ._wsgi_body import ClientDisconnectedError, RequestBody, RequestBodyTooLargeError
from ._wsgi_request import BadRequestError, content_length, environ_from_scope
from ._wsgi_response import encode_headers, status_code
from .sync import SyncToAsync

if TYPE_CHECKING:  # the standard WSGI types, as type checkers know them (typeshed)
    from _typeshed.wsgi import WSGIEnvironment

# Any callable taking (environ, start_response): apps annotate start_response in many ways.
WsgiApp = Callable[["WSGIEnvironment", Any], Iterable[bytes]]

# The original's answer when building the environ fails with a ValueError.
_TOO_MANY_HEADERS = b"Bad Request: Too many duplicate headers"


class _Body:
    """The request body, as the loop passes it on to the app's `wsgi.input` (moved on the loop).

    AWAITED: the first http.request message has not come.
    EMPTY: the request has no body.
    COMPLETE: the whole body is in the pipe.
    STREAMING: more is to come: a task receives it as the pipe has room.
    TOO_LARGE: it is over max_body_size: the app's reads fail, the answer is 413.
    CUT_SHORT: receive() failed before its end: the app's reads fail, then __call__ raises.
    DROPPED: the app's side ended the pipe (its request is over) before the body's end.
    """

    AWAITED, EMPTY, COMPLETE, STREAMING, TOO_LARGE, CUT_SHORT, DROPPED = states(7)


_BODY_MOVES = {
    _Body.AWAITED: {_Body.EMPTY, _Body.COMPLETE, _Body.STREAMING, _Body.TOO_LARGE},
    _Body.STREAMING: {_Body.COMPLETE, _Body.TOO_LARGE, _Body.CUT_SHORT, _Body.DROPPED},
}


class _Response:
    """The response, as the app's thread passes it on (moved on that thread).

    NOT_STARTED: start_response has not been called.
    HEADERS_READY: start_response was called: its message goes out with the first chunk.
    SENDING_BODY: the start message was sent (`response_started`).
    ENDED: the final body message was sent.
    REFUSED: the adapter answered instead of the app: 400 (a bad request) or 413.
    """

    NOT_STARTED, HEADERS_READY, SENDING_BODY, ENDED, REFUSED = states(5)


_RESPONSE_MOVES = {
    _Response.NOT_STARTED: {_Response.HEADERS_READY, _Response.REFUSED},
    # Called again with exc_info, start_response replaces the headers.
    _Response.HEADERS_READY: {_Response.HEADERS_READY, _Response.SENDING_BODY, _Response.REFUSED},
    _Response.SENDING_BODY: {_Response.ENDED},
}


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


def _too_large() -> list[Message]:
    """The answer to a request body over max_body_size."""
    body = b"Request body too large"
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"22")]
    return [
        {"type": "http.response.start", "status": 413, "headers": headers},
        {"type": "http.response.body", "body": body, "more_body": False},
    ]


class WsgiToAsgiInstance:
    """One HTTP request served by a WSGI application (see the module docstring for the flow).

    `run_wsgi_app` runs on the app's thread; `build_environ` may be overridden to add to the
    environ (call the original and change its result).
    """

    # Set by __call__. build_environ takes the request headers from here, as the original does.
    scope: dict[str, Any]
    # Set by __call__: the pipes the request body and the response stream through.
    _body: Pipe[bytes]
    _response: Pipe[Message]
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
        self.response_content_length: int | None = None
        self._max_body_size = max_body_size
        self._executor = executor
        self._body_bytes_sent = 0
        self._body_state = Machine(_Body.AWAITED, _BODY_MOVES)
        self._response_state = Machine(_Response.NOT_STARTED, _RESPONSE_MOVES)
        # Why receive() cut the body short: raised once the app has ended.
        self._receive_failure: Exception | None = None

    @property
    def response_started(self) -> bool:
        """Whether the message starting the response was sent."""
        return self._response_state.state in (_Response.SENDING_BODY, _Response.ENDED)

    # --- on the event loop -------------------------------------------------------------------

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise ValueError("WSGI wrapper received a non-HTTP scope")
        self.scope = scope
        chunk, more_body = _request_body(await receive())
        limit = self._max_body_size
        if limit is not None and max(len(chunk), content_length(scope) or 0) > limit:
            self._body_state.move(_Body.TOO_LARGE)
            for message in _too_large():
                await send(message)
            return
        self._body_state.move(
            _Body.STREAMING if more_body else _Body.COMPLETE if chunk else _Body.EMPTY
        )
        loop = asyncio.get_running_loop()
        # The app may wait for a thread: until it reads, take in only the first message.
        body = self._body = Pipe(loop, BODY_BUFFER, lazy_reader=True)
        response = self._response = Pipe(loop, RESPONSE_BUFFER)
        body.put_nowait(chunk, len(chunk))
        if not more_body:
            body.close()
        context = contextvars.copy_context()
        call = ThreadCall(loop, self.run_wsgi_app, (RequestBody(body),), {}, context, None)
        self._dispatch(loop, call)
        feeder = loop.create_task(self._feed_body(receive, len(chunk))) if more_body else None
        try:
            while (outgoing := await response.get()) is not None:
                await send(outgoing)
            await call.waiter
        except BaseException:
            # Cancelled, or send() failed: make the app's next read or write raise, and wait for
            # its thread to be done before this request is.
            gone = ClientDisconnectedError(
                "the request was abandoned (cancelled, or send() failed)"
            )
            body.abort(gone)
            response.abort(gone)
            await call.outlast_cancellation()
            raise
        finally:
            if feeder is not None:
                feeder.cancel()
                await asyncio.wait([feeder])
        if call.changed:
            carry_back(context)  # context changes come back, as from sync_to_async
        if self._receive_failure is not None:
            raise self._receive_failure
        call.outcome()

    def _dispatch(self, loop: asyncio.AbstractEventLoop, call: ThreadCall) -> None:
        # On the sync world's thread if there is one; else on the adapter's workers, or (an
        # instance used on its own, without a WsgiToAsgi to own threads) the default executor.
        in_sync_world = CURRENT_LANE.get() is not None or SENSITIVE_CONTEXT.get() is not None
        route(
            call,
            loop,
            thread_sensitive=in_sync_world,
            executor=self._executor,
            single_thread_executor=SyncToAsync.single_thread_executor,
        )

    async def _feed_body(self, receive: Receive, received: int) -> None:
        """Pass the rest of the request body to the app, as it arrives."""
        body, limit = self._body, self._max_body_size
        try:
            while True:
                # Take the next message only once there is room for it: until then it stays in
                # the server, whose flow control stops reading from the client.
                await body.wait_for_room()
                if body.aborted is not None:
                    self._body_state.move(_Body.DROPPED)
                    return
                chunk, more_body = _request_body(await receive())
                received += len(chunk)
                if limit is not None and received > limit:
                    self._body_state.move(_Body.TOO_LARGE)
                    body.abort(RequestBodyTooLargeError(f"the request body is over {limit} bytes"))
                    return
                body.put_nowait(chunk, len(chunk))
                if not more_body:
                    self._body_state.move(_Body.COMPLETE)
                    body.close()
                    return
        except Exception as error:
            if body.aborted is not None:
                self._body_state.move(_Body.DROPPED)
                return
            # A disconnect or another message cut the body short (the original raises before
            # starting the app): the app's next read fails, and __call__ raises the error.
            self._body_state.move(_Body.CUT_SHORT)
            self._receive_failure = error
            body.abort(ClientDisconnectedError(f"the request body was cut short: {error}"))

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
        if exc_info is None and self._response_state.state is _Response.HEADERS_READY:
            raise ValueError("You cannot call start_response a second time without exc_info")
        code = status_code(status)
        headers, self.response_content_length = encode_headers(response_headers)
        self.response_start = {"type": "http.response.start", "status": code, "headers": headers}
        self._response_state.move(_Response.HEADERS_READY)
        return self._write

    def run_wsgi_app(self, body: Any) -> None:
        """Run the app for this request, streaming its response to the event loop."""
        try:
            if self._response.aborted is None:  # else abandoned while it waited for a thread
                self._run(body)
        finally:
            self._response.close()
            self._body.abort(ClientDisconnectedError("the request is over"))

    def _run(self, body: Any) -> None:
        try:
            environ = self.build_environ(self.scope, body)
        except ValueError as error:
            self._refuse(error)
            return
        # (The loop's machine: whether it is EMPTY was settled before this thread started.)
        if self._body_state.state is not _Body.EMPTY and "CONTENT_LENGTH" not in environ:
            # The body's end is the end of wsgi.input (chunked, or HTTP/2 without a length):
            # without this, werkzeug (Flask) reads such a body as empty.
            environ["wsgi.input_terminated"] = True
        try:
            self._respond(environ)
        except BaseException:
            if self.response_started or not self._body_too_large():
                raise
            # The body was over max_body_size: that is the answer, whatever the app made of it.
            self._response_state.move(_Response.REFUSED)
            for message in _too_large():
                self._put(message, 0)

    def _body_too_large(self) -> bool:
        return isinstance(self._body.aborted, RequestBodyTooLargeError)

    def _respond(self, environ: WSGIEnvironment) -> None:
        result = self.wsgi_application(environ, self.start_response)
        try:
            for chunk in result:
                self._write(chunk)
                if self._body_bytes_sent == self.response_content_length:
                    break  # the declared length is sent: like the original, pull no more
            if not self.response_started:
                self._send_start()
            self._response_state.move(_Response.ENDED)
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
        self._response_state.move(_Response.SENDING_BODY)
        self._put(start, 0)

    def _write(self, chunk: Any) -> None:
        """Send one chunk of the body: the `write()` callable start_response returns (PEP 3333;
        the original returns None)."""
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

    def _refuse(self, error: ValueError) -> None:
        """Answer 400 without running the app, as the original does when building the environ
        fails with a ValueError."""
        text = _TOO_MANY_HEADERS
        if isinstance(error, BadRequestError):
            text = f"Bad Request: {error}".encode()
        self._response_state.move(_Response.REFUSED)
        headers = [(b"content-type", b"text/plain")]
        self._put({"type": "http.response.start", "status": 400, "headers": headers}, 0)
        self._put({"type": "http.response.body", "body": text}, len(text))

    def _put(self, message: Message, size: int) -> None:
        self._response.put_blocking(message, size)
