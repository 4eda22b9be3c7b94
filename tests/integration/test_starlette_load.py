"""A Starlette app (tests/integration/hashing_app.py) under uvicorn, calling a blocking sync
function through `sync_to_async`, under load: 1,000 requests, 50 at a time, over real sockets on
127.0.0.1. Every request must succeed with the right answer. Latency percentiles (measured by the
client, from writing a request to reading its whole response) are printed and written to
tests/integration/last-latency.json (or where ASGIREF_LATENCY_FILE says), next to those of the
same function called through asyncio's own `run_in_executor`, without asgiref.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hashing_app import digest_of
from stacks import (
    HTTP_TIMEOUT,
    Server,
    latency_file,
    percentiles,
    python_module,
    record_latency,
    server_env,
    serving,
)

REQUESTS = 1_000
CONCURRENCY = 50
WARM_UP = {"/digest/parallel": 200, "/digest/executor": 200, "/digest/thread-sensitive": 50}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory: Path = tmp_path_factory.mktemp("starlette")
    latency_file().unlink(missing_ok=True)  # this run's numbers only

    def argv(port: int) -> list[str]:
        return python_module(
            "uvicorn",
            "hashing_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        )

    with serving("uvicorn+starlette", argv, env=server_env(), log=directory / "server.log") as s:
        # Warm up (imports, executor threads), so that no variant pays for the server's start.
        for path, requests in WARM_UP.items():
            asyncio.run(_load(s.port, path, requests))
        yield s


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One HTTP/1.1 response with a Content-Length: (status, body)."""
    head = await reader.readuntil(b"\r\n\r\n")  # at most the stream's limit (64 KiB)
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers["content-length"]))
    return int(status_line.split()[1]), body


async def _load(
    port: int, path: str, requests: int = REQUESTS
) -> tuple[list[float], list[dict[str, Any]], float]:
    """`requests` GETs of `path` from CONCURRENCY keep-alive connections, each running one
    request at a time: (latencies in seconds, JSON bodies in request order, wall time in s).

    A minimal HTTP/1.1 client on asyncio streams: httpx costs about 5 ms of CPU per request on a
    2-core machine, so with it the numbers would measure httpx, not the server."""
    latencies: list[float] = []
    bodies: list[dict[str, Any]] = [{} for _ in range(requests)]
    numbers = iter(range(requests))  # shared: each request number is taken by one connection

    async def connection() -> None:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), HTTP_TIMEOUT
        )
        try:
            for number in numbers:
                request = f"GET {path}?data=payload-{number} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                started = time.perf_counter()
                writer.write(request.encode())
                await writer.drain()
                status, body = await asyncio.wait_for(_read_response(reader), HTTP_TIMEOUT)
                latencies.append(time.perf_counter() - started)
                assert status == 200, body
                bodies[number] = json.loads(body)
        finally:
            writer.close()
            await writer.wait_closed()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(CONCURRENCY)))
    return latencies, bodies, time.perf_counter() - started


def _summarise(name: str, latencies: list[float], wall: float, threads: int) -> dict[str, Any]:
    summary: dict[str, Any] = {
        f"{key}_ms": round(value * 1000, 2) for key, value in percentiles(latencies).items()
    }
    summary.update(
        requests=len(latencies),
        concurrency=CONCURRENCY,
        max_ms=round(max(latencies) * 1000, 2),
        wall_s=round(wall, 3),
        requests_per_s=round(len(latencies) / wall, 1),
        worker_threads_seen=threads,
    )
    path = record_latency(name, summary)
    print(f"\n{name}: {summary} (written to {path})")
    return summary


def _assert_all_correct(bodies: list[dict[str, Any]]) -> set[int]:
    """Every answer is the digest of its own request's payload; the threads that computed them."""
    for number, body in enumerate(bodies):
        assert body["digest"] == digest_of(f"payload-{number}".encode()), number
    return {body["thread"] for body in bodies}


@pytest.mark.asyncio
async def test_sync_to_async_on_the_default_executor_under_load(server: Server) -> None:
    """`sync_to_async(f, thread_sensitive=False)`: calls run in parallel on the loop's default
    executor."""
    latencies, bodies, wall = await _load(server.port, "/digest/parallel")
    assert len(latencies) == REQUESTS
    threads = _assert_all_correct(bodies)
    assert len(threads) > 1
    _summarise("starlette_sync_to_async_parallel", latencies, wall, len(threads))
    server.assert_log_clean()


@pytest.mark.asyncio
async def test_thread_sensitive_sync_to_async_under_load(server: Server) -> None:
    """`sync_to_async(f)` (thread-sensitive, the default): outside any sync world every call runs
    on the one process-wide thread, one after another, and none is lost."""
    latencies, bodies, wall = await _load(server.port, "/digest/thread-sensitive")
    assert len(latencies) == REQUESTS
    threads = _assert_all_correct(bodies)
    assert len(threads) == 1
    _summarise("starlette_sync_to_async_thread_sensitive", latencies, wall, len(threads))
    server.assert_log_clean()


@pytest.mark.asyncio
async def test_baseline_without_asgiref_under_load(server: Server) -> None:
    """The same function through asyncio's own `run_in_executor`, for comparison."""
    latencies, bodies, wall = await _load(server.port, "/digest/executor")
    assert len(latencies) == REQUESTS
    threads = _assert_all_correct(bodies)
    _summarise("starlette_run_in_executor_baseline", latencies, wall, len(threads))
    server.assert_log_clean()


def test_fastapi_endpoint_mounted_in_the_app(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=HTTP_TIMEOUT) as client:
        response = client.get("/api/digest", params={"data": "fastapi"})
    assert response.status_code == 200
    body = response.json()
    assert body["digest"] == digest_of(b"fastapi")
    assert body["framework"] == "fastapi"
    server.assert_log_clean()
