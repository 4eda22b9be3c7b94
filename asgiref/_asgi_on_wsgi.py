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
If the server closes the response early (the client went away), `send()` raises
`ClientDisconnectedError` (an `OSError`, as ASGI 2.4 asks), `receive()` returns `http.disconnect`,
and the app's task is waited for (and cancelled if it has not ended a few seconds later).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ._lanes import BorrowedLane
from ._loop_call import LoopCall, LoopGoneError, run_on_loop
from ._loops import LoopThread
from ._pipe import Pipe
from ._wsgi_body import ClientDisconnectedError
from ._wsgi_request import scope_from_environ
from ._wsgi_response import wsgi_headers, wsgi_status
from .sync import SyncToAsync

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

logger = logging.getLogger("asgiref.wsgi")

Message = dict[str, Any]

RESPONSE_BUFFER = 256 * 1024
BODY_CHUNK = 256 * 1024
# How often a WSGI thread waiting for its response checks that the adapter's loop still runs.
LOOP_CHECK_INTERVAL = 0.5
# How long an app may go on after its client left before it is cancelled.
ABANDON_GRACE = 5.0


class LifespanStartupFailedError(RuntimeError):
    """The ASGI app reported `lifespan.startup.failed`: it cannot serve requests."""


class _LaneWaiter:
    """Makes the WSGI thread serve its lane while it waits on a pipe (see `_pipe.ThreadWaiter`)."""

    __slots__ = ("_check_loop", "_lane", "_waiting")

    def __init__(self, lane: BorrowedLane, check_loop: Callable[[], None]) -> None:
        self._lane = lane
        self._check_loop = check_loop
        self._waiting = False

    def wait_until(self, ready: Callable[[], bool]) -> None:
        self._waiting = True  # before `ready()` is first checked, so no wake-up is missed
        try:
            self._lane.serve_until(ready, self._check_loop, LOOP_CHECK_INTERVAL)
        finally:
            self._waiting = False

    def wake(self) -> None:
        if self._waiting:
            self._lane.wake()


class _Lifespan:
    """The app's lifespan task, on the runner's loop."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self._app = app
        self.state: dict[str, Any] = {}
        self._events: asyncio.Queue[Message] | None = None
        self._reply: asyncio.Future[Message | None] | None = None
        self._task: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        self._events = asyncio.Queue()
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        self._task = asyncio.get_running_loop().create_task(self._run(scope))
        reply = await self._ask("lifespan.startup")
        if reply is None:
            self.state = {}  # no lifespan support: requests get no shared state either
        elif reply["type"] == "lifespan.startup.failed":
            raise LifespanStartupFailedError(
                f"the ASGI application failed to start: {reply.get('message', '')}"
            )

    async def shutdown(self) -> None:
        task = self._task
        if task is None or task.done():
            return
        reply = await self._ask("lifespan.shutdown")
        if reply is not None and reply["type"] == "lifespan.shutdown.failed":
            logger.error("AsgiToWsgi: lifespan shutdown failed: %s", reply.get("message", ""))
        if not task.done():
            task.cancel()
        await asyncio.wait([task])

    async def _ask(self, event: str) -> Message | None:
        """Send `event` and wait for the app's reply (None if the app ended instead)."""
        assert self._events is not None
        assert self._task is not None
        reply: asyncio.Future[Message | None] = asyncio.get_running_loop().create_future()
        self._reply = reply
        if self._task.done():
            return None
        self._events.put_nowait({"type": event})
        return await reply

    async def _run(self, scope: Message) -> None:
        assert self._events is not None
        try:
            await self._app(scope, self._events.get, self._send)
        except Exception as error:
            if self._reply is not None and not self._reply.done():
                # An app without lifespan support typically raises on the unknown scope type.
                logger.info("AsgiToWsgi: the application does not support lifespan (%r)", error)
            else:
                logger.error("AsgiToWsgi: the lifespan task raised", exc_info=error)
        finally:
            if self._reply is not None and not self._reply.done():
                self._reply.set_result(None)

    async def _send(self, message: Message) -> None:
        reply = self._reply
        if reply is not None and not reply.done():
            reply.set_result(message)


class AppRunner:
    """The event loop an `AsgiToWsgi` runs its app on, with the app's lifespan around it."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._owner: LoopThread | None = None
        self._lifespan: _Lifespan | None = None
        self._failure: LifespanStartupFailedError | None = None

    def _started(self) -> tuple[asyncio.AbstractEventLoop, dict[str, Any]]:
        with self._lock:
            if self._failure is not None:
                raise self._failure
            owner, lifespan = self._owner, self._lifespan
            if owner is None or lifespan is None or not owner.usable:
                owner = LoopThread("asgiref-asgi-to-wsgi")
                lifespan = _Lifespan(self._app)
                try:
                    run_on_loop(owner.loop, lifespan.startup, watch_loop=False)
                except LifespanStartupFailedError as error:
                    owner.close()
                    self._failure = error
                    raise
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


class Exchange:
    """One WSGI request served by the ASGI app (see the module docstring)."""

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
        self._body_left = _body_length(environ)
        # Whether `receive()` has handed out the whole body (a request without one still gets
        # one empty http.request message).
        self._body_done = False
        # The lane this thread serves while it waits (the request's own, as in async_to_sync).
        lane = self._lane = BorrowedLane()
        self._response: Pipe[Message] = Pipe(
            loop, RESPONSE_BUFFER, _LaneWaiter(lane, self._check_loop)
        )
        self._call = LoopCall(
            loop, self._run_app(app, scope), lane, None, contextvars.copy_context()
        )
        self._response_started = False
        self._response_complete = False
        self._client_gone = False
        self._closed = False
        self._outcome_reported = False
        self._disconnect = asyncio.Event()

    # --- on the WSGI server's thread -------------------------------------------------------

    def respond(self, start_response: StartResponse) -> Iterable[bytes]:
        self._lane.hold_open()
        try:
            self._call.schedule()
            start = self._response.get_blocking()
        except BaseException:
            self.close()
            raise
        if start is None:
            self.close(report=False)
            try:
                self._raise_outcome()
            except Exception as error:
                if self._client_gone:  # most likely a consequence: send() raised for it
                    logger.info("AsgiToWsgi: the client left before the response: %r", error)
                else:
                    logger.error(
                        "AsgiToWsgi: the ASGI application raised before starting its response",
                        exc_info=error,
                    )
            else:
                logger.error("AsgiToWsgi: the ASGI application ended without a response")
            start_response(
                "500 Internal Server Error", [("Content-Type", "text/plain; charset=utf-8")]
            )
            return [b"Internal Server Error"]
        start_response(wsgi_status(start["status"]), wsgi_headers(start.get("headers", ())))
        return _ResponseBody(self)

    def next_chunk(self) -> bytes | None:
        """The next non-empty piece of the response body; None when the body is over."""
        while not self._response_complete:
            message = self._response.get_blocking()
            if message is None:
                # The app ended without finishing the body: end the response with its error,
                # if it raised, so the WSGI server cuts the connection instead of a short body.
                self._raise_outcome()
                return None
            if not message.get("more_body", False):
                self._response_complete = True
            body = message.get("body", b"")
            if body:
                return bytes(body)
        return None

    def close(self, report: bool = True) -> None:
        """End the request: if the response is unfinished, the client is gone (cancel the app);
        wait for the app's task, serving the lane, then release the lane. With `report`, an
        error the app raised after its response is logged."""
        if self._closed:
            return
        self._closed = True
        try:
            if not self._call.is_done():
                if not self._response_complete:
                    self._abandon()
                self._lane.serve_until(self._call.is_done, self._check_loop, LOOP_CHECK_INTERVAL)
        finally:
            self._lane.release_hold()
        if report and not self._outcome_reported and not self._client_gone:
            try:
                self._raise_outcome()
            except Exception as error:
                logger.error(
                    "AsgiToWsgi: the ASGI application raised after its response", exc_info=error
                )

    def _raise_outcome(self) -> None:
        self._outcome_reported = True
        try:
            self._call.outcome()
        except asyncio.CancelledError:
            if not self._client_gone:
                raise

    def _abandon(self) -> None:
        self._client_gone = True
        self._response.abort(ClientDisconnectedError("the WSGI server closed the response early"))
        with contextlib.suppress(RuntimeError):  # a closed loop has nobody waiting
            self._loop.call_soon_threadsafe(self._tell_app_client_gone)

    def _tell_app_client_gone(self) -> None:
        """On the loop: `receive()` now reports the disconnect and `send()` raises; an app that
        has not ended after `ABANDON_GRACE` seconds is cancelled (this thread waits for it)."""
        self._disconnect.set()
        self._loop.call_later(ABANDON_GRACE, self._call.cancel)

    def _check_loop(self) -> None:
        if self._loop.is_closed() or not self._loop.is_running():
            raise LoopGoneError("the AsgiToWsgi event loop stopped while a request was running")

    def read_body_chunk(self) -> bytes | None:
        """On the WSGI thread, for `receive()`: the next piece of the request body; None when
        the body ended early (the client went away)."""
        if self._closed or self._input is None:
            return None
        left = self._body_left
        data = self._input.read(BODY_CHUNK if left is None else min(BODY_CHUNK, left))
        if left is None:
            self._body_done = not data
        else:
            if not data:
                return None
            self._body_left = left - len(data)
            self._body_done = self._body_left == 0
        return bytes(data)

    # --- on the event loop -------------------------------------------------------------------

    async def _run_app(self, app: Callable[..., Any], scope: Message) -> None:
        try:
            await app(scope, self._receive, self._send)
        finally:
            self._response.close()

    async def _receive(self) -> Message:
        if not self._body_done and not self._client_gone:
            if self._body_left == 0:
                self._body_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            chunk = await _read_body_chunk(self)
            if chunk is not None:
                return {"type": "http.request", "body": chunk, "more_body": not self._body_done}
            self._client_gone = True  # the body ended early: the client went away
            self._disconnect.set()
        await self._disconnect.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: Message) -> None:
        if self._client_gone:
            raise ClientDisconnectedError("the client is gone: the WSGI server closed the response")
        kind = message["type"]
        if kind == "http.response.start":
            if self._response_started:
                raise RuntimeError("http.response.start was sent twice")
            status = message.get("status")
            if not isinstance(status, int) or not 100 <= status <= 999:
                raise ValueError(f"http.response.start needs an integer status, not {status!r}")
            self._response_started = True
            await self._response.put(message, 0)
        elif kind == "http.response.body":
            if not self._response_started:
                raise RuntimeError("http.response.body was sent before http.response.start")
            if self._disconnect.is_set():
                raise RuntimeError("http.response.body was sent after the response was complete")
            body = message.get("body", b"")
            if not message.get("more_body", False):
                self._disconnect.set()  # from now on, receive() reports the request is over
            await self._response.put(message, len(body))
        else:
            raise ValueError(f"AsgiToWsgi cannot send {kind!r} messages: it serves HTTP only")


async def _read_body_chunk(exchange: Exchange) -> bytes | None:
    return await _READ_ON_REQUEST_THREAD(exchange)


class _ResponseBody:
    """The iterable handed to the WSGI server: streams the body, and ends the request on close."""

    __slots__ = ("_exchange",)

    def __init__(self, exchange: Exchange) -> None:
        self._exchange = exchange

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        chunk = self._exchange.next_chunk()
        if chunk is None:
            raise StopIteration
        return chunk

    def close(self) -> None:
        self._exchange.close()


# Thread-sensitive, so it runs on the request's WSGI thread (the lane the app's task points at).
_READ_ON_REQUEST_THREAD = SyncToAsync(Exchange.read_body_chunk, thread_sensitive=True)
