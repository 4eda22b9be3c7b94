"""Property-based tests of WsgiToAsgi's translation of requests and responses.

What is pinned, for hypothesis-made inputs (valid ones and hostile ones):

1. `environ_from_scope` builds the environ asgiref 3.13 builds. `original_environ` below is a
   model of the original, written from observing it run (asgiref 3.13.0's `build_environ`).
   Where none of the documented differences applies, ours gives the model's environ, or raises
   what it raises; where one applies (DWSGI6 underscore names, DWSGI7 smuggling-prone headers,
   DWSGI8 repeated cookies, DWSGI12 a root path off a segment boundary), ours differs only
   that way.
2. Security, for every environ ours builds: no header value with CR, LF or NUL, a CONTENT_LENGTH
   of digits, one Host, no header spelt with underscores (so none can feed its dashed twin),
   and a duplicate limit that is exact.
3. `WsgiToAsgi` end to end: every request is answered by the app (which sees the environ
   `environ_from_scope` builds), or with the original's 400 when building it raised a
   ValueError, or the error escapes the adapter as it does from the original; worker threads
   stay bounded and end at lifespan shutdown.
4. Responses: `encode_headers` gives the original's ASGI headers (values trimmed, DWSGI4) or
   raises; `InvalidResponseError` only for CR, LF or NUL (DWSGI3) or a negative or conflicting
   Content-Length (DWSGI5). End to end, an accepted response is sent as the original sends it,
   and a refused one (an unsafe header above all) never reaches the server: the error escapes.
5. Round trip: `environ_from_scope(scope_from_environ(environ))` gives back a WSGI environ's CGI
   and header entries.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import re
import string
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from asgiref._wsgi_request import BadRequestError, environ_from_scope, scope_from_environ
from asgiref._wsgi_response import InvalidResponseError, encode_headers, status_code
from asgiref.testing import LifespanCommunicator
from asgiref.wsgi import WsgiToAsgi

# Hypothesis caches (constants, unicode tables) go to a temporary directory, not into the work tree
# (the example database is off: `database=None` below).
if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "asgiref-tests-hypothesis")

Message = dict[str, Any]
Scope = dict[str, Any]
Environ = dict[str, Any]

PURE = settings(max_examples=300, deadline=None, database=None)
SMALL = settings(max_examples=100, deadline=None, database=None)
END_TO_END = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

LINE_BREAKERS = re.compile("[\r\n\x00]")
TOKEN_SYMBOLS = "!#$%&'*+-.^_`|~"
TOKEN_BYTES = frozenset((TOKEN_SYMBOLS + string.ascii_letters + string.digits).encode("ascii"))


def is_ascii_digits(text: str) -> bool:
    return text != "" and text.isascii() and text.isdigit()


def is_field_value(value: bytes) -> bool:
    return all(byte == 0x09 or 0x20 <= byte <= 0x7E or byte >= 0x80 for byte in value)


# --- a model of the original's environ ----------------------------------------------------------


def original_key(name: bytes) -> str:
    """The environ key the original files a header under (only lower-case names are CONTENT_*)."""
    if name == b"content-length":
        return "CONTENT_LENGTH"
    if name == b"content-type":
        return "CONTENT_TYPE"
    return "HTTP_" + name.decode("latin1").upper().replace("-", "_")


def original_environ(
    scope: Mapping[str, Any], headers: Iterable[Any], body: Any, limit: Any
) -> Environ:
    """What asgiref 3.13's `build_environ` returns (or raises) for `scope` with `headers`."""
    method = scope["method"]
    root_path = scope.get("root_path", "").encode("utf8").decode("latin1")
    path = scope["path"].encode("utf8").decode("latin1")
    path_info = path[len(root_path) :] if path.startswith(root_path) else path
    environ: Environ = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": root_path,
        "PATH_INFO": path_info,
        "QUERY_STRING": scope["query_string"].decode("ascii"),
        "SERVER_PROTOCOL": f"HTTP/{scope['http_version']}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    server = scope.get("server") or ("localhost", 80)
    environ["SERVER_NAME"] = server[0]
    environ["SERVER_PORT"] = "0" if server[1] is None else str(server[1])
    if scope.get("client"):
        environ["REMOTE_ADDR"] = scope["client"][0]
    counts: dict[str, int] = {}
    for name, value in headers:
        key = original_key(name)
        text = value.decode("latin1")
        if limit and counts.get(key, 0) >= limit:
            raise ValueError(f"Too many duplicate headers: {key} exceeds limit of{limit}")
        counts[key] = counts.get(key, 0) + 1
        environ[key] = environ[key] + "," + text if key in environ else text
    return environ


def pairs_of_bytes(headers: Any) -> list[tuple[bytes, bytes]]:
    """The entries of `headers` that are pairs of bytes (the others make both sides raise)."""
    try:
        entries = list(headers)
    except TypeError:
        return []
    return [
        (bytes(entry[0]), bytes(entry[1]))
        for entry in entries
        if isinstance(entry, (tuple, list))
        and len(entry) == 2
        and isinstance(entry[0], (bytes, bytearray))
        and isinstance(entry[1], bytes)
    ]


def documented_differences(scope: Mapping[str, Any], headers: Any) -> list[str]:
    """The documented differences that apply to this request (see the module docstring)."""
    applying = []
    pairs = pairs_of_bytes(headers)
    if any(b"_" in name for name, _ in pairs):
        applying.append("DWSGI6")
    keys = [original_key(name) for name, _ in pairs if b"_" not in name]
    if (
        any(
            LINE_BREAKERS.search(name.decode("latin1") + value.decode("latin1"))
            for name, value in pairs
        )
        or keys.count("CONTENT_LENGTH") > 1
        or keys.count("HTTP_HOST") > 1
        or any(
            original_key(name) == "CONTENT_LENGTH" and not re.fullmatch(b"[0-9]+", value)
            for name, value in pairs
        )
    ):
        applying.append("DWSGI7")
    if keys.count("HTTP_COOKIE") > 1:
        applying.append("DWSGI8")
    root, path = scope.get("root_path", ""), scope.get("path")
    if isinstance(root, str) and isinstance(path, str) and root and path.startswith(root):
        rest = path[len(root) :]
        if rest and not rest.startswith("/"):
            applying.append("DWSGI12")
    return applying


def outcome_of(build: Any) -> Environ | BaseException:
    try:
        environ: Environ = build()
    except Exception as error:
        return error
    return environ


def check_safety(scope: Mapping[str, Any], environ: Mapping[str, Any]) -> None:
    """The security properties every environ ours builds has."""
    pairs = pairs_of_bytes(scope.get("headers"))
    for key, value in environ.items():
        if key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            assert not LINE_BREAKERS.search(key + value), f"{key} = {value!r} holds CR/LF/NUL"
            # Made of the headers without "_" alone: an underscore twin never feeds it.
            sources = [v for n, v in pairs if original_key(n) == key and b"_" not in n]
            separator = b"; " if key == "HTTP_COOKIE" else b","
            assert value == separator.join(sources).decode("latin1"), f"{key} = {value!r}"
    if "CONTENT_LENGTH" in environ:
        assert is_ascii_digits(environ["CONTENT_LENGTH"]), environ["CONTENT_LENGTH"]
    if "HTTP_HOST" in environ:
        assert sum(original_key(n) == "HTTP_HOST" for n, _ in pairs) == 1
    # DWSGI12: what is left of a path after its root comes off starts with "/".
    path_info = environ["PATH_INFO"]
    whole_path = scope["path"].encode("utf8").decode("latin1")
    if path_info != whole_path:
        assert path_info == "" or path_info.startswith("/"), f"PATH_INFO {path_info!r}"


def check_against_the_original(scope: Mapping[str, Any], limit: Any) -> str:
    """Build the environ both ways and compare; return what happened (for `event`)."""
    body = io.BytesIO()
    headers = scope.get("headers", [])
    ours = outcome_of(lambda: environ_from_scope(scope, headers, body, limit))
    original = outcome_of(lambda: original_environ(scope, headers, body, limit))
    differences = documented_differences(scope, headers)
    if not isinstance(ours, BaseException):
        check_safety(scope, ours)
    if differences:
        if isinstance(ours, BadRequestError):
            assert "DWSGI7" in differences, f"refused for no documented reason: {ours}"
        return "differs: " + ",".join(differences)
    if isinstance(original, BaseException):
        assert isinstance(ours, BaseException), f"the original raises {original!r}, ours built"
        assert type(ours) is type(original), f"ours raised {ours!r}, the original {original!r}"
        return "both raise " + type(original).__name__
    assert not isinstance(ours, BaseException), f"ours raised {ours!r}, the original built"
    assert list(ours.items()) == list(original.items())
    return "same environ"


# --- strategies: requests -------------------------------------------------------------------------

METHODS = ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "PROPFIND", "get"]
BENIGN_PATH_CHARS = "/ab%2F9é€😀 ;"
PATH_CHARS = [*"/ab%2F9é€😀 ?#;\n\x00\t", "\udcff", "\ud800"]
HOSTILE_TEXT = st.text(st.characters(exclude_categories=()), max_size=6)
ABSENT = object()  # a scope key left out

COMMON_HEADER_NAMES = [
    b"Host",
    b"host",
    b"Cookie",
    b"cookie",
    b"Content-Length",
    b"content-length",
    b"Content-Type",
    b"X-Forwarded-For",
    b"x-forwarded-for",
    b"X_Forwarded_For",
    b"x-forwarded_for",
    b"Accept",
    b"X-A",
    b"x-a",
]
COMMON_HEADER_VALUES = [
    b"",
    b"0",
    b"1",
    b"01",
    b" 1",
    b"1\t",
    b"2",
    b"-1",
    b"1,1",
    b"a=b",
    b"text/plain",
    b"example.com:8080",
    b"[::1]:80",
    b"[::1]",
    b":80",
    b"a\r\nb",
    b"a\nb",
    b"a\x00b",
    b"\x7f",
    b"\xff\xfe",
]
HEADER_NAMES = st.one_of(
    st.sampled_from(COMMON_HEADER_NAMES),
    st.text(TOKEN_SYMBOLS + "aZ09", min_size=1, max_size=5).map(str.encode),
    st.binary(max_size=5),
)
HEADER_VALUES = st.one_of(st.sampled_from(COMMON_HEADER_VALUES), st.binary(max_size=8))
SAFE_VALUES = st.binary(max_size=6).map(
    lambda data: bytes(byte for byte in data if byte == 0x09 or (byte >= 0x20 and byte != 0x7F))
)
CLEAN_HEADER_NAMES = st.one_of(
    st.sampled_from(COMMON_HEADER_NAMES), st.text("-aZ09", min_size=1, max_size=5).map(str.encode)
)
CLEAN_HEADER_VALUES = st.one_of(
    st.sampled_from([value for value in COMMON_HEADER_VALUES if is_field_value(value)]),
    SAFE_VALUES,
)
# Entries that are not a pair of bytes, as a buggy server or middleware might put in.
ODD_HEADERS = st.sampled_from(
    [None, (b"x",), (b"x", b"y", b"z"), ("x", "y"), (b"x", "y"), b"xy", [b"x-list", b"ok"]]
)


@st.composite
def header_lists(
    draw: st.DrawFn,
    names: st.SearchStrategy[bytes] = HEADER_NAMES,
    values: st.SearchStrategy[bytes] = HEADER_VALUES,
    odd: bool = True,
) -> list[Any]:
    """A header list, with some headers repeated (in case variations) to hit duplicate limits."""
    headers: list[Any] = draw(st.lists(st.tuples(names, values), max_size=6))
    repeat = draw(st.booleans())
    if headers and repeat:
        name, value = headers[draw(st.integers(0, len(headers) - 1))]
        for _ in range(draw(st.integers(1, 4))):
            variant = name.upper() if draw(st.booleans()) else name.lower()
            position = draw(st.integers(0, len(headers)))
            headers.insert(position, (variant, draw(st.sampled_from([value, b"v", b"w"]))))
    if odd and draw(st.integers(0, 9)) == 0:
        headers.insert(draw(st.integers(0, len(headers))), draw(ODD_HEADERS))
    return headers


def mostly(
    valid: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """`valid` four times in five, `hostile` the fifth (so enough requests get through)."""
    return st.integers(0, 4).flatmap(lambda roll: hostile if roll == 0 else valid)


def endpoint(hosts: list[str]) -> st.SearchStrategy[Any]:
    """An ASGI `server` or `client` value: absent, None, or (host, port) with port None or not."""
    pair = st.tuples(st.sampled_from(hosts), st.one_of(st.none(), st.integers(0, 65535)))
    return st.one_of(st.just(ABSENT), st.none(), pair, pair.map(list))


@st.composite
def scopes(draw: st.DrawFn) -> Scope:
    """ASGI HTTP scopes, well-formed or not, along every axis a request can vary on."""
    path: str = draw(
        mostly(
            st.text(st.sampled_from(BENIGN_PATH_CHARS), max_size=10),
            st.text(st.sampled_from(PATH_CHARS), max_size=10),
        )
    )
    raw_kind = draw(st.sampled_from(["absent", "none", "empty", "match", "stale", "bytes", "raw"]))
    raw_path: Any = ABSENT
    if raw_kind == "none":
        raw_path = None
    elif raw_kind == "empty":
        raw_path = b""
    elif raw_kind == "match":
        raw_path = quote(path.encode("utf-8", "surrogatepass"), safe="/").encode("ascii")
    elif raw_kind == "stale":
        stale = "/stale" + path[:3]
        raw_path = quote(stale.encode("utf-8", "surrogatepass"), safe="/").encode("ascii")
    elif raw_kind == "bytes":
        raw_path = draw(st.binary(max_size=10))
    elif raw_kind == "raw":
        # A path that is not UTF-8: the server decodes it with replacement characters.
        path_bytes = b"/" + draw(st.binary(max_size=8))
        raw_path = quote(path_bytes, safe="/").encode("ascii")
        path = path_bytes.decode("utf-8", "replace")
    root_kind = draw(st.sampled_from(["absent", "empty", "slash", "prefix", "mount", "text"]))
    root_path: Any = ABSENT
    if root_kind == "empty":
        root_path = ""
    elif root_kind == "slash":
        root_path = "/"
    elif root_kind == "prefix":
        root_path = path[: draw(st.integers(0, len(path)))] + draw(st.sampled_from(["", "/"]))
    elif root_kind == "mount":
        root_path = "/mount"
    elif root_kind == "text":
        root_path = draw(st.text(st.sampled_from(PATH_CHARS), max_size=6))
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "method": draw(mostly(st.sampled_from(METHODS), HOSTILE_TEXT)),
        "path": path,
        "raw_path": raw_path,
        "root_path": root_path,
        "query_string": draw(
            mostly(st.sampled_from([ABSENT, b"", b"a=1&b=%20", b"q=\xff"]), st.binary(max_size=8))
        ),
        "headers": draw(
            mostly(header_lists(CLEAN_HEADER_NAMES, CLEAN_HEADER_VALUES, odd=False), header_lists())
        ),
        "server": draw(endpoint(["127.0.0.1", "::1", "example.com", "bücher.example"])),
        "client": draw(endpoint(["10.0.0.1", "::1", "unix-peer"])),
        "scheme": draw(st.sampled_from([ABSENT, "http", "https"])),
        "http_version": draw(st.sampled_from([ABSENT, "1.0", "1.1", "2"])),
    }
    return {key: value for key, value in scope.items() if value is not ABSENT}


LIMITS = st.sampled_from([None, 1, 2, 3, 100])


def plain_scope(headers: list[Any], **fields: Any) -> Scope:
    scope: Scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "query_string": b"",
        "headers": headers,
        "server": ("example.com", 80),
        "client": ("10.0.0.1", 1234),
        "scheme": "http",
        "http_version": "1.1",
    }
    scope.update(fields)
    return scope


# --- 1. environ_from_scope: the original's environ, but for the documented differences ---------


@PURE
@given(scope=scopes(), limit=LIMITS)
def test_environ_is_the_originals_but_for_documented_differences(scope: Scope, limit: Any) -> None:
    event(check_against_the_original(scope, limit))


# One scope field at a time set to hostile values (ABSENT: left out), the rest valid, so each bug
# shows up under its own test id.
HOSTILE_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "method": st.one_of(
        HOSTILE_TEXT, st.sampled_from([ABSENT, None, b"GET", 1, "", "G ET", "GET\r\n"])
    ),
    "path": st.one_of(
        st.text(st.sampled_from(PATH_CHARS), max_size=8),
        st.sampled_from([ABSENT, None, b"/", "", "*", "/\ud800"]),
    ),
    "raw_path": st.one_of(st.binary(max_size=8), st.sampled_from([ABSENT, None, "/", 1])),
    "root_path": st.one_of(
        HOSTILE_TEXT, st.sampled_from([ABSENT, None, b"/app", "app", "/\ud800", "/app/"])
    ),
    "query_string": st.one_of(st.binary(max_size=8), st.sampled_from([ABSENT, None, "a=1", 1])),
    "headers": st.one_of(header_lists(), st.sampled_from([ABSENT, None, 5, "ab", [b"ab"]])),
    "server": st.one_of(
        endpoint(["example.com", "例え.jp", "a\r\nb", "", "\x00"]),
        st.sampled_from([("h",), ("h", "8\n0"), ("h", -1), ("h", "80"), "host:80"]),
    ),
    "client": st.one_of(
        endpoint(["10.0.0.1", "例え", "a\r\nb"]),
        st.sampled_from([("h",), ("h", "1\n2"), ("h", -1), "peer"]),
    ),
    "scheme": st.one_of(HOSTILE_TEXT, st.sampled_from([ABSENT, None, "HTTPS", "ftp", 5])),
    "http_version": st.one_of(
        HOSTILE_TEXT, st.sampled_from([ABSENT, None, "1.1\r\n", "3", 2, "HTTP/1.1"])
    ),
}


@pytest.mark.parametrize("field", sorted(HOSTILE_FIELDS))
def test_hostile_field_gives_the_originals_environ_or_error(field: str) -> None:
    @SMALL
    @given(value=HOSTILE_FIELDS[field], limit=LIMITS)
    def check(value: Any, limit: int | None) -> None:
        scope = plain_scope([(b"host", b"example.com"), (b"x-a", b"1")], raw_path=b"/")
        if value is ABSENT:
            scope.pop(field, None)
        else:
            scope[field] = value
        event(check_against_the_original(scope, limit))

    check()


# --- 2. security properties -----------------------------------------------------------------------


@st.composite
def forged_forwarded_for(draw: st.DrawFn) -> bytes:
    """A spelling of X-Forwarded-For with at least one dash turned into an underscore."""
    first, second = draw(st.sampled_from([("_", "_"), ("_", "-"), ("-", "_")]))
    name = f"x{first}forwarded{second}for"
    cased = "".join(char.upper() if draw(st.booleans()) else char for char in name)
    return cased.encode("ascii")


@PURE
@given(
    real=st.lists(SAFE_VALUES, max_size=3),
    forged=st.lists(st.tuples(forged_forwarded_for(), SAFE_VALUES), min_size=1, max_size=4),
    others=st.lists(st.tuples(st.sampled_from([b"accept", b"x-forwarded"]), SAFE_VALUES)),
    order=st.randoms(use_true_random=False),
    limit=st.sampled_from([None, 100]),
)
def test_underscored_header_never_feeds_its_dashed_twin(
    real: list[bytes],
    forged: list[tuple[bytes, bytes]],
    others: list[tuple[bytes, bytes]],
    order: Any,
    limit: int | None,
) -> None:
    """DWSGI6."""
    headers = [(b"X-Forwarded-For", value) for value in real] + forged + others
    order.shuffle(headers)
    environ = environ_from_scope(plain_scope(headers), headers, io.BytesIO(), limit)
    real_in_order = [value for name, value in headers if name == b"X-Forwarded-For"]
    if real_in_order:
        assert environ["HTTP_X_FORWARDED_FOR"] == b",".join(real_in_order).decode("latin-1")
    else:
        assert "HTTP_X_FORWARDED_FOR" not in environ


@PURE
@given(
    name=st.sampled_from([b"X-Dup", b"Cookie", b"Accept", b"content-type", b"User-Agent"]),
    values=st.lists(SAFE_VALUES, min_size=1, max_size=12),
    limit=st.integers(1, 10),
    cases=st.lists(st.booleans(), min_size=12, max_size=12),
)
def test_duplicate_limit_is_exact(
    name: bytes, values: list[bytes], limit: int, cases: list[bool]
) -> None:
    headers: list[Any] = [(b"x-other", b"1")]
    for value, upper in zip(values, cases[: len(values)], strict=True):
        spelt = name if name == b"content-type" else (name.upper() if upper else name.lower())
        headers.append((spelt, value))
    headers.append((b"x-other-2", b"2"))
    key = original_key(name.lower())
    if len(values) > limit:
        message = f"Too many duplicate headers: {key} exceeds limit of{limit}"
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            environ_from_scope(plain_scope(headers), headers, io.BytesIO(), limit)
        return
    environ = environ_from_scope(plain_scope(headers), headers, io.BytesIO(), limit)
    separator = b"; " if key == "HTTP_COOKIE" else b","
    assert environ[key] == separator.join(values).decode("latin-1")


def test_many_repeated_headers_are_all_joined_in_order() -> None:
    # 100 distinct headers, each sent 100 times, interleaved: the environ is built (collected and
    # joined once) and every value keeps its place.
    headers = [(f"X-H{i}".encode(), f"v{i}.{j}".encode()) for j in range(100) for i in range(100)]
    environ = environ_from_scope(plain_scope(headers), headers, io.BytesIO(), None)
    for i in range(100):
        assert environ[f"HTTP_X_H{i}"] == ",".join(f"v{i}.{j}" for j in range(100))
    at_limit = environ_from_scope(plain_scope(headers), headers, io.BytesIO(), 100)
    assert at_limit["HTTP_X_H99"] == environ["HTTP_X_H99"]
    over = [*headers, (b"x-h7", b"extra")]
    with pytest.raises(ValueError, match="HTTP_X_H7 exceeds limit of100"):
        environ_from_scope(plain_scope(over), over, io.BytesIO(), 100)
    cookies = [(b"Cookie", f"c{j}=1".encode()) for j in range(100)]
    environ = environ_from_scope(plain_scope(cookies), cookies, io.BytesIO(), 0)
    assert environ["HTTP_COOKIE"] == "; ".join(f"c{j}=1" for j in range(100))


# --- 3. end to end through WsgiToAsgi -------------------------------------------------------------

ADAPTER_LIMIT = 3
ADAPTER_WORKERS = 2
BAD_REQUEST = [
    {"type": "http.response.start", "status": 400, "headers": [(b"content-type", b"text/plain")]},
]


def environ_checksum(environ: Mapping[str, Any]) -> str:
    """A digest of the environ's keys, and of its values that are str."""
    digest = hashlib.sha256()
    for key in sorted(environ):
        value = environ[key]
        digest.update(repr((key, value if isinstance(value, str) else None)).encode("utf-8"))
    return digest.hexdigest()


async def exchange(
    adapter: WsgiToAsgi, scope: Scope, body: bytes
) -> tuple[list[Message], BaseException | None]:
    """Send one request through the adapter: every message it sent back, and what it raised."""
    sent: list[Message] = []
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    never = asyncio.Event()

    async def receive() -> Message:
        if pending:
            return pending.pop()
        await never.wait()  # the adapter never asks again once the body is complete
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    try:
        await asyncio.wait_for(adapter(scope, receive, send), 10)
    except Exception as error:
        return sent, error
    return sent, None


async def lifespan_shutdown(adapter: WsgiToAsgi) -> None:
    lifespan = LifespanCommunicator(adapter)
    await lifespan.startup(timeout=10)
    await lifespan.shutdown(timeout=10)


def pool_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    """Worker threads started since `before` was taken."""
    return [
        thread
        for thread in threading.enumerate()
        if thread not in before and thread.name.startswith("asgiref-wsgi")
    ]


def shut_down_and_check_threads(adapter: WsgiToAsgi, before: set[threading.Thread]) -> None:
    asyncio.run(lifespan_shutdown(adapter))
    deadline = time.monotonic() + 5
    for thread in pool_threads(before):
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not pool_threads(before), "worker threads outlived the adapter's lifespan shutdown"


def test_adapter_runs_the_app_or_answers_400_or_raises() -> None:
    calls: list[str] = []

    def app(environ: Environ, start_response: Any) -> list[bytes]:
        calls.append(environ["PATH_INFO"])
        received = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ_checksum(environ).encode("ascii"), b" ", str(len(received)).encode()]

    before = set(threading.enumerate())
    adapter = WsgiToAsgi(app, ADAPTER_LIMIT, max_workers=ADAPTER_WORKERS)

    @END_TO_END
    @given(scope=scopes(), body=st.binary(max_size=16))
    @example(scope=plain_scope([], path="/\ud800"), body=b"")  # a lone surrogate in the path
    def check(scope: Scope, body: bytes) -> None:
        calls.clear()
        expected = outcome_of(
            lambda: environ_from_scope(scope, scope.get("headers", []), None, ADAPTER_LIMIT)
        )
        sent, raised = asyncio.run(exchange(adapter, scope, body))
        if isinstance(expected, ValueError):
            event("400")
            assert (raised, calls) == (None, []), "the app ran for a refused request"
            assert sent[:1] == BAD_REQUEST, sent
            assert len(sent) == 2, sent
        elif isinstance(expected, BaseException):
            event("raised")  # as from the original: the server answers for it
            assert type(raised) is type(expected), f"{raised!r}, expected {expected!r}"
            assert (sent, calls) == ([], [])
        else:
            event("served")
            assert raised is None, f"raised {raised!r}"
            assert len(calls) == 1
            if body and "CONTENT_LENGTH" not in expected:
                expected["wsgi.input_terminated"] = True  # DWSGI13
            assert sent[0]["status"] == 200
            served = b"".join(m.get("body", b"") for m in sent[1:])
            assert served == f"{environ_checksum(expected)} {len(body)}".encode()
            assert sent[-1] == {"type": "http.response.body"}
        assert len(pool_threads(before)) <= ADAPTER_WORKERS

    try:
        check()
    finally:
        shut_down_and_check_threads(adapter, before)


# --- 4. responses ---------------------------------------------------------------------------------

STATUS_CHARS = [*"0123456789 OKk\t\r\n\x00\x7f€", "\x85"]
STATUSES = st.one_of(
    st.sampled_from(["200 OK", "404 Not Found", "200", "099 Low", "200OK", " 200 OK", "999 x"]),
    st.builds(
        lambda code, reason: f"{code} {reason}",
        st.integers(0, 1000),
        st.text(st.sampled_from(STATUS_CHARS), max_size=5),
    ),
    st.text(st.sampled_from(STATUS_CHARS), max_size=8),
    st.sampled_from([None, 200, b"200 OK"]),
)
RESPONSE_NAME_CHARS = [*"aZ-_.!", "\r", "\n", "\x00", " ", ":", "é", "€"]
RESPONSE_VALUE_CHARS = [
    *"a Z\t09;=",
    "\r",
    "\n",
    "\x00",
    "\x0b",
    "\x7f",
    "\x85",
    "é",
    "ÿ",
    "€",
    "²",
]
RESPONSE_NAMES = st.one_of(
    st.sampled_from(["Content-Type", "content-length", "Content-Length", "Set-Cookie", "X-A"]),
    st.text(st.sampled_from(RESPONSE_NAME_CHARS), max_size=5),
)
RESPONSE_VALUES = st.one_of(
    st.sampled_from(["", "0", "5", " 12 ", "1_0", "-1", "+1", "²", "\xa012", "text/plain"]),
    st.text(st.sampled_from(RESPONSE_VALUE_CHARS), max_size=6),
)
RESPONSE_HEADER_LISTS = st.one_of(
    st.lists(st.tuples(RESPONSE_NAMES, RESPONSE_VALUES), max_size=5),
    st.lists(
        st.one_of(
            st.tuples(RESPONSE_NAMES, RESPONSE_VALUES),
            st.sampled_from([["X-A", "1"], ("X-A",), ("X-A", "1", "2"), (b"X-A", b"1"), None]),
        ),
        max_size=4,
    ),
    st.sampled_from([None, (("X-A", "1"),), {"X-A": "1"}]),
)


@PURE
@given(status=STATUSES)
def test_status_code_is_the_first_field_of_the_status_line(status: Any) -> None:
    try:
        code = status_code(status)
    except (AttributeError, TypeError, ValueError):
        return  # the original's errors: not a str, no space, or not a number before it
    assert isinstance(status, str)
    assert code == int(status.split(" ")[0])


def unsafe(headers: list[tuple[str, str]]) -> bool:
    """Whether a well-formed header list has something ours refuses (DWSGI3, DWSGI5)."""
    if any(LINE_BREAKERS.search(name + value) for name, value in headers):
        return True
    lengths = set()
    for name, value in headers:
        if name.lower() == "content-length":
            try:
                lengths.add(int(value))
            except ValueError:
                continue  # the original's ValueError, unless something else is refused first
    return len(lengths) > 1 or any(length < 0 for length in lengths)


@PURE
@given(headers=RESPONSE_HEADER_LISTS)
@example(headers=[("Content-Length", "\xb2")])  # "²": str.isdigit() is True, int() refuses it
@example(headers=[("Content-Length", " 12 ")])
def test_encode_headers_gives_the_originals_headers_or_refuses(headers: Any) -> None:
    try:
        encoded, length = encode_headers(headers)
    except InvalidResponseError:
        assert unsafe(headers), f"refused {headers!r}"
        return
    except (AttributeError, TypeError, ValueError):
        return  # the original's errors for what is not a list of pairs of ASCII str
    assert not unsafe(headers)
    assert encoded == [
        (name.lower().encode("ascii"), value.encode("ascii").strip(b" \t"))
        for name, value in headers
    ]
    declared = [int(value) for name, value in headers if name.lower() == "content-length"]
    assert length == (declared[-1] if declared else None)
    assert all(not LINE_BREAKERS.search((name + value).decode()) for name, value in encoded)


class ResponsePlan:
    """What the next request's app does: the status and headers it gives start_response, and,
    if that call is refused, whether it raises, returns nothing, or returns a body anyway."""

    status: Any = "200 OK"
    headers: Any = ()
    on_refusal = "raise"


def planned_app(plan: ResponsePlan) -> Any:
    def app(environ: Environ, start_response: Any) -> list[bytes]:
        try:
            start_response(plan.status, plan.headers)
        except Exception:
            if plan.on_refusal == "raise":
                raise
            if plan.on_refusal == "return-nothing":
                return []
            return [b"a body after the refusal"]
        return [b"hello"]

    return app


ON_REFUSAL = st.sampled_from(["raise", "return-nothing", "return-body"])


def test_adapter_sends_accepted_responses_and_raises_for_refused_ones() -> None:
    plan = ResponsePlan()
    before = set(threading.enumerate())
    adapter = WsgiToAsgi(planned_app(plan), max_workers=ADAPTER_WORKERS)

    @END_TO_END
    @given(status=STATUSES, headers=RESPONSE_HEADER_LISTS, on_refusal=ON_REFUSAL)
    def check(status: Any, headers: Any, on_refusal: str) -> None:
        plan.status, plan.headers, plan.on_refusal = status, headers, on_refusal
        try:
            code = status_code(status)
            encoded, length = encode_headers(headers)
        except Exception:
            code = None
        sent, raised = asyncio.run(exchange(adapter, plain_scope([]), b""))
        event("refused" if code is None else "sent")
        if code is None:
            # Raised by the app, or (it went on without a response) the original's
            # AttributeError for the missing response_start: nothing was sent either way.
            assert raised is not None
            assert sent == []
            return
        assert raised is None
        body = b"hello" if length is None else b"hello"[:length]
        assert sent == [
            {"type": "http.response.start", "status": code, "headers": encoded},
            {"type": "http.response.body", "body": body, "more_body": True},
            {"type": "http.response.body"},
        ]

    try:
        check()
    finally:
        shut_down_and_check_threads(adapter, before)


MARKER = "Injected-Marker"


@st.composite
def unsafe_values(draw: st.DrawFn) -> str:
    """A header value smuggling a second header (or worse) past a line break or a NUL."""
    breaker = draw(st.sampled_from(["\r\n", "\n", "\r", "\x00"]))
    prefix = draw(st.sampled_from(["", "https://example.com/", "a b"]))
    suffix = draw(st.sampled_from(["", "\r\n"]))
    return f"{prefix}{breaker}Set-Cookie: {MARKER}=1{suffix}"


def test_unsafe_header_value_never_reaches_the_server() -> None:
    """DWSGI3."""
    plan = ResponsePlan()
    before = set(threading.enumerate())
    adapter = WsgiToAsgi(planned_app(plan), max_workers=ADAPTER_WORKERS)
    safe_headers = st.lists(
        st.tuples(st.sampled_from(["Content-Type", "X-A", "Location"]), st.sampled_from(["a", ""])),
        max_size=3,
    )

    @END_TO_END
    @given(
        safe=safe_headers,
        unsafe=unsafe_values(),
        name=st.sampled_from(["Location", "X-A", "Set-Cookie"]),
        position=st.integers(0, 3),
        on_refusal=ON_REFUSAL,
    )
    def check(
        safe: list[tuple[str, str]], unsafe: str, name: str, position: int, on_refusal: str
    ) -> None:
        headers = list(safe)
        headers.insert(min(position, len(headers)), (name, unsafe))
        plan.status, plan.headers, plan.on_refusal = "302 Found", headers, on_refusal
        sent, raised = asyncio.run(exchange(adapter, plain_scope([]), b""))
        assert raised is not None
        assert sent == []
        assert MARKER not in repr(sent)

    try:
        check()
    finally:
        shut_down_and_check_threads(adapter, before)


# --- 5. round trip: environ -> scope -> environ ---------------------------------------------------

SEGMENT_TEXT = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="/"), min_size=1, max_size=4
)
FIELD_VALUE_TEXT = st.text(st.sampled_from([*'\t !~azAZ09;,=:/"', "\x80", "é", "ÿ"]), max_size=8)
HTTP_NAMES = st.lists(
    st.text(st.sampled_from("ABXYZ019"), min_size=1, max_size=3), min_size=1, max_size=3
).map("_".join)
CGI_KEYS = (
    "REQUEST_METHOD",
    "SCRIPT_NAME",
    "PATH_INFO",
    "QUERY_STRING",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "CONTENT_TYPE",
    "CONTENT_LENGTH",
    "REMOTE_ADDR",
)


def latin1_of_utf8(text: str) -> str:
    return text.encode("utf-8").decode("latin-1")


@st.composite
def wsgi_environs(draw: st.DrawFn) -> Environ:
    """Well-formed environs as a WSGI server makes them for UTF-8 paths and ASCII query strings
    (what an ASGI scope carries: `path` is a str, `query_string` percent-encoded): SCRIPT_NAME
    and PATH_INFO the latin-1 of UTF-8, and header entries HTTP_[A-Z0-9_]+ (without
    HTTP_CONTENT_TYPE or HTTP_CONTENT_LENGTH, which CGI puts under CONTENT_TYPE and
    CONTENT_LENGTH)."""
    script_name = "".join(
        "/" + latin1_of_utf8(part) for part in draw(st.lists(SEGMENT_TEXT, max_size=3))
    )
    path_info = ""
    if draw(st.booleans()):
        path_info = "/" + latin1_of_utf8(draw(st.text(max_size=6).filter(str.isprintable)))
    query = draw(
        st.one_of(
            st.sampled_from([b"", b"a=1", b"a=1&b=%20x", b"a", b"=", b"a&&b=", b"q=%E9"]),
            st.binary(max_size=10).map(
                lambda data: bytes(byte for byte in data if 0x20 < byte < 0x7F)
            ),
        )
    )
    environ: Environ = {
        "REQUEST_METHOD": draw(st.sampled_from(["GET", "POST", "PUT", "OPTIONS", "PROPFIND"])),
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path_info,
        "QUERY_STRING": query.decode("ascii"),
        "SERVER_NAME": draw(st.sampled_from(["localhost", "example.com", "10.0.0.1", "::1"])),
        "SERVER_PORT": str(draw(st.integers(1, 65535))),
        "SERVER_PROTOCOL": draw(st.sampled_from(["HTTP/1.0", "HTTP/1.1", "HTTP/2"])),
        "wsgi.url_scheme": draw(st.sampled_from(["http", "https"])),
    }
    for name in draw(st.lists(HTTP_NAMES, max_size=4)):
        if name not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ["HTTP_" + name] = draw(FIELD_VALUE_TEXT)
    if draw(st.booleans()):
        environ["HTTP_COOKIE"] = "; ".join(draw(st.lists(st.sampled_from(["a=1", "b=2"]))))
    if draw(st.booleans()):
        environ["CONTENT_TYPE"] = draw(st.sampled_from(["", "text/plain", "a/b; charset=utf-8"]))
    if draw(st.booleans()):
        environ["CONTENT_LENGTH"] = draw(st.sampled_from(["", "0", "17", "007"]))
    if draw(st.booleans()):
        environ["REMOTE_ADDR"] = draw(st.sampled_from(["10.0.0.2", "::1"]))
        if draw(st.booleans()):
            environ["REMOTE_PORT"] = str(draw(st.integers(1, 65535)))
    return environ


@PURE
@given(environ=wsgi_environs())
def test_round_trip_reproduces_cgi_and_header_entries(environ: Environ) -> None:
    """Intended exceptions, which the expected value below spells out: an empty CONTENT_TYPE or
    CONTENT_LENGTH comes back absent (PEP 3333 treats the two alike), and REMOTE_PORT does not
    come back (the original's environ never has one)."""
    scope = scope_from_environ(environ)
    body = io.BytesIO()
    again = environ_from_scope(scope, scope["headers"], body, 100)
    check_safety(scope, again)
    expected = {
        key: value
        for key, value in environ.items()
        if (key in CGI_KEYS or key.startswith("HTTP_"))
        and not (key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value == "")
    }
    actual = {
        key: value for key, value in again.items() if key in CGI_KEYS or key.startswith("HTTP_")
    }
    assert actual == expected
    assert again["wsgi.url_scheme"] == environ["wsgi.url_scheme"]
    assert again["wsgi.input"] is body
