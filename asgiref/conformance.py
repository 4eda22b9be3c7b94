"""Checking ASGI applications against the ASGI specification.

`ApplicationChecker(app)` is an ASGI application that runs `app` and checks every message it
sends and receives, for its scope type and the state of the connection, against the
specification (the rules are in `_asgi_rules`). The first rule broken raises `ProtocolError`
from the `send()` or `receive()` that broke it, naming the rule, the message and the section of
the specification; should the application swallow that error, it is raised again when the
application returns. The protocol communicators of `asgiref.testing` take ``validate=True`` to run
their application through it.

Servers are checked from outside: serve `probe_app` with the server under test, then run
``python -m asgiref.conformance server HOST:PORT`` (or `check_server`). It makes a fixed set of
HTTP/1.1 and WebSocket exchanges over raw sockets and prints which rules the server kept and which
it broke; the exit status is 0 only if it kept them all.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from ._asgi_rules import ProtocolError, conversation_for
from ._messages import Message, Receive, Send
from ._probe_app import probe_app
from ._probe_client import Report, check_server
from .compatibility import guarantee_single_callable

__all__ = ["ApplicationChecker", "ProtocolError", "Report", "check_server", "main", "probe_app"]


class ApplicationChecker:
    """An ASGI 3 application running `application` with every message checked against the ASGI
    specification. `violations` lists what was broken, in order (the first was raised)."""

    def __init__(self, application: Any) -> None:
        self.application: Any = guarantee_single_callable(application)
        self.violations: list[ProtocolError] = []
        # Rules real frameworks break and servers forgive (header names with capitals): noted.
        self.advisories: list[ProtocolError] = []

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        broken: list[ProtocolError] = []  # this connection's violations

        def checked(check: Any, *args: Any) -> Any:
            try:
                return check(*args)
            except ProtocolError as error:
                broken.append(error)
                self.violations.append(error)
                raise

        conversation = checked(conversation_for, scope, self.advisories)

        async def checked_receive() -> Any:
            checked(conversation.receive_called)
            message = await receive()
            checked(conversation.received, message)
            return message

        async def checked_send(message: Message) -> None:
            checked(conversation.sent, message)
            try:
                await send(message)
            except OSError:
                conversation.closed_by_server()
                raise

        await self.application(scope, checked_receive, checked_send)
        if broken:
            raise broken[0]  # broken earlier, and swallowed by the application
        checked(conversation.ended)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m asgiref.conformance server HOST:PORT``: check the server there (it must serve
    `probe_app`), print the report, and return 0 if it kept every rule, else 1."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if len(arguments) != 2 or arguments[0] != "server" or ":" not in arguments[1]:
        print("usage: python -m asgiref.conformance server HOST:PORT", file=sys.stderr)
        print("(the server at HOST:PORT serves asgiref.conformance:probe_app)", file=sys.stderr)
        return 2
    host, _, port = arguments[1].rpartition(":")
    report = check_server(host.strip("[]"), int(port))
    print(report.text())
    return 0 if report.passed else 1


for _public in (ProtocolError, Report):
    _public.__module__ = __name__
probe_app.__module__ = __name__

if __name__ == "__main__":
    sys.exit(main())
