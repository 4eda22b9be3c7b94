#!/usr/bin/env python3
"""Benchmark ``asgiref.wsgi``: this repository against asgiref 3.13.0 and a2wsgi.

Run from anywhere (standard library only; PyPI is needed once, for the venvs)::

    python3 benchmarks/bench_wsgi.py [--rounds N] [--quick] [--python PATH] [--part PART]

A. In process (5 rounds, 3 with ``--quick``; ~0.4 s per case): ``WsgiToAsgi`` (ours, the
   original) and ``a2wsgi.WSGIMiddleware`` driven by a hand-written ``receive``/``send``: hello
   world (one at a time, and 50 at once), a 1 MiB upload and a 1 MiB streamed download; and
   ``AsgiToWsgi`` (the original has none) against ``a2wsgi.ASGIMiddleware``, called as a WSGI
   server calls it. a2wsgi runs in the ours worker.
B. Real servers (3 rounds, 2 with ``--quick``; a fresh one per measurement): ``wrk -t1 -c50 -d5s
   --latency`` (2 s with ``--quick``) against hello world under uvicorn ``--http h11`` and
   ``httptools`` (ours, original, a2wsgi, no adapter) and, with ``-c8``, under waitress
   (``AsgiToWsgi`` vs a2wsgi); the peak RSS of uvicorn taking 100 concurrent uploads of 1 MiB,
   then of 10 MiB.

``--part inprocess|server`` runs one part. Targets: zero non-2xx for ours; ours' successful
req/s under uvicorn >= 1.5x the original's and > a2wsgi's; ours' peak with 10 MiB bodies <=
1.25x with 1 MiB. Venvs: ``benchmarks/.venvs/wsgi-original``, ``wsgi-ours``; ``wrk`` is installed
with apt-get if missing. Written to ``benchmarks/results-wsgi.md``. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import io
import json
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h

SCRIPT = Path(__file__).resolve()
#: What both venvs get besides their asgiref (same versions on both sides), and what they pull.
EXTRAS = ("uvicorn[standard]==0.54.0", "a2wsgi==1.10.10", "waitress==3.0.2")
DISTS = ("httptools", "h11", "uvloop")
HOST, MIB = h.HOST, 1024 * 1024
BLOCK, BLOCKS = 64 * 1024, 16
BODY_SIZE, BLOCK_DATA = BLOCK * BLOCKS, b"x" * BLOCK  # 1 MiB, in 16 x 64 KiB
HELLO = b"Hello, world!"
CONCURRENT = 50
#: Bound on the reads/receives of one request body (a 10 MiB body is 160 blocks).
MAX_READS = 100_000
# Targets (uvicorn): ours' successful req/s over the original's, and over a2wsgi's; peak RSS with
# 10 MiB bodies over peak RSS with 1 MiB bodies (10x the data) that counts as flat.
TARGET_VS_ORIGINAL, TARGET_VS_A2WSGI, TARGET_MEMORY_GROWTH = 1.5, 1.0, 1.25


# ---- The applications, and the adapters in front of them ------------------------------------


def wsgi_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """``/``: hello world; ``/upload``: reads the body to the end, answers its length;
    ``/download``: streams 16 x 64 KiB."""
    path, body = environ.get("PATH_INFO", "/"), HELLO
    if path == "/upload":
        read, total = environ["wsgi.input"].read, 0
        for _ in range(MAX_READS):
            data = read(BLOCK)
            if not data:
                break
            total += len(data)
        body = str(total).encode("ascii")
    if path == "/download":
        headers = [("Content-Type", "application/octet-stream"), ("Content-Length", str(BODY_SIZE))]
        start_response("200 OK", headers)
        return (BLOCK_DATA for _ in range(BLOCKS))
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ASGI twin of `wsgi_app` (and a well-behaved lifespan)."""
    if scope["type"] == "lifespan":
        for _ in range(10):
            kind = (await receive())["type"]
            if kind == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif kind == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
        return
    body: list[bytes] = [HELLO]
    if scope["path"] == "/upload":
        total = 0
        for _ in range(MAX_READS):
            message = await receive()
            if message["type"] != "http.request":
                return
            total += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = [str(total).encode("ascii")]
    elif scope["path"] == "/download":
        body = [BLOCK_DATA] * BLOCKS
    length = str(sum(map(len, body))).encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", length)]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for i, piece in enumerate(body):
        await send({"type": "http.response.body", "body": piece, "more_body": i < len(body) - 1})


def wsgi_to_asgi(impl: str) -> Any:
    """An ASGI app: `wsgi_app` through asgiref's WsgiToAsgi (the venv's) or a2wsgi's
    WSGIMiddleware, or for "native" (the floor) `asgi_app` itself."""
    if impl == "native":
        return asgi_app
    if impl == "a2wsgi":
        from a2wsgi import WSGIMiddleware  # type: ignore[import-not-found,unused-ignore]

        return WSGIMiddleware(wsgi_app)
    from asgiref.wsgi import WsgiToAsgi

    return WsgiToAsgi(wsgi_app)


def asgi_to_wsgi(impl: str) -> Any:
    """A WSGI app: `asgi_app` through our AsgiToWsgi or a2wsgi's ASGIMiddleware, or for
    "native" `wsgi_app` itself."""
    if impl == "native":
        return wsgi_app
    if impl == "a2wsgi":
        from a2wsgi import ASGIMiddleware  # type: ignore[import-not-found,unused-ignore]

        return ASGIMiddleware(asgi_app)
    from asgiref.wsgi import AsgiToWsgi  # type: ignore[attr-defined,unused-ignore]

    return AsgiToWsgi(asgi_app)


# ---- A. In process (run in the workers) -----------------------------------------------------

KINDS = ("hello", f"hello, {CONCURRENT} concurrent", "1 MiB upload", "1 MiB download")
A2W_KINDS = ("hello", "1 MiB upload", "1 MiB download")
#: Requests per iteration, and the bytes that make a kind's MiB/s (else: requests/s).
KIND_REQUESTS = {f"hello, {CONCURRENT} concurrent": CONCURRENT}
KIND_BYTES = {"1 MiB upload": BODY_SIZE, "1 MiB download": BODY_SIZE}
PATHS = {"1 MiB upload": "/upload", "1 MiB download": "/download"}
EXPECTED = {"1 MiB upload": len(str(BODY_SIZE)), "1 MiB download": BODY_SIZE}
#: Case names: "<adapter>: <kind>"; the impl each adapter name stands for.
W2A = {"WsgiToAsgi": "ours", "a2wsgi.WSGIMiddleware": "a2wsgi"}
A2W = {"AsgiToWsgi": "ours", "a2wsgi.ASGIMiddleware": "a2wsgi"}


class _AsgiCall:
    """One in-process ASGI HTTP request: `receive` hands out the request messages, then waits
    until the response is complete and reports a disconnect, as a server does."""

    __slots__ = ("_done", "_index", "_messages", "received", "status")

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self._messages, self._index, self._done = messages, 0, asyncio.Event()
        self.status: int | None = None
        self.received = 0

    async def receive(self) -> dict[str, Any]:
        index = self._index
        if index < len(self._messages):
            self._index = index + 1
            return self._messages[index]
        await self._done.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            self.received += len(message.get("body", b""))
            if not message.get("more_body", False):
                self._done.set()


def _case_w2a(impl: str, kind: str) -> h.ChunkFn:
    upload = kind == "1 MiB upload"
    headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench")]
    if upload:
        headers += [(b"content-type", b"application/octet-stream")]
        headers += [(b"content-length", str(BODY_SIZE).encode())]
    path = PATHS.get(kind, "/")
    scope: dict[str, Any] = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}}
    scope.update(headers=headers)
    scope.update(http_version="1.1", method="POST" if upload else "GET", scheme="http")
    scope.update(path=path, raw_path=path.encode(), query_string=b"", root_path="")
    scope.update(client=(HOST, 50000), server=(HOST, 8000))
    messages = [{"type": "http.request", "body": b"", "more_body": False}]
    if upload:
        messages = [
            {"type": "http.request", "body": BLOCK_DATA, "more_body": i < BLOCKS - 1}
            for i in range(BLOCKS)
        ]
    expected, batch = EXPECTED.get(kind, len(HELLO)), KIND_REQUESTS.get(kind, 1)

    def chunk(k: int) -> float:
        app = wsgi_to_asgi(impl)

        async def one() -> None:
            call = _AsgiCall(messages)
            await app(dict(scope), call.receive, call.send)
            if call.status != 200 or call.received != expected:
                raise AssertionError(f"got {call.status}, {call.received} B, not 200, {expected}")

        async def many() -> None:
            await asyncio.gather(*[one() for _ in range(batch)])

        return h.timed_async(k, one if batch == 1 else many)

    return chunk


#: AsgiToWsgi adapters live for the whole worker (their event loop thread with them): a2wsgi's
#: ASGIMiddleware has no way to end its loop, so one per chunk would pile threads up.
_A2W_ADAPTERS: dict[str, Any] = {}


def _case_a2w(impl: str, kind: str) -> h.ChunkFn:
    """The adapter called as a WSGI server calls it: an environ with a BytesIO body,
    start_response, the result iterated, then closed."""
    body = BLOCK_DATA * BLOCKS if kind == "1 MiB upload" else b""
    template: dict[str, Any] = {"REQUEST_METHOD": "POST" if body else "GET", "SCRIPT_NAME": ""}
    template.update(PATH_INFO=PATHS.get(kind, "/"), QUERY_STRING="", SERVER_NAME=HOST)
    template.update(SERVER_PORT="8000", SERVER_PROTOCOL="HTTP/1.1", REMOTE_ADDR=HOST)
    template.update(REMOTE_PORT="50000", HTTP_HOST="127.0.0.1:8000", HTTP_USER_AGENT="bench")
    template.update({"wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr})
    template.update({"wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False})
    if body:
        template.update(CONTENT_TYPE="application/octet-stream", CONTENT_LENGTH=str(len(body)))
    expected = EXPECTED.get(kind, len(HELLO))

    def one(app: Any) -> None:
        got: list[str] = []
        result = app({**template, "wsgi.input": io.BytesIO(body)}, lambda s, *_: got.append(s))
        received = 0
        try:
            for piece in result:
                received += len(piece)
        finally:
            if hasattr(result, "close"):
                result.close()
        if not got or not got[-1].startswith("200") or received != expected:
            raise AssertionError(f"got {got} and {received} body bytes, not 200 and {expected}")

    def chunk(k: int) -> float:
        if impl not in _A2W_ADAPTERS:
            _A2W_ADAPTERS[impl] = asgi_to_wsgi(impl)
        app = _A2W_ADAPTERS[impl]
        return h.timed(k, lambda: one(app))

    return chunk


def build_cases() -> list[h.Case]:
    # a2wsgi, and AsgiToWsgi (which the original lacks), are measured in the ours worker only.
    ours_only = ("ours",)
    cases = []
    for kind in KINDS:
        for name, impl in W2A.items():
            impls = h.IMPLS if impl == "ours" else ours_only
            chunk = _case_w2a(impl, kind)
            cases.append(h.Case(f"{name}: {kind}", chunk, KIND_REQUESTS.get(kind, 1), impls=impls))
    for kind in A2W_KINDS:
        for name, impl in A2W.items():
            cases.append(h.Case(f"{name}: {kind}", _case_a2w(impl, kind), impls=ours_only))
    return cases


def inprocess_report(run: h.InProcessRun) -> list[str]:
    def rate(impl: str, name: str, kind: str) -> str:
        found, errors, _ = run.values(impl, name)
        if not found:
            return "error: " + h.cell(errors[0][:80]) if errors else "n/a"
        per_second = 1e6 / statistics.median(found)  # requests/s, or MiB/s for 1 MiB bodies
        text = h.fmt(per_second * KIND_BYTES[kind] / MIB if kind in KIND_BYTES else per_second)
        return text + (f" (errors in {len(errors)} rounds)" if errors else "")

    def speedup(num: tuple[str, str], den: tuple[str, str]) -> str:
        return " | ".join(h.ratio_cells(run.ratios(num, den), flag_below=1.0)[1:])

    lines = [
        "## A. In process (no sockets; one asyncio loop)",
        "",
        "Medians over rounds of req/s (MiB/s for the 1 MiB bodies); ratios: medians of per-round"
        " speed ratios (> 1: ours is faster). a2wsgi runs in the ours worker, next to ours.",
        "",
        "### WsgiToAsgi (a WSGI app served to an ASGI caller)",
        "",
        "| case | unit | original | ours | a2wsgi.WSGIMiddleware | ours/original | range |"
        " ours/a2wsgi | range |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind in KINDS:
        ours, other = (f"{name}: {kind}" for name in W2A)
        lines.append(
            f"| {kind} | {'MiB/s' if kind in KIND_BYTES else 'req/s'}"
            f" | {rate('original', ours, kind)} | {rate('ours', ours, kind)}"
            f" | {rate('ours', other, kind)} | {speedup(('original', ours), ('ours', ours))}"
            f" | {speedup(('ours', other), ('ours', ours))} |"
        )
    lines += [
        "",
        "### AsgiToWsgi (an ASGI app served to a WSGI caller; the original has none)",
        "",
        "| case | unit | ours | a2wsgi.ASGIMiddleware | ours/a2wsgi | range |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for kind in A2W_KINDS:
        ours, other = (f"{name}: {kind}" for name in A2W)
        lines.append(
            f"| {kind} | {'MiB/s' if kind in KIND_BYTES else 'req/s'} | {rate('ours', ours, kind)}"
            f" | {rate('ours', other, kind)} | {speedup(('ours', other), ('ours', ours))} |"
        )
    iters = ", ".join(f"{name}: {n}" for name, n in run.iters.items())
    return [*lines, "", f"Iteration counts (calibrated once, the same in every round): {iters}", ""]


# ---- B. Real servers ------------------------------------------------------------------------

#: Each server: the implementations measured with wrk, in rotating order ("native": no adapter).
SERVER_RUNS = {
    "h11": ("ours", "original", "a2wsgi", "native"),
    "httptools": ("ours", "original", "a2wsgi", "native"),
    "waitress": ("ours", "a2wsgi", "native"),
}
#: wrk connections per server. Waitress queues requests for its 4 threads; at 50 connections its
#: throughput collapses (to about a third, for a plain WSGI app too, and bimodally from run to
#: run), which would measure waitress's queue rather than the adapters.
CONNECTIONS = {"h11": 50, "httptools": 50, "waitress": 8}
MEMORY_SIZES = {"100 x 1 MiB": 1, "100 x 10 MiB": 10}
UPLOADS = 100


def serve_main(impl: str, server: str, port: int) -> None:
    """Serve on 127.0.0.1:`port` until SIGINT/SIGTERM: `wsgi_app` through the adapter `impl`
    under uvicorn (`server` names its parser), or `asgi_app` through one under waitress."""
    if server == "waitress":
        import waitress  # type: ignore[import-untyped,unused-ignore]

        waitress.serve(asgi_to_wsgi(impl), host=HOST, port=port, _quiet=True)
    else:
        import uvicorn

        # Defaults otherwise (keep-alive, lifespan auto, loop auto); only the access log is
        # off: one line per request would measure the log pipe more than the adapter.
        uvicorn.run(wsgi_to_asgi(impl), host=HOST, port=port, http=server, log_level="warning")


@contextlib.contextmanager
def _server(
    envs: dict[str, h.Env], impl: str, server: str, tmp: Path, warm: int = 20
) -> Iterator[h.Server]:
    """A server (this file with ``--serve``) after `warm` untimed requests, stopped at the end;
    a2wsgi and the floors (no asgiref) run in the ours venv: the same uvicorn."""
    python = envs["original" if impl == "original" else "ours"].python
    argv = [str(python), "-I", str(SCRIPT), "--serve"]
    log_path = tmp / f"server-{impl}-{server}-{time.monotonic_ns()}.log"
    srv = h.start_server(
        impl, lambda port: [*argv, json.dumps([impl, server, port])], tmp, log_path
    )
    try:
        for _ in range(warm):
            with contextlib.suppress(OSError, http.client.HTTPException):
                h.http_get(srv.port, "/", 5.0)
        yield srv
    finally:
        srv.stop(signal.SIGINT, 10)


async def _upload(port: int, size: int, payload: memoryview, deadline: float) -> tuple[bool, str]:
    """One POST /upload of `size` bytes (Connection: close); (answer was right, detail)."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(
            b"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            + f"Content-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n".encode()
        )
        for offset in range(0, size, 256 * 1024):
            writer.write(payload[offset : offset + 256 * 1024])
            await writer.drain()
        data = b""
        for _ in range(1000):
            remaining = max(0.1, deadline - time.monotonic())
            piece = await asyncio.wait_for(reader.read(65536), remaining)
            if not piece:
                break
            data += piece
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    ok = head.startswith(b"HTTP/1.1 200") and body.strip() == str(size).encode("ascii")
    return ok, head.split(b"\r\n", 1)[0].decode("latin-1") + " / " + body[:40].decode("latin-1")


async def _uploads(port: int, size: int, timeout: float) -> dict[str, Any]:
    """UPLOADS concurrent uploads of `size` bytes, on one event loop, within `timeout` s."""
    payload, deadline = memoryview(b"u" * size), time.monotonic() + timeout
    started = time.perf_counter()
    tasks = [asyncio.ensure_future(_upload(port, size, payload, deadline)) for _ in range(UPLOADS)]
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=10)
    outcomes = [(False, repr(t.exception())[:120]) if t.exception() else t.result() for t in done]
    problems = [detail for ok, detail in outcomes if not ok]
    problems += [f"{len(pending)} uploads timed out after {timeout:.0f} s"] if pending else []
    result = {"ok": sum(ok for ok, _ in outcomes), "count": UPLOADS, "problems": problems}
    return {**result, "seconds": time.perf_counter() - started}


def run_servers(envs: dict[str, h.Env], rounds: int, seconds: int, wrk: h.Wrk, tmp: Path) -> Any:
    """{"wrk": {(server, impl): [result per round]}, "memory": {impl: {size label: result}}}."""
    part: dict[str, Any] = {"wrk": {}, "memory": {}}
    for index in range(rounds):
        started = time.monotonic()
        for server, impls in SERVER_RUNS.items():
            shift = index % len(impls)
            for impl in impls[shift:] + impls[:shift]:
                try:
                    with _server(envs, impl, server, tmp) as srv:
                        result = wrk.load(srv, "/", seconds, CONNECTIONS[server])
                except (h.BenchError, OSError) as exc:
                    result = {"error": str(exc)[:300]}
                part["wrk"].setdefault((server, impl), []).append(result)
        h.log(f"server round {index + 1}/{rounds} done in {time.monotonic() - started:.1f} s")
    for impl in ("ours", "original", "a2wsgi"):
        for label, mib in MEMORY_SIZES.items():
            started = time.monotonic()
            try:
                with _server(envs, impl, "httptools", tmp, warm=1) as srv:
                    idle = h.proc_status(srv.proc.pid).get("VmRSS")
                    result = asyncio.run(_uploads(srv.port, mib * MIB, timeout=120))
                    result.update(idle_kib=idle, peak_kib=h.proc_status(srv.proc.pid).get("VmHWM"))
                    if srv.proc.poll() is not None:
                        result["problems"].insert(0, f"server died: {srv.log_text()[-300:]}")
            except (h.BenchError, OSError) as exc:
                result = {"error": str(exc)[:300]}
            part["memory"].setdefault(impl, {})[label] = result
            h.log(f"memory {impl} {label}: {time.monotonic() - started:.1f} s")
    return part


def _wrk_row(part: dict[str, Any], server: str, impl: str, label: str) -> str:
    runs = part["wrk"].get((server, impl), [])
    stats = h.wrk_summary(runs)
    if stats is None:
        errors = [run["error"] for run in runs] or ["n/a"]
        return f"| {label} | error: {h.cell(errors[0])[:100]} | | | | | | |"
    errs = f"{stats['socket_errors']:,}"
    if stats["failed"]:
        errs += f"; {len(stats['failed'])} failed runs: {h.cell(stats['failed'][0])[:80]}"
    ratio, ratio_cell, range_cell = h.ratio_cells(
        h.wrk_ratios(part["wrk"].get((server, "ours"), []), runs)
    )
    shown = 0.0 if ratio is None else round(ratio, 2)  # judged as printed: "1.00" is not ahead
    met = None if ratio is None else shown >= TARGET_VS_ORIGINAL
    target = f"ours/this >= {TARGET_VS_ORIGINAL:g} ({h.verdict(met)})"
    if impl == "ours":
        ratio_cell, range_cell = "", ""
        target = f"zero non-2xx ({h.verdict(stats['non2xx'] == 0)})"
    elif impl == "native" or server == "waitress":
        target = "(floor: no adapter)" if impl == "native" else "(none)"
    elif impl == "a2wsgi":
        met = None if ratio is None else shown > TARGET_VS_A2WSGI
        target = f"ours/this > {TARGET_VS_A2WSGI:g} ({h.verdict(met)})"
    return (
        f"| {label} | {h.fmt(stats['ok_rps'])} | {100 * stats['share']:.1f}% ({stats['non2xx']:,})"
        f" | {stats['p99_ms']:.1f} | {errs} | {ratio_cell} | {range_cell} | {target} |"
    )


def server_report(part: dict[str, Any], rounds: int, seconds: int) -> list[str]:
    lines = [
        "## B. Under real servers (one server process per implementation and round)",
        "",
        f"`wrk -t1 -cN -d{seconds}s --latency`, GET / of hello world, N = 50 under uvicorn"
        f" (defaults, no access log), 8 under waitress (4 threads); {rounds} rounds. Successful"
        " req/s = (requests - non-2xx) / duration, and p99: medians; non-2xx, errors: totals.",
        "",
    ]
    for server in SERVER_RUNS:
        if server == "waitress":
            title = "AsgiToWsgi under waitress (default settings: 4 threads)"
            names = {"ours": "ours (AsgiToWsgi)", "a2wsgi": "a2wsgi.ASGIMiddleware"}
            names.update(native="no adapter (WSGI app)")
        else:
            title = f"WsgiToAsgi under uvicorn --http {server}"
            names = {"original": "original (WsgiToAsgi 3.13.0)", "ours": "ours (WsgiToAsgi)"}
            names.update(a2wsgi="a2wsgi.WSGIMiddleware", native="no adapter (ASGI app)")
        lines += [
            f"### {title}",
            "",
            "| implementation | successful req/s | non-2xx share | p99 latency (ms) |"
            " socket errors | ours / this (median of per-round ratios) | range | target |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
            *(_wrk_row(part, server, impl, label) for impl, label in names.items()),
            "",
        ]
    lines += [
        f"### Peak memory under uvicorn --http httptools: {UPLOADS} concurrent uploads",
        "",
        "A fresh server each; the app reads and discards the body. Idle = VmRSS after start-up,"
        " peak = VmHWM after the uploads; growth = peak with 10 MiB / peak with 1 MiB bodies.",
        "",
        "| implementation | idle RSS (MiB) | peak, 100 x 1 MiB (MiB) | peak, 100 x 10 MiB (MiB) |"
        " uploads answered right | seconds (1 MiB / 10 MiB) | growth 10 MiB / 1 MiB | target |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for impl in ("original", "ours", "a2wsgi"):
        small, big = (part["memory"].get(impl, {}).get(label, {}) for label in MEMORY_SIZES)
        if "error" in small or "error" in big:
            lines.append(f"| {impl} | error: {str(small.get('error') or big.get('error'))[:100]} |")
            continue
        if not small or not big:
            continue
        kib = (small.get("idle_kib"), small.get("peak_kib"), big.get("peak_kib"))
        mib = " | ".join(f"{value / 1024:.0f}" if value else "n/a" for value in kib)
        growth = kib[2] / kib[1] if kib[1] and kib[2] else None
        answered = f"{small['ok']}/{small['count']}, {big['ok']}/{big['count']}"
        problems = small.get("problems", []) + big.get("problems", [])
        answered += f" ({problems[0][:80]})" if problems else ""
        target = "(none)"
        if impl == "ours":
            met = growth is not None and growth <= TARGET_MEMORY_GROWTH
            target = f"<= {TARGET_MEMORY_GROWTH:g} ({h.verdict(met)})"
        lines.append(
            f"| {impl} | {mib} | {answered} | {small['seconds']:.1f} / {big['seconds']:.1f}"
            f" | {f'{growth:.2f}' if growth else 'n/a'} | {target} |"
        )
    return [*lines, ""]


def main(argv: list[str] | None = None) -> int:
    parser = h.arg_parser(__doc__, (5, 3), "fewer rounds, shorter measurements", worker=True)
    parts = ["all", "inprocess", "server"]
    parser.add_argument("--part", choices=parts, default="all", help="run only part A or B")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve_main(*json.loads(args.serve))
        return 0
    cases = build_cases()
    if args.worker:
        h.worker_main(cases, args.worker)
    rounds = h.rounds_of(args, 100)
    server_rounds = min(rounds, 2 if args.quick else 3) if args.rounds is None else rounds
    seconds, scale = (2, 1 / 3) if args.quick else (5, 1.0)
    cfg = h.Config(rounds, 0.4 * scale, 5.0 * scale)
    started = time.monotonic()
    run_a: h.InProcessRun | None = None
    part: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="bench-wsgi-") as tmp:
        try:
            wrk = h.Wrk(Path(tmp)) if args.part != "inprocess" else None
            envs = h.prepare_envs(args.python, "wsgi-", EXTRAS, DISTS)
            if args.part != "server":
                iters, rounds_a = h.measure(SCRIPT, cases, envs, cfg)
                elapsed = time.monotonic() - started
                run_a = h.InProcessRun(cases, envs, iters, rounds_a, cfg, elapsed)
            if wrk is not None:
                part = run_servers(envs, server_rounds, seconds, wrk, Path(tmp))
        except h.BenchError as exc:
            h.log(f"error: {exc}")
            return 2
    versions = envs["ours"].info["versions"]
    title = "asgiref WSGI adapters benchmark (ours vs asgiref 3.13.0 vs a2wsgi)"
    run = f"{rounds} in-process rounds (~{cfg.target:g} s per measurement), {server_rounds} server"
    lines = h.head(title, f"{run} rounds, total {time.monotonic() - started:.0f} s", envs)
    packages = ", ".join(f"{name} {v}" for name, v in versions.items() if name != "asgiref")
    lines += [f"- packages: {packages}" + (f"; {wrk.version}" if wrk else ""), ""]
    raw: dict[str, Any] = {}
    if run_a is not None:
        lines += inprocess_report(run_a)
        raw.update(iters=run_a.iters, rounds=run_a.rounds)
    if part is not None:
        lines += server_report(part, server_rounds, seconds)
        raw["wrk"] = {f"{server}/{impl}": runs for (server, impl), runs in part["wrk"].items()}
        raw["memory"] = part["memory"]
    h.finish("wsgi", "\n".join(lines), raw, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
