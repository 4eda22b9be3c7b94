"""Run WSGI apps under ASGI servers (`WsgiToAsgi`), and ASGI apps under WSGI servers (`AsgiToWsgi`).

The machinery lives in `_wsgi_on_asgi` and `_asgi_on_wsgi`; the request and response translation
in `_wsgi_request` and `_wsgi_response`; the streams in `_pipe` and `_wsgi_body`.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from . import _lifespan
from ._asgi_on_wsgi import AppRunner, LifespanStartupFailedError
from ._messages import Receive, Send
from ._workers import WorkerPool
from ._wsgi_body import ClientDisconnectedError, RequestBodyTooLargeError
from ._wsgi_on_asgi import WsgiApp, WsgiToAsgiInstance
from ._wsgi_request import BadRequestError
from ._wsgi_response import InvalidResponseError
from .sync import AsyncToSync, sync_to_async  # noqa: F401  (importable from here, as in asgiref)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = [
    "AsgiToWsgi",
    "BadRequestError",
    "ClientDisconnectedError",
    "InvalidResponseError",
    "LifespanStartupFailedError",
    "RequestBodyTooLargeError",
    "WsgiToAsgi",
    "WsgiToAsgiInstance",
]

# Defined with the machinery it drives; it belongs to this module (repr, pickling by reference).
WsgiToAsgiInstance.__module__ = __name__

DEFAULT_MAX_WORKERS = 40


class WsgiToAsgi:
    """An ASGI 3 application that serves a PEP 3333 WSGI application (HTTP scopes).

    Under a plain ASGI server, requests run on up to `max_workers` threads at once (more wait for
    a free one); a request awaited under `async_to_sync` or inside a `ThreadSensitiveContext`
    runs on that sync world's thread. More than `duplicate_header_limit` copies of one request
    header are answered with 400 (0 or None: no limit), and a body larger than `max_body_size`
    bytes with 413 (None: no limit). Lifespan events are acknowledged; on shutdown the worker
    threads are ended.
    """

    def __init__(
        self,
        wsgi_application: WsgiApp,
        duplicate_header_limit: int | None = 100,
        *,
        max_body_size: int | None = None,
        max_workers: int = DEFAULT_MAX_WORKERS,
    ) -> None:
        self.wsgi_application = wsgi_application
        self.duplicate_header_limit = duplicate_header_limit
        self.max_body_size = max_body_size
        self.max_workers = max_workers
        self._workers = self._new_workers()

    def _new_workers(self) -> WorkerPool:
        workers = WorkerPool(self.max_workers, "asgiref-wsgi")
        # The adapter owns its threads: they end when it is dropped or the process exits.
        weakref.finalize(self, workers.close)
        return workers

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            # The original raises here, so that uvicorn with lifespan="on" refuses to start.
            await _lifespan.answer(receive, send, on_shutdown=self._end_workers)
            return
        instance = WsgiToAsgiInstance(
            self.wsgi_application,
            self.duplicate_header_limit,
            max_body_size=self.max_body_size,
            executor=self._workers,
        )
        await instance(scope, receive, send)

    def _end_workers(self) -> None:
        """At lifespan shutdown: end the threads now (a fresh pool starts threads again if more
        requests come)."""
        workers, self._workers = self._workers, self._new_workers()
        workers.close()


class AsgiToWsgi:
    """A WSGI application that serves an ASGI 3 application.

    The ASGI app runs on one event loop of this object's own, on a thread of its own, started with
    the first request (after the app's lifespan startup, if it supports lifespan) and ended by
    `close()` (after lifespan shutdown), or when this object is dropped or the process exits.
    The request body streams to `receive` as the app asks for it, and each response body message
    is passed to the WSGI server as soon as it is sent. Thread-sensitive `sync_to_async` calls the
    app makes run on the WSGI server's thread for the request, as `async_to_sync` would run them.
    """

    def __init__(self, asgi_application: Callable[..., Any]) -> None:
        self.asgi_application = asgi_application
        self._runner = AppRunner(asgi_application)
        weakref.finalize(self, self._runner.close)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self._runner.serve(environ, start_response)

    def close(self) -> None:
        """Run the app's lifespan shutdown and end the event loop; a later request starts it
        again."""
        self._runner.close()
