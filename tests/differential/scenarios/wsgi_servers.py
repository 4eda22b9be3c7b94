"""WsgiToAsgi behind real ASGI servers: uvicorn and daphne, in process, on 127.0.0.1 port 0.

Each scenario starts one server on a thread of its own, makes its requests with httpx (or a raw
socket spoken through h11, to control the connection), records the status, the headers (without
Date and Server) and the body of each response, and stops the server. Log records that reach the
root logger at WARNING and above are recorded as (logger, level); the servers' own loggers are
left as the servers configure them.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import h11
import httpx
from _observe import ABSENT, Observer, differs

from asgiref.wsgi import WsgiToAsgi

Environ = dict[str, Any]

SKIPPED_HEADERS = frozenset({"date", "server"})


class Uvicorn:
    """A uvicorn server for `app` on a thread of its own, listening on 127.0.0.1, port 0."""

    def __init__(self, app: Any, **config: Any) -> None:
        import uvicorn

        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.port: int = self.socket.getsockname()[1]
        options: dict[str, Any] = {"lifespan": "auto", "log_level": "critical"}
        options.update(config)
        self.server = uvicorn.Server(uvicorn.Config(app, **options))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def __enter__(self) -> Uvicorn:
        self.thread.start()
        deadline = time.monotonic() + 2.0
        while not self.server.started and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.should_exit = True
        self.thread.join(2.0)
        self.socket.close()


@contextlib.contextmanager
def daphne_serving(app: Any, **options: Any) -> Iterator[int]:
    """A daphne server for `app` (its Twisted reactor on a thread of its own): yields the port."""
    from daphne.server import Server  # installs the asyncio reactor: import before the reactor
    from twisted.internet import reactor

    server = Server(
        app,
        endpoints=["tcp:port=0:interface=127.0.0.1"],
        signal_handlers=False,
        verbosity=0,
        **options,
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 2.0
    while not server.listening_addresses and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield server.listening_addresses[0][1]
    finally:
        reactor_: Any = reactor
        reactor_.callFromThread(reactor_.stop)
        thread.join(2.0)


def response_record(response: httpx.Response) -> dict[str, Any]:
    return {
        "status": response.status_code,
        "headers": [
            (name, value)
            for name, value in response.headers.multi_items()
            if name.lower() not in SKIPPED_HEADERS
        ],
        "body": response.content,
    }


def client(port: int) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=2.0)


def echo(environ: Environ, start_response: Any) -> Any:
    """Answers with what it read of the body and how the request declared its length."""
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [
        b"read %d bytes; " % len(body),
        b"CONTENT_LENGTH=%s; " % environ.get("CONTENT_LENGTH", "-").encode(),
        b"HTTP_TRANSFER_ENCODING=%s" % environ.get("HTTP_TRANSFER_ENCODING", "-").encode(),
    ]


def pieces() -> Iterator[bytes]:
    yield b"first piece, "
    yield b"second piece"


# --- uvicorn -------------------------------------------------------------------------------------


def scenario_uvicorn_get_and_post(obs: Observer) -> None:
    def app(environ: Environ, start_response: Any) -> Any:
        if environ["PATH_INFO"] == "/fixed":
            start_response("201 Created", [("Content-Type", "text/plain"), ("Content-Length", "5")])
            return [b"fixed"]
        return echo(environ, start_response)

    with (
        obs.logs("logs"),
        Uvicorn(WsgiToAsgi(app)) as server,
        client(server.port) as http,
    ):
        obs("GET", response_record(http.get("/")))
        obs("GET with Content-Length", response_record(http.get("/fixed")))
        obs("POST", response_record(http.post("/", content=b"hello")))


def scenario_uvicorn_headers_as_lists(obs: Observer) -> None:
    def app(environ: Environ, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain"), ["X-Colour", "Blue"]])
        return [b"coloured"]

    with (
        obs.logs("logs"),
        Uvicorn(WsgiToAsgi(app)) as server,
        client(server.port) as http,
    ):
        obs("response", response_record(http.get("/")))


def scenario_uvicorn_chunked_request_body(obs: Observer) -> None:
    with (
        obs.logs("logs"),
        Uvicorn(WsgiToAsgi(echo)) as server,
        client(server.port) as http,
    ):
        obs("response", response_record(http.post("/", content=pieces())))


def scenario_uvicorn_large_bodies(obs: Observer) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB

    def app(environ: Environ, start_response: Any) -> Any:
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return [body[index : index + 65536] for index in range(0, len(body), 65536)]

    with (
        obs.logs("logs"),
        Uvicorn(WsgiToAsgi(app)) as server,
        client(server.port) as http,
    ):
        response = http.post("/", content=payload)
        record = response_record(response)
        record["body"] = (len(response.content), hashlib.sha256(response.content).hexdigest())
        obs("response", record)
        obs("echoed exactly", response.content == payload)


def scenario_uvicorn_keep_alive(obs: Observer) -> None:
    with obs.logs("logs"), Uvicorn(WsgiToAsgi(echo)) as server:
        obs("exchanges", h11_exchanges(server.port, [b"one", b"second request"]))


def h11_exchanges(port: int, bodies: list[bytes]) -> list[Any]:
    """POST each body in turn over one connection; each response, and whether the connection
    stayed open for the next request."""
    records: list[Any] = []
    connection = h11.Connection(h11.CLIENT)
    with socket.create_connection(("127.0.0.1", port), timeout=2.0) as sock:
        for body in bodies:
            request = h11.Request(
                method="POST",
                target="/",
                headers=[("Host", "example.com"), ("Content-Length", str(len(body)))],
            )
            for event in (request, h11.Data(data=body), h11.EndOfMessage()):
                data = connection.send(event)
                if data:
                    sock.sendall(data)
            status: int | None = None
            headers: list[tuple[bytes, bytes]] = []
            content = b""
            while True:
                incoming: Any = connection.next_event()
                if incoming is h11.NEED_DATA:
                    connection.receive_data(sock.recv(65536))
                    continue
                if isinstance(incoming, h11.Response):
                    status = incoming.status_code
                    headers = [
                        (name, value)
                        for name, value in incoming.headers
                        if name not in (b"date", b"server")
                    ]
                elif isinstance(incoming, h11.Data):
                    content += incoming.data
                elif isinstance(incoming, (h11.EndOfMessage, h11.ConnectionClosed)):
                    break
            reusable = connection.our_state is h11.DONE and connection.their_state is h11.DONE
            records.append({"status": status, "headers": headers, "body": content})
            records.append({"connection reusable": reusable})
            if not reusable:
                break
            connection.start_next_cycle()
    return records


def scenario_uvicorn_app_errors(obs: Observer) -> None:
    def app(environ: Environ, start_response: Any) -> Any:
        if environ["PATH_INFO"] == "/before":
            raise KeyError("before start_response")
        start_response("200 OK", [("Content-Type", "text/plain")])

        def body() -> Iterator[bytes]:
            yield b"partial "
            raise KeyError("during the body")

        return body()

    with (
        obs.logs("logs"),
        Uvicorn(WsgiToAsgi(app)) as server,
        client(server.port) as http,
    ):
        obs("raises before start_response", response_record(http.get("/before")))
        try:
            outcome: Any = response_record(http.get("/during"))
        except httpx.HTTPError as error:
            outcome = {"httpx error": type(error).__name__}
        obs("raises during the body", outcome)


UVICORN_500 = {
    "status": 500,
    "headers": [
        ("content-type", "text/plain; charset=utf-8"),
        ("connection", "close"),
        ("transfer-encoding", "chunked"),
    ],
    "body": b"Internal Server Error",
}


@differs(
    "WSGI-10",
    original={"uses write()": UVICORN_500},
    ours={
        "uses write()": {
            "status": 200,
            "headers": [("content-type", "text/plain"), ("transfer-encoding", "chunked")],
            "body": b"written",
        }
    },
)
def scenario_uvicorn_write_callable(obs: Observer) -> None:
    def app(environ: Environ, start_response: Any) -> Any:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written")
        return []

    with (
        obs.logs("logs"),
        Uvicorn(WsgiToAsgi(app)) as server,
        client(server.port) as http,
    ):
        obs("uses write()", response_record(http.get("/write")))


def _get_root_under_uvicorn(obs: Observer, app: Any) -> None:
    """Serve `app` behind WsgiToAsgi under uvicorn and record `logs` and the `response` to one
    GET / (or the error of a client the server hung up on)."""
    with (
        obs.logs("logs"),
        Uvicorn(WsgiToAsgi(app)) as server,
        client(server.port) as http,
    ):
        try:
            outcome: Any = response_record(http.get("/"))
        except httpx.HTTPError as error:
            outcome = {"httpx error": type(error).__name__}
        obs("response", outcome)


@differs(
    "WSGI-4",
    original={"response": {"httpx error": "RemoteProtocolError"}},
    ours={
        "response": {
            "status": 200,
            "headers": [
                ("content-type", "text/plain"),
                ("set-cookie", "a=b; Path=/"),
                ("transfer-encoding", "chunked"),
            ],
            "body": b"cookie set",
        }
    },
)
def scenario_uvicorn_set_cookie_as_django_sends_it(obs: Observer) -> None:
    """Django's WSGI handler sends each cookie as `("Set-Cookie", morsel.output(header=""))`,
    whose value starts with a space."""

    def app(environ: Environ, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain"), ("Set-Cookie", " a=b; Path=/")])
        return [b"cookie set"]

    _get_root_under_uvicorn(obs, app)


@differs(
    "WSGI-3",
    original={"response": {"httpx error": "RemoteProtocolError"}},
    ours={"response": UVICORN_500},
)
def scenario_uvicorn_header_injection(obs: Observer) -> None:
    def app(environ: Environ, start_response: Any) -> Any:
        start_response("302 Found", [("Location", "/next\r\nX-Injected: yes")])
        return [b""]

    _get_root_under_uvicorn(obs, app)


def scenario_uvicorn_environ(obs: Observer) -> None:
    seen: list[Any] = []

    def app(environ: Environ, start_response: Any) -> Any:
        record = {
            key: value
            for key, value in environ.items()
            if key.isupper()
            and key
            not in (
                "SERVER_NAME",
                "SERVER_PORT",
                "REMOTE_ADDR",
                "REMOTE_PORT",
                "HTTP_ACCEPT_ENCODING",
            )
        }
        record["present"] = sorted(
            key
            for key in ("SERVER_NAME", "SERVER_PORT", "REMOTE_ADDR", "REMOTE_PORT")
            if key in environ
        )
        record["wsgi.url_scheme"] = environ["wsgi.url_scheme"]
        seen.append(record)
        start_response("204 No Content", [])
        return []

    with (
        obs.logs("logs"),
        Uvicorn(WsgiToAsgi(app), root_path="/app") as server,
        client(server.port) as http,
    ):
        response = http.post(
            "/caf%C3%A9/x?q=1&r=%C3%A9",
            content=b"a=1",
            headers={
                "Host": "example.com",
                "User-Agent": "differential",
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": "a=1",
                "X-Dup": "1",
            },
        )
        obs("status", response.status_code)
    obs("environ", seen)


def scenario_uvicorn_lifespan(obs: Observer) -> None:
    def app(environ: Environ, start_response: Any) -> Any:
        start_response("200 OK", [])
        return [b"up"]

    for mode in ("auto",):
        with (
            obs.logs(f"lifespan {mode} logs"),
            Uvicorn(WsgiToAsgi(app), lifespan=mode) as server,
        ):
            obs(f"lifespan {mode} started", bool(server.server.started))
            if server.server.started:
                with client(server.port) as http:
                    obs(f"lifespan {mode} response", response_record(http.get("/")))


@differs(
    "WSGI-11",
    original={"lifespan on started": False, "lifespan on response": ABSENT},
    ours={
        "lifespan on started": True,
        "lifespan on response": {
            "status": 200,
            "headers": [("transfer-encoding", "chunked")],
            "body": b"up",
        },
    },
)
def scenario_uvicorn_lifespan_on(obs: Observer) -> None:
    def app(environ: Environ, start_response: Any) -> Any:
        start_response("200 OK", [])
        return [b"up"]

    with (
        obs.logs("lifespan on logs"),
        Uvicorn(WsgiToAsgi(app), lifespan="on") as server,
    ):
        obs("lifespan on started", bool(server.server.started))
        if server.server.started:
            with client(server.port) as http:
                obs("lifespan on response", response_record(http.get("/")))


# --- daphne --------------------------------------------------------------------------------------


def scenario_daphne_requests(obs: Observer) -> None:
    with (
        obs.logs("logs"),
        daphne_serving(WsgiToAsgi(echo)) as port,
        client(port) as http,
    ):
        obs("GET", response_record(http.get("/")))
        obs("POST", response_record(http.post("/", content=b"hello")))
        obs("chunked POST", response_record(http.post("/", content=pieces())))


def scenario_daphne_headers_as_lists(obs: Observer) -> None:
    def app(environ: Environ, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain"), ["X-Colour", "Blue"]])
        return [b"coloured"]

    with (
        obs.logs("logs"),
        daphne_serving(WsgiToAsgi(app)) as port,
        client(port) as http,
    ):
        obs("response", response_record(http.get("/")))


def scenario_daphne_app_raises(obs: Observer) -> None:
    def app(environ: Environ, start_response: Any) -> Any:
        raise KeyError("before start_response")

    with (
        obs.logs("logs"),
        daphne_serving(WsgiToAsgi(app)) as port,
        client(port) as http,
    ):
        obs("response", response_record(http.get("/")))


@differs(
    "WSGI-12",
    original={"/application": b"/app lication"},
    ours={"/application": b"/app /application"},
)
def scenario_daphne_root_path(obs: Observer) -> None:
    """Daphne gives the path without its --root-path: "/application" is not under "/app"."""

    def app(environ: Environ, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{environ['SCRIPT_NAME']} {environ['PATH_INFO']}".encode()]

    with (
        obs.logs("logs"),
        daphne_serving(WsgiToAsgi(app), root_path="/app") as port,
        client(port) as http,
    ):
        for path in ("/x", "/application"):
            obs(path, http.get(path).content)
