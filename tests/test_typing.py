"""`asgiref.typing`: the key tables against the ASGI spec, and mypy's verdict on real app code.

The tables below are a second transcription of the spec (``www.rst``, ``lifespan.rst``,
``extensions.rst``), compared as whole values with what the `TypedDict`s say at run time, so a
key moved between required and optional by mistake fails here. The mypy tests check that the
types are usable: realistic code in ``typing_cases/good_app.py`` passes ``--strict``, and every
line marked ``wrong:`` in ``typing_cases/bad_app.py`` (and no other line) is an error.
"""

from __future__ import annotations

import re
import sys
import tokenize
import typing
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Literal, get_args

import mypy.api
import pytest

import asgiref.typing as asgi_typing
from asgiref.typing import (
    ASGI2Application,
    ASGI2Protocol,
    ASGI3Application,
    ASGIApplication,
    ASGIReceiveCallable,
    ASGIReceiveEvent,
    ASGISendCallable,
    ASGISendEvent,
    ASGIVersions,
    HTTPDisconnectEvent,
    HTTPRequestEvent,
    HTTPResponseBodyEvent,
    HTTPResponseDebugEvent,
    HTTPResponseEarlyHintsEvent,
    HTTPResponsePathsendEvent,
    HTTPResponseStartEvent,
    HTTPResponseTrailersEvent,
    HTTPResponseZeroCopySendEvent,
    HTTPScope,
    HTTPServerPushEvent,
    LifespanScope,
    LifespanShutdownCompleteEvent,
    LifespanShutdownEvent,
    LifespanShutdownFailedEvent,
    LifespanStartupCompleteEvent,
    LifespanStartupEvent,
    LifespanStartupFailedEvent,
    Scope,
    WebSocketAcceptEvent,
    WebSocketCloseEvent,
    WebSocketConnectEvent,
    WebSocketDisconnectEvent,
    WebSocketReceiveEvent,
    WebSocketResponseBodyEvent,
    WebSocketResponseStartEvent,
    WebSocketScope,
    WebSocketSendEvent,
    WWWScope,
)

# What asgiref.typing takes them from (typing_extensions on 3.10).
if sys.version_info >= (3, 11):
    from typing import NotRequired, TypedDict
else:
    from typing_extensions import NotRequired, TypedDict

ROOT = Path(__file__).resolve().parent.parent
CASES = Path(__file__).resolve().parent / "typing_cases"

# TypedDict: (value of its "type" key, or None if it has none; required keys; optional keys).
KEYS: dict[type, tuple[str | None, set[str], set[str]]] = {
    ASGIVersions: (None, {"version"}, {"spec_version"}),
    HTTPScope: (
        "http",
        {"type", "asgi", "http_version", "method", "path", "query_string", "headers"},
        {"scheme", "raw_path", "root_path", "client", "server", "state", "extensions"},
    ),
    WebSocketScope: (
        "websocket",
        {"type", "asgi", "path", "headers"},
        {
            "http_version",
            "scheme",
            "raw_path",
            "query_string",
            "root_path",
            "client",
            "server",
            "subprotocols",
            "state",
            "extensions",
        },
    ),
    LifespanScope: ("lifespan", {"type", "asgi"}, {"state"}),
    HTTPRequestEvent: ("http.request", {"type"}, {"body", "more_body"}),
    HTTPResponseStartEvent: ("http.response.start", {"type", "status"}, {"headers", "trailers"}),
    HTTPResponseBodyEvent: ("http.response.body", {"type"}, {"body", "more_body"}),
    HTTPResponseTrailersEvent: ("http.response.trailers", {"type", "headers"}, {"more_trailers"}),
    HTTPServerPushEvent: ("http.response.push", {"type", "path", "headers"}, set()),
    HTTPResponseZeroCopySendEvent: (
        "http.response.zerocopysend",
        {"type", "file"},
        {"offset", "count", "more_body"},
    ),
    HTTPResponsePathsendEvent: ("http.response.pathsend", {"type", "path"}, set()),
    HTTPResponseEarlyHintsEvent: ("http.response.early_hint", {"type", "links"}, set()),
    HTTPResponseDebugEvent: ("http.response.debug", {"type", "info"}, set()),
    HTTPDisconnectEvent: ("http.disconnect", {"type"}, set()),
    WebSocketConnectEvent: ("websocket.connect", {"type"}, set()),
    WebSocketAcceptEvent: ("websocket.accept", {"type"}, {"subprotocol", "headers"}),
    WebSocketReceiveEvent: ("websocket.receive", {"type"}, {"bytes", "text"}),
    WebSocketSendEvent: ("websocket.send", {"type"}, {"bytes", "text"}),
    WebSocketResponseStartEvent: ("websocket.http.response.start", {"type", "status"}, {"headers"}),
    WebSocketResponseBodyEvent: ("websocket.http.response.body", {"type"}, {"body", "more_body"}),
    WebSocketDisconnectEvent: ("websocket.disconnect", {"type", "code"}, {"reason"}),
    WebSocketCloseEvent: ("websocket.close", {"type"}, {"code", "reason"}),
    LifespanStartupEvent: ("lifespan.startup", {"type"}, set()),
    LifespanShutdownEvent: ("lifespan.shutdown", {"type"}, set()),
    LifespanStartupCompleteEvent: ("lifespan.startup.complete", {"type"}, set()),
    LifespanStartupFailedEvent: ("lifespan.startup.failed", {"type"}, {"message"}),
    LifespanShutdownCompleteEvent: ("lifespan.shutdown.complete", {"type"}, set()),
    LifespanShutdownFailedEvent: ("lifespan.shutdown.failed", {"type"}, {"message"}),
}

RECEIVE_EVENTS = {
    HTTPRequestEvent,
    HTTPDisconnectEvent,
    WebSocketConnectEvent,
    WebSocketReceiveEvent,
    WebSocketDisconnectEvent,
    LifespanStartupEvent,
    LifespanShutdownEvent,
}
# Every event an application sends, and HTTPDisconnectEvent, which asgiref 3.13 lists there too.
SEND_EVENTS = (
    {td for td, (type_value, _, _) in KEYS.items() if type_value and "." in type_value}
    - RECEIVE_EVENTS
) | {HTTPDisconnectEvent}

ALIASES = {
    "WWWScope",
    "Scope",
    "ASGIReceiveEvent",
    "ASGISendEvent",
    "ASGIReceiveCallable",
    "ASGISendCallable",
    "ASGI2Application",
    "ASGI3Application",
    "ASGIApplication",
}
PROTOCOLS = {"ASGI2Protocol", "FileDescriptorSource"}


# The typing names asgiref 3.13's module imports, which code imports from it in turn.
TYPING_HELPERS = {
    "Any": typing.Any,
    "Awaitable": Awaitable,
    "Callable": Callable,
    "Iterable": Iterable,
    "Literal": Literal,
    "NotRequired": NotRequired,
    "Protocol": typing.Protocol,
    "TypedDict": TypedDict,
    "Union": typing.Union,
}


def test_all_lists_every_public_name() -> None:
    expected = {td.__name__ for td in KEYS} | ALIASES | PROTOCOLS
    assert type(asgi_typing.__all__) is tuple
    assert set(asgi_typing.__all__) == expected
    assert len(asgi_typing.__all__) == len(expected)
    defined_here = {
        name
        for name, value in vars(asgi_typing).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == "asgiref.typing"
    }
    assert defined_here == {td.__name__ for td in KEYS} | PROTOCOLS


@pytest.mark.parametrize("typed_dict", KEYS, ids=lambda td: td.__name__)
def test_required_and_optional_keys_follow_the_spec(typed_dict: type) -> None:
    type_value, required, optional = KEYS[typed_dict]
    assert issubclass(typed_dict, dict)
    assert set(typed_dict.__required_keys__) == required  # type: ignore[attr-defined]
    assert set(typed_dict.__optional_keys__) == optional  # type: ignore[attr-defined]
    if type_value is not None:
        assert typed_dict.__annotations__["type"] == Literal[type_value]


def test_typing_helpers_can_be_imported_from_the_module() -> None:
    assert {name: getattr(asgi_typing, name, None) for name in TYPING_HELPERS} == TYPING_HELPERS


def test_unions_hold_every_scope_and_event_once() -> None:
    assert set(get_args(WWWScope)) == {HTTPScope, WebSocketScope}
    assert set(get_args(Scope)) == {HTTPScope, WebSocketScope, LifespanScope}
    assert set(get_args(ASGIReceiveEvent)) == RECEIVE_EVENTS
    assert set(get_args(ASGISendEvent)) == SEND_EVENTS
    assert len(get_args(ASGISendEvent)) == len(SEND_EVENTS) == 18
    # Every "type" value is distinct, so comparing it narrows to exactly one TypedDict.
    type_values = [type_value for type_value, _, _ in KEYS.values() if type_value]
    assert len(type_values) == len(set(type_values))


@pytest.mark.parametrize(
    "alias", [WWWScope, Scope, ASGIReceiveEvent, ASGISendEvent, ASGIApplication]
)
def test_unions_are_typing_unions(alias: object) -> None:
    # Not ``X | Y`` (types.UnionType): introspection sees what it sees with asgiref 3.13.
    assert typing.get_origin(alias) is typing.Union


def _hints_310(typed_dict: typing.Any) -> dict[str, typing.Any]:
    import typing_extensions

    hints: dict[str, typing.Any] = typing_extensions.get_type_hints(typed_dict)
    return hints


def test_value_types_are_those_of_asgiref_3_13() -> None:
    # On 3.10 the TypedDicts (and NotRequired) come from typing_extensions, whose get_type_hints
    # strips the NotRequired marks as typing's does on 3.11+.
    get_type_hints = typing.get_type_hints if sys.version_info >= (3, 11) else _hints_310
    hints = {td: get_type_hints(td) for td in (HTTPScope, WebSocketScope)}
    assert hints[HTTPScope]["raw_path"] is bytes
    assert hints[WebSocketScope]["raw_path"] is bytes
    assert hints[WebSocketScope]["query_string"] is bytes
    assert (
        get_type_hints(ASGIVersions)["version"]
        == typing.Union[  # noqa: UP007
            Literal["2.0"], Literal["3.0"]
        ]
    )
    assert typing.get_type_hints(HTTPResponseDebugEvent)["info"] == dict[str, object]


def test_application_callables() -> None:
    assert ASGIReceiveCallable == Callable[[], Awaitable[ASGIReceiveEvent]]
    assert ASGISendCallable == Callable[[ASGISendEvent], Awaitable[None]]
    assert (
        ASGI3Application
        == Callable[[Scope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]
    )
    assert ASGI2Application == type[ASGI2Protocol]
    assert get_args(ASGIApplication) == (ASGI2Application, ASGI3Application)
    assert typing.Protocol in ASGI2Protocol.__bases__


# --- mypy on the example applications ------------------------------------------------------------

ERROR_LINE = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): error: (?P<message>.*)$")


def marked_lines(path: Path) -> set[int]:
    """The lines of `path` with a comment starting ``# wrong:`` (comments only, not strings)."""
    with path.open("rb") as source:
        return {
            token.start[0]
            for token in tokenize.tokenize(source.readline)
            if token.type == tokenize.COMMENT and token.string.startswith("# wrong:")
        }


@pytest.fixture(scope="module", params=["3.10", "3.13"])
def mypy_errors(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[tuple[int, str]]]:
    """mypy --strict's errors for both case files, by file name, for the target Python version.

    bad_app.py is in the project's mypy ``exclude``, but a file named on the command line is
    still checked. mypy runs from the project root so that it finds `asgiref` in the work tree.
    """
    python_version: str = request.param
    cache = tmp_path_factory.mktemp(f"mypy-cache-{python_version}")
    files = [str(CASES / "good_app.py"), str(CASES / "bad_app.py")]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        stdout, stderr, _ = mypy.api.run(
            [
                "--config-file",
                str(ROOT / "pyproject.toml"),
                "--cache-dir",
                str(cache),
                "--python-version",
                python_version,
                "--strict",
                "--show-absolute-path",
                "--no-error-summary",
                *files,
            ]
        )
    assert stderr == ""
    errors: dict[str, list[tuple[int, str]]] = {"good_app.py": [], "bad_app.py": []}
    for line in stdout.splitlines():
        match = ERROR_LINE.match(line)
        if match:
            errors[Path(match["path"]).name].append((int(match["line"]), match["message"]))
    return errors


def test_mypy_accepts_realistic_application_code(
    mypy_errors: dict[str, list[tuple[int, str]]],
) -> None:
    assert mypy_errors["good_app.py"] == []


def test_mypy_rejects_exactly_the_marked_lines(
    mypy_errors: dict[str, list[tuple[int, str]]],
) -> None:
    expected = marked_lines(CASES / "bad_app.py")
    assert len(expected) >= 15
    assert {line for line, _ in mypy_errors["bad_app.py"]} == expected
