"""Serving an ASGI app to a WSGI server: the machinery behind `AsgiToWsgi`.

Theory
------
`AppRunner` owns one event loop on a thread of its own (a `LoopThread`), started with the first
request after running the app's lifespan startup there, and ended by `close()` after lifespan
shutdown. Every request's ASGI task runs on that loop: one loop per adapter, not one per request.

A request (`Exchange`) is an `async_to_sync` call that returns before the coroutine ends. The WSGI
server's thread starts the app's task (a `LoopCall`) and then, whenever it waits for the next
response message, serves its lane, exactly as a thread waiting in `async_to_sync` does. So:

* the request body is read on that thread, as thread-sensitive work sent to it when the app calls
  `receive()`: `wsgi.input` is only ever touched by the server's own thread, only as fast as the
  app consumes it, and a request without a body costs no hop at all;
* thread-sensitive `sync_to_async` calls the app makes (Django's views) run on that thread too,
  so requests on different WSGI threads run their sync code in parallel, each on its own thread;
* the response comes back through a `Pipe` whose byte budget makes `send()` wait for a slow client.

The lane is held open for the whole request, also while the server writes a chunk to the socket,
so thread-sensitive work never goes elsewhere mid-request; it is drained when the response closes.

A request's state is three machines (see `_state`): the server's thread moves `_Server`, how
far the server took the response; the loop moves `_App`, the response as the app's `send()` and
`receive()` see it, and `_Body`, the request body `receive()` hands out. The client is gone once
either side saw it leave: the loop when the body ends early (`_App.CLIENT_GONE`), the thread when
the server closes the response early (`_Server.ABANDONED`); each side reads the other's machine
for this only (both states are final). Then `send()` raises `ClientDisconnectedError` (an
`OSError`, as ASGI 2.4 asks), `receive()` returns `http.disconnect` (as it does once the response
is complete), and the app's task is waited for (and cancelled if it has not ended a few seconds
later).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from . import _lifespan
from ._hop import ThreadCall
from ._lanes import BorrowedLane
from ._loop_call import LOOP_CHECK_INTERVAL, LoopCall, LoopGoneError, run_on_loop
from ._loops import LoopThread
from ._messages import RESPONSE_BUFFER, Message
from ._pipe import LaneWaiter, Pipe
from ._state import Machine, State, states
from ._wsgi_body import ClientDisconnectedError
from ._wsgi_request import scope_from_environ
from ._wsgi_response import wsgi_headers, wsgi_status

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

logger = logging.getLogger("asgiref.wsgi")

BODY_CHUNK = 256 * 1024
# How long an app may go on after its client left before it is cancelled.
ABANDON_GRACE = 5.0


class LifespanStartupFailedError(RuntimeError):
    """The ASGI app reported `lifespan.startup.failed`: it cannot serve requests."""


class AppRunner:
    """The event loop an `AsgiToWsgi` runs its app on, with the app's lifespan around it."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._owner: LoopThread | None = None
        self._lifespan: _lifespan.Driver | None = None
        self._failure: LifespanStartupFailedError | None = None

    def _started(self) -> tuple[asyncio.AbstractEventLoop, dict[str, Any]]:
        with self._lock:
            if self._failure is not None:
                raise self._failure
            owner, lifespan = self._owner, self._lifespan
            if owner is None or lifespan is None or not owner.usable:
                owner = LoopThread("asgiref-asgi-to-wsgi")
                lifespan = _lifespan.Driver(self._app)
                reply = run_on_loop(owner.loop, lifespan.startup, watch_loop=False)
                if reply is not None and _lifespan.replied(_lifespan.STARTUP, reply, "failed"):
                    owner.close()
                    self._failure = LifespanStartupFailedError(
                        f"the ASGI application failed to start: {reply.get('message', '')}"
                    )
                    raise self._failure
                self._owner, self._lifespan = owner, lifespan
            return owner.loop, lifespan.state

    def serve(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        loop, state = self._started()
        return Exchange(loop, self._app, environ, state).respond(start_response)

    def close(self, timeout: float = 10.0) -> None:
        with self._lock:
            owner, lifespan = self._owner, self._lifespan
            self._owner = self._lifespan = None
            self._failure = None
        if owner is None or lifespan is None:
            return
        try:
            run_on_loop(owner.loop, lifespan.shutdown, watch_loop=True)
        except LoopGoneError:
            pass  # the loop was already ended (at interpreter exit, say)
        finally:
            owner.close(timeout)


def _body_length(environ: WSGIEnvironment) -> int | None:
    """How many body bytes to read from `wsgi.input`; None means until it ends."""
    length = environ.get("CONTENT_LENGTH")
    if length:
        try:
            return max(0, int(length))
        except ValueError:
            pass
    return None if environ.get("wsgi.input_terminated") else 0


class _Server:
    """How far the WSGI server has taken the response (moved on its thread).

    STARTING: the app's task runs; the thread waits for http.response.start.
    STREAMING: the server has the status and headers; body chunks go to it as they come.
    COMPLETE: the thread has read the app's last body message.
    CUT_SHORT: the app ended before completing its response: its outcome was reported then.
    ABANDONED: the server closed the response early, while the app ran: the client is gone.
    CLOSED: the server closed the response: the app's task has ended, or is waited for.
    """

    STARTING, STREAMING, COMPLETE, CUT_SHORT, ABANDONED, CLOSED = states(6)


_SERVER_MOVES = {
    _Server.STARTING: {_Server.STREAMING, _Server.CUT_SHORT, _Server.ABANDONED, _Server.CLOSED},
    _Server.STREAMING: {_Server.COMPLETE, _Server.CUT_SHORT, _Server.ABANDONED, _Server.CLOSED},
    _Server.COMPLETE: {_Server.CLOSED},
    _Server.CUT_SHORT: {_Server.CLOSED},
}


class _App:
    """The response as the app's `send()` and `receive()` see it (moved on the loop).

    STARTING: the app has not sent http.response.start.
    SENDING_BODY: the app sends the body.
    COMPLETE: the app sent its last body message: the request is over.
    CLIENT_GONE: the body ended early, or the server closed the response: the request is over.
    """

    STARTING, SENDING_BODY, COMPLETE, CLIENT_GONE = states(4)


_APP_MOVES = {
    _App.STARTING: {_App.SENDING_BODY, _App.CLIENT_GONE},
    _App.SENDING_BODY: {_App.COMPLETE, _App.CLIENT_GONE},
    _App.COMPLETE: {_App.CLIENT_GONE},  # the server closed before it read the last message
}


class _Body:
    """The request body as `receive()` hands it out (moved on the loop).

    EMPTY: there is none: receive() hands out one empty http.request, with no hop.
    STREAMING: receive() has the request's thread read the next piece of wsgi.input.
    RECEIVED: the app has the whole body.
    """

    EMPTY, STREAMING, RECEIVED = states(3)


_BODY_MOVES = {_Body.EMPTY: {_Body.RECEIVED}, _Body.STREAMING: {_Body.RECEIVED}}


class Exchange:
    """One WSGI request served by the ASGI app, and the iterable of its response body."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        app: Callable[..., Any],
        environ: WSGIEnvironment,
        state: dict[str, Any],
    ) -> None:
        self._loop = loop
        scope = scope_from_environ(environ)
        if state:
            scope["state"] = dict(state)
        self._input = environ.get("wsgi.input")
        # How many body bytes are left to read (None: until wsgi.input ends); the thread's.
        self._body_left = _body_length(environ)
        # The lane this thread serves while it waits (the request's own, as in async_to_sync).
        lane = self._lane = BorrowedLane()
        self._response: Pipe[Message] = Pipe(
            loop, RESPONSE_BUFFER, LaneWaiter(lane, self._check_loop)
        )
        self._call = LoopCall(
            loop, self._run_app(app, scope), lane, None, contextvars.copy_context()
        )
        self._server = Machine(_Server.STARTING, _SERVER_MOVES)
        self._app = Machine(_App.STARTING, _APP_MOVES)
        self._body = Machine(_Body.EMPTY if self._body_left == 0 else _Body.STREAMING, _BODY_MOVES)
        self._over = asyncio.Event()  # set as `_app` ends: receive() reports http.disconnect

    def _client_gone(self) -> bool:
        """Whether either side saw the client leave (both states are final)."""
        return self._app.state is _App.CLIENT_GONE or self._server.state is _Server.ABANDONED

    # --- on the WSGI server's thread -------------------------------------------------------

    def respond(self, start_response: StartResponse) -> Iterable[bytes]:
        self._lane.hold_open()
        try:
            self._call.schedule()
            start = self._response.get_blocking()
        except BaseException:
            self.close()
            raise
        if start is not None:
            self._server.move(_Server.STREAMING)
            start_response(wsgi_status(start["status"]), wsgi_headers(start.get("headers", ())))
            return self
        self._server.move(_Server.CUT_SHORT)
        self.close()
        try:
            self._raise_outcome()
        except Exception as error:
            if self._client_gone():  # most likely a consequence: send() raised for it
                logger.info("AsgiToWsgi: the client left before the response: %r", error)
            else:
                logger.error(
                    "AsgiToWsgi: the ASGI application raised before starting its response",
                    exc_info=error,
                )
        else:
            logger.error("AsgiToWsgi: the ASGI application ended without a response")
        start_response("500 Internal Server Error", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"Internal Server Error"]

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        """The next non-empty piece of the response body."""
        while self._server.state is _Server.STREAMING:
            message = self._response.get_blocking()
            if message is None:
                # The app ended without finishing the body: end the response with its error,
                # if it raised, so the WSGI server cuts the connection instead of a short body.
                self._server.move(_Server.CUT_SHORT)
                self._raise_outcome()
                break
            if not message.get("more_body", False):
                self._server.move(_Server.COMPLETE)
            body = message.get("body", b"")
            if body:
                return bytes(body)
        raise StopIteration

    def close(self) -> None:
        """End the request: if the app runs and its response is unfinished, the client is gone
        (cancel the app); wait for the app's task, serving the lane, then release the lane. An
        error the app raised after its response (and not reported before) is logged."""
        before = self._server.state
        if before is _Server.ABANDONED or before is _Server.CLOSED:
            return
        running = not self._call.is_done()
        abandon = running and before in (_Server.STARTING, _Server.STREAMING)
        self._server.move(_Server.ABANDONED if abandon else _Server.CLOSED)
        try:
            if abandon:
                gone = ClientDisconnectedError("the WSGI server closed the response early")
                self._response.abort(gone)
                with contextlib.suppress(RuntimeError):  # a closed loop has nobody waiting
                    self._loop.call_soon_threadsafe(self._tell_app_client_gone)
            if running:
                self._lane.serve_until(self._call.is_done, self._check_loop, LOOP_CHECK_INTERVAL)
        finally:
            self._lane.release_hold()
        if before is not _Server.CUT_SHORT and not self._client_gone():
            try:
                self._raise_outcome()
            except Exception as error:
                logger.error(
                    "AsgiToWsgi: the ASGI application raised after its response", exc_info=error
                )

    def _raise_outcome(self) -> None:
        try:
            self._call.outcome()
        except asyncio.CancelledError:
            if not self._client_gone():
                raise

    def _check_loop(self) -> None:
        if self._loop.is_closed() or not self._loop.is_running():
            raise LoopGoneError("the AsgiToWsgi event loop stopped while a request was running")

    def read_body_chunk(self) -> tuple[bytes, bool] | None:
        """For `receive()`, on this thread: the next piece of the body and whether it is the
        last; None when the body ended early (the client left) or the response was closed."""
        if self._server.state in (_Server.ABANDONED, _Server.CLOSED) or self._input is None:
            return None
        left = self._body_left
        data = self._input.read(BODY_CHUNK if left is None else min(BODY_CHUNK, left))
        if left is None:
            return bytes(data), not data
        if not data:
            return None
        self._body_left = left - len(data)
        return bytes(data), self._body_left == 0

    # --- on the event loop -------------------------------------------------------------------

    async def _run_app(self, app: Callable[..., Any], scope: Message) -> None:
        try:
            await app(scope, self._receive, self._send)
        finally:
            self._response.close()

    def _end_request(self, reason: State) -> None:
        if self._app.state is not reason:  # the client may be seen to leave twice
            self._app.move(reason)
        self._over.set()

    def _tell_app_client_gone(self) -> None:
        """Soon after the server closed the response early: an app that has not ended after
        `ABANDON_GRACE` seconds is cancelled (the server's thread waits for it)."""
        self._end_request(_App.CLIENT_GONE)
        self._loop.call_later(ABANDON_GRACE, self._call.cancel)

    async def _receive(self) -> Message:
        body = self._body.state
        if body is not _Body.RECEIVED and not self._client_gone():
            piece = (b"", True) if body is _Body.EMPTY else await self._read_on_request_thread()
            if piece is not None:
                chunk, last = piece
                if last and self._body.state is not _Body.RECEIVED:  # (a concurrent receive())
                    self._body.move(_Body.RECEIVED)
                return {"type": "http.request", "body": chunk, "more_body": not last}
            self._end_request(_App.CLIENT_GONE)  # the body ended early: the client went away
        await self._over.wait()
        return {"type": "http.disconnect"}

    async def _read_on_request_thread(self) -> tuple[bytes, bool] | None:
        """`read_body_chunk`, run on the request's thread (which serves the lane while the
        request lasts); None if the request is over and its thread gone."""
        context = contextvars.copy_context()
        call = ThreadCall(self._loop, self.read_body_chunk, (), {}, context, None)
        if not self._lane.post(call.run):
            return None
        piece: tuple[bytes, bool] | None = await call.result()
        return piece

    async def _send(self, message: Message) -> None:
        if self._client_gone():
            raise ClientDisconnectedError("the client is gone: the WSGI server closed the response")
        kind = message["type"]
        state = self._app.state
        if kind == "http.response.start":
            if state is not _App.STARTING:
                raise RuntimeError("http.response.start was sent twice")
            status = message.get("status")
            if not isinstance(status, int) or not 100 <= status <= 999:
                raise ValueError(f"http.response.start needs an integer status, not {status!r}")
            self._app.move(_App.SENDING_BODY)
            await self._response.put(message, 0)
        elif kind == "http.response.body":
            if state is _App.STARTING:
                raise RuntimeError("http.response.body was sent before http.response.start")
            if state is _App.COMPLETE:
                raise RuntimeError("http.response.body was sent after the response was complete")
            if not message.get("more_body", False):
                self._end_request(_App.COMPLETE)
            await self._response.put(message, len(message.get("body", b"")))
        else:
            raise ValueError(f"AsgiToWsgi cannot send {kind!r} messages: it serves HTTP only")
