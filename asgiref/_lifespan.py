"""The lifespan protocol, for the three parts of this package that speak it.

A server starts an application's lifespan with a `lifespan` scope, then sends `lifespan.startup`
and later `lifespan.shutdown`; the application answers each step with `lifespan.<step>.complete`,
or with `lifespan.<step>.failed` and a "message" saying why. `AsgiToWsgi` (with a `Driver`) and
`testing.LifespanCommunicator` drive an application's lifespan as a server does: they share the
scope, the events and the reading of replies, and each keeps what differs (how it reaches the
application, what a failure becomes). `WsgiToAsgi` answers as an application (`answer`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ._messages import Message, Receive, Send

logger = logging.getLogger("asgiref.wsgi")  # that of AsgiToWsgi, the only user of `Driver`

STARTUP = "startup"
SHUTDOWN = "shutdown"


def scope(state: dict[str, Any]) -> Message:
    """The scope that starts an application's lifespan, sharing `state` with its requests."""
    return {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": state}


def event(step: str) -> Message:
    return {"type": f"lifespan.{step}"}


def replied(step: str, reply: Message, outcome: str) -> bool:
    """Whether `reply` says `step` ended with `outcome` ("complete" or "failed")."""
    return bool(reply["type"] == f"lifespan.{step}.{outcome}")


async def answer(receive: Receive, send: Send, on_shutdown: Callable[[], None]) -> None:
    """Answer as an application with nothing to start: acknowledge startup; at shutdown, call
    `on_shutdown`, acknowledge, and return. Other messages are ignored."""
    while True:
        kind = (await receive())["type"]
        if kind == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif kind == "lifespan.shutdown":
            on_shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return


class Driver:
    """An application's lifespan task on the running loop, driven as a server drives it."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self._app = app
        self.state: dict[str, Any] = {}
        self._events: asyncio.Queue[Message] = asyncio.Queue()
        self._reply: asyncio.Future[Message | None] | None = None  # while a step waits for one
        self._task: asyncio.Task[None] | None = None

    async def startup(self) -> Message | None:
        """Start the task and take the startup step: the application's reply, or None if it
        ended instead (it does not support lifespan; requests then get no shared state)."""
        self._task = asyncio.get_running_loop().create_task(self._run(scope(self.state)))
        reply = await self._ask(STARTUP)
        if reply is None:
            self.state = {}
        return reply

    async def shutdown(self) -> None:
        task = self._task
        if task is None or task.done():
            return
        reply = await self._ask(SHUTDOWN)
        if reply is not None and replied(SHUTDOWN, reply, "failed"):
            logger.error("AsgiToWsgi: lifespan shutdown failed: %s", reply.get("message", ""))
        if not task.done():
            task.cancel()
        await asyncio.wait([task])

    async def _ask(self, step: str) -> Message | None:
        """Send the `step` event and wait for the reply (None if the application ended instead)."""
        assert self._task is not None
        reply: asyncio.Future[Message | None] = asyncio.get_running_loop().create_future()
        self._reply = reply
        if self._task.done():
            return None
        self._events.put_nowait(event(step))
        return await reply

    async def _run(self, scope: Message) -> None:
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
