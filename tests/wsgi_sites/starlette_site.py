"""The Starlette app served by WSGI servers through AsgiToWsgi (tests/test_wsgi_servers.py)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .common import MAX_READS, WAIT, Probe, pattern_block


class WatchedStreamingResponse(StreamingResponse):
    """A StreamingResponse that tells the probe when it is cut short: its send failed (Starlette
    turns the OSError into ClientDisconnect) or its task was cancelled. (Starlette leaves closing
    the body iterator itself to the garbage collector, so the iterator cannot be watched.)"""

    def __init__(self, probe: Probe, content: AsyncIterator[bytes]) -> None:
        super().__init__(content, media_type="application/octet-stream")
        self.probe = probe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except BaseException as error:
            self.probe.note_stream_cut(error)
            raise


def make_app(probe: Probe) -> Starlette:
    # Requests waiting in /gather, and the event that lets them all go (every request runs on
    # the adapter's one event loop, so plain asyncio state is shared by them).
    arrived: list[int] = [0]
    everyone_here: list[asyncio.Event] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        startup = probe.note_startup()
        yield {"greeting": "hi", "startup": startup}
        probe.shutdown.set()

    async def hello(request: Request) -> Response:
        name = request.query_params.get("name", "nobody")
        state = request.state
        return PlainTextResponse(f"{state.greeting} {name} (startup {state.startup})")

    async def upload(request: Request) -> Response:
        digest = hashlib.sha256()
        total = 0
        try:
            async for chunk in request.stream():
                total += len(chunk)
                digest.update(chunk)
                probe.upload_started.set()
        except ClientDisconnect as error:
            probe.note_read_error(error)
            raise
        return JSONResponse({"bytes": total, "sha256": digest.hexdigest()})

    async def download(request: Request) -> Response:
        blocks = min(int(request.query_params["blocks"]), MAX_READS)
        gated = "gated" in request.query_params

        async def body() -> AsyncIterator[bytes]:
            for index in range(blocks):
                yield pattern_block(index)
                if gated and index == 0:
                    probe.note_gate(await probe.gate.wait(WAIT))

        return WatchedStreamingResponse(probe, body())

    async def cookies(request: Request) -> Response:
        response = JSONResponse(
            {"cookies": dict(request.cookies), "header": request.headers.get("cookie")}
        )
        response.set_cookie("first", "one")
        response.set_cookie("second", "two", httponly=True)
        return response

    async def go_elsewhere(request: Request) -> Response:
        return RedirectResponse("/hello?name=redirected", status_code=302)

    async def gather(request: Request) -> Response:
        """Answers only once `n` requests are in here at the same time (bounded wait)."""
        parties = int(request.query_params["n"])
        if not everyone_here:
            everyone_here.append(asyncio.Event())
        arrived[0] += 1
        if arrived[0] >= parties:
            everyone_here[0].set()
        try:
            await asyncio.wait_for(everyone_here[0].wait(), WAIT)
        except asyncio.TimeoutError:
            return PlainTextResponse(f"only {arrived[0]} of {parties} arrived", status_code=504)
        return PlainTextResponse(f"all {parties} here")

    return Starlette(
        routes=[
            Route("/hello", hello),
            Route("/upload", upload, methods=["POST"]),
            Route("/download", download),
            Route("/cookies", cookies),
            Route("/redirect", go_elsewhere),
            Route("/gather", gather),
        ],
        lifespan=lifespan,
    )
