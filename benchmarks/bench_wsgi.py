#!/usr/bin/env python3
"""Benchmark ``asgiref.wsgi``: this repository against asgiref 3.13.0 and a2wsgi.

Run from anywhere with one command::

    python3 benchmarks/bench_wsgi.py [--rounds N] [--quick] [--python PATH] [--part PART]

It measures, in one run:

A. in process (no sockets, one asyncio loop, a hand-written ``receive``/``send``):
   ``WsgiToAsgi`` (ours, the original) and ``a2wsgi.WSGIMiddleware`` serving a WSGI app:
   hello-world requests/s (sequential, and 50 at once), MiB/s for a 1 MiB upload (16 x 64 KiB
   ``http.request`` messages, the app reads ``wsgi.input`` to the end) and for a 1 MiB streamed
   download (the app yields 16 x 64 KiB); ``AsgiToWsgi`` (ours only: the original has none)
   against ``a2wsgi.ASGIMiddleware``, called as a WSGI server calls it: the same three cases;
B. under uvicorn (``--http h11`` and ``--http httptools``, keep-alive on), one server process
   per implementation and round serving a hello-world WSGI app, loaded by ``wrk``: successful
   requests/s, the share of non-2xx answers, p99 latency; and the peak RSS (``VmHWM``) of a
   server that takes 100 concurrent 1 MiB uploads, and of one that takes 100 concurrent 10 MiB
   uploads (the app reads and discards the body), to show whether memory grows with body size;
   ``AsgiToWsgi`` against ``a2wsgi.ASGIMiddleware`` under waitress, loaded by ``wrk``. Each
   server also runs, as a floor, an app of its own kind with no adapter.

The in-process part is ``bench_sync.py``'s machinery, reused as in ``bench_plumbing.py``:
calibration, one worker process per implementation and round with alternating order, medians
over chunks and rounds, median of per-round ratios. The a2wsgi cases run in the ``ours`` worker,
interleaved with ours, so their ratios compare measurements of the same process and round. The
virtual environments are ``benchmarks/.venvs/wsgi-original`` and ``wsgi-ours``: each holds the
asgiref under test plus uvicorn (with httptools), a2wsgi and waitress. The tables go to
``benchmarks/results-wsgi.md``.

``wrk`` comes from Debian's packages: if it is not on PATH the script runs
``apt-get install -y wrk`` (as root) and stops with a clear message if that fails.
Only 127.0.0.1 is ever contacted. Every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import io
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
# Workers and servers run with ``python -I``, which leaves the script's directory out of sys.path.
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

import bench_sync  # noqa: E402
from bench_plumbing import _install_cases  # noqa: E402
from bench_sync import (  # noqa: E402
    ORIGINAL_REQUIREMENT,
    ORIGINAL_VERSION,
    VENVS_DIR,
    BenchError,
    Case,
    Config,
    RoundResult,
    _base_identity,
    _ensure_venv,
    _first_line,
    _git_description,
    _install_ours,
    _pip,
    _ratios,
    _run,
    _values,
    _venv_python,
    _verify,
    calibrate,
    run_rounds,
    worker_main,
)

RESULTS_FILE = BENCH_DIR / "results-wsgi.md"
#: Raw data of the last run (git-ignored, for digging into a result).
RAW_FILE = VENVS_DIR / "last-run-wsgi.json"

#: What both benchmark venvs get besides their asgiref (same versions on both sides).
EXTRAS = ("uvicorn[standard]==0.54.0", "a2wsgi==1.10.10", "waitress==3.0.2")
EXTRA_MODULES = ("uvicorn", "httptools", "h11", "uvloop", "a2wsgi", "waitress")

HOST = "127.0.0.1"
BLOCK = 64 * 1024
BLOCKS = 16
BODY_SIZE = BLOCK * BLOCKS  # 1 MiB
BLOCK_DATA = b"x" * BLOCK
HELLO = b"Hello, world!"
CONCURRENT = 50
#: Bound on the reads/receives of one request body (a 10 MiB body is 160 blocks).
MAX_READS = 100_000
MIB = 1024 * 1024

#: In-process measurement length (seconds per case per worker) and cap, before --quick's 1/3.
MEASURE_SECONDS = 0.4
CAP_SECONDS = 5.0

# Targets (uvicorn): ours' successful req/s over the original's, and over a2wsgi's.
TARGET_VS_ORIGINAL = 1.5
TARGET_VS_A2WSGI = 1.0
#: Peak RSS with 10 MiB bodies / peak RSS with 1 MiB bodies (10x the data) that counts as flat.
TARGET_MEMORY_GROWTH = 1.25

# --------------------------------------------------------------------------------------------
# The applications (used in process and by the servers)
# --------------------------------------------------------------------------------------------


def _blocks(count: int) -> Iterator[bytes]:
    for _ in range(count):
        yield BLOCK_DATA


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """``/``: hello world; ``/upload``: reads the body to the end, answers its length;
    ``/download``: streams 16 x 64 KiB."""
    path = environ.get("PATH_INFO", "/")
    if path == "/upload":
        read = environ["wsgi.input"].read
        total = 0
        for _ in range(MAX_READS):
            data = read(BLOCK)
            if not data:
                break
            total += len(data)
        answer = str(total).encode("ascii")
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(answer)))]
        )
        return [answer]
    if path == "/download":
        start_response(
            "200 OK",
            [("Content-Type", "application/octet-stream"), ("Content-Length", str(BODY_SIZE))],
        )
        return _blocks(BLOCKS)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(HELLO)))])
    return [HELLO]


def _plain_start(body_length: int) -> dict[str, Any]:
    return {
        "type": "http.response.start",
        "status": 200,
        "headers": [
            (b"content-type", b"text/plain"),
            (b"content-length", str(body_length).encode("ascii")),
        ],
    }


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ASGI twin of `wsgi_app` (and a well-behaved lifespan)."""
    if scope["type"] == "lifespan":
        for _ in range(10):
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
        return
    path = scope["path"]
    if path == "/upload":
        total = 0
        for _ in range(MAX_READS):
            message = await receive()
            if message["type"] != "http.request":
                return
            total += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        answer = str(total).encode("ascii")
        await send(_plain_start(len(answer)))
        await send({"type": "http.response.body", "body": answer})
    elif path == "/download":
        await send(_plain_start(BODY_SIZE))
        for index in range(BLOCKS):
            await send(
                {"type": "http.response.body", "body": BLOCK_DATA, "more_body": index < BLOCKS - 1}
            )
    else:
        await send(_plain_start(len(HELLO)))
        await send({"type": "http.response.body", "body": HELLO})


# --------------------------------------------------------------------------------------------
# Worker side: in-process cases
# --------------------------------------------------------------------------------------------

#: Set in worker processes: the implementation whose venv the worker runs in.
_WORKER_IMPL: str | None = None

#: The implementations of each direction, as named in the case names.
W2A_OURS = "WsgiToAsgi"
W2A_A2WSGI = "a2wsgi.WSGIMiddleware"
A2W_OURS = "AsgiToWsgi"
A2W_A2WSGI = "a2wsgi.ASGIMiddleware"

KINDS = ("hello", f"hello, {CONCURRENT} concurrent", "1 MiB upload", "1 MiB download")
A2W_KINDS = ("hello", "1 MiB upload", "1 MiB download")
#: Requests per iteration, and the bytes that make a kind's MiB/s (0: report requests/s).
KIND_REQUESTS = {f"hello, {CONCURRENT} concurrent": CONCURRENT}
KIND_BYTES = {"1 MiB upload": BODY_SIZE, "1 MiB download": BODY_SIZE}


def _skip_in_original() -> None:
    """a2wsgi is measured in the ours worker only (next to ours, same process and round)."""
    if _WORKER_IMPL == "original":
        raise RuntimeError("not measured in this worker")


def _scope(method: str, path: str, body_length: int | None) -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench")]
    if body_length is not None:
        headers.append((b"content-type", b"application/octet-stream"))
        headers.append((b"content-length", str(body_length).encode("ascii")))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("ascii"),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": (HOST, 50000),
        "server": (HOST, 8000),
    }


class _AsgiCall:
    """One in-process ASGI HTTP request: `receive` hands out the request messages, then waits
    until the response is complete and reports a disconnect, as a server does."""

    __slots__ = ("_done", "_index", "_messages", "received", "status")

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self._messages = messages
        self._index = 0
        self._done = asyncio.Event()
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
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
        elif kind == "http.response.body":
            self.received += len(message.get("body", b""))
            if not message.get("more_body", False):
                self._done.set()


def _w2a_request(kind: str) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    """(scope, request messages, expected response body length) for a kind."""
    if kind == "1 MiB upload":
        messages = [
            {"type": "http.request", "body": BLOCK_DATA, "more_body": i < BLOCKS - 1}
            for i in range(BLOCKS)
        ]
        return _scope("POST", "/upload", BODY_SIZE), messages, len(str(BODY_SIZE))
    empty = [{"type": "http.request", "body": b"", "more_body": False}]
    if kind == "1 MiB download":
        return _scope("GET", "/download", None), empty, BODY_SIZE
    return _scope("GET", "/", None), empty, len(HELLO)


def _make_w2a(impl: str) -> Any:
    if impl == W2A_A2WSGI:
        _skip_in_original()
        from a2wsgi import WSGIMiddleware

        return WSGIMiddleware(wsgi_app)
    from asgiref.wsgi import WsgiToAsgi

    return WsgiToAsgi(wsgi_app)


def _case_w2a(impl: str, kind: str) -> bench_sync.ChunkFn:
    scope, messages, expected = _w2a_request(kind)
    batch = KIND_REQUESTS.get(kind, 1)

    def chunk(k: int) -> float:
        app = _make_w2a(impl)

        async def one() -> None:
            call = _AsgiCall(messages)
            await app(dict(scope), call.receive, call.send)
            if call.status != 200 or call.received != expected:
                raise AssertionError(
                    f"got status {call.status} and {call.received} body bytes, not 200 and"
                    f" {expected}"
                )

        async def many() -> None:
            await asyncio.gather(*[one() for _ in range(batch)])

        step = one if batch == 1 else many

        async def main() -> float:
            await step()  # untimed: threads start, first-call costs
            start = time.perf_counter()
            for _ in range(k):
                await step()
            return time.perf_counter() - start

        return asyncio.run(main())

    return chunk


#: AsgiToWsgi adapters live for the whole worker (their event loop thread with them): a2wsgi's
#: ASGIMiddleware has no way to end its loop, so one per chunk would pile threads up.
_A2W_ADAPTERS: dict[str, Any] = {}


def _a2w_adapter(impl: str) -> Any:
    adapter = _A2W_ADAPTERS.get(impl)
    if adapter is None:
        if impl == A2W_A2WSGI:
            _skip_in_original()
            from a2wsgi import ASGIMiddleware

            adapter = ASGIMiddleware(asgi_app)
        else:
            from asgiref.wsgi import AsgiToWsgi  # type: ignore[attr-defined,unused-ignore]

            adapter = AsgiToWsgi(asgi_app)
        _A2W_ADAPTERS[impl] = adapter
    return adapter


def _environ(method: str, path: str, body: bytes) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": HOST,
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": HOST,
        "REMOTE_PORT": "50000",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "bench",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if body:
        environ["CONTENT_TYPE"] = "application/octet-stream"
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ


def _case_a2w(impl: str, kind: str) -> bench_sync.ChunkFn:
    body = BLOCK_DATA * BLOCKS if kind == "1 MiB upload" else b""
    path = {"1 MiB upload": "/upload", "1 MiB download": "/download"}.get(kind, "/")
    template = _environ("POST" if body else "GET", path, body)
    expected = {"1 MiB upload": len(str(BODY_SIZE)), "1 MiB download": BODY_SIZE}.get(
        kind, len(HELLO)
    )

    def one(app: Any) -> None:
        environ = dict(template)
        environ["wsgi.input"] = io.BytesIO(body)
        got: list[str] = []

        def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            got.append(status)
            return None

        result = app(environ, start_response)
        received = 0
        try:
            for piece in result:
                received += len(piece)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if not got or not got[-1].startswith("200") or received != expected:
            raise AssertionError(f"got {got} and {received} body bytes, not 200 and {expected}")

    def chunk(k: int) -> float:
        app = _a2w_adapter(impl)
        one(app)  # untimed
        start = time.perf_counter()
        for _ in range(k):
            one(app)
        return time.perf_counter() - start

    return chunk


def _case_name(impl: str, kind: str) -> str:
    return f"{impl}: {kind}"


def _build_cases() -> list[Case]:
    cases = []
    for kind in KINDS:
        for impl in (W2A_OURS, W2A_A2WSGI):
            cases.append(
                Case(_case_name(impl, kind), _case_w2a(impl, kind), KIND_REQUESTS.get(kind, 1))
            )
    for kind in A2W_KINDS:
        for impl in (A2W_OURS, A2W_A2WSGI):
            cases.append(Case(_case_name(impl, kind), _case_a2w(impl, kind)))
    return cases


CASES = _build_cases()


@contextlib.contextmanager
def _workers_run_this_file() -> Iterator[None]:
    """bench_sync starts each worker as ``python -I <bench_sync.__file__> --worker``: point that
    at this file, whose worker mode knows the WSGI cases."""
    saved = bench_sync.__file__
    bench_sync.__file__ = str(Path(__file__).resolve())
    try:
        yield
    finally:
        bench_sync.__file__ = saved


# --------------------------------------------------------------------------------------------
# Server side (a subprocess: ``--serve``)
# --------------------------------------------------------------------------------------------


def serve_main(args: argparse.Namespace) -> None:
    """Serve `wsgi_app` through the adapter `args.impl` under uvicorn, or `asgi_app` through an
    ASGI-to-WSGI adapter under waitress, on 127.0.0.1:`args.port` until SIGINT/SIGTERM. The impl
    "native" is the floor: the server runs the app of its own kind directly (`asgi_app` under
    uvicorn, `wsgi_app` under waitress), no adapter."""
    impl = args.impl
    if args.server == "waitress":
        import waitress

        if impl == "native":
            wsgi: Any = wsgi_app
        elif impl == "a2wsgi":
            from a2wsgi import ASGIMiddleware

            wsgi = ASGIMiddleware(asgi_app)
        else:
            from asgiref.wsgi import AsgiToWsgi  # type: ignore[attr-defined,unused-ignore]

            wsgi = AsgiToWsgi(asgi_app)
        waitress.serve(wsgi, host=HOST, port=args.port, _quiet=True)
        return
    import uvicorn

    if impl == "native":
        app: Any = asgi_app
    elif impl == "a2wsgi":
        from a2wsgi import WSGIMiddleware

        app = WSGIMiddleware(wsgi_app)
    else:
        from asgiref.wsgi import WsgiToAsgi

        app = WsgiToAsgi(wsgi_app)
    # Defaults otherwise (keep-alive on, lifespan auto, loop auto); only the access log is off:
    # printing one line per request would measure the log pipe more than the adapter.
    uvicorn.run(app, host=HOST, port=args.port, http=args.server, log_level="warning")


# --------------------------------------------------------------------------------------------
# Parent side: venvs
# --------------------------------------------------------------------------------------------

_VERSIONS = (
    "import importlib.metadata as m, json\n"
    "names = ['asgiref', 'uvicorn', 'httptools', 'h11', 'uvloop', 'a2wsgi', 'waitress']\n"
    "out = {}\n"
    "for name in names:\n"
    "    try:\n"
    "        out[name] = m.version(name)\n"
    "    except m.PackageNotFoundError:\n"
    "        out[name] = None\n"
    "print(json.dumps(out))\n"
)


def _versions(venv: Path) -> dict[str, str | None]:
    proc = _run([str(_venv_python(venv)), "-I", "-c", _VERSIONS], cwd=venv, timeout=60)
    if proc.returncode != 0:
        return {}
    versions: dict[str, str | None] = json.loads(proc.stdout.strip().splitlines()[-1])
    return versions


def _extras_missing(versions: dict[str, str | None]) -> bool:
    wanted = {req.split("==")[0].split("[")[0]: req.split("==")[1] for req in EXTRAS}
    return any(versions.get(name) != version for name, version in wanted.items()) or not all(
        versions.get(name) for name in EXTRA_MODULES
    )


def _prepare(python: str) -> dict[str, tuple[Path, dict[str, Any]]]:
    """{impl: (venv, import info)} for "original" and "ours", each with the extras."""
    identity = _base_identity(python)
    original, _ = _ensure_venv("wsgi-original", python, identity)
    versions = _versions(original)
    if versions.get("asgiref") != ORIGINAL_VERSION or _extras_missing(versions):
        _log(f"installing {ORIGINAL_REQUIREMENT} and {', '.join(EXTRAS)} into {original}")
        _pip(original, ORIGINAL_REQUIREMENT, *EXTRAS)
    info = _verify(original)
    if info.get("version") != ORIGINAL_VERSION:
        raise BenchError(f"{original} has asgiref {info.get('version')}, not {ORIGINAL_VERSION}")
    info["versions"] = _versions(original)
    ours, fresh = _ensure_venv("wsgi-ours", python, identity)
    if fresh or _extras_missing(_versions(ours)):
        _log(f"installing {', '.join(EXTRAS)} into {ours}")
        _pip(ours, *EXTRAS)
    _log(f"installing this repository ({bench_sync.REPO_ROOT}) into {ours}")
    _install_ours(ours, fresh)
    ours_info = _verify(ours)
    ours_info["versions"] = _versions(ours)
    return {"original": (original, info), "ours": (ours, ours_info)}


def _ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        raise BenchError(
            "wrk is not on PATH and this is not root: install it (apt-get install wrk)"
        )
    _log("wrk is not on PATH: apt-get install -y wrk")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for attempt in range(2):
        if attempt == 1:
            subprocess.run(
                ["apt-get", "update"], capture_output=True, timeout=600, check=False, env=env
            )
        proc = subprocess.run(
            ["apt-get", "install", "-y", "wrk"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            env=env,
        )
        found = shutil.which("wrk")
        if proc.returncode == 0 and found:
            return found
    tail = " / ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
    raise BenchError(
        f"wrk is needed for the server part and `apt-get install -y wrk` failed: {tail}"
    )


# --------------------------------------------------------------------------------------------
# Parent side: servers, wrk, uploads
# --------------------------------------------------------------------------------------------


def _log(message: str) -> None:
    print(f"[bench_wsgi] {message}", file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _http_get_status(port: int, timeout: float) -> int | None:
    """Status of one GET / (Connection: close), or None if the server is not answering."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            for _ in range(100):
                piece = sock.recv(65536)
                if not piece:
                    break
                data += piece
    except OSError:
        return None
    match = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    return int(match.group(1)) if match else None


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def memory_kib(self) -> dict[str, int]:
        """VmRSS and VmHWM of the server process, KiB."""
        out: dict[str, int] = {}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0])
        return out


@contextlib.contextmanager
def _server(python: Path, impl: str, server: str, tmp: Path) -> Iterator[Server]:
    """A server subprocess (this file with ``--serve``), up and answering, stopped at the end."""
    port = _free_port()
    log = tmp / f"server-{impl}-{server}-{port}.log"
    cmd = [
        str(python),
        "-I",
        str(Path(__file__).resolve()),
        "--serve",
        "--impl",
        impl,
        "--server",
        server,
        "--port",
        str(port),
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=tmp, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        for _ in range(600):
            if proc.poll() is not None:
                raise BenchError(
                    f"{impl} server ({server}) exited with {proc.returncode}: {_tail(log)}"
                )
            if _http_get_status(port, 2.0) is not None:
                break
            if time.monotonic() > deadline:
                raise BenchError(f"{impl} server ({server}) did not answer within 30 s")
            time.sleep(0.05)
        yield Server(proc, port, log)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " / ".join(lines[-4:])[:400]


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS[unit]


def _run_wrk(wrk: str, port: int, seconds: int, connections: int) -> dict[str, Any]:
    cmd = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "--latency",
        f"http://{HOST}:{port}/",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    out = proc.stdout
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", out)
    if proc.returncode != 0 or total is None:
        raise BenchError(f"wrk failed (exit {proc.returncode}): {(out + proc.stderr)[-400:]}")
    requests = int(total.group(1))
    duration = _ms(total.group(2), total.group(3)) / 1e3
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    bad = int(non2xx.group(1)) if non2xx else 0
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.MULTILINE)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "requests": requests,
        "seconds": duration,
        "non2xx": bad,
        "ok_rps": (requests - bad) / duration if duration > 0 else 0.0,
        "p99_ms": _ms(p99.group(1), p99.group(2)) if p99 else None,
        "socket_errors": sum(int(g) for g in errors.groups()) if errors else 0,
        "socket_errors_text": errors.group(0) if errors else "",
    }


async def _upload(port: int, size: int, payload: memoryview, deadline: float) -> tuple[bool, str]:
    """One POST /upload of `size` bytes (Connection: close); (answer was right, detail)."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(
            b"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            b"Content-Type: application/octet-stream\r\n"
            + f"Content-Length: {size}\r\n\r\n".encode("ascii")
        )
        step = 256 * 1024
        for offset in range(0, size, step):
            writer.write(payload[offset : min(size, offset + step)])
            await writer.drain()
        data = b""
        for _ in range(1000):
            piece = await asyncio.wait_for(
                reader.read(65536), max(0.1, deadline - time.monotonic())
            )
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


async def _uploads(port: int, count: int, size: int, timeout: float) -> dict[str, Any]:
    payload = memoryview(b"u" * size)
    deadline = time.monotonic() + timeout
    started = time.perf_counter()
    tasks = [asyncio.ensure_future(_upload(port, size, payload, deadline)) for _ in range(count)]
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=10)
    ok = 0
    problems: list[str] = []
    for task in done:
        if task.exception() is not None:
            problems.append(repr(task.exception())[:120])
            continue
        good, detail = task.result()
        if good:
            ok += 1
        else:
            problems.append(detail)
    if pending:
        problems.append(f"{len(pending)} uploads timed out after {timeout:.0f} s")
    return {
        "ok": ok,
        "count": count,
        "seconds": time.perf_counter() - started,
        "problem": problems[0] if problems else "",
    }


# --------------------------------------------------------------------------------------------
# Parent side: the server part
# --------------------------------------------------------------------------------------------

UVICORN_IMPLS = ("ours", "original", "a2wsgi")
WAITRESS_IMPLS = ("ours", "a2wsgi")
HTTP_IMPLS = ("h11", "httptools")
#: Each server's configurations: (server, implementations measured with wrk, in rotating order;
#: "native" is the no-adapter floor).
SERVER_RUNS = (
    ("h11", (*UVICORN_IMPLS, "native")),
    ("httptools", (*UVICORN_IMPLS, "native")),
    ("waitress", (*WAITRESS_IMPLS, "native")),
)
#: wrk connections per server. Waitress queues requests for its 4 threads; at 50 connections its
#: throughput collapses (to about a third, for a plain WSGI app too, and bimodally from run to
#: run), which would measure waitress's queue rather than the adapters.
CONNECTIONS = {"h11": 50, "httptools": 50, "waitress": 8}


@dataclass
class ServerPart:
    #: (server, impl) -> one wrk result per round (or {"error": ...}).
    wrk: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    #: impl -> size label -> memory result.
    memory: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    wrk_seconds: int = 0
    uploads: int = 0


def _venv_for(envs: dict[str, tuple[Path, dict[str, Any]]], impl: str) -> Path:
    # a2wsgi and the floors run in the ours venv (they do not use asgiref): same uvicorn.
    return envs["original" if impl == "original" else "ours"][0]


def _one_wrk(
    envs: dict[str, tuple[Path, dict[str, Any]]],
    impl: str,
    server: str,
    wrk: str,
    part: ServerPart,
    tmp: Path,
) -> dict[str, Any]:
    try:
        with _server(_venv_python(_venv_for(envs, impl)), impl, server, tmp) as srv:
            # A few untimed requests: threads and first-call costs.
            for _ in range(20):
                _http_get_status(srv.port, 5.0)
            result = _run_wrk(wrk, srv.port, part.wrk_seconds, CONNECTIONS[server])
            if srv.proc.poll() is not None:
                result["error"] = f"server died: {_tail(srv.log)}"
            return result
    except (BenchError, OSError, subprocess.SubprocessError) as exc:
        return {"error": str(exc)[:300]}


def run_server_part(
    envs: dict[str, tuple[Path, dict[str, Any]]], rounds: int, quick: bool, wrk: str
) -> ServerPart:
    part = ServerPart(wrk_seconds=2 if quick else 5, uploads=100)
    with tempfile.TemporaryDirectory(prefix="bench-wsgi-") as tmp_name:
        tmp = Path(tmp_name)
        for index in range(rounds):
            started = time.monotonic()
            for server, impls in SERVER_RUNS:
                shift = index % len(impls)
                order = impls[shift:] + impls[:shift]
                for impl in order:
                    result = _one_wrk(envs, impl, server, wrk, part, tmp)
                    part.wrk.setdefault((server, impl), []).append(result)
            _log(f"server round {index + 1}/{rounds} done in {time.monotonic() - started:.1f} s")
        sizes = ((1, "100 x 1 MiB"), (10, "100 x 10 MiB"))
        for impl in UVICORN_IMPLS:
            for mib, label in sizes:
                started = time.monotonic()
                part.memory.setdefault(impl, {})[label] = _memory_run(envs, impl, mib, part, tmp)
                _log(f"memory {impl} {label}: {time.monotonic() - started:.1f} s")
    return part


def _memory_run(
    envs: dict[str, tuple[Path, dict[str, Any]]], impl: str, mib: int, part: ServerPart, tmp: Path
) -> dict[str, Any]:
    try:
        with _server(_venv_python(_venv_for(envs, impl)), impl, "httptools", tmp) as srv:
            idle = srv.memory_kib()
            result = asyncio.run(_uploads(srv.port, part.uploads, mib * MIB, timeout=120))
            after = srv.memory_kib()
            if srv.proc.poll() is not None:
                result["problem"] = f"server died: {_tail(srv.log)}"
            result["idle_kib"] = idle.get("VmRSS")
            result["peak_kib"] = after.get("VmHWM")
            return result
    except (BenchError, OSError) as exc:
        return {"error": str(exc)[:300]}


# --------------------------------------------------------------------------------------------
# Parent side: report
# --------------------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _rate(us_per_op: float, kind: str) -> float:
    """Requests/s, or MiB/s for the kinds that move a 1 MiB body."""
    per_second = 1e6 / us_per_op
    size = KIND_BYTES.get(kind)
    return per_second * size / MIB if size else per_second


def _rate_cell(rounds: list[RoundResult], impl: str, name: str, kind: str) -> str:
    values, errors = _values(rounds, impl, name)
    if not values:
        return "error: " + errors[0][:80].replace("|", "/") if errors else "n/a"
    cell = _fmt(_rate(statistics.median(values), kind))
    if errors:
        cell += f" (errors in {len(errors)} rounds)"
    return cell


def _ratio_cells(ratios: list[float]) -> tuple[str, str]:
    if not ratios:
        return "n/a", ""
    ratio = statistics.median(ratios)
    flag = " **slower**" if ratio < 1.0 else ""
    return f"{ratio:.2f}{flag}", f"{min(ratios):.2f} .. {max(ratios):.2f}"


def _inprocess_report(rounds: list[RoundResult], iters: dict[str, int]) -> list[str]:
    lines = [
        "## A. In process (no sockets; one asyncio loop)",
        "",
        "Rates are medians over rounds (each the median over a worker's timed chunks); req/s for"
        " hello, MiB/s for the 1 MiB bodies. Ratios are medians of per-round speed ratios (> 1:"
        " ours is faster). The a2wsgi cases run in the ours worker, interleaved with ours.",
        "",
        "### WsgiToAsgi (a WSGI app served to an ASGI caller)",
        "",
        "| case | unit | original | ours | a2wsgi.WSGIMiddleware | ours/original | range |"
        " ours/a2wsgi | range |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind in KINDS:
        ours = _case_name(W2A_OURS, kind)
        other = _case_name(W2A_A2WSGI, kind)
        unit = "MiB/s" if kind in KIND_BYTES else "req/s"
        vs_orig = _ratio_cells(_ratios(rounds, ("original", ours), ("ours", ours)))
        vs_a2 = _ratio_cells(_ratios(rounds, ("ours", other), ("ours", ours)))
        lines.append(
            f"| {kind} | {unit} | {_rate_cell(rounds, 'original', ours, kind)}"
            f" | {_rate_cell(rounds, 'ours', ours, kind)}"
            f" | {_rate_cell(rounds, 'ours', other, kind)}"
            f" | {vs_orig[0]} | {vs_orig[1]} | {vs_a2[0]} | {vs_a2[1]} |"
        )
    lines += [
        "",
        "### AsgiToWsgi (an ASGI app served to a WSGI caller; the original has none)",
        "",
        "| case | unit | ours | a2wsgi.ASGIMiddleware | ours/a2wsgi | range |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for kind in A2W_KINDS:
        ours = _case_name(A2W_OURS, kind)
        other = _case_name(A2W_A2WSGI, kind)
        unit = "MiB/s" if kind in KIND_BYTES else "req/s"
        vs_a2 = _ratio_cells(_ratios(rounds, ("ours", other), ("ours", ours)))
        lines.append(
            f"| {kind} | {unit} | {_rate_cell(rounds, 'ours', ours, kind)}"
            f" | {_rate_cell(rounds, 'ours', other, kind)} | {vs_a2[0]} | {vs_a2[1]} |"
        )
    lines += [
        "",
        "Iteration counts (calibrated once, the same in every round): "
        + ", ".join(f"{name}: {n}" for name, n in iters.items()),
        "",
    ]
    return lines


def _wrk_stats(results: list[dict[str, Any]]) -> dict[str, Any]:
    good = [r for r in results if "error" not in r]
    stats: dict[str, Any] = {"errors": [r["error"] for r in results if "error" in r]}
    if good:
        requests = sum(r["requests"] for r in good)
        stats.update(
            ok_rps=statistics.median(r["ok_rps"] for r in good),
            non2xx=sum(r["non2xx"] for r in good),
            share=sum(r["non2xx"] for r in good) / requests if requests else 0.0,
            p99=statistics.median(r["p99_ms"] for r in good if r["p99_ms"] is not None)
            if any(r["p99_ms"] is not None for r in good)
            else None,
            socket_errors=sum(r["socket_errors"] for r in good),
        )
    return stats


def _wrk_ratios(part: ServerPart, server: str, num: str, den: str) -> list[float]:
    out = []
    for a, b in zip(part.wrk.get((server, num), []), part.wrk.get((server, den), []), strict=False):
        if "error" not in a and "error" not in b and b["ok_rps"] > 0:
            out.append(a["ok_rps"] / b["ok_rps"])
    return out


def _verdict(ratio: float | None, target: float, strictly: bool = False) -> str:
    if ratio is None:
        return "not measured"
    shown = round(ratio, 2)  # judged as printed: a "1.00" is not ahead
    met = shown > target if strictly else shown >= target
    return "met" if met else "MISSED"


def _wrk_row(part: ServerPart, server: str, impl: str, label: str) -> str:
    stats = _wrk_stats(part.wrk.get((server, impl), []))
    if "ok_rps" not in stats:
        error = stats["errors"][0] if stats["errors"] else "n/a"
        return f"| {label} | error: {_cell(error)[:100]} | | | | | | |"
    share = f"{100 * stats['share']:.1f}% ({stats['non2xx']:,})"
    p99 = f"{stats['p99']:.1f}" if stats["p99"] is not None else "n/a"
    errs = f"{stats['socket_errors']:,}"
    if stats["errors"]:
        errs += f"; {len(stats['errors'])} failed runs: {_cell(stats['errors'][0])[:80]}"
    ratio: float | None = None
    ratio_cells = ("", "")
    if impl != "ours":
        ratios = _wrk_ratios(part, server, "ours", impl)
        if ratios:
            ratio = statistics.median(ratios)
            ratio_cells = (f"{ratio:.2f}", f"{min(ratios):.2f} .. {max(ratios):.2f}")
        else:
            ratio_cells = ("n/a", "")
    if impl == "ours":
        target = f"zero non-2xx ({'met' if stats['non2xx'] == 0 else 'MISSED'})"
    elif impl == "native":
        target = "(floor: no adapter)"
    elif server == "waitress":
        target = "(none)"
    elif impl == "original":
        target = f"ours/this >= {TARGET_VS_ORIGINAL:g} ({_verdict(ratio, TARGET_VS_ORIGINAL)})"
    else:
        target = f"ours/this > {TARGET_VS_A2WSGI:g} ({_verdict(ratio, TARGET_VS_A2WSGI, True)})"
    return (
        f"| {label} | {_fmt(stats['ok_rps'])} | {share} | {p99} | {errs}"
        f" | {ratio_cells[0]} | {ratio_cells[1]} | {target} |"
    )


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")


def _server_report(part: ServerPart, rounds: int) -> list[str]:
    lines = [
        "## B. Under real servers (one server process per implementation and round)",
        "",
        f"`wrk -t1 -cN -d{part.wrk_seconds}s --latency` against GET / of a hello-world app,"
        f" keep-alive on, N = {CONNECTIONS['httptools']} connections under uvicorn and"
        f" {CONNECTIONS['waitress']} under waitress (which queues requests for its 4 threads and"
        " collapses at 50, also with no adapter). uvicorn runs with default settings (so uvloop,"
        " installed by uvicorn[standard], and lifespan auto) except the access log (off);"
        f" {rounds} rounds, a fresh server per measurement, the implementations' order rotating"
        " per round. Successful req/s = (requests - non-2xx) / duration, median over rounds;"
        " non-2xx share and socket errors are totals over rounds; p99 is the median over rounds."
        ' "no adapter" is the floor: the server runs the app of its own kind directly.',
        "",
    ]
    for server, impls in SERVER_RUNS:
        if server == "waitress":
            title = "AsgiToWsgi under waitress (default settings: 4 threads)"
            names = {
                "ours": "ours (AsgiToWsgi)",
                "a2wsgi": "a2wsgi.ASGIMiddleware",
                "native": "no adapter (WSGI app)",
            }
        else:
            title = f"WsgiToAsgi under uvicorn --http {server}"
            names = {
                "ours": "ours (WsgiToAsgi)",
                "original": "original (WsgiToAsgi 3.13.0)",
                "a2wsgi": "a2wsgi.WSGIMiddleware",
                "native": "no adapter (ASGI app)",
            }
        lines += [
            f"### {title}",
            "",
            "| implementation | successful req/s | non-2xx share | p99 latency (ms) |"
            " socket errors | ours / this (median of per-round ratios) | range | target |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for impl in ("original", "ours", "a2wsgi", "native"):
            if impl in impls:
                lines.append(_wrk_row(part, server, impl, names[impl]))
        lines.append("")
    lines += [
        f"### Peak memory under uvicorn --http httptools: {part.uploads} concurrent uploads",
        "",
        "A fresh server per line; the app reads the body to the end in 64 KiB reads and discards"
        " it. Idle = VmRSS after start-up; peak = VmHWM after the uploads. Growth = peak with 10"
        " MiB bodies / peak with 1 MiB bodies (10x the data; flat means memory does not follow"
        " body size).",
        "",
        "| implementation | idle RSS (MiB) | peak, 100 x 1 MiB (MiB) | peak, 100 x 10 MiB (MiB) |"
        " uploads answered right | seconds (1 MiB / 10 MiB) | growth 10 MiB / 1 MiB | target |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for impl in ("original", "ours", "a2wsgi"):
        runs = part.memory.get(impl, {})
        small, big = runs.get("100 x 1 MiB", {}), runs.get("100 x 10 MiB", {})
        if "error" in small or "error" in big:
            lines.append(f"| {impl} | error: {(small.get('error') or big.get('error'))[:100]} |")
            continue
        if not small or not big:
            continue

        def mib(kib: int | None) -> str:
            return f"{kib / 1024:.0f}" if kib else "n/a"

        growth = (
            big["peak_kib"] / small["peak_kib"]
            if big.get("peak_kib") and small.get("peak_kib")
            else None
        )
        answered = f"{small['ok']}/{small['count']}, {big['ok']}/{big['count']}"
        problem = small.get("problem") or big.get("problem")
        if problem:
            answered += f" ({problem[:80]})"
        if impl == "ours":
            verdict = "met" if growth is not None and growth <= TARGET_MEMORY_GROWTH else "MISSED"
            target = f"<= {TARGET_MEMORY_GROWTH:g} ({verdict})"
        else:
            target = "(none)"
        lines.append(
            f"| {impl} | {mib(small.get('idle_kib'))} | {mib(small.get('peak_kib'))}"
            f" | {mib(big.get('peak_kib'))} | {answered}"
            f" | {small['seconds']:.1f} / {big['seconds']:.1f}"
            f" | {f'{growth:.2f}' if growth else 'n/a'} | {target} |"
        )
    lines.append("")
    return lines


def build_report(
    envs: dict[str, tuple[Path, dict[str, Any]]],
    rounds_a: list[RoundResult] | None,
    iters: dict[str, int],
    part: ServerPart | None,
    cfg: Config,
    server_rounds: int,
    elapsed: float,
    wrk: str | None,
) -> str:
    now = datetime.datetime.now().isoformat(timespec="seconds")
    versions = envs["ours"][1].get("versions", {})
    python = _first_line(rounds_a, "ours", "python") if rounds_a else platform.python_version()
    lines = [
        "# asgiref WSGI adapters benchmark (ours vs asgiref 3.13.0 vs a2wsgi)",
        "",
        f"- run: {now}, {cfg.rounds} in-process rounds (~{cfg.target:g} s per measurement),"
        f" {server_rounds} server rounds, total {elapsed:.0f} s",
        f"- machine: {platform.platform()}, {os.cpu_count()} CPUs; Python {python}",
        f"- ours: {bench_sync.REPO_ROOT} at {_git_description()}",
        "- packages: "
        + ", ".join(f"{name} {version}" for name, version in versions.items() if name != "asgiref")
        + (f"; {_wrk_version(wrk)}" if wrk else ""),
        "",
    ]
    if rounds_a is not None:
        lines += _inprocess_report(rounds_a, iters)
    if part is not None:
        lines += _server_report(part, server_rounds)
    return "\n".join(lines)


def _wrk_version(wrk: str) -> str:
    proc = subprocess.run(
        [wrk, "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    text = (proc.stdout + proc.stderr).strip().splitlines()
    return text[0].split(" Copyright")[0] if text else "wrk"


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 5, quick 3)")
    parser.add_argument("--quick", action="store_true", help="fewer rounds, shorter measurements")
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter for both venvs (default: this one)"
    )
    parser.add_argument(
        "--part",
        choices=["all", "inprocess", "server"],
        default="all",
        help="run only the in-process part (A) or only the server part (B)",
    )
    # Worker mode (internal, bench_sync's protocol).
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=["calibrate", "measure"], help=argparse.SUPPRESS)
    parser.add_argument("--impl", help=argparse.SUPPRESS)
    parser.add_argument("--target", type=float, default=0.3, help=argparse.SUPPRESS)
    parser.add_argument("--cap", type=float, default=5.0, help=argparse.SUPPRESS)
    parser.add_argument("--cases", help=argparse.SUPPRESS)
    parser.add_argument("--iters", help=argparse.SUPPRESS)
    # Server mode (internal).
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--server", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    global _WORKER_IMPL
    args = _parse_args(argv)
    if args.serve:
        serve_main(args)
        return 0
    _install_cases(CASES)
    if args.worker:
        _WORKER_IMPL = args.impl
        worker_main(args)
        return 0
    rounds = args.rounds if args.rounds is not None else (3 if args.quick else 5)
    if not 1 <= rounds <= 100:
        raise SystemExit("--rounds must be between 1 and 100")
    server_rounds = min(rounds, 2 if args.quick else 3) if args.rounds is None else rounds
    scale = 1 / 3 if args.quick else 1.0
    cfg = Config(
        rounds=rounds, target=MEASURE_SECONDS * scale, cap=CAP_SECONDS * scale, self_test=False
    )
    started = time.monotonic()
    rounds_a: list[RoundResult] | None = None
    iters: dict[str, int] = {}
    part: ServerPart | None = None
    wrk: str | None = None
    try:
        if args.part in ("all", "server"):
            wrk = _ensure_wrk()
        envs = _prepare(args.python)
        for impl, (venv, info) in envs.items():
            _log(f"{impl}: asgiref {info.get('version')} from {info['file']} ({venv})")
        if args.part in ("all", "inprocess"):
            with _workers_run_this_file():
                iters = calibrate(envs, cfg)
                rounds_a = run_rounds(envs, iters, cfg)
        if args.part in ("all", "server") and wrk is not None:
            part = run_server_part(envs, server_rounds, args.quick, wrk)
    except BenchError as exc:
        _log(f"error: {exc}")
        return 2
    raw: dict[str, Any] = {"iters": iters}
    if rounds_a is not None:
        raw["rounds"] = [{"results": r.results, "infos": r.infos} for r in rounds_a]
    if part is not None:
        raw["wrk"] = {f"{server}/{impl}": runs for (server, impl), runs in part.wrk.items()}
        raw["memory"] = part.memory
    RAW_FILE.write_text(json.dumps(raw, indent=1))
    text = build_report(
        envs, rounds_a, iters, part, cfg, server_rounds, time.monotonic() - started, wrk
    )
    RESULTS_FILE.write_text(text)
    print(text)
    _log(f"written to {RESULTS_FILE}; total {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
