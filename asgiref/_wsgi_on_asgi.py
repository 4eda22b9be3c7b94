"""Serving a WSGI app to an ASGI server: the machinery behind `WsgiToAsgi`.

How a request flows: the ASGI task receives the first body message, then hands the WSGI app to a
worker thread (one thread hop, through the bridge's `ThreadCall`). The rest of the body streams to
the app's `wsgi.input` through one bounded `Pipe`, and the response streams back through another,
each ASGI message sent as soon as the app produced it. A task watches the client meanwhile, so a
disconnect reaches the app as an `OSError` from its next read or write instead of leaving it to
run (or hang) for nobody.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from typing import IO, TYPE_CHECKING, Any

from . import _hop
from ._pipe import Pipe
from ._wsgi_body import ClientDisconnectedError, RequestBody, RequestBodyTooLargeError
from ._wsgi_request import BadRequestError, content_length, environ_from_scope
from ._wsgi_response import encode_headers, status_code

if TYPE_CHECKING:  # the standard WSGI types, as type checkers know them (typeshed)
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import WSGIEnvironment

logger = logging.getLogger("asgiref.wsgi")

# Any callable taking (environ, start_response): apps annotate start_response in many ways.
WsgiApp = Callable[["WSGIEnvironment", Any], Iterable[bytes]]
Message = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]

# How many bytes of request body, and of response, may wait in a pipe before its writer waits.
BODY_BUFFER = 256 * 1024
RESPONSE_BUFFER = 256 * 1024


class FileWrapper:
    """`wsgi.file_wrapper`: iterate a file in blocks, so a file response is streamed from disk
    and never read into memory whole."""

    def __init__(self, filelike: IO[bytes], block_size: int = 64 * 1024) -> None:
        self.filelike = filelike
        self.block_size = block_size

    def __iter__(self) -> Iterator[bytes]:
        read = self.filelike.read
        while True:
            block = read(self.block_size)
            if not block:
                return
            yield block

    def close(self) -> None:
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()


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

    `run_wsgi_app` runs on a worker thread; `build_environ` may be overridden to add to the
    environ (call the original and change its result).
    """

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
        self.max_body_size = max_body_size
        self._executor = executor
        self.scope: dict[str, Any] = {}
        self.response_started = False
        self._status: int | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._length_left: int | None = None
        self._start_sent = False
        self._response_over = False
        self._body: Pipe[bytes] | None = None
        self._response: Pipe[Message] | None = None

    # --- on the event loop -------------------------------------------------------------------

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            raise ValueError(f"WsgiToAsgiInstance serves 'http' scopes, not {scope.get('type')!r}")
        self.scope = scope
        message = await receive()
        if message["type"] != "http.request":
            return  # the client left before sending the request
        limit = self.max_body_size
        if limit is not None and (content_length(scope) or 0) > limit:
            for reply in _plain_response(413, "Request body too large"):
                await send(reply)
            return
        loop = asyncio.get_running_loop()
        # The app may wait for a worker thread: until it reads, take in only the first message.
        body = self._body = Pipe(loop, BODY_BUFFER, lazy_reader=True)
        self._response = Pipe(loop, RESPONSE_BUFFER)
        chunk = message.get("body", b"")
        more_body = bool(message.get("more_body", False))
        if limit is not None and len(chunk) > limit:
            body.abort(RequestBodyTooLargeError(f"the request body is over {limit} bytes"))
        else:
            body.put_nowait(chunk, len(chunk))
            if not more_body:
                body.close()
        watcher = loop.create_task(self._watch_client(receive, more_body, len(chunk)))
        call = _hop.ThreadCall(
            loop, self.run_wsgi_app, (RequestBody(body),), {}, contextvars.copy_context(), None
        )
        if self._executor is None:  # used on its own, without a WsgiToAsgi to own threads
            _hop.send_to_default_executor(loop, call)
        else:
            _hop.send_to_executor(self._executor, call)
        try:
            await self._relay_response(send)
            await call.waiter
        except BaseException as error:
            # Cancelled, or send() failed with something other than a disconnect: unblock the
            # app's thread (its next read or write raises) and wait for it before going.
            self._client_gone(f"the request was abandoned: {error!r}")
            await call.outlast_cancellation()
            raise
        finally:
            watcher.cancel()
            await asyncio.wait([watcher])
        call.outcome()

    async def _relay_response(self, send: Send) -> None:
        response = self._response
        assert response is not None
        while True:
            try:
                message = await response.get()
            except ClientDisconnectedError:
                return
            if message is None:
                return
            try:
                await send(message)
            except OSError:  # the server's way of saying the client is gone (ASGI spec 2.4)
                self._client_gone("the client disconnected while the response was being sent")
                return

    async def _watch_client(self, receive: Receive, more_body: bool, received: int) -> None:
        """Feed the rest of the body to the app, then wait for a disconnect."""
        body = self._body
        assert body is not None
        limit = self.max_body_size
        try:
            while True:
                if more_body:
                    # Take the next message only once there is room for it: until then it
                    # stays in the server, whose flow control stops reading from the client.
                    await body.wait_for_room()
                message = await receive()
                if message["type"] == "http.disconnect":
                    self._client_gone("the client disconnected before the response was complete")
                    return
                if not more_body or message["type"] != "http.request":
                    continue
                chunk = message.get("body", b"")
                more_body = bool(message.get("more_body", False))
                received += len(chunk)
                if limit is not None and received > limit:
                    body.abort(RequestBodyTooLargeError(f"the request body is over {limit} bytes"))
                    more_body = False
                    continue
                body.put_nowait(chunk, len(chunk))
                if not more_body:
                    body.close()
        except (ClientDisconnectedError, RequestBodyTooLargeError):
            return  # the body pipe was aborted: nobody reads the body any more
        except Exception as error:
            logger.warning("WsgiToAsgi: receive() failed: %r", error)
            self._client_gone(f"receive() failed: {error!r}")

    def _client_gone(self, why: str) -> None:
        error = ClientDisconnectedError(why)
        for pipe in (self._body, self._response):
            if pipe is not None:
                pipe.abort(error)

    # --- on the worker thread ----------------------------------------------------------------

    def build_environ(self, scope: Any, body: Any) -> WSGIEnvironment:
        """The WSGI environ for `scope`, with `body` as `wsgi.input`; raises `BadRequestError`
        for a request that cannot make a well-formed one."""
        environ = environ_from_scope(scope, body, self.duplicate_header_limit)
        environ["wsgi.file_wrapper"] = FileWrapper
        return environ

    def start_response(
        self,
        status: str,
        response_headers: list[tuple[str, str]],
        exc_info: OptExcInfo | None = None,
    ) -> Callable[[bytes], object]:
        """PEP 3333's `start_response`; returns the `write()` callable."""
        if exc_info is not None and exc_info[1] is not None:
            try:
                if self._start_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # break the frame <-> traceback cycle
        elif self._status is not None:
            raise RuntimeError(
                "start_response was called a second time without exc_info; PEP 3333 allows a "
                "second call only to replace the response after an error"
            )
        code = status_code(status)
        self._headers, self._length_left = encode_headers(response_headers)
        self._status = code
        self.response_started = True
        return self._write

    def run_wsgi_app(self, body: Any) -> None:
        """Run the app for this request, streaming its response to the event loop."""
        response = self._response
        assert response is not None
        try:
            try:
                environ = self.build_environ(self.scope, body)
            except BadRequestError as error:
                logger.warning("WsgiToAsgi: refused a bad request (400): %s", error)
                self._send_instead(400, "Bad Request")
                return
            self._run_app(environ)
        finally:
            response.close()
            if self._body is not None:
                self._body.abort(ClientDisconnectedError("the request is over"))

    def _run_app(self, environ: WSGIEnvironment) -> None:
        try:
            result = self.wsgi_application(environ, self.start_response)
            try:
                self._send_result(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except BaseException as error:
            response = self._response
            if response is not None and response.aborted is not None:
                return  # the client left; the error is a consequence (a failed read or write)
            if self._start_sent:
                raise  # too late for an error page: the server will cut the connection
            if self._body_too_large():
                self._send_instead(413, "Request body too large")
                return
            logger.error(
                "WsgiToAsgi: the WSGI application raised before starting its response",
                exc_info=error,
            )
            self._send_instead(500, "Internal Server Error")
            return
        if not self._start_sent:
            # The app returned without a valid start_response (for example after its call was
            # refused): there is nothing safe to send but an error.
            logger.error("WsgiToAsgi: the WSGI application finished without a response")
            self._send_instead(500, "Internal Server Error")

    def _send_result(self, result: Iterable[bytes]) -> None:
        if isinstance(result, (list, tuple)):
            # The count is known: the last chunk can end the response, saving a message.
            last = len(result) - 1
            for index, chunk in enumerate(result):
                self._send_body(chunk, more_body=index != last)
            if last < 0:
                self._send_body(b"", more_body=False)
            return
        for chunk in result:
            self._send_body(chunk, more_body=True)
        self._send_body(b"", more_body=False)

    def _write(self, data: bytes) -> None:
        """The `write()` callable start_response returns (for legacy apps)."""
        self._send_body(data, more_body=True)

    def _send_body(self, data: bytes, more_body: bool) -> None:
        if self._response_over:
            return
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"a WSGI application must produce bytes, not {type(data).__name__}; encode text "
                "before returning it"
            )
        if self._status is None:
            raise RuntimeError("the WSGI application produced body data before start_response")
        if self._length_left is not None:
            # Never send more than the declared Content-Length: it would corrupt the connection.
            if len(data) > self._length_left:
                data = data[: self._length_left]
            self._length_left -= len(data)
        if not data and more_body:
            return  # headers go out with the first non-empty chunk, as PEP 3333 asks
        if not self._start_sent:
            if self._body_too_large():
                self._send_instead(413, "Request body too large")
                return
            self._put(
                {"type": "http.response.start", "status": self._status, "headers": self._headers},
                0,
            )
            self._start_sent = True
        self._put(
            {"type": "http.response.body", "body": bytes(data), "more_body": more_body},
            len(data),
        )
        if not more_body:
            self._response_over = True

    def _send_instead(self, code: int, text: str) -> None:
        """Answer with a plain error response in place of anything the app sends."""
        for message in _plain_response(code, text):
            self._put(message, 0)
        self._start_sent = True
        self._response_over = True

    def _put(self, message: Message, size: int) -> None:
        response = self._response
        assert response is not None
        response.put_blocking(message, size)

    def _body_too_large(self) -> bool:
        body = self._body
        return body is not None and isinstance(body.aborted, RequestBodyTooLargeError)
