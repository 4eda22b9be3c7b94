"""Checking ASGI applications against the ASGI specification.

`ApplicationChecker(app)` is an ASGI application that runs `app` and checks every message it
sends and receives, for its scope type and the state of the connection, against the
specification (the rules are in `_asgi_rules`). The first rule broken raises `ProtocolError`
from the `send()` or `receive()` that broke it, naming the rule, the message and the section of
the specification; should the application swallow that error, it is raised again when the
application returns. The protocol communicators of `asgiref.testing` take ``validate=True`` to run
their application through it.
"""

from __future__ import annotations

from typing import Any

from ._asgi_rules import ProtocolError, conversation_for
from ._messages import Message, Receive, Send
from .compatibility import guarantee_single_callable

__all__ = ["ApplicationChecker", "ProtocolError"]


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


ProtocolError.__module__ = __name__
