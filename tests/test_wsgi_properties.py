"""Property-based tests of the WSGI bridge's translation of requests and responses.

What is pinned, for hypothesis-made inputs (valid ones and hostile ones):

1. `environ_from_scope` either builds a well-formed PEP 3333 environ or raises `BadRequestError`,
   never any other exception (`check_environ` says what "well-formed" means here).
2. Security: a header spelt with underscores never feeds the `HTTP_*` entry of its dashed twin;
   a header repeated more than the limit is refused and one repeated up to it never is.
3. `WsgiToAsgi` end to end: every request is answered either by the app (which sees the environ
   `environ_from_scope` builds) or with a 400 without running the app; nothing raises out of the
   adapter, and its worker threads stay bounded and end at lifespan shutdown.
4. Responses: `status_code` and `encode_headers` either accept a status and header list and give
   the right ASGI values, or raise `InvalidResponseError`; end to end, an app whose
   `start_response` is refused answers 500, and an unsafe header value never reaches the client.
5. Round trip: `environ_from_scope(scope_from_environ(environ))` gives back a well-formed WSGI
   environ's CGI and header entries (`test_round_trip_*` lists the intended exceptions).

Intended behaviour these tests accept (documented, not bugs):

* SCRIPT_NAME and PATH_INFO are percent-decoded, so they may hold CR, LF or NUL (a path
  "/a%0Ab" is a legitimate request); the "no CR/LF/NUL" rule is for the undecoded values.
* When `root_path` is not a whole leading segment of the path, the app is taken to be mounted at
  `root_path` and the path relative to it (the older ASGI convention): SCRIPT_NAME is the root
  path and PATH_INFO the whole path, so SCRIPT_NAME + PATH_INFO is root + path.
* Headers with an underscore in their name are dropped. Whether their copies count against the
  duplicate limit is left open (the code drops them first; refusing would be as safe).
* Header names with token characters other than letters, digits and "-" (such as "x.y") must not
  make an environ key outside HTTP_[A-Z0-9_]+; dropping such a header (as nginx does) or refusing
  the request are both accepted.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import re
import string
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote_to_bytes

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from asgiref._wsgi_request import (
    BadRequestError,
    environ_from_scope,
    header_fields,
    scope_from_environ,
)
from asgiref._wsgi_response import InvalidResponseError, encode_headers, status_code
from asgiref.testing import ApplicationCommunicator, LifespanCommunicator
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

# --- what a well-formed environ is ----------------------------------------------------------------

REQUIRED_CGI = (
    "REQUEST_METHOD",
    "SCRIPT_NAME",
    "PATH_INFO",
    "QUERY_STRING",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
)
# The values that are not percent-decoded: a CR, LF or NUL in one of them can only be an injection.
UNDECODED_CGI = ("REQUEST_METHOD", "QUERY_STRING", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL")
LINE_BREAKERS = re.compile("[\r\n\x00]")
HTTP_KEY = re.compile(r"HTTP_[A-Z0-9_]+")
PLAIN_HEADER_NAME = re.compile(rb"[A-Za-z0-9-]+")
TOKEN_SYMBOLS = "!#$%&'*+-.^_`|~"
TOKEN_BYTES = frozenset((TOKEN_SYMBOLS + string.ascii_letters + string.digits).encode("ascii"))


def is_latin1(text: str) -> bool:
    return all(ord(char) < 256 for char in text)


def is_ascii_digits(text: str) -> bool:
    return text != "" and text.isascii() and text.isdigit()


def is_token(name: bytes) -> bool:
    return name != b"" and all(byte in TOKEN_BYTES for byte in name)


def is_field_value(value: bytes) -> bool:
    return all(byte == 0x09 or 0x20 <= byte <= 0x7E or byte >= 0x80 for byte in value)


def cgi_key(name: bytes) -> str:
    """The environ key a header name (a token, without underscores) belongs under."""
    lowered = name.lower()
    if lowered == b"content-type":
        return "CONTENT_TYPE"
    if lowered == b"content-length":
        return "CONTENT_LENGTH"
    return "HTTP_" + lowered.decode("ascii").upper().replace("-", "_")


def separator(name: bytes) -> bytes:
    return b"; " if name.lower() == b"cookie" else b","


def describes(path_bytes: bytes, path: str) -> bool:
    """Whether `path_bytes` are bytes a server could have decoded into the str `path`."""
    return (
        path_bytes.decode("utf-8", "replace") == path
        or path_bytes.decode("utf-8", "surrogateescape") == path
    )


def expected_path_bytes(scope: Mapping[str, Any]) -> bytes | None:
    """The request path's bytes: `raw_path` percent-decoded while it still describes `path`, else
    `path` itself (None if `path` has no byte form at all)."""
    path = scope["path"]
    raw_path = scope.get("raw_path")
    if isinstance(raw_path, bytes) and raw_path and describes(unquote_to_bytes(raw_path), path):
        return unquote_to_bytes(raw_path)
    try:
        return str(path).encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return None


def check_path(scope: Mapping[str, Any], environ: Mapping[str, Any]) -> None:
    script_name = environ["SCRIPT_NAME"]
    assert script_name == "" or (script_name.startswith("/") and not script_name.endswith("/")), (
        f"SCRIPT_NAME {script_name!r} must be empty, or start with '/' and not end with one"
    )
    script = script_name.encode("latin-1")
    info = environ["PATH_INFO"].encode("latin-1")
    path_bytes = expected_path_bytes(scope)
    try:
        root = str(scope.get("root_path") or "").encode("utf-8", "surrogateescape").rstrip(b"/")
    except UnicodeEncodeError:
        root = None
    if path_bytes is None or root is None:
        return  # no byte form to compare with (such a scope should have been refused)
    assert script == root, f"SCRIPT_NAME {script!r} is not the root path {root!r}"
    mounted = (
        bool(root) and path_bytes.startswith(root) and path_bytes[len(root) :][:1] in (b"", b"/")
    )
    expected_info = path_bytes[len(root) :] if mounted else path_bytes
    assert info == expected_info, f"PATH_INFO {info!r}, expected {expected_info!r}"


def scope_headers(scope: Mapping[str, Any]) -> list[tuple[bytes, bytes]]:
    """The headers of a scope that made an environ (so each is a pair of bytes)."""
    return [(bytes(name), bytes(value)) for name, value in scope.get("headers") or ()]


def check_headers(scope: Mapping[str, Any], environ: Mapping[str, Any], limit: int | None) -> None:
    headers = scope_headers(scope)
    kept = [(name, value) for name, value in headers if b"_" not in name]
    produced = {
        key: value
        for key, value in environ.items()
        if key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH")
    }
    for key, value in produced.items():
        assert isinstance(value, str), f"{key} is not a str"
        assert is_latin1(value), f"{key} = {value!r} is not latin-1"
        assert not LINE_BREAKERS.search(value), f"{key} = {value!r} holds CR, LF or NUL"
        if key.startswith("HTTP_"):
            assert HTTP_KEY.fullmatch(key), f"environ key {key!r} is not HTTP_[A-Z0-9_]+"
        sources = [(name, v) for name, v in kept if cgi_key(name) == key]
        assert sources, f"{key} comes from no header without an underscore"
        if key == "CONTENT_LENGTH":
            assert is_ascii_digits(value), f"CONTENT_LENGTH {value!r} is not digits"
            assert all(v.strip(b" \t") == value.encode("ascii") for _, v in sources)
        else:
            joined = separator(sources[0][0]).join(v for _, v in sources)
            assert value == joined.decode("latin-1"), f"{key} = {value!r}, expected {joined!r}"
    for name, _ in kept:
        if PLAIN_HEADER_NAME.fullmatch(name):
            assert cgi_key(name) in produced, f"header {name!r} is missing from the environ"
    if limit is not None:
        counts: dict[bytes, int] = {}
        for name, _ in kept:
            if cgi_key(name) not in produced:
                continue  # dropped: an unusual name a fix may leave out, as it does underscores
            counts[name.lower()] = counts.get(name.lower(), 0) + 1
        over = {name: count for name, count in counts.items() if count > limit}
        assert not over, f"headers repeated over the limit {limit} were accepted: {over}"


def check_environ(
    scope: Mapping[str, Any], body: Any, environ: Mapping[str, Any], limit: int | None
) -> None:
    """Assert that `environ` is a well-formed PEP 3333 environ for `scope`."""
    for key in REQUIRED_CGI:
        assert key in environ, f"{key} is missing"
        value = environ[key]
        assert isinstance(value, str), f"{key} = {value!r} is not a str"
        assert is_latin1(value), f"{key} = {value!r} is not latin-1"
    for key in UNDECODED_CGI:
        assert not LINE_BREAKERS.search(environ[key]), f"{key} = {environ[key]!r} has CR/LF/NUL"
    assert environ["REQUEST_METHOD"], "REQUEST_METHOD is empty"
    assert environ["SERVER_NAME"], "SERVER_NAME is empty"
    assert is_ascii_digits(environ["SERVER_PORT"]), f"SERVER_PORT {environ['SERVER_PORT']!r}"
    assert environ["SERVER_PROTOCOL"].startswith("HTTP/"), environ["SERVER_PROTOCOL"]
    for key in ("REMOTE_ADDR", "REMOTE_PORT"):
        if key in environ:
            value = environ[key]
            assert isinstance(value, str), f"{key} = {value!r} is not a str"
            assert is_latin1(value), f"{key} = {value!r} is not latin-1"
            assert not LINE_BREAKERS.search(value), f"{key} = {value!r} has CR/LF/NUL"
    if "REMOTE_PORT" in environ:
        assert is_ascii_digits(environ["REMOTE_PORT"]), f"REMOTE_PORT {environ['REMOTE_PORT']!r}"
    check_path(scope, environ)
    check_headers(scope, environ, limit)
    assert environ["wsgi.version"] == (1, 0)
    assert environ["wsgi.url_scheme"] in ("http", "https"), environ["wsgi.url_scheme"]
    assert environ["wsgi.url_scheme"] == (scope.get("scheme") or "http")
    assert environ["wsgi.input"] is body
    assert callable(getattr(environ["wsgi.errors"], "write", None))
    for key in ("wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once"):
        assert isinstance(environ[key], bool), f"{key} is not a bool"


def environ_or_refusal(
    scope: Mapping[str, Any], body: Any, limit: int | None
) -> Environ | BadRequestError:
    """`environ_from_scope`'s environ, or the BadRequestError it raised (anything else raised is
    a failure of the property and propagates)."""
    try:
        return environ_from_scope(scope, body, limit)
    except BadRequestError as error:
        return error


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


# --- 1. environ_from_scope: a well-formed environ or BadRequestError ------------------------------


@PURE
@given(scope=scopes(), limit=LIMITS)
def test_environ_is_well_formed_or_refused(scope: Scope, limit: int | None) -> None:
    body = io.BytesIO(b"body")
    outcome = environ_or_refusal(scope, body, limit)
    event("refused" if isinstance(outcome, BadRequestError) else "built")
    if not isinstance(outcome, BadRequestError):
        check_environ(scope, body, outcome, limit)


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
def test_hostile_field_gives_well_formed_environ_or_refusal(field: str) -> None:
    @SMALL
    @given(value=HOSTILE_FIELDS[field], limit=LIMITS)
    def check(value: Any, limit: int | None) -> None:
        scope = plain_scope([(b"host", b"example.com"), (b"x-a", b"1")], raw_path=b"/")
        if value is ABSENT:
            scope.pop(field, None)
        else:
            scope[field] = value
        body = io.BytesIO()
        outcome = environ_or_refusal(scope, body, limit)
        if not isinstance(outcome, BadRequestError):
            check_environ(scope, body, outcome, limit)

    check()


# --- header translation, against a model ----------------------------------------------------------


def expected_header_fields(headers: Iterable[Any], limit: int | None) -> dict[str, str] | None:
    """The environ's header entries for `headers`, or None when the request must be refused.

    Only for header names made of letters, digits, "-" and "_", or that are not tokens at all."""
    grouped: dict[bytes, list[bytes]] = {}
    for header in headers:
        if not isinstance(header, (tuple, list)) or len(header) != 2:
            return None
        name, value = header
        if not isinstance(name, bytes) or not isinstance(value, bytes):
            return None
        if not is_token(name) or not is_field_value(value):
            return None
        if b"_" not in name:
            grouped.setdefault(name.lower(), []).append(value)
    if limit is not None and any(len(values) > limit for values in grouped.values()):
        return None
    fields: dict[str, str] = {}
    for name, values in grouped.items():
        if name == b"content-length":
            lengths = {value.strip(b" \t") for value in values}
            if len(lengths) != 1:
                return None
            length = lengths.pop().decode("latin-1")
            if not is_ascii_digits(length):
                return None
            fields["CONTENT_LENGTH"] = length
        elif name == b"host" and len(values) > 1:
            return None  # RFC 9112: a request with several Host headers gets a 400
        else:
            fields[cgi_key(name)] = separator(name).join(values).decode("latin-1")
    return fields


def underscored_over_limit(headers: list[Any], limit: int | None) -> bool:
    counts: dict[bytes, int] = {}
    for name, _ in headers:
        if b"_" in name:
            counts[name.lower()] = counts.get(name.lower(), 0) + 1
    return limit is not None and any(count > limit for count in counts.values())


MODEL_CLEAN_NAMES = st.one_of(
    st.sampled_from(COMMON_HEADER_NAMES), st.text("-_aAbB0", min_size=1, max_size=4).map(str.encode)
)
MODEL_HEADER_NAMES = st.one_of(
    MODEL_CLEAN_NAMES, st.sampled_from([b"", b"x y", b"x:y", b"\xff", b"x\r\n"])
)
MODEL_HEADER_LISTS = mostly(
    header_lists(MODEL_CLEAN_NAMES, CLEAN_HEADER_VALUES, odd=False),
    header_lists(MODEL_HEADER_NAMES),
)


@PURE
@given(headers=MODEL_HEADER_LISTS, limit=LIMITS)
def test_header_entries_match_the_model(headers: list[Any], limit: int | None) -> None:
    expected = expected_header_fields(headers, limit)
    outcome = environ_or_refusal(plain_scope(headers), io.BytesIO(), limit)
    event("refused" if expected is None else "built")
    if expected is None:
        assert isinstance(outcome, BadRequestError), f"accepted, with {outcome!r}"
        with pytest.raises(BadRequestError):
            header_fields(headers, limit)
        return
    if isinstance(outcome, BadRequestError) and underscored_over_limit(headers, limit):
        return  # counting the dropped underscored copies against the limit is safe too
    assert not isinstance(outcome, BadRequestError), f"refused: {outcome}"
    entries = {
        key: value
        for key, value in outcome.items()
        if key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH")
    }
    assert entries == expected
    assert header_fields(headers, limit) == expected


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
    headers = [(b"X-Forwarded-For", value) for value in real] + forged + others
    order.shuffle(headers)
    environ = environ_from_scope(plain_scope(headers), io.BytesIO(), limit)
    real_in_order = [value for name, value in headers if name == b"X-Forwarded-For"]
    if real_in_order:
        assert environ["HTTP_X_FORWARDED_FOR"] == b",".join(real_in_order).decode("latin-1")
    else:
        assert "HTTP_X_FORWARDED_FOR" not in environ
    for name, _ in forged:
        assert name.decode("ascii").upper() not in environ  # no HTTP_X_FORWARDED_FOR twin key


@PURE
@given(
    name=st.sampled_from([b"X-Dup", b"Cookie", b"Accept", b"Content-Type", b"User-Agent"]),
    values=st.lists(SAFE_VALUES, min_size=1, max_size=12),
    limit=st.integers(1, 10),
    cases=st.lists(st.booleans(), min_size=12, max_size=12),
)
def test_duplicate_limit_is_exact(
    name: bytes, values: list[bytes], limit: int, cases: list[bool]
) -> None:
    headers: list[Any] = [(b"x-other", b"1")]
    for value, upper in zip(values, cases[: len(values)], strict=True):
        headers.append((name.upper() if upper else name.lower(), value))
    headers.append((b"x-other-2", b"2"))
    outcome = environ_or_refusal(plain_scope(headers), io.BytesIO(), limit)
    if len(values) > limit:
        assert isinstance(outcome, BadRequestError), "a header over the limit was accepted"
        return
    assert not isinstance(outcome, BadRequestError), f"refused at or under the limit: {outcome}"
    assert outcome[cgi_key(name)] == separator(name).join(values).decode("latin-1")


def test_many_repeated_headers_are_all_joined_in_order() -> None:
    # 100 distinct headers, each sent 100 times, interleaved: the environ is built (collected and
    # joined once) and every value keeps its place.
    headers = [(f"X-H{i}".encode(), f"v{i}.{j}".encode()) for j in range(100) for i in range(100)]
    environ = environ_from_scope(plain_scope(headers), io.BytesIO(), None)
    for i in range(100):
        assert environ[f"HTTP_X_H{i}"] == ",".join(f"v{i}.{j}" for j in range(100))
    at_limit = environ_from_scope(plain_scope(headers), io.BytesIO(), 100)
    assert at_limit["HTTP_X_H99"] == environ["HTTP_X_H99"]
    with pytest.raises(BadRequestError):
        environ_from_scope(plain_scope([*headers, (b"x-h7", b"extra")]), io.BytesIO(), 100)
    cookies = [(b"Cookie", f"c{j}=1".encode()) for j in range(100)]
    environ = environ_from_scope(plain_scope(cookies), io.BytesIO(), None)
    assert environ["HTTP_COOKIE"] == "; ".join(f"c{j}=1" for j in range(100))


# --- 3. end to end through WsgiToAsgi -------------------------------------------------------------

ADAPTER_LIMIT = 3
ADAPTER_WORKERS = 2


def environ_checksum(environ: Mapping[str, Any]) -> str:
    """A digest of the environ's keys, and of its values that are str."""
    digest = hashlib.sha256()
    for key in sorted(environ):
        value = environ[key]
        digest.update(repr((key, value if isinstance(value, str) else None)).encode("utf-8"))
    return digest.hexdigest()


async def exchange(adapter: WsgiToAsgi, scope: Scope, body: bytes) -> list[Message]:
    """Send one request through the adapter; return every message it sent back. The
    communicator's wait() raises whatever escaped the adapter."""
    communicator = ApplicationCommunicator(adapter, scope)
    await communicator.send_input({"type": "http.request", "body": body, "more_body": False})
    messages: list[Message] = []
    while True:
        message = await communicator.receive_output(timeout=10)
        messages.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            break
    await communicator.wait(timeout=10)
    return messages


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


def response_parts(messages: list[Message]) -> tuple[int, list[Any], bytes]:
    assert messages[0]["type"] == "http.response.start", messages
    assert all(message["type"] == "http.response.body" for message in messages[1:]), messages
    body = b"".join(message.get("body", b"") for message in messages[1:])
    return messages[0]["status"], list(messages[0].get("headers", [])), body


def test_adapter_runs_the_app_or_answers_400() -> None:
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
        try:
            expected: Environ | None = environ_from_scope(scope, io.BytesIO(), ADAPTER_LIMIT)
        except Exception:  # BadRequestError (or, a bug of its own, anything else): a 400
            expected = None
        status, _, sent = response_parts(asyncio.run(exchange(adapter, scope, body)))
        event("refused" if expected is None else "served")
        if expected is None:
            assert status == 400, f"a request environ_from_scope refuses got {status}"
            assert not calls, "the app ran for a refused request"
        else:
            assert status == 200, f"a request environ_from_scope accepts got {status}: {sent!r}"
            assert len(calls) == 1
            expected["wsgi.file_wrapper"] = None  # the adapter adds it
            assert sent == f"{environ_checksum(expected)} {len(body)}".encode()
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


def expected_status(status: Any) -> int | None:
    """The code of an acceptable status line, or None if it must be refused."""
    if not isinstance(status, str) or len(status) < 3 or not is_ascii_digits(status[:3]):
        return None
    if status[0] == "0" or (len(status) > 3 and status[3] != " "):
        return None
    if LINE_BREAKERS.search(status):
        return None
    return int(status[:3])


@PURE
@given(status=STATUSES)
def test_status_code_accepts_only_safe_status_lines(status: Any) -> None:
    try:
        code = status_code(status)
    except InvalidResponseError:
        assert expected_status(status) is None or any(
            (ord(char) < 0x20 and char != "\t") or ord(char) == 0x7F for char in status
        ), f"refused {status!r}"
        return
    assert expected_status(status) == code, f"accepted {status!r} as {code}"


@PURE
@given(headers=RESPONSE_HEADER_LISTS)
@example(headers=[("Content-Length", "\xb2")])  # "²": str.isdigit() is True, int() refuses it
@example(headers=[("Content-Length", "\xa012")])  # NBSP: str.strip() removes it, HTTP does not
def test_encode_headers_gives_safe_asgi_headers_or_refuses(headers: Any) -> None:
    try:
        encoded, length = encode_headers(headers)
    except InvalidResponseError:
        return
    assert isinstance(headers, list), f"accepted a {type(headers).__name__}"
    assert len(encoded) == len(headers)
    declared: list[str] = []
    for (name, value), (raw_name, raw_value) in zip(headers, encoded, strict=True):
        assert isinstance(name, str)
        assert isinstance(value, str)
        assert raw_name == name.lower().encode("latin-1")
        # Spaces and tabs around a value are not part of it (RFC 9110): they are trimmed.
        assert raw_value == value.strip(" \t").encode("latin-1")
        assert is_token(raw_name), f"unsafe header name {raw_name!r}"
        assert is_field_value(raw_value), f"unsafe header value {raw_value!r}"
        if raw_name == b"content-length":
            declared.append(value.strip(" \t"))
    if not declared:
        assert length is None
    else:
        assert all(is_ascii_digits(value) for value in declared), f"Content-Length {declared!r}"
        assert len({int(value) for value in declared}) == 1, "conflicting lengths were accepted"
        assert length == int(declared[0])


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
        except InvalidResponseError:
            if plan.on_refusal == "raise":
                raise
            if plan.on_refusal == "return-nothing":
                return []
            return [b"a body after the refusal"]
        return [b"hello"]

    return app


def assert_plain_500(messages: list[Message]) -> None:
    status, headers, body = response_parts(messages)
    assert status == 500, messages
    assert body == b"Internal Server Error"
    assert dict(headers)[b"content-length"] == str(len(body)).encode()


ON_REFUSAL = st.sampled_from(["raise", "return-nothing", "return-body"])


def test_adapter_sends_accepted_responses_and_500_for_refused_ones() -> None:
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
        except Exception:  # InvalidResponseError (or, a bug of its own, anything else): a 500
            code = None
        messages = asyncio.run(exchange(adapter, plain_scope([]), b""))
        event("refused" if code is None else "sent")
        if code is None:
            assert_plain_500(messages)
            return
        sent_status, sent_headers, body = response_parts(messages)
        assert sent_status == code
        assert sent_headers == encoded
        assert body == (b"hello" if length is None else b"hello"[:length])

    try:
        check()
    finally:
        shut_down_and_check_threads(adapter, before)


MARKER = "Injected-Marker"


@st.composite
def unsafe_values(draw: st.DrawFn) -> str:
    """A header value smuggling a second header (or worse) past a line break or control."""
    breaker = draw(st.sampled_from(["\r\n", "\n", "\r", "\x00", "\x0b", "\x7f", "\x1b"]))
    prefix = draw(st.sampled_from(["", "https://example.com/", "a b"]))
    suffix = draw(st.sampled_from(["", "\r\n"]))
    return f"{prefix}{breaker}Set-Cookie: {MARKER}=1{suffix}"


def test_unsafe_header_value_never_reaches_the_client() -> None:
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
        messages = asyncio.run(exchange(adapter, plain_scope([]), b""))
        assert_plain_500(messages)
        assert MARKER not in repr(messages), messages

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
CGI_KEYS = (*REQUIRED_CGI, "CONTENT_TYPE", "CONTENT_LENGTH", "REMOTE_ADDR", "REMOTE_PORT")


def latin1_of_utf8(text: str) -> str:
    return text.encode("utf-8").decode("latin-1")


@st.composite
def wsgi_environs(draw: st.DrawFn) -> Environ:
    """Well-formed environs as a WSGI server makes them: SCRIPT_NAME is the latin-1 of UTF-8
    (ASGI's root_path is a str), PATH_INFO any bytes as latin-1, and header entries
    HTTP_[A-Z0-9_]+ (without HTTP_CONTENT_TYPE or HTTP_CONTENT_LENGTH, which CGI puts under
    CONTENT_TYPE and CONTENT_LENGTH)."""
    script_name = "".join(
        "/" + latin1_of_utf8(part) for part in draw(st.lists(SEGMENT_TEXT, max_size=3))
    )
    path_info = ""
    if draw(st.booleans()):
        path_info = "/" + draw(st.binary(max_size=8)).decode("latin-1")
    query = draw(
        st.one_of(
            st.sampled_from([b"", b"a=1", b"a=1&b=%20x", b"a", b"=", b"a&&b=", b"q=\xe9"]),
            st.binary(max_size=10).map(
                lambda data: bytes(byte for byte in data if byte not in b"\r\n\x00")
            ),
        )
    )
    environ: Environ = {
        "REQUEST_METHOD": draw(st.sampled_from(["GET", "POST", "PUT", "OPTIONS", "PROPFIND"])),
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path_info,
        "QUERY_STRING": query.decode("latin-1"),
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
    """Intended exceptions, which the expected value below spells out:
    an empty CONTENT_TYPE or CONTENT_LENGTH comes back absent (PEP 3333 treats the two alike),
    and a REMOTE_ADDR without REMOTE_PORT comes back with REMOTE_PORT "0" (an ASGI client is a
    (host, port) pair)."""
    scope = scope_from_environ(environ)
    body = io.BytesIO()
    again = environ_from_scope(scope, body, 100)
    check_environ(scope, body, again, 100)
    expected = {
        key: value
        for key, value in environ.items()
        if (key in CGI_KEYS or key.startswith("HTTP_"))
        and not (key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value == "")
    }
    if "REMOTE_ADDR" in environ and "REMOTE_PORT" not in environ:
        expected["REMOTE_PORT"] = "0"
    actual = {
        key: value for key, value in again.items() if key in CGI_KEYS or key.startswith("HTTP_")
    }
    assert actual == expected
    assert again["wsgi.url_scheme"] == environ["wsgi.url_scheme"]
