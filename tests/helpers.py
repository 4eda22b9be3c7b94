"""Helpers shared by the test modules."""

from __future__ import annotations

import contextlib
import contextvars
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import uvicorn

_T = TypeVar("_T")
_WAIT = 10.0  # seconds, for a server to start or stop


def run_in_thread(fn: Callable[[], _T], *, inherit_context: bool = False) -> _T:
    """Run `fn` in a new plain thread and return its result or raise its exception.

    With `inherit_context`, the thread runs in a copy of the caller's context, as every new thread
    does on free-threaded Python 3.14.
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = fn()
        except BaseException as error:
            outcome["error"] = error

    if inherit_context:
        thread = threading.Thread(target=contextvars.copy_context().run, args=(target,))
    else:
        thread = threading.Thread(target=target)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "the thread did not finish"
    if "error" in outcome:
        raise outcome["error"]
    result: _T = outcome["result"]
    return result


class _Uvicorn(uvicorn.Server):
    """A uvicorn server that says when its startup is over (successful or not)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.startup_over = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.startup_over.set()


@contextlib.contextmanager
def serving_with_uvicorn(app: Any) -> Iterator[str]:
    """Run uvicorn on a free 127.0.0.1 port on a thread; yield its base URL."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        lifespan="on",
        log_level="warning",
        log_config=None,  # leave the process's logging configuration alone
        timeout_graceful_shutdown=5,
    )
    server = _Uvicorn(config)
    thread = threading.Thread(target=server.run, name="uvicorn-under-test")
    thread.start()
    try:
        assert server.startup_over.wait(_WAIT), "uvicorn did not start"
        assert server.started, "uvicorn failed to start"
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(3 * _WAIT)
        assert not thread.is_alive(), "uvicorn did not stop"
