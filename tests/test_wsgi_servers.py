"""The WSGI bridge end to end, under real servers and a real HTTP client (httpx) on 127.0.0.1.

* `WsgiToAsgi` under uvicorn, serving a Flask app and a Django project: query strings, 50 MB
  bodies read through `wsgi.input`, chunked uploads, streamed downloads, file responses,
  cookies, redirects, requests running at once on separate threads, clients that go away in the
  middle of a body either way, and the server's memory staying flat while 50 MB pass through.
* `AsgiToWsgi` under wsgiref (threaded) and waitress, serving a Starlette app: the same kinds of
  request, plus lifespan startup before the first request and shutdown on `close()`.

The sites live in tests/wsgi_sites/. Every server runs in a fixture that stops it, and checks
that every thread it (or the adapters) started has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest
from helpers import serving_with_uvicorn
from starlette.requests import ClientDisconnect
from wsgi_sites import django_site, flask_site, starlette_site
from wsgi_sites.common import (
    BLOCK_SIZE,
    WAIT,
    Probe,
    WsgiApp,
    pattern_block,
    pattern_digest,
    watch_file_wrapper,
)

from asgiref.wsgi import AsgiToWsgi, ClientDisconnectedError, WsgiToAsgi

TESTS_DIR = Path(__file__).resolve().parent
HTTP_TIMEOUT = 30.0  # seconds, for every request the tests make
MB = 1024 * 1024
# Bounds for raw-socket loops: how many recv() calls a test makes at most.
MAX_RECVS = 10_000


# --- servers -------------------------------------------------------------------------------


@contextlib.contextmanager
def no_threads_left_behind() -> Iterator[None]:
    """Check that every thread started inside the block has ended by its end (waiting a bounded
    time for the ones that are finishing)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + WAIT
    started = [thread for thread in threading.enumerate() if thread not in before]
    for thread in started:
        thread.join(max(0.0, deadline - time.monotonic()))
    left = [thread.name for thread in started if thread.is_alive()]
    assert not left, f"threads left behind: {left}"


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    block_on_close = False  # request threads are joined (with a bound) by the fixture


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serving_with_wsgiref(app: AsgiToWsgi) -> Iterator[tuple[str, int]]:
    """Run wsgiref's server (a thread per request) on a free port: (base URL, how many requests
    it serves at once)."""
    server = make_server(
        "127.0.0.1",
        0,
        app,
        server_class=_ThreadingWSGIServer,
        handler_class=_QuietHandler,
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="wsgiref-under-test"
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", 8
    finally:
        server.shutdown()
        server.server_close()
        thread.join(WAIT)
        assert not thread.is_alive(), "wsgiref did not stop"


@contextlib.contextmanager
def serving_with_waitress(app: AsgiToWsgi) -> Iterator[tuple[str, int]]:
    """Run waitress with 4 threads on a free port: (base URL, how many requests it serves at
    once)."""
    import waitress  # type: ignore[import-untyped]
    from waitress import wasyncore

    socket_map: dict[int, Any] = {}
    server = waitress.create_server(app, map=socket_map, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, name="waitress-under-test")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}", 4
    finally:
        # Close every socket from the server's own loop thread (closing them under its select()
        # from here would race); with its map empty, run() returns.
        server.trigger.pull_trigger(lambda: wasyncore.close_all(socket_map))
        thread.join(WAIT)
        server.task_dispatcher.shutdown()
        assert not thread.is_alive(), "waitress did not stop"


# --- WsgiToAsgi under uvicorn: sites and fixtures ----------------------------------------------


@dataclass
class WsgiSite:
    framework: str
    probe: Probe
    client: httpx.Client
    port: int


@contextlib.contextmanager
def wsgi_site_served(framework: str, **adapter_options: Any) -> Iterator[WsgiSite]:
    probe = Probe()
    with contextlib.ExitStack() as stack:
        stack.enter_context(no_threads_left_behind())
        app: WsgiApp
        if framework == "flask":
            app = flask_site.make_app(probe)
        else:
            stack.enter_context(django_site.django_settings())
            app = django_site.make_app(probe)
        app = watch_file_wrapper(probe, app)
        url = stack.enter_context(serving_with_uvicorn(WsgiToAsgi(app, **adapter_options)))
        client = stack.enter_context(httpx.Client(base_url=url, timeout=HTTP_TIMEOUT))
        yield WsgiSite(framework, probe, client, httpx.URL(url).port or 0)


@pytest.fixture(params=["flask", "django"])
def wsgi_site(request: pytest.FixtureRequest) -> Iterator[WsgiSite]:
    with wsgi_site_served(request.param) as site:
        yield site


@pytest.fixture
def flask_served() -> Iterator[WsgiSite]:
    with wsgi_site_served("flask") as site:
        yield site


# --- bodies ----------------------------------------------------------------------------------


class PatternUpload:
    """An upload body generated block by block (never held whole), hashed as it is sent."""

    def __init__(self, blocks: int, tail: bytes = b"") -> None:
        self.blocks = blocks
        self.tail = tail
        self.size = blocks * BLOCK_SIZE + len(tail)
        self.sent = 0
        self._digest = hashlib.sha256()

    def __iter__(self) -> Iterator[bytes]:
        for index in range(self.blocks):
            block = pattern_block(index)
            self._digest.update(block)
            self.sent += len(block)
            yield block
        if self.tail:
            self._digest.update(self.tail)
            self.sent += len(self.tail)
            yield self.tail

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def download_and_hash(
    client: httpx.Client, url: str, on_first_bytes: Callable[[], None] | None = None
) -> tuple[httpx.Response, int, str]:
    """Stream a download: (response, byte count, sha256). `on_first_bytes` runs once, when the
    first bytes have arrived."""
    digest = hashlib.sha256()
    total = 0
    with client.stream("GET", url) as response:
        for chunk in response.iter_raw(BLOCK_SIZE):
            if total == 0 and chunk and on_first_bytes is not None:
                on_first_bytes()
            total += len(chunk)
            digest.update(chunk)
    return response, total, digest.hexdigest()


def raw_request(port: int, head: str) -> socket.socket:
    """A raw connection to the server with `head` (request line and headers) sent."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    connection.sendall(head.replace("\n", "\r\n").encode("latin-1"))
    return connection


def read_some(connection: socket.socket, at_least: int) -> int:
    """Receive until `at_least` bytes arrived (or the server closed); how many did."""
    received = 0
    for _ in range(MAX_RECVS):
        data = connection.recv(BLOCK_SIZE)
        if not data:
            break
        received += len(data)
        if received >= at_least:
            break
    return received


# --- WsgiToAsgi under uvicorn: tests -------------------------------------------------------


def test_get_with_query_string(wsgi_site: WsgiSite) -> None:
    response = wsgi_site.client.get(
        "/hello", params=[("name", "Zoë & co"), ("tag", "a"), ("tag", "b c")]
    )
    assert response.status_code == 200
    assert response.json() == {
        "method": "GET",
        "name": "Zoë & co",
        "tags": ["a", "b c"],
        "path": "/hello",
    }


def test_post_50_mb_body_is_read_through_wsgi_input(wsgi_site: WsgiSite) -> None:
    body = PatternUpload(50 * MB // BLOCK_SIZE)
    response = wsgi_site.client.post(
        "/upload",
        content=iter(body),
        headers={"Content-Length": str(body.size), "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 200
    assert body.sent == 50 * MB
    assert response.json() == {
        "bytes": 50 * MB,
        "sha256": body.hexdigest(),
        "content_length": str(50 * MB),
        "transfer_encoding": None,
    }


def test_chunked_upload_is_read_to_its_end_by_flask(flask_served: WsgiSite) -> None:
    # A generator without a length: httpx sends it chunked; werkzeug reads wsgi.input to its
    # end because the adapter sets wsgi.input_terminated.
    body = PatternUpload(8 * MB // BLOCK_SIZE, tail=b"an odd-sized tail")
    response = flask_served.client.post("/upload", content=iter(body))
    assert response.status_code == 200
    assert response.json() == {
        "bytes": body.size,
        "sha256": body.hexdigest(),
        "content_length": None,
        "transfer_encoding": "chunked",
    }


def test_streamed_download_arrives_while_the_app_is_still_producing(
    wsgi_site: WsgiSite,
) -> None:
    probe = wsgi_site.probe
    blocks = 20 * MB // BLOCK_SIZE
    seen_before_release: list[list[bool]] = []

    def first_bytes() -> None:
        # The app is parked after its first block until this release: the bytes came through
        # before the app produced the rest.
        seen_before_release.append(list(probe.gate_results))
        probe.release.set()

    response, total, digest = download_and_hash(
        wsgi_site.client, f"/download?blocks={blocks}&gated=1", first_bytes
    )
    assert response.status_code == 200
    assert response.headers.get("content-length") is None
    assert (total, digest) == (20 * MB, pattern_digest(blocks))
    assert seen_before_release == [[]]
    assert probe.gate_results == [True], "the app gave up waiting: the first block was held back"


def test_file_response_is_streamed_without_a_file_wrapper(
    wsgi_site: WsgiSite, tmp_path: Path
) -> None:
    # As the original, the adapter offers no wsgi.file_wrapper: both frameworks then iterate
    # the file in blocks themselves.
    content = os.urandom(3 * MB + 123)
    path = tmp_path / "payload.bin"
    path.write_bytes(content)
    wsgi_site.probe.file_path = str(path)
    response = wsgi_site.client.get("/file")
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(content))
    assert response.content == content
    assert wsgi_site.probe.file_wrappers_used == []


def test_cookies_both_ways(wsgi_site: WsgiSite) -> None:
    client = wsgi_site.client
    # Two Cookie header lines reach the app as one, joined with "; ".
    response = client.get("/cookies", headers=[("Cookie", "a=1"), ("Cookie", "b=2")])
    assert response.status_code == 200
    assert response.json() == {"cookies": {"a": "1", "b": "2"}, "header": "a=1; b=2"}
    set_cookies = response.headers.get_list("set-cookie")
    assert len(set_cookies) == 2
    assert [value.partition(";")[0] for value in set_cookies] == ["first=one", "second=two"]
    assert "httponly" in set_cookies[1].lower()
    # The client kept both and sends them back.
    again = client.get("/cookies")
    assert again.json()["cookies"] == {"first": "one", "second": "two"}


def test_redirect_is_followed(wsgi_site: WsgiSite) -> None:
    client = wsgi_site.client
    moved = client.get("/redirect")
    assert moved.status_code == 302
    assert moved.headers["location"].endswith("/hello?name=redirected")
    followed = client.get("/redirect", follow_redirects=True)
    assert [step.status_code for step in followed.history] == [302]
    assert followed.status_code == 200
    assert followed.url.path == "/hello"
    assert followed.json()["name"] == "redirected"


def test_requests_run_at_once_on_separate_threads(wsgi_site: WsgiSite) -> None:
    # Each request waits at a barrier for all 8: it only opens if they run at the same time.
    parties = wsgi_site.probe.barrier.parties
    base_url = wsgi_site.client.base_url

    def one_request() -> httpx.Response:
        with httpx.Client(base_url=base_url, timeout=HTTP_TIMEOUT) as client:
            return client.get("/barrier")

    with ThreadPoolExecutor(parties) as pool:
        responses = list(pool.map(lambda _: one_request(), range(parties)))
    assert [response.status_code for response in responses] == [200] * parties
    assert len({response.json()["thread"] for response in responses}) == parties


def test_client_gone_mid_upload_fails_the_apps_read(wsgi_site: WsgiSite) -> None:
    probe = wsgi_site.probe
    connection = raw_request(
        wsgi_site.port,
        f"POST /raw-upload HTTP/1.1\nHost: 127.0.0.1\nContent-Length: {10 * MB}\n"
        "Content-Type: application/octet-stream\n\n",
    )
    with connection:
        for index in range(MB // BLOCK_SIZE):
            connection.sendall(pattern_block(index))
        assert probe.upload_started.wait(WAIT), "the app never read the body"
    assert probe.read_failed.wait(WAIT), "the app's read did not fail after the client left"
    assert len(probe.read_errors) == 1
    error = probe.read_errors[0]
    assert isinstance(error, OSError)
    assert isinstance(error, ClientDisconnectedError)
    # The server is none the worse.
    assert wsgi_site.client.get("/hello?name=after").json()["name"] == "after"


def test_client_gone_mid_download_leaves_the_app_to_finish(wsgi_site: WsgiSite) -> None:
    # As under the original: nothing calls receive() once the request body is complete, and
    # uvicorn's send() does not fail after the client left, so the app produces the rest of
    # its response for nobody (not held back by the departed client) and the server goes on.
    probe = wsgi_site.probe
    connection = raw_request(
        wsgi_site.port, "GET /download?blocks=1024 HTTP/1.1\nHost: 127.0.0.1\n\n"
    )
    with connection:
        assert read_some(connection, MB) >= MB
    assert probe.stream_ended.wait(WAIT), "the app's response never ended"
    assert wsgi_site.client.get("/hello?name=after").json()["name"] == "after"


def test_body_over_max_body_size_is_refused_with_413() -> None:
    with wsgi_site_served("flask", max_body_size=MB) as site:
        small = site.client.post("/upload", content=pattern_block(0))
        assert (small.status_code, small.json()["bytes"]) == (200, BLOCK_SIZE)
        # Declared too large: refused before the app runs.
        declared = PatternUpload(2 * MB // BLOCK_SIZE)
        refused = site.client.post(
            "/upload", content=iter(declared), headers={"Content-Length": str(declared.size)}
        )
        assert refused.status_code == 413
        # Chunked, found too large while the app reads it.
        chunked = site.client.post("/upload", content=iter(PatternUpload(2 * MB // BLOCK_SIZE)))
        assert chunked.status_code == 413
        assert site.client.get("/hello?name=after").status_code == 200


# --- WsgiToAsgi under uvicorn: memory, in a server process of its own --------------------------


def _memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for process {pid}")


def _reset_peak(pid: int) -> None:
    """Make VmHWM (the peak resident size) start again from the current size."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def test_server_memory_stays_flat_for_50_mb_each_way(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    log_path = tmp_path / "server.log"
    pythonpath = os.environ.get("PYTHONPATH", "")
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "wsgi_sites.memory_site", str(listener.fileno())],
            cwd=TESTS_DIR,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS_DIR.parent), pythonpath])},
            pass_fds=[listener.fileno()],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    listener.close()  # the server has its own copy
    blocks = 50 * MB // BLOCK_SIZE
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=HTTP_TIMEOUT) as client:
            # Warm up (imports, threads, buffers), so what follows measures only the bodies.
            warm_body = PatternUpload(4 * MB // BLOCK_SIZE)
            warm = client.post(
                "/upload", content=iter(warm_body), headers={"Content-Length": str(warm_body.size)}
            )
            assert warm.status_code == 200, log_path.read_text()
            download_and_hash(client, f"/download?blocks={4 * MB // BLOCK_SIZE}")

            baseline = _memory_kib(server.pid, "VmRSS")
            _reset_peak(server.pid)
            body = PatternUpload(blocks)
            uploaded = client.post(
                "/upload", content=iter(body), headers={"Content-Length": str(body.size)}
            )
            assert uploaded.json() == {"bytes": 50 * MB, "sha256": body.hexdigest()}
            upload_growth = _memory_kib(server.pid, "VmHWM") - baseline

            baseline = _memory_kib(server.pid, "VmRSS")
            _reset_peak(server.pid)
            response, total, digest = download_and_hash(client, f"/download?blocks={blocks}")
            assert (response.status_code, total) == (200, 50 * MB)
            assert digest == pattern_digest(blocks)
            download_growth = _memory_kib(server.pid, "VmHWM") - baseline
    finally:
        server.terminate()
        try:
            server.wait(WAIT)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(WAIT)
    limit = 15 * 1024  # KiB: well under the 50 MB that went through
    assert upload_growth < limit, f"the server grew by {upload_growth} KiB for the upload"
    assert download_growth < limit, f"the server grew by {download_growth} KiB for the download"


# --- AsgiToWsgi under WSGI servers ---------------------------------------------------------


@dataclass
class AsgiSite:
    server: str
    probe: Probe
    adapter: AsgiToWsgi
    client: httpx.Client
    port: int
    parallel: int  # how many requests the server serves at once


SERVERS: dict[str, Callable[[AsgiToWsgi], contextlib.AbstractContextManager[tuple[str, int]]]] = {
    "wsgiref": serving_with_wsgiref,
    "waitress": serving_with_waitress,
}


@pytest.fixture(params=sorted(SERVERS))
def asgi_site(request: pytest.FixtureRequest) -> Iterator[AsgiSite]:
    probe = Probe()
    adapter = AsgiToWsgi(starlette_site.make_app(probe))
    with contextlib.ExitStack() as stack:
        stack.enter_context(no_threads_left_behind())
        stack.callback(adapter.close)  # after the server stopped: lifespan shutdown, loop ends
        url, parallel = stack.enter_context(SERVERS[request.param](adapter))
        client = stack.enter_context(httpx.Client(base_url=url, timeout=HTTP_TIMEOUT))
        yield AsgiSite(request.param, probe, adapter, client, httpx.URL(url).port or 0, parallel)


def test_asgi_get_sees_lifespan_state_started_before_the_first_request(
    asgi_site: AsgiSite,
) -> None:
    assert asgi_site.probe.startups == 0  # nothing runs before the first request
    first = asgi_site.client.get("/hello", params={"name": "Ada Lovelace"})
    assert (first.status_code, first.text) == (200, "hi Ada Lovelace (startup 1)")
    assert first.headers["content-type"] == "text/plain; charset=utf-8"
    second = asgi_site.client.get("/hello?name=again")
    assert second.text == "hi again (startup 1)"
    assert asgi_site.probe.startups == 1
    assert asgi_site.client.get("/nowhere").status_code == 404


def test_asgi_close_runs_lifespan_shutdown(asgi_site: AsgiSite) -> None:
    probe = asgi_site.probe
    assert asgi_site.client.get("/hello").text == "hi nobody (startup 1)"
    assert not probe.shutdown.is_set()
    asgi_site.adapter.close()
    assert probe.shutdown.is_set()
    # A later request starts the app again, with a fresh lifespan.
    assert asgi_site.client.get("/hello").text == "hi nobody (startup 2)"


def test_asgi_post_20_mb_body_streams_to_the_app(asgi_site: AsgiSite) -> None:
    body = PatternUpload(20 * MB // BLOCK_SIZE)
    response = asgi_site.client.post(
        "/upload", content=iter(body), headers={"Content-Length": str(body.size)}
    )
    assert response.status_code == 200
    assert response.json() == {"bytes": 20 * MB, "sha256": body.hexdigest()}


@pytest.mark.parametrize("asgi_site", ["waitress"], indirect=True)  # wsgiref cannot de-chunk
def test_asgi_chunked_upload(asgi_site: AsgiSite) -> None:
    body = PatternUpload(4 * MB // BLOCK_SIZE, tail=b"an odd-sized tail")
    response = asgi_site.client.post("/upload", content=iter(body))
    assert response.status_code == 200
    assert response.json() == {"bytes": body.size, "sha256": body.hexdigest()}


def test_asgi_streamed_download_arrives_while_the_app_is_still_producing(
    asgi_site: AsgiSite,
) -> None:
    probe = asgi_site.probe
    blocks = 20 * MB // BLOCK_SIZE
    seen_before_release: list[list[bool]] = []

    def first_bytes() -> None:
        seen_before_release.append(list(probe.gate_results))
        probe.gate.open()

    response, total, digest = download_and_hash(
        asgi_site.client, f"/download?blocks={blocks}&gated=1", first_bytes
    )
    assert response.status_code == 200
    assert (total, digest) == (20 * MB, pattern_digest(blocks))
    assert seen_before_release == [[]]
    assert probe.gate_results == [True], "the app gave up waiting: the first block was held back"


def test_asgi_client_gone_mid_download_ends_the_app(asgi_site: AsgiSite) -> None:
    connection = raw_request(
        asgi_site.port, "GET /download?blocks=16384 HTTP/1.1\nHost: 127.0.0.1\n\n"
    )
    with connection:
        assert read_some(connection, MB) >= MB
    probe = asgi_site.probe
    assert probe.stream_closed.wait(WAIT), "the app went on sending after the client left"
    assert len(probe.stream_errors) == 1
    assert isinstance(probe.stream_errors[0], (ClientDisconnect, asyncio.CancelledError))
    assert asgi_site.client.get("/hello?name=after").text == "hi after (startup 1)"


# waitress reads the whole body before it calls the app, so only wsgiref lets the app see a
# client leave in the middle of one.
@pytest.mark.parametrize("asgi_site", ["wsgiref"], indirect=True)
def test_asgi_client_gone_mid_upload_is_a_disconnect_for_the_app(asgi_site: AsgiSite) -> None:
    probe = asgi_site.probe
    connection = raw_request(
        asgi_site.port,
        f"POST /upload HTTP/1.1\nHost: 127.0.0.1\nContent-Length: {10 * MB}\n"
        "Content-Type: application/octet-stream\n\n",
    )
    with connection:
        for index in range(MB // BLOCK_SIZE):
            connection.sendall(pattern_block(index))
        assert probe.upload_started.wait(WAIT), "the app never read the body"
    assert probe.read_failed.wait(WAIT), "the app was not told that the client left"
    assert len(probe.read_errors) == 1
    assert isinstance(probe.read_errors[0], ClientDisconnect)
    assert asgi_site.client.get("/hello?name=after").text == "hi after (startup 1)"


def test_asgi_cookies_both_ways(asgi_site: AsgiSite) -> None:
    client = asgi_site.client
    response = client.get("/cookies", headers={"Cookie": "a=1; b=2"})
    assert response.status_code == 200
    assert response.json() == {"cookies": {"a": "1", "b": "2"}, "header": "a=1; b=2"}
    set_cookies = response.headers.get_list("set-cookie")
    assert [value.partition(";")[0] for value in set_cookies] == ["first=one", "second=two"]
    assert "httponly" in set_cookies[1].lower()
    again = client.get("/cookies")
    assert again.json()["cookies"] == {"first": "one", "second": "two"}


def test_asgi_redirect_is_followed(asgi_site: AsgiSite) -> None:
    client = asgi_site.client
    moved = client.get("/redirect")
    assert moved.status_code == 302
    assert moved.headers["location"] == "/hello?name=redirected"
    followed = client.get("/redirect", follow_redirects=True)
    assert [step.status_code for step in followed.history] == [302]
    assert (followed.status_code, followed.text) == (200, "hi redirected (startup 1)")


def test_asgi_requests_run_at_once(asgi_site: AsgiSite) -> None:
    # Each request waits until all of them are inside the app at the same time.
    parties = asgi_site.parallel
    base_url = asgi_site.client.base_url

    def one_request() -> httpx.Response:
        with httpx.Client(base_url=base_url, timeout=HTTP_TIMEOUT) as client:
            return client.get(f"/gather?n={parties}")

    with ThreadPoolExecutor(parties) as pool:
        responses = list(pool.map(lambda _: one_request(), range(parties)))
    assert [(r.status_code, r.text) for r in responses] == [(200, f"all {parties} here")] * parties
