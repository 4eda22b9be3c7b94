"""The driver of `asgiref.conformance`'s server check: raw HTTP/1.1 and WebSocket exchanges with
a server that serves the probe application (`_probe_app`), over sockets on loopback, and the
report of which rules the server kept.

A small client by hand, not an HTTP library: a check must see exactly what the server sent
(chunked or fixed-length framing, the close frame's code), and send exactly what it means to (a
chunked body, a socket closed mid-response). Every socket has a timeout and every loop a bound.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TIMEOUT = 10.0  # seconds, for every socket operation
_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class ProbeFailure(Exception):
    """An exchange did not go as a conforming server makes it go."""


class NotApplicable(Exception):
    """The rule does not apply to this server (it does not claim the spec version that has it)."""


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key.lower() == name), None)

    def json(self) -> Any:
        return json.loads(self.body)


class _Reader:
    """Bytes from a socket, read as a parser needs them."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _more(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ProbeFailure("the server closed the connection early")
        self.buffer += data

    def until(self, marker: bytes, limit: int = 1 << 16) -> bytes:
        while marker not in self.buffer:
            if len(self.buffer) > limit:
                raise ProbeFailure(f"no {marker!r} in the first {limit} bytes")
            self._more()
        data, _, self.buffer = self.buffer.partition(marker)
        return data

    def exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._more()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def rest(self) -> bytes:
        for _ in range(1 << 16):
            data = self.sock.recv(65536)
            if not data:
                break
            self.buffer += data
        data, self.buffer = self.buffer, b""
        return data


def _request(method: str, target: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _read_response(reader: _Reader, method: str = "GET") -> Response:
    head = reader.until(b"\r\n\r\n").decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    headers = [
        (name.strip(), value.strip()) for name, _, value in (h.partition(":") for h in head[1:])
    ]
    response = Response(status, headers, b"")
    length = response.header("content-length")
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return response
    if (response.header("transfer-encoding") or "").lower() == "chunked":
        chunks = []
        for _ in range(1 << 20):
            size = int(reader.until(b"\r\n").split(b";")[0], 16)
            if size == 0:
                reader.until(b"\r\n")
                break
            chunks.append(reader.exactly(size))
            reader.until(b"\r\n")
        response.body = b"".join(chunks)
    elif length is not None:
        response.body = reader.exactly(int(length))
    else:
        response.body = reader.rest()
    return response


class Probe:
    """Exchanges with one server, at `host`:`port`."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    def connect(self) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout=TIMEOUT)

    def http(self, method: str, target: str, body: bytes = b"", **options: Any) -> Response:
        """One request on a connection of its own; `headers` adds headers, `chunked` sends the
        body in that many chunks."""
        headers = [("Host", f"{self.host}:{self.port}"), *options.get("headers", [])]
        chunked = options.get("chunked", 0)
        if chunked:
            headers.append(("Transfer-Encoding", "chunked"))
            step = max(1, -(-len(body) // chunked))
            pieces = [body[i : i + step] for i in range(0, len(body), step)]
            body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
        elif body or method == "POST":
            headers.append(("Content-Length", str(len(body))))
        with self.connect() as sock:
            sock.sendall(_request(method, target, headers, body))
            return _read_response(_Reader(sock), method)

    def websocket(self, path: str, subprotocols: list[str] | None = None) -> tuple[Response, Any]:
        """Open a WebSocket: the handshake's response, and the socket with its reader (or None
        if the server did not switch protocols)."""
        key = base64.b64encode(os.urandom(16)).decode()
        headers = [
            ("Host", f"{self.host}:{self.port}"),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key),
            ("Sec-WebSocket-Version", "13"),
        ]
        if subprotocols:
            headers.append(("Sec-WebSocket-Protocol", ", ".join(subprotocols)))
        sock = self.connect()
        sock.sendall(_request("GET", path, headers))
        reader = _Reader(sock)
        response = _read_response(reader)
        if response.status != 101:
            sock.close()
            return response, None
        expected = base64.b64encode(hashlib.sha1(key.encode() + _WS_GUID).digest()).decode()
        if response.header("sec-websocket-accept") != expected:
            sock.close()
            raise ProbeFailure("the handshake's Sec-WebSocket-Accept is wrong")
        return response, (sock, reader)


def ws_send(connection: Any, opcode: int, payload: bytes) -> None:
    sock, _ = connection
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
    sock.sendall(head + mask + masked)


def ws_receive(connection: Any) -> tuple[int, bytes]:
    """The next frame the server sends: (opcode, payload)."""
    _, reader = connection
    first, second = reader.exactly(2)
    size = second & 0x7F
    if size == 126:
        (size,) = struct.unpack("!H", reader.exactly(2))
    elif size == 127:
        (size,) = struct.unpack("!Q", reader.exactly(8))
    return first & 0x0F, reader.exactly(size)


@dataclass
class Report:
    """Which checks a server passed: (name, passed, detail) in the order they ran. A check that
    does not apply to the server passes, its detail starting with "n/a"."""

    server: str
    results: list[tuple[str, bool, str]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(ok for _, ok, _ in self.results)

    def kept(self) -> set[str]:
        return {name for name, ok, _ in self.results if ok}

    def text(self) -> str:
        lines = [f"ASGI conformance of {self.server}"]
        for name, ok, detail in self.results:
            outcome = "BROKEN" if not ok else "n/a   " if detail.startswith("n/a") else "kept  "
            lines.append(f"  {outcome} {name}" + (f" -- {detail}" if detail else ""))
        kept = len(self.kept())
        lines.append(f"{kept} of {len(self.results)} kept")
        return "\n".join(lines)


# A check: given the probe and a memo shared by one run's checks (so that one exchange can serve
# two checks), it returns a detail for a pass, raises `NotApplicable`, or raises anything else
# for a failure.
Check = Callable[[Probe, dict[str, Any]], str]
_CHECKS: list[tuple[str, Check]] = []


def _check(name: str) -> Callable[[Check], Check]:
    """Register a check under `name`; checks run in the order they are registered."""

    def register(check: Check) -> Check:
        _CHECKS.append((name, check))
        return check

    return register


def _expect(condition: bool, detail: str) -> None:
    if not condition:
        raise ProbeFailure(detail)


@_check("request scope: keys, values and types")
def _request_scope(probe: Probe, memo: dict[str, Any]) -> str:
    answer = probe.http("GET", "/scope?x=1").json()
    scope, types = answer["scope"], answer["types"]
    memo["scope"] = scope
    _expect(scope["type"] == "http" and scope["method"] == "GET", f"{scope!r}")
    _expect(scope["path"] == "/scope" and scope["query_string"] == "x=1", f"{scope!r}")
    _expect(scope["http_version"] in ("1.0", "1.1", "2"), f"http_version {scope['http_version']!r}")
    for key, kind in (("path", "str"), ("query_string", "bytes"), ("method", "str")):
        _expect(types.get(key) == kind, f"{key} is {types.get(key)}, not {kind}")
    raw_path_type = types.get("raw_path")
    _expect(raw_path_type in (None, "bytes", "NoneType"), f"raw_path is {raw_path_type}")
    _expect(answer["violations"] == [], f"{answer['violations']}")
    return f"ASGI {scope.get('asgi')}, extensions {answer['extensions']}"


@_check("duplicate request headers kept, in order")
def _duplicate_headers(probe: Probe, memo: dict[str, Any]) -> str:
    headers = [("X-Dup", "one"), ("X-Dup", "two")]
    scope = probe.http("GET", "/scope", headers=headers).json()["scope"]
    values = [value for name, value in scope["headers"] if name.lower() == "x-dup"]
    _expect(values == ["one", "two"], f"x-dup values {values!r}")
    return ""


@_check("request header names lowercased (advisory: 'should')")
def _lowercase_names(probe: Probe, memo: dict[str, Any]) -> str:
    scope = probe.http("GET", "/scope", headers=[("X-MiXeD", "v")]).json()["scope"]
    names = [name for name, _ in scope["headers"]]
    _expect(all(name == name.lower() for name in names), f"names {names!r}")
    return ""


@_check("path decoded, raw_path and query_string as received")
def _paths(probe: Probe, memo: dict[str, Any]) -> str:
    scope = probe.http("GET", "/p%20q/%7E?x=%20").json()["scope"]
    _expect(scope["path"] == "/p q/~", f"path {scope['path']!r}")
    _expect(scope["query_string"] == "x=%20", f"query_string {scope['query_string']!r}")
    raw = scope.get("raw_path")
    _expect(raw in (None, "/p%20q/%7E"), f"raw_path {raw!r}")
    root = scope.get("root_path", "")
    _expect(isinstance(root, str) and scope["path"].startswith(root), f"root_path {root!r}")
    return f"raw_path {raw!r}, root_path {root!r}"


def _body_sent(probe: Probe, size: int, chunked: int = 0) -> str:
    data = os.urandom(size)
    answer = probe.http("POST", "/body", data, chunked=chunked).json()
    _expect(answer["length"] == size, f"received {answer['length']} of {size} bytes")
    _expect(answer["sha256"] == hashlib.sha256(data).hexdigest(), "the bytes differ")
    _expect(answer["messages"] >= 1, "no http.request message")
    _expect(answer["violations"] == [], f"{answer['violations']}")
    return f"{answer['messages']} http.request message(s)"


_check("fixed-length request body")(lambda probe, memo: _body_sent(probe, 5))
_check("chunked request body")(lambda probe, memo: _body_sent(probe, 3000, chunked=3))
_check("large request body (1 MiB)")(lambda probe, memo: _body_sent(probe, 1 << 20))
_check("empty request body")(lambda probe, memo: _body_sent(probe, 0))


@_check("two requests on one kept-alive connection")
def _keep_alive(probe: Probe, memo: dict[str, Any]) -> str:
    with probe.connect() as sock:
        reader = _Reader(sock)
        for _ in range(2):
            sock.sendall(_request("GET", "/empty", [("Host", "probe")]))
            _expect(_read_response(reader).status == 200, "a request was not answered")
    return ""


def _response_body(probe: Probe, target: str, expected: Callable[[bytes], bool]) -> str:
    answer = probe.http("GET", target)
    _expect(answer.status == 200 and expected(answer.body), f"{answer.body[:80]!r}")
    return f"framing: {answer.header('transfer-encoding') or answer.header('content-length')}"


_STREAM = b"".join(f"chunk {number}\n".encode() for number in range(5))
_check("streamed response")(
    lambda probe, memo: _response_body(probe, "/stream?n=5", lambda data: data == _STREAM)
)
_check("large response (1 MiB)")(
    lambda probe, memo: _response_body(probe, "/large?size=1048576", lambda d: len(d) == 1 << 20)
)
_check("empty response")(lambda probe, memo: _response_body(probe, "/empty", lambda d: d == b""))


def _spec_version(probe: Probe) -> tuple[int, ...]:
    """The HTTP spec version the server claims (``scope["asgi"]["spec_version"]``)."""
    scope = probe.http("GET", "/scope").json()["scope"]
    claimed = str(scope.get("asgi", {}).get("spec_version", "2.0"))
    return tuple(int(part) for part in claimed.split(".")[:2])


@_check("client disconnect mid-response reaches the app")
def _client_left(probe: Probe, memo: dict[str, Any]) -> str:
    ident = base64.b16encode(os.urandom(6)).decode()
    with probe.connect() as sock:
        sock.sendall(_request("GET", f"/slow?id={ident}", [("Host", "probe")]))
        _Reader(sock).until(b"\r\n\r\n")  # the response started: now the client leaves
    seen: dict[str, Any] = {}
    deadline = time.monotonic() + 5.0
    for _ in range(100):
        seen = memo["left"] = probe.http("GET", f"/left?id={ident}").json()
        if seen.get("saw_disconnect") or seen.get("send_raised") or time.monotonic() > deadline:
            break
        time.sleep(0.05)  # poll interval of a bounded wait for the server to notice
    _expect(bool(seen.get("saw_disconnect") or seen.get("send_raised")), f"{seen!r}")
    how = "http.disconnect received" if seen.get("saw_disconnect") else "send() raised"
    return f"{how}, after {seen.get('chunks')} chunks"


@_check("send() after the client left raises OSError (2.4, 'should')")
def _send_raised(probe: Probe, memo: dict[str, Any]) -> str:
    version = _spec_version(probe)
    if version < (2, 4):
        raise NotApplicable(f"the server claims spec_version {'.'.join(map(str, version))}")
    seen = memo.get("left", {})
    _expect(seen.get("send_raised") is not None, f"{seen!r}")
    return f"send() raised {seen['send_raised']}"


@_check("lifespan supported: startup ran before requests")
def _lifespan_startup(probe: Probe, memo: dict[str, Any]) -> str:
    answer = memo["lifespan"] = probe.http("GET", "/lifespan").json()
    _expect(answer.get("startup") is True, f"{answer!r}")
    return ""


@_check("lifespan state reaches each request's scope")
def _lifespan_state(probe: Probe, memo: dict[str, Any]) -> str:
    answer = memo.get("lifespan", {})
    if not answer.get("startup"):
        raise NotApplicable("no lifespan, so no lifespan state")
    _expect((answer.get("state") or {}).get("probe") == "ready", f"state {answer.get('state')!r}")
    return ""


@_check("WebSocket handshake with the app's subprotocol")
def _ws_handshake(probe: Probe, memo: dict[str, Any]) -> str:
    response, connection = probe.websocket("/ws/echo", ["b", "a"])
    _expect(connection is not None, f"status {response.status}")
    connection[0].close()
    chosen = response.header("sec-websocket-protocol")
    _expect(chosen == "b", f"Sec-WebSocket-Protocol {chosen!r}")
    return ""


def _accepted(probe: Probe, path: str) -> Any:
    """A WebSocket connection to `path`, which the server must accept."""
    _, connection = probe.websocket(path)
    _expect(connection is not None, "not accepted")
    return connection


@_check("WebSocket text and binary frames, received messages keep the rules")
def _ws_echo(probe: Probe, memo: dict[str, Any]) -> str:
    connection = _accepted(probe, "/ws/echo")
    with connection[0]:
        ws_send(connection, 0x1, b"hello")
        _expect(ws_receive(connection) == (0x1, b"hello"), "text frame not echoed")
        ws_send(connection, 0x2, b"\x00\x01")
        _expect(ws_receive(connection) == (0x2, b"\x00\x01"), "binary frame not echoed")
        ws_send(connection, 0x1, b"violations")
        _, payload = ws_receive(connection)
        _expect(json.loads(payload) == [], f"received messages broke rules: {payload!r}")
    return ""


@_check("WebSocket close with the app's code")
def _ws_close_code(probe: Probe, memo: dict[str, Any]) -> str:
    connection = _accepted(probe, "/ws/echo")
    with connection[0]:
        ws_send(connection, 0x1, b"close:4001")
        opcode, payload = ws_receive(connection)
    _expect(opcode == 0x8, f"opcode {opcode}")
    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
    _expect(code == 4001, f"close code {code}")
    return ""


@_check("WebSocket denied before accept: 403")
def _ws_denial(probe: Probe, memo: dict[str, Any]) -> str:
    response, connection = probe.websocket("/ws/deny")
    _expect(connection is None and response.status == 403, f"status {response.status}")
    return f"body {response.body!r}"


def check_server(host: str, port: int) -> Report:
    """Run every check against the server at `host`:`port`, which serves the probe app."""
    probe = Probe(host, port)
    report = Report(f"{host}:{port}")
    memo: dict[str, Any] = {}
    for name, check in _CHECKS:
        try:
            detail = check(probe, memo)
        except NotApplicable as reason:
            report.results.append((name, True, f"n/a: {reason}"))
        except Exception as error:
            report.results.append((name, False, f"{type(error).__name__}: {error}"))
        else:
            report.results.append((name, True, detail))
    return report
