"""Static types for ASGI 3: every scope, every event, and the application callables.

`TypedDict`s, with asgiref 3.13's keys and value types, so code checked against it checks the same
here (docs/typing.rst), with two changes: a key the ASGI spec calls optional is `NotRequired`
(DIFFERENCES.md, TYPING-1), and the send union also has the extension events asgiref 3.13 lacks.
At run time the module looks as asgiref 3.13's does, for code that introspects it: the unions
are `typing.Union`s, `ASGI2Application` is ``type[ASGI2Protocol]``, and the typing names it
imports can be imported from here.
"""

import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal, Protocol, TypeAlias, Union

# On 3.10 `typing.TypedDict` does not understand `NotRequired` (its `__optional_keys__` would be
# wrong), so both names come from typing_extensions there.
if sys.version_info >= (3, 11):
    from typing import NotRequired, TypedDict
else:
    from typing_extensions import NotRequired, TypedDict

# A tuple, as asgiref 3.13's is.
__all__ = (
    "ASGIVersions",
    "HTTPScope",
    "WebSocketScope",
    "LifespanScope",
    "WWWScope",
    "Scope",
    "HTTPRequestEvent",
    "HTTPResponseStartEvent",
    "HTTPResponseBodyEvent",
    "HTTPResponseTrailersEvent",
    "HTTPResponsePathsendEvent",
    "HTTPResponseZeroCopySendEvent",
    "HTTPServerPushEvent",
    "HTTPResponseEarlyHintsEvent",
    "HTTPResponseDebugEvent",
    "HTTPDisconnectEvent",
    "WebSocketConnectEvent",
    "WebSocketAcceptEvent",
    "WebSocketReceiveEvent",
    "WebSocketSendEvent",
    "WebSocketResponseStartEvent",
    "WebSocketResponseBodyEvent",
    "WebSocketDisconnectEvent",
    "WebSocketCloseEvent",
    "LifespanStartupEvent",
    "LifespanShutdownEvent",
    "LifespanStartupCompleteEvent",
    "LifespanStartupFailedEvent",
    "LifespanShutdownCompleteEvent",
    "LifespanShutdownFailedEvent",
    "ASGIReceiveEvent",
    "ASGISendEvent",
    "ASGIReceiveCallable",
    "ASGISendCallable",
    "ASGI2Protocol",
    "ASGI2Application",
    "ASGI3Application",
    "ASGIApplication",
    "FileDescriptorSource",
)


class ASGIVersions(TypedDict):
    """``scope["asgi"]``: the ASGI version the server implements, and the protocol's spec version
    (optional; ``"2.0"`` by default for HTTP and WebSocket, ``"1.0"`` for lifespan)."""

    version: Union[Literal["2.0"], Literal["3.0"]]  # noqa: UP007 - spelt as asgiref 3.13 does
    spec_version: NotRequired[str]


class HTTPScope(TypedDict):
    """The connection scope of one HTTP request (``www.rst``, "HTTP Connection Scope")."""

    type: Literal["http"]
    asgi: ASGIVersions
    http_version: str
    method: str
    scheme: NotRequired[str]
    path: str
    raw_path: NotRequired[bytes]
    query_string: bytes
    root_path: NotRequired[str]
    headers: Iterable[tuple[bytes, bytes]]
    client: NotRequired[tuple[str, int] | None]
    server: NotRequired[tuple[str, int | None] | None]
    state: NotRequired[dict[str, Any]]
    extensions: NotRequired[dict[str, dict[object, object]] | None]


class WebSocketScope(TypedDict):
    """The connection scope of one WebSocket (``www.rst``, "Websocket Connection Scope")."""

    type: Literal["websocket"]
    asgi: ASGIVersions
    http_version: NotRequired[str]
    scheme: NotRequired[str]
    path: str
    raw_path: NotRequired[bytes]
    query_string: NotRequired[bytes]
    root_path: NotRequired[str]
    headers: Iterable[tuple[bytes, bytes]]
    client: NotRequired[tuple[str, int] | None]
    server: NotRequired[tuple[str, int | None] | None]
    subprotocols: NotRequired[Iterable[str]]
    state: NotRequired[dict[str, Any]]
    extensions: NotRequired[dict[str, dict[object, object]] | None]


class LifespanScope(TypedDict):
    """The scope of the lifespan protocol, which lasts as long as the event loop."""

    type: Literal["lifespan"]
    asgi: ASGIVersions
    state: NotRequired[dict[str, Any]]


# The unions are `typing.Union`s, not ``X | Y``, so that run-time introspection
# (``typing.get_origin(Scope) is typing.Union``) sees what it sees with asgiref 3.13.
WWWScope: TypeAlias = Union[HTTPScope, WebSocketScope]  # noqa: UP007
Scope: TypeAlias = Union[HTTPScope, WebSocketScope, LifespanScope]  # noqa: UP007


class HTTPRequestEvent(TypedDict):
    """Received: a chunk of the request body (``more_body`` says whether more follow)."""

    type: Literal["http.request"]
    body: NotRequired[bytes]
    more_body: NotRequired[bool]


class HTTPResponseStartEvent(TypedDict):
    """Sent: the status and headers of the response; ``trailers`` promises a trailers message."""

    type: Literal["http.response.start"]
    status: int
    headers: NotRequired[Iterable[tuple[bytes, bytes]]]
    trailers: NotRequired[bool]


class HTTPResponseBodyEvent(TypedDict):
    """Sent: a chunk of the response body; the last one has ``more_body`` false or missing."""

    type: Literal["http.response.body"]
    body: NotRequired[bytes]
    more_body: NotRequired[bool]


class HTTPResponseTrailersEvent(TypedDict):
    """Sent (extension ``http.response.trailers``): trailing headers after the last body."""

    type: Literal["http.response.trailers"]
    headers: Iterable[tuple[bytes, bytes]]
    more_trailers: NotRequired[bool]


class HTTPServerPushEvent(TypedDict):
    """Sent (extension ``http.response.push``): ask the server for an HTTP/2 server push."""

    type: Literal["http.response.push"]
    path: str
    headers: Iterable[tuple[bytes, bytes]]


class FileDescriptorSource(Protocol):
    """What zero-copy send accepts as ``file``: anything backed by an OS file descriptor."""

    def fileno(self) -> int: ...


class HTTPResponseZeroCopySendEvent(TypedDict):
    """Sent (extension ``http.response.zerocopysend``): a body chunk read from an open file, from
    its current position unless ``offset`` is given, to its end unless ``count`` is."""

    type: Literal["http.response.zerocopysend"]
    file: FileDescriptorSource
    offset: NotRequired[int]
    count: NotRequired[int]
    more_body: NotRequired[bool]


class HTTPResponsePathsendEvent(TypedDict):
    """Sent (extension ``http.response.pathsend``): the whole body is the file at ``path``."""

    type: Literal["http.response.pathsend"]
    path: str


class HTTPResponseEarlyHintsEvent(TypedDict):
    """Sent (extension ``http.response.early_hint``): a 103 response with these ``Link`` values."""

    type: Literal["http.response.early_hint"]
    links: Iterable[bytes]


class HTTPResponseDebugEvent(TypedDict):
    """Sent (extension ``http.response.debug``, for test clients only): framework debug data."""

    type: Literal["http.response.debug"]
    info: dict[str, object]


class HTTPDisconnectEvent(TypedDict):
    """Received: the response is over or the client has gone."""

    type: Literal["http.disconnect"]


class WebSocketConnectEvent(TypedDict):
    """Received: the client is opening the socket; answer with accept or close."""

    type: Literal["websocket.connect"]


class WebSocketAcceptEvent(TypedDict):
    """Sent: accept the connection, optionally choosing a subprotocol and adding headers."""

    type: Literal["websocket.accept"]
    subprotocol: NotRequired[str | None]
    headers: NotRequired[Iterable[tuple[bytes, bytes]]]


class WebSocketReceiveEvent(TypedDict):
    """Received: one message; exactly one of ``bytes`` and ``text`` is not ``None``."""

    type: Literal["websocket.receive"]
    bytes: NotRequired[bytes | None]
    text: NotRequired[str | None]


class WebSocketSendEvent(TypedDict):
    """Sent: one message; exactly one of ``bytes`` and ``text`` must be not ``None``."""

    type: Literal["websocket.send"]
    bytes: NotRequired[bytes | None]
    text: NotRequired[str | None]


class WebSocketResponseStartEvent(TypedDict):
    """Sent (extension ``websocket.http.response``): deny the upgrade with this HTTP response,
    shaped like `HTTPResponseStartEvent` without ``trailers`` (an extension for HTTP only)."""

    type: Literal["websocket.http.response.start"]
    status: int
    headers: NotRequired[Iterable[tuple[bytes, bytes]]]


class WebSocketResponseBodyEvent(TypedDict):
    """Sent (extension ``websocket.http.response``): a chunk of the denial response body."""

    type: Literal["websocket.http.response.body"]
    body: NotRequired[bytes]
    more_body: NotRequired[bool]


class WebSocketDisconnectEvent(TypedDict):
    """Received: the socket is closed; ``code`` is always set (1005 if the client gave none)."""

    type: Literal["websocket.disconnect"]
    code: int
    reason: NotRequired[str | None]


class WebSocketCloseEvent(TypedDict):
    """Sent: close the socket (before accept: deny it with a 403); ``code`` defaults to 1000."""

    type: Literal["websocket.close"]
    code: NotRequired[int]
    reason: NotRequired[str | None]


class LifespanStartupEvent(TypedDict):
    """Received: start up, then send startup.complete (or startup.failed)."""

    type: Literal["lifespan.startup"]


class LifespanShutdownEvent(TypedDict):
    """Received: clean up, then send shutdown.complete (or shutdown.failed)."""

    type: Literal["lifespan.shutdown"]


class LifespanStartupCompleteEvent(TypedDict):
    """Sent: startup is done; the server may start taking connections."""

    type: Literal["lifespan.startup.complete"]


class LifespanStartupFailedEvent(TypedDict):
    """Sent: startup failed; the server logs ``message`` and exits."""

    type: Literal["lifespan.startup.failed"]
    message: NotRequired[str]


class LifespanShutdownCompleteEvent(TypedDict):
    """Sent: cleanup is done; the server may terminate."""

    type: Literal["lifespan.shutdown.complete"]


class LifespanShutdownFailedEvent(TypedDict):
    """Sent: cleanup failed; the server logs ``message`` and terminates."""

    type: Literal["lifespan.shutdown.failed"]
    message: NotRequired[str]


ASGIReceiveEvent: TypeAlias = Union[  # noqa: UP007
    HTTPRequestEvent,
    HTTPDisconnectEvent,
    WebSocketConnectEvent,
    WebSocketReceiveEvent,
    WebSocketDisconnectEvent,
    LifespanStartupEvent,
    LifespanShutdownEvent,
]

# asgiref 3.13's members in its order (HTTPDisconnectEvent included, as there), then the
# extension events it lacks.
ASGISendEvent: TypeAlias = Union[  # noqa: UP007
    HTTPResponseStartEvent,
    HTTPResponseBodyEvent,
    HTTPResponseTrailersEvent,
    HTTPServerPushEvent,
    HTTPDisconnectEvent,
    WebSocketAcceptEvent,
    WebSocketSendEvent,
    WebSocketResponseStartEvent,
    WebSocketResponseBodyEvent,
    WebSocketCloseEvent,
    LifespanStartupCompleteEvent,
    LifespanStartupFailedEvent,
    LifespanShutdownCompleteEvent,
    LifespanShutdownFailedEvent,
    HTTPResponseZeroCopySendEvent,
    HTTPResponsePathsendEvent,
    HTTPResponseEarlyHintsEvent,
    HTTPResponseDebugEvent,
]

ASGIReceiveCallable: TypeAlias = Callable[[], Awaitable[ASGIReceiveEvent]]
ASGISendCallable: TypeAlias = Callable[[ASGISendEvent], Awaitable[None]]


class ASGI2Protocol(Protocol):
    """A legacy (ASGI 2) application written as a class: built with the scope, then awaited."""

    def __init__(self, scope: Scope) -> None: ...

    def __call__(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> Awaitable[None]: ...


# ASGI 2 (``asgi.rst``, "Legacy Applications"): a class, built with the scope and then awaited with
# (receive, send); asgiref 3.13 types it this way, so a plain function returning the instance is
# not an `ASGI2Application` to a type checker (at run time `guarantee_single_callable` takes both).
ASGI2Application: TypeAlias = type[ASGI2Protocol]
ASGI3Application: TypeAlias = Callable[
    [Scope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]
]
ASGIApplication: TypeAlias = Union[ASGI2Application, ASGI3Application]  # noqa: UP007
