"""A Starlette app (with a FastAPI app mounted under /api) that calls a blocking sync library
function through asgiref's `sync_to_async`; served by uvicorn in tests/integration.

`blocking_digest` stands in for a sync client library: a 5 ms blocking pause (simulated I/O),
then some hashing.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from typing import Any

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from asgiref.sync import sync_to_async

ROUNDS = 200


def digest_of(data: bytes, rounds: int = ROUNDS) -> str:
    """SHA-256 applied `rounds` times."""
    digest = data
    for _ in range(rounds):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()


def blocking_digest(data: bytes) -> tuple[str, int]:
    """`digest_of(data)` after 5 ms of blocking (simulated I/O); and the thread it ran on."""
    time.sleep(0.005)
    return digest_of(data), threading.get_ident()


# The library is thread-safe, so calls may run in parallel on the loop's default executor.
digest_in_pool = sync_to_async(blocking_digest, thread_sensitive=False)
# The default: every call runs on the one thread-sensitive thread, one after another.
digest_thread_sensitive = sync_to_async(blocking_digest)


async def parallel(request: Request) -> JSONResponse:
    digest, thread = await digest_in_pool(request.query_params["data"].encode())
    return JSONResponse({"digest": digest, "thread": thread})


async def thread_sensitive(request: Request) -> JSONResponse:
    digest, thread = await digest_thread_sensitive(request.query_params["data"].encode())
    return JSONResponse({"digest": digest, "thread": thread})


async def plain_executor(request: Request) -> JSONResponse:
    """The same call without asgiref (the loop's default executor, straight from asyncio): the
    baseline the load test compares `sync_to_async` with."""
    loop = asyncio.get_running_loop()
    data = request.query_params["data"].encode()
    digest, thread = await loop.run_in_executor(None, blocking_digest, data)
    return JSONResponse({"digest": digest, "thread": thread})


async def api_digest(data: str) -> dict[str, Any]:
    digest, thread = await digest_in_pool(data.encode())
    return {"digest": digest, "thread": thread, "framework": "fastapi"}


api = FastAPI()
api.add_api_route("/digest", api_digest, methods=["GET"])

app = Starlette(
    routes=[
        Route("/digest/parallel", parallel),
        Route("/digest/thread-sensitive", thread_sensitive),
        Route("/digest/executor", plain_executor),
        Mount("/api", app=api),
    ]
)
