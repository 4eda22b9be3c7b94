"""HTTP requests the WSGI scenarios make: the scope, and a driver that serves one request through
`WsgiToAsgi` and says what it sent and how it ended."""

from __future__ import annotations

import asyncio
from typing import Any

from _observe import describe_exception

from asgiref.wsgi import WsgiToAsgi

Message = dict[str, Any]

# The request body message of a request without a body.
REQUEST: Message = {"type": "http.request", "body": b"", "more_body": False}


def http_scope(**changes: Any) -> dict[str, Any]:
    """A plain HTTP GET scope for `/` on example.com, with `changes` applied."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"example.com")],
        "client": ("127.0.0.1", 50000),
        "server": ("example.com", 80),
    }
    scope.update(changes)
    return scope


async def serve(
    app: Any,
    scope: dict[str, Any] | None = None,
    messages: list[Message] | None = None,
    *,
    timeout: float = 2.0,
    **options: Any,
) -> tuple[list[Message], dict[str, Any]]:
    """One request through `WsgiToAsgi(app, **options)`: the messages sent, and the outcome."""
    pending = list(messages if messages is not None else [REQUEST])
    sent: list[Message] = []
    never = asyncio.Event()

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        await never.wait()  # nothing more to say: wait until cancelled
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    adapter: Any = WsgiToAsgi(app, **options)
    try:
        await asyncio.wait_for(adapter(scope or http_scope(), receive, send), timeout)
    except BaseException as error:
        return sent, {"raised": describe_exception(error)}
    return sent, {"returned": None}
