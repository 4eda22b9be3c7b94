"""An application with mistakes that `mypy --strict` must catch, each on a line marked "wrong".

Not a test module, and excluded from the project-wide mypy run (see ``[tool.mypy]`` in
pyproject.toml): `tests/test_typing.py` runs mypy on it and checks that the errors land exactly on
the lines whose comment starts with ``wrong:``, no more and no fewer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from asgiref.typing import (
    ASGI2Application,
    ASGI3Application,
    ASGIReceiveCallable,
    ASGISendCallable,
    HTTPScope,
    Scope,
    WebSocketScope,
)


async def http_app(scope: HTTPScope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    message = await receive()
    print(message["body"])  # wrong: not narrowed, and most receive events have no body
    print(scope["pathh"])  # wrong: misspelt scope key
    print(scope["subprotocols"])  # wrong: only WebSocket scopes have subprotocols
    print(scope["query_string"].decode() + scope["path"].decode())  # wrong: path is str
    await send({"type": "http.response.start"})  # wrong: status is required
    await send({"type": "http.response.start", "status": "200"})  # wrong: status is an int
    await send({"type": "http.response.start", "status": 200, "headers": [("a", "")]})  # wrong: str
    await send({"type": "http.response.bodyy", "body": b""})  # wrong: misspelt event type
    await send({"type": "http.response.body", "body": "text"})  # wrong: body is bytes
    await send({"type": "http.response.body", "more_body": "yes"})  # wrong: more_body is bool


async def websocket_app(
    scope: WebSocketScope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> None:
    message = await receive()
    if message["type"] == "websocket.receive":
        print(message["code"])  # wrong: only websocket.disconnect has a code
        await send({"type": "websocket.send", "text": b"ping"})  # wrong: text is str
    await send({"type": "websocket.close", "code": "1000"})  # wrong: code is an int
    await send({"type": "websocket.accept", "subprotocols": ["chat"]})  # wrong: subprotocol


async def router(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    if scope["type"] == "lifespan":
        print(scope["path"])  # wrong: lifespan scopes have no path
        await send({"type": "lifespan.startup.failed", "message": 1})  # wrong: message is str
    is_http = scope["type"] == "htp"  # wrong: no such scope type
    print(is_http)
    await http_app(scope, receive, send)  # wrong: scope is not narrowed to HTTPScope


def sync_app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    pass


not_asgi3: ASGI3Application = sync_app  # wrong: an ASGI 3 app must be awaitable
not_asgi2: ASGI2Application = router  # wrong: an ASGI 2 app takes the scope alone


def legacy_function_app(
    scope: Scope,
) -> Callable[[ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]:
    async def instance(receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await send({"type": "http.response.start", "status": 204})

    return instance


# As in asgiref 3.13, an ASGI 2 application is a class (built with the scope, then awaited).
not_a_class: ASGI2Application = legacy_function_app  # wrong: a function, not a class
no_raw_path: HTTPScope = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "GET",
    "path": "/",
    "raw_path": None,  # wrong: raw_path is bytes (leave it out when there is none)
    "query_string": b"",
    "headers": [],
}
