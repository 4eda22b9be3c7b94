"""The ASGI specification's rules for one connection, checked message by message.

Theory
------
A `Conversation` follows one connection (one scope) from both ends: `received` for each message
the server hands the application, `sent` for each message the application sends, `receive_called`
when the application asks for the next one, and `ended` when the application returns. Each knows
where the connection stands (a response started, a socket accepted, startup answered) and checks
every message against the specification for its scope type and that state: the message types
allowed, the keys each requires and their types, and the order. The first rule broken raises
`ProtocolError`, naming the rule, the message and the specification's section (the files of
the ASGI specification: ``www.rst``, ``lifespan.rst``, ``extensions.rst``).

The rules are the specification's "must"s, plus two of its plain statements that a checker of
applications needs: a response that was started must be finished, and a WebSocket application must
not wait for another message once the client has gone. Extension messages are allowed only when
the scope announces the extension (``scope["extensions"]``), as the specification says.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from ._state import states


class ProtocolError(Exception):
    """A message, or a step of the conversation, that the ASGI specification does not allow."""

    def __init__(self, rule: str, section: str, message: object, detail: str) -> None:
        super().__init__(f"{rule}: {detail} (ASGI specification, {section}); message: {message!r}")
        self.rule = rule
        self.section = section
        self.asgi_message = message


class Rule(NamedTuple):
    """One rule: a short name, and the specification's section that states it."""

    name: str
    section: str

    def check(self, holds: bool, message: object, detail: str, section: str = "") -> None:
        """Raise `ProtocolError` unless the rule `holds` (`section`, if given, names where the
        specification states it for this message)."""
        if not holds:
            raise ProtocolError(self.name, section or self.section, message, detail)

    def advise(self, into: list[ProtocolError], holds: bool, message: object, detail: str) -> None:
        """For a rule real frameworks break and every server forgives: note it, never raise."""
        if not holds:
            into.append(ProtocolError(self.name, self.section, message, detail))


_WWW = "www.rst"
# Where the specification defines each message type's keys.
_SECTIONS = {
    "http.request": f"{_WWW}, Request - receive event",
    "http.response.start": f"{_WWW}, Response Start - send event",
    "http.response.body": f"{_WWW}, Response Body - send event",
    "websocket.accept": f"{_WWW}, Accept - send event",
    "websocket.receive": f"{_WWW}, Receive - receive event",
    "websocket.send": f"{_WWW}, Send - send event",
    "websocket.disconnect": f"{_WWW}, Disconnect - receive event",
    "websocket.close": f"{_WWW}, Close - send event",
    "websocket.http.response.start": "extensions.rst, Websocket Denial Response",
    "websocket.http.response.body": "extensions.rst, Websocket Denial Response",
    "http.response.trailers": "extensions.rst, HTTP Trailers",
    "http.response.push": "extensions.rst, HTTP/2 Server Push",
    "http.response.zerocopysend": "extensions.rst, Zero Copy Send",
    "http.response.pathsend": "extensions.rst, Path Send",
    "lifespan.startup.failed": "lifespan.rst, Startup Failed - send event",
    "lifespan.shutdown.failed": "lifespan.rst, Shutdown Failed - send event",
}


def _rules(section: str, *names: str) -> tuple[Rule, ...]:
    """The rules `names`, all stated in `section`."""
    return tuple(Rule(name, section) for name in names)


(MESSAGE_IS_A_DICT,) = _rules("asgi.rst, Applications", "message-is-a-dict")
(KNOWN_TYPE,) = _rules("www.rst / lifespan.rst, message types", "message-type-allowed-for-scope")
(KEY_TYPES,) = _rules("the section of the message's type, Keys", "message-keys-and-types")
# `header-names-lowercase` is advisory: Django sends "Content-Type", and servers read header names
# without regard to case.
HEADER_PAIRS, HEADER_CASE, ONE_START, START_FIRST, RESPONSE_FINISHED = _rules(
    _SECTIONS["http.response.start"],
    "headers-are-byte-pairs",
    "header-names-lowercase",
    "one-response-start",
    "response-start-before-body",
    "started-response-is-finished",
)
(NOTHING_AFTER_END,) = _rules(_SECTIONS["http.response.body"], "nothing-after-the-final-body")
(REQUEST_ORDER,) = _rules(_SECTIONS["http.request"], "request-body-then-disconnect")
(TRAILERS,) = _rules(_SECTIONS["http.response.trailers"], "trailers-only-when-announced")
(EXTENSION,) = _rules("extensions.rst", "extension-announced-by-scope")
(CONNECT_FIRST,) = _rules(f"{_WWW}, Connect - receive event", "websocket-connect-first")
ACCEPT_ONCE, SUBPROTOCOL = _rules(
    _SECTIONS["websocket.accept"], "accept-or-close-answers-connect", "subprotocol-was-offered"
)
SEND_AFTER_ACCEPT, ONE_OF_BYTES_TEXT = _rules(
    _SECTIONS["websocket.send"], "websocket-send-after-accept", "exactly-one-of-bytes-and-text"
)
CLOSE_CODE, NOTHING_AFTER_CLOSE = _rules(
    _SECTIONS["websocket.close"], "valid-close-code", "nothing-after-websocket-close"
)
(RECEIVE_AFTER_DISCONNECT,) = _rules(
    _SECTIONS["websocket.disconnect"], "no-receive-after-websocket-disconnect"
)
(LIFESPAN_ORDER,) = _rules("lifespan.rst, Startup and Shutdown", "lifespan-answers-each-step-once")


def _is_bytes(value: object) -> bool:
    return isinstance(value, bytes)


def _keys(message: Mapping[str, Any], /, **expected: tuple[Callable[[object], bool], bool]) -> None:
    """Check the keys of `message`: each maps to (a test of its value, whether it is required)."""
    section = _SECTIONS.get(message["type"], "")
    for key, (valid, required) in expected.items():
        if key not in message:
            KEY_TYPES.check(not required, message, f"the key {key!r} is required", section)
        else:
            KEY_TYPES.check(valid(message[key]), message, f"{key!r} has the wrong type", section)


def _optional(valid: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda value: value is None or valid(value)


_BOOL = (lambda value: isinstance(value, bool), False)
_STR = (lambda value: isinstance(value, str), False)
_INT = (lambda value: isinstance(value, int) and not isinstance(value, bool), False)


def _message_type(message: object) -> str:
    MESSAGE_IS_A_DICT.check(
        isinstance(message, Mapping) and isinstance(message.get("type"), str),
        message,
        "a message is a dict whose 'type' is a string",
    )
    kind: str = message["type"]  # type: ignore[index]
    return kind


class Conversation:
    """One connection's messages, checked in order (see the module docstring)."""

    def __init__(
        self, scope: Mapping[str, Any], advisories: list[ProtocolError] | None = None
    ) -> None:
        self.scope = scope
        self.extensions: Mapping[str, Any] = scope.get("extensions") or {}
        self.gone = False  # the client left: what the application still owes it, it owes no more
        # What advisory rules noted (see `Rule.advise`).
        self.advisories: list[ProtocolError] = [] if advisories is None else advisories
        self.begin()

    def begin(self) -> None:
        """Set up the state of a connection that has not exchanged a message yet."""

    def received(self, message: object) -> None:
        """A message the server handed the application."""

    def sent(self, message: object) -> None:
        """A message the application sent."""

    def receive_called(self) -> None:
        """The application asks for its next message."""

    def ended(self) -> None:
        """The application returned (without raising)."""

    def closed_by_server(self) -> None:
        """A `send()` raised `OSError`: the server says the connection is gone (ASGI 2.4)."""
        self.gone = True

    def _headers(self, message: Mapping[str, Any], key: str = "headers") -> None:
        headers = message.get(key, [])
        try:
            pairs = [tuple(pair) for pair in headers]
        except TypeError:
            HEADER_PAIRS.check(False, message, f"{key!r} is not an iterable of pairs")
            return
        for pair in pairs:
            HEADER_PAIRS.check(len(pair) == 2 and all(map(_is_bytes, pair)), message, f"{pair!r}")
            name = pair[0]
            HEADER_PAIRS.check(not name.startswith(b":"), message, f"{name!r} is a pseudo-header")
            detail = f"the header name {name!r} is not lowercase"
            HEADER_CASE.advise(self.advisories, name == name.lower(), message, detail)

    def _extension(self, kind: str, message: object) -> None:
        """An extension's message type is also the name the scope announces it by."""
        EXTENSION.check(kind in self.extensions, message, f"the scope does not announce {kind!r}")


class _Response:
    """How far the application has taken its HTTP response.

    WAITING: http.response.start was not sent.
    STARTED: the body (or messages that stand for body) may follow.
    SENT: the final body was sent; trailers may follow, if the start promised them.
    DONE: the final trailers were sent.
    """

    WAITING, STARTED, SENT, DONE = states(4)


class HttpConversation(Conversation):
    """An HTTP request and its response."""

    def begin(self) -> None:
        self.request_complete = False
        self.response = _Response.WAITING
        self.trailers_promised = False

    def received(self, message: object) -> None:
        kind = _message_type(message)
        assert isinstance(message, Mapping)
        if kind == "http.request":
            _keys(message, body=(_is_bytes, False), more_body=_BOOL)
            REQUEST_ORDER.check(
                not self.request_complete, message, "http.request after the body was complete"
            )
            self.request_complete = not message.get("more_body", False)
        elif kind == "http.disconnect":
            self.gone = True
        else:
            KNOWN_TYPE.check(False, message, f"an HTTP application cannot receive {kind!r}")

    def sent(self, message: object) -> None:
        kind = _message_type(message)
        assert isinstance(message, Mapping)
        if kind == "http.response.start":
            waiting = self.response is _Response.WAITING
            ONE_START.check(waiting, message, "the response was already started")
            _keys(message, status=(_INT[0], True), trailers=_BOOL)
            section = _SECTIONS[kind]
            KEY_TYPES.check(100 <= message["status"] <= 599, message, "status not 100-599", section)
            self._headers(message)
            self.response = _Response.STARTED
            self.trailers_promised = bool(message.get("trailers", False))
        elif kind in ("http.response.body", "http.response.zerocopysend", "http.response.pathsend"):
            if kind != "http.response.body":
                self._extension(kind, message)
            started = self.response is not _Response.WAITING
            START_FIRST.check(started, message, f"{kind} before http.response.start")
            streaming = self.response is _Response.STARTED
            NOTHING_AFTER_END.check(streaming, message, "the body was complete")
            if kind == "http.response.body":
                _keys(message, body=(_is_bytes, False), more_body=_BOOL)
            elif kind == "http.response.zerocopysend":
                _keys(message, file=(lambda f: hasattr(f, "fileno"), True), more_body=_BOOL)
            else:
                _keys(message, path=(_STR[0], True))
            if kind == "http.response.pathsend" or not message.get("more_body", False):
                self.response = _Response.SENT
        elif kind == "http.response.trailers":
            self._extension(kind, message)
            TRAILERS.check(self.trailers_promised, message, "http.response.start set no trailers")
            done = self.response is _Response.DONE
            TRAILERS.check(not done, message, "the trailers were complete")
            sent = self.response is _Response.SENT
            TRAILERS.check(sent, message, "trailers come after the final body")
            _keys(message, headers=(lambda value: True, True), more_trailers=_BOOL)
            self._headers(message)
            if not message.get("more_trailers", False):
                self.response = _Response.DONE
        elif kind in ("http.response.push", "http.response.early_hint", "http.response.debug"):
            self._extension(kind, message)
            open_ = self.response in (_Response.WAITING, _Response.STARTED)
            NOTHING_AFTER_END.check(open_, message, "the body was complete")
            if kind == "http.response.push":
                _keys(message, path=(_STR[0], True), headers=(lambda value: True, True))
                self._headers(message)
        else:
            KNOWN_TYPE.check(False, message, f"an HTTP application cannot send {kind!r}")

    def ended(self) -> None:
        if self.response is _Response.STARTED and not self.gone:
            RESPONSE_FINISHED.check(
                False, None, "the application returned in the middle of its body"
            )


# RFC 6455, 7.4: codes an endpoint may send (1004-1006 and 1015 are reserved, 1016-2999 unassigned).
def _sendable_close_code(code: object) -> bool:
    return isinstance(code, int) and (
        code in (1000, 1001, 1002, 1003) or 1007 <= code <= 1014 or 3000 <= code <= 4999
    )


class WebSocketConversation(Conversation):
    """A WebSocket connection: its handshake, its frames and its close."""

    def begin(self) -> None:
        self.connected = False  # websocket.connect was received
        self.answered = False  # accepted, closed or denied
        self.accepted = False
        self.denying = False  # a denial response's body is being sent
        self.closed = False  # by the application (close, or the denial's final body)
        self.disconnected = False

    def received(self, message: object) -> None:
        kind = _message_type(message)
        assert isinstance(message, Mapping)
        if kind == "websocket.connect":
            CONNECT_FIRST.check(not self.connected, message, "websocket.connect came twice")
            self.connected = True
        elif kind == "websocket.receive":
            CONNECT_FIRST.check(self.accepted, message, "a frame before the socket was accepted")
            _keys(message, bytes=(_optional(_is_bytes), False), text=(_optional(_STR[0]), False))
            self._one_of_bytes_and_text(message)
        elif kind == "websocket.disconnect":
            _keys(message, code=_INT, reason=(_optional(_STR[0]), False))
            self.disconnected = True
        else:
            KNOWN_TYPE.check(False, message, f"a WebSocket application cannot receive {kind!r}")

    def receive_called(self) -> None:
        RECEIVE_AFTER_DISCONNECT.check(
            not self.disconnected, None, "receive() after websocket.disconnect: nothing can follow"
        )

    def sent(self, message: object) -> None:
        kind = _message_type(message)
        assert isinstance(message, Mapping)
        NOTHING_AFTER_CLOSE.check(not self.closed, message, "the connection was closed")
        if kind == "websocket.accept":
            CONNECT_FIRST.check(self.connected, message, "accept before websocket.connect")
            ACCEPT_ONCE.check(not self.answered, message, "the connection was already answered")
            _keys(message, subprotocol=(_optional(_STR[0]), False))
            offered = list(self.scope.get("subprotocols") or [])
            subprotocol = message.get("subprotocol")
            SUBPROTOCOL.check(
                subprotocol is None or subprotocol in offered,
                message,
                f"the client offered {offered!r}",
            )
            self._headers(message)
            names = [bytes(pair[0]) for pair in message.get("headers", [])]
            HEADER_PAIRS.check(
                b"sec-websocket-protocol" not in names,
                message,
                "sec-websocket-protocol is set through 'subprotocol', not as a header",
            )
            self.answered = self.accepted = True
        elif kind == "websocket.send":
            SEND_AFTER_ACCEPT.check(self.accepted, message, "the socket is not accepted")
            _keys(message, bytes=(_optional(_is_bytes), False), text=(_optional(_STR[0]), False))
            self._one_of_bytes_and_text(message)
        elif kind == "websocket.close":
            CONNECT_FIRST.check(self.connected, message, "close before websocket.connect")
            ACCEPT_ONCE.check(not self.denying, message, "a denial response is being sent")
            _keys(message, code=_INT, reason=(_optional(_STR[0]), False))
            code = message.get("code", 1000)
            CLOSE_CODE.check(_sendable_close_code(code), message, f"{code!r} cannot be sent")
            self.answered = self.closed = True
        elif kind in ("websocket.http.response.start", "websocket.http.response.body"):
            EXTENSION.check(
                "websocket.http.response" in self.extensions,
                message,
                "the scope does not announce 'websocket.http.response'",
            )
            if kind == "websocket.http.response.start":
                ACCEPT_ONCE.check(
                    self.connected and not self.answered, message, "deny only an open handshake"
                )
                _keys(message, status=(_INT[0], True))
                self._headers(message)
                self.answered = self.denying = True
            else:
                START_FIRST.check(self.denying, message, "body before the denial's start")
                _keys(message, body=(_is_bytes, False), more_body=_BOOL)
                self.closed = not message.get("more_body", False)
        else:
            KNOWN_TYPE.check(False, message, f"a WebSocket application cannot send {kind!r}")

    @staticmethod
    def _one_of_bytes_and_text(message: Mapping[str, Any]) -> None:
        present = [key for key in ("bytes", "text") if message.get(key) is not None]
        ONE_OF_BYTES_TEXT.check(len(present) == 1, message, f"non-None: {present!r}")


class LifespanConversation(Conversation):
    """The lifespan protocol: startup, then shutdown, each answered once."""

    _STEPS = ("startup", "shutdown")

    def begin(self) -> None:
        self.asked: list[str] = []  # the steps received, in order
        self.answered: list[str] = []

    def received(self, message: object) -> None:
        kind = _message_type(message)
        step = kind.removeprefix("lifespan.")
        KNOWN_TYPE.check(
            kind.startswith("lifespan.") and step in self._STEPS,
            message,
            f"a lifespan application cannot receive {kind!r}",
        )
        expected = self._STEPS[len(self.asked)] if len(self.asked) < len(self._STEPS) else None
        LIFESPAN_ORDER.check(step == expected, message, f"expected lifespan.{expected}")
        self.asked.append(step)

    def sent(self, message: object) -> None:
        kind = _message_type(message)
        assert isinstance(message, Mapping)
        step, _, outcome = kind.removeprefix("lifespan.").partition(".")
        KNOWN_TYPE.check(
            kind.startswith("lifespan.")
            and step in self._STEPS
            and outcome in ("complete", "failed"),
            message,
            f"a lifespan application cannot send {kind!r}",
        )
        LIFESPAN_ORDER.check(
            len(self.answered) < len(self.asked) and self.asked[len(self.answered)] == step,
            message,
            f"lifespan.{step} was not asked for, or was answered already",
        )
        if outcome == "failed":
            _keys(message, message=_STR)
        self.answered.append(step)


def conversation_for(scope: object, advisories: list[ProtocolError] | None = None) -> Conversation:
    """The conversation for `scope`, by its type, noting advisories in `advisories`;
    `ProtocolError` for a scope that has none."""
    kind = _message_type(scope)
    assert isinstance(scope, Mapping)
    kinds = {"http": HttpConversation, "websocket": WebSocketConversation}
    kinds["lifespan"] = LifespanConversation
    KNOWN_TYPE.check(kind in kinds, scope, f"no protocol has the scope type {kind!r}")
    return kinds[kind](scope, advisories)
