"""The WSGI environ WsgiToAsgi builds from an ASGI scope, and the request body a WSGI app reads.

Environs are recorded whole: `wsgi.input` and `wsgi.errors` as the name of their type, every other
key with its exact value (a missing key is simply not in the record). `build_environ` is called
directly on a `WsgiToAsgiInstance` whose `scope` attribute was set first, as the adapter itself
has it when it builds the environ; one scenario shows what happens without that.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

from _observe import Observer, describe_exception, differs
from _requests import REQUEST, Message, http_scope, serve

from asgiref.wsgi import WsgiToAsgiInstance

Environ = dict[str, Any]

MISSING = "<missing>"


def without(scope: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in scope.items() if key not in keys}


def environ_record(environ: Environ) -> dict[str, Any]:
    """The environ with its two stream objects replaced by the names of their types."""
    return {
        key: type(value).__name__ if key in ("wsgi.input", "wsgi.errors") else value
        for key, value in environ.items()
    }


def build(scope: dict[str, Any], limit: Any = 100) -> dict[str, Any]:
    """`build_environ` for `scope` (an empty body), as a record, or the exception it raised."""

    def app(environ: Environ, start_response: Any) -> Any:
        start_response("200 OK", [])
        return []

    instance: Any = WsgiToAsgiInstance(app, limit)
    instance.scope = scope
    try:
        return {"environ": environ_record(instance.build_environ(scope, io.BytesIO(b"")))}
    except BaseException as error:
        return {"raised": describe_exception(error)}


def picked(scope: dict[str, Any], *keys: str) -> Any:
    """Only `keys` of the environ built for `scope` (MISSING for an absent one)."""
    built = build(scope)
    if "environ" not in built:
        return built
    return {key: built["environ"].get(key, MISSING) for key in keys}


# --- build_environ --------------------------------------------------------------------------------


def scenario_build_environ_full_scope(obs: Observer) -> None:
    obs("environ", build(http_scope()))


def scenario_build_environ_without_scope_attribute(obs: Observer) -> None:
    def app(environ: Environ, start_response: Any) -> Any:
        start_response("200 OK", [])
        return []

    instance = WsgiToAsgiInstance(app)
    obs.call("build_environ", lambda: environ_record(instance.build_environ(http_scope(), None)))


def scenario_scope_missing_keys(obs: Observer) -> None:
    minimal = {"type": "http", "method": "GET", "path": "/x", "query_string": b""}
    obs("no http_version", build(minimal))
    obs("no query_string", build(without(http_scope(), "query_string")))
    obs("no path", build(without(http_scope(), "path")))
    obs("no method", build(without(http_scope(), "method")))
    obs("no headers", picked(without(http_scope(), "headers"), "HTTP_HOST", "PATH_INFO"))
    obs("no root_path", picked(without(http_scope(), "root_path"), "SCRIPT_NAME", "PATH_INFO"))
    obs("no scheme", picked(without(http_scope(), "scheme"), "wsgi.url_scheme", "SERVER_PORT"))


def scenario_script_name_and_path_info(obs: Observer) -> None:
    cases = {
        "no root_path": ("/x/y", ""),
        "root_path a prefix": ("/app/x/y", "/app"),
        "root_path not a prefix": ("/x/y", "/app"),
        "root_path equal to path": ("/app", "/app"),
        "root_path with trailing slash equal to path": ("/app/", "/app/"),
        "root_path with trailing slash, path doubled slash": ("/app//x", "/app/"),
        "empty path": ("", ""),
    }
    for name, (path, root_path) in cases.items():
        scope = http_scope(path=path, raw_path=path.encode(), root_path=root_path)
        obs(name, picked(scope, "SCRIPT_NAME", "PATH_INFO"))


@differs(
    "WSGI-12",
    original={
        "root_path a partial segment": {"SCRIPT_NAME": "/app", "PATH_INFO": "lication"},
        "root_path with trailing slash": {"SCRIPT_NAME": "/app/", "PATH_INFO": "x"},
        "root_path /": {"SCRIPT_NAME": "/", "PATH_INFO": "x"},
    },
    ours={
        "root_path a partial segment": {"SCRIPT_NAME": "/app", "PATH_INFO": "/application"},
        "root_path with trailing slash": {"SCRIPT_NAME": "/app", "PATH_INFO": "/x"},
        "root_path /": {"SCRIPT_NAME": "", "PATH_INFO": "/x"},
    },
)
def scenario_script_name_and_path_info_off_segments(obs: Observer) -> None:
    """A root_path that does not end at a segment boundary of the path."""
    cases = {
        "root_path a partial segment": ("/application", "/app"),
        "root_path with trailing slash": ("/app/x", "/app/"),
        "root_path /": ("/x", "/"),
    }
    for name, (path, root_path) in cases.items():
        scope = http_scope(path=path, raw_path=path.encode(), root_path=root_path)
        obs(name, picked(scope, "SCRIPT_NAME", "PATH_INFO"))


def scenario_unicode_and_raw_path(obs: Observer) -> None:
    unicode = http_scope(path="/caf\u00e9/\u4e2d", raw_path=b"/caf%C3%A9/%E4%B8%AD")
    obs("unicode path", picked(unicode, "PATH_INFO"))
    obs(
        "unicode root_path",
        picked(dict(unicode, root_path="/caf\u00e9"), "SCRIPT_NAME", "PATH_INFO"),
    )
    obs("encoded space", picked(http_scope(path="/a b", raw_path=b"/a%20b"), "PATH_INFO"))
    obs("encoded slash", picked(http_scope(path="/a/b", raw_path=b"/a%2Fb"), "PATH_INFO"))
    obs("raw_path None", picked(http_scope(path="/p", raw_path=None), "PATH_INFO"))
    obs("no raw_path", picked(without(http_scope(path="/p"), "raw_path"), "PATH_INFO"))


def scenario_query_string(obs: Observer) -> None:
    for name, query in {
        "plain": b"a=1&b=2",
        "escapes kept": b"a=%20&b=%C3%A9&c=+",
        "bytes outside ascii": b"c=\xc3\xa9",
        "a str": "a=1",
    }.items():
        obs(name, picked(http_scope(query_string=query), "QUERY_STRING"))


def scenario_server_and_client(obs: Observer) -> None:
    keys = ("SERVER_NAME", "SERVER_PORT", "REMOTE_ADDR", "REMOTE_PORT")
    base = http_scope()
    obs("both", picked(base, *keys))
    obs("no server", picked(without(base, "server"), *keys))
    obs("server None", picked(http_scope(server=None), *keys))
    obs("server without port", picked(http_scope(server=("/tmp/app.sock", None)), *keys))
    obs("server as list", picked(http_scope(server=["example.org", 8080]), *keys))
    obs("https without server", picked(without(http_scope(scheme="https"), "server"), *keys))
    obs("no client", picked(without(base, "client"), *keys))
    obs("client None", picked(http_scope(client=None), *keys))
    obs("client as list", picked(http_scope(client=["10.0.0.1", 1]), *keys))


def scenario_scheme_method_and_version(obs: Observer) -> None:
    keys = ("REQUEST_METHOD", "SERVER_PROTOCOL", "wsgi.url_scheme", "SERVER_PORT")
    obs("https", picked(http_scope(scheme="https", server=("example.com", 443)), *keys))
    obs("http/1.0", picked(http_scope(http_version="1.0"), *keys))
    obs("http/2", picked(http_scope(http_version="2"), *keys))
    obs("lower-case method", picked(http_scope(method="post"), *keys))
    obs("extension method", picked(http_scope(method="PURGE"), *keys))
    obs("odd scheme", picked(http_scope(scheme="ws"), *keys))


def header_keys(headers: list[tuple[bytes, bytes]]) -> Any:
    """The CONTENT_* and HTTP_* entries of the environ for `headers`, in order."""
    built = build(http_scope(headers=headers))
    if "environ" not in built:
        return built
    return [(k, v) for k, v in built["environ"].items() if k.startswith(("HTTP_", "CONTENT_"))]


def scenario_headers_to_environ(obs: Observer) -> None:
    headers = [
        (b"Host", b"example.com"),
        (b"X-Dup", b"1"),
        (b"x-dup", b"2"),
        (b"cookie", b"a=1"),
        (b"content-type", b"text/html"),
        (b"content-length", b"12"),
        (b"accept", b"caf\xc3\xa9"),
        (b"X-Forwarded-For", b"10.0.0.1"),
        (b"empty", b""),
        (b"X-\xe9", b"\xe9"),
        (b"Content-Length", b"1"),
        (b"CONTENT-TYPE", b"t"),
    ]
    obs("header keys", header_keys(headers))


@differs(
    "WSGI-6",
    original={
        "header keys": [
            ("HTTP_X_FORWARDED_FOR", "10.0.0.1,10.6.6.6"),
            ("HTTP_X_ONLY_UNDERSCORES", "u"),
            ("HTTP_CONTENT_LENGTH", "5"),
        ]
    },
    ours={"header keys": [("HTTP_X_FORWARDED_FOR", "10.0.0.1")]},
)
def scenario_underscore_header_names(obs: Observer) -> None:
    """Header names with "_", which would map to the same key as one with "-"."""
    headers = [
        (b"X-Forwarded-For", b"10.0.0.1"),
        (b"x_forwarded_for", b"10.6.6.6"),
        (b"x_only_underscores", b"u"),
        (b"content_length", b"5"),
    ]
    obs("header keys", header_keys(headers))


@differs(
    "WSGI-8",
    original={"header keys": [("HTTP_COOKIE", "a=1,b=2"), ("HTTP_X_DUP", "1,2")]},
    ours={"header keys": [("HTTP_COOKIE", "a=1; b=2"), ("HTTP_X_DUP", "1,2")]},
)
def scenario_repeated_cookie_headers(obs: Observer) -> None:
    """Two Cookie headers (HTTP/2 servers send one per cookie)."""
    headers = [(b"cookie", b"a=1"), (b"X-Dup", b"1"), (b"Cookie", b"b=2"), (b"x-dup", b"2")]
    obs("header keys", header_keys(headers))


ODD_KEYS = ("CONTENT_TYPE", "CONTENT_LENGTH", "HTTP_X_L", "HTTP_X_S", "HTTP_HOST")


def scenario_odd_header_shapes(obs: Observer) -> None:
    keys = ODD_KEYS
    repeated_type = [(b"content-type", b"a"), (b"content-type", b"b")]
    obs("repeated content-type", picked(http_scope(headers=repeated_type), *keys))
    obs("pairs as lists", picked(http_scope(headers=[[b"x-l", b"v"]]), *keys))
    obs("str pairs", picked(http_scope(headers=[("x-s", "v")]), *keys))
    obs("bytearray name", picked(http_scope(headers=[(bytearray(b"x-l"), b"v")]), *keys))
    obs("memoryview value", picked(http_scope(headers=[(b"x-l", memoryview(b"v"))]), *keys))
    obs("headers None", picked(http_scope(headers=None), *keys))


def bad_request(message: str) -> dict[str, Any]:
    return {"raised": {"exception": "ValueError", "message": message, "asgiref_subclass": True}}


def missing_but(**present: str) -> dict[str, str]:
    return {key: present.get(key, MISSING) for key in ODD_KEYS}


@differs(
    "WSGI-7",
    original={
        "repeated content-length": missing_but(CONTENT_LENGTH="1,2"),
        "repeated host": missing_but(HTTP_HOST="a,b"),
        "bad content-length": missing_but(CONTENT_LENGTH="ten"),
        "CRLF in value": missing_but(HTTP_X_S="a\r\nb"),
        "NUL in name": missing_but(),
        "through the adapter sent": [
            {"type": "http.response.start", "status": 200, "headers": []},
            {"type": "http.response.body", "body": b"1,2", "more_body": True},
            {"type": "http.response.body"},
        ],
    },
    ours={
        "repeated content-length": bad_request(
            "the request has more than one Content-Length header"
        ),
        "repeated host": bad_request("the request has more than one Host header"),
        "bad content-length": bad_request("the request's Content-Length is not a number"),
        "CRLF in value": bad_request("a request header holds CR, LF or NUL"),
        "NUL in name": bad_request("a request header holds CR, LF or NUL"),
        "through the adapter sent": [
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [(b"content-type", b"text/plain")],
            },
            {
                "type": "http.response.body",
                "body": b"Bad Request: the request has more than one Content-Length header",
            },
        ],
    },
)
def scenario_request_smuggling_headers(obs: Observer) -> None:
    """Headers that let a proxy and the app disagree on where a request ends or whom it is for."""
    keys = ODD_KEYS
    repeated_length = [(b"content-length", b"1"), (b"content-length", b"2")]
    obs("repeated content-length", picked(http_scope(headers=repeated_length), *keys))
    obs("repeated host", picked(http_scope(headers=[(b"host", b"a"), (b"host", b"b")]), *keys))
    obs("bad content-length", picked(http_scope(headers=[(b"content-length", b"ten")]), *keys))
    obs("CRLF in value", picked(http_scope(headers=[(b"x-s", b"a\r\nb")]), *keys))
    obs("NUL in name", picked(http_scope(headers=[(b"x-\x00", b"v")]), *keys))

    def app(environ: Environ, start_response: Any) -> Any:
        start_response("200 OK", [])
        return [environ["CONTENT_LENGTH"].encode()]

    sent, outcome = asyncio.run(serve(app, http_scope(headers=repeated_length), [REQUEST]))
    obs("through the adapter sent", sent)
    obs("through the adapter outcome", outcome)


# --- through the adapter --------------------------------------------------------------------------


@differs(
    "WSGI-1",
    original={"wsgi.input type": ["SpooledTemporaryFile"]},
    ours={"wsgi.input type": ["RequestBody"]},
)
def scenario_environ_through_the_adapter(obs: Observer) -> None:
    seen: list[dict[str, Any]] = []
    input_types: list[str] = []

    def app(environ: Environ, start_response: Any) -> Any:
        record = environ_record(environ)
        input_types.append(record.pop("wsgi.input"))
        seen.append(record)
        start_response("200 OK", [])
        return [b"ok"]

    scope = http_scope(
        method="POST",
        path="/app/form",
        raw_path=b"/app/form",
        root_path="/app",
        query_string=b"x=1",
        headers=[
            (b"host", b"example.com"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", b"7"),
            (b"cookie", b"a=1"),
        ],
    )
    _, outcome = asyncio.run(serve(app, scope, [{"type": "http.request", "body": b"a=1&b=2"}]))
    obs("environ", seen)
    obs("wsgi.input type", input_types)
    obs("adapter outcome", outcome)


@differs(
    "WSGI-13",
    original={"wsgi.input_terminated": [MISSING, MISSING, MISSING]},
    ours={"wsgi.input_terminated": [True, MISSING, MISSING]},
)
def scenario_environ_for_a_body_without_length(obs: Observer) -> None:
    """A chunked upload (no Content-Length), one with a length, and a request without a body."""
    seen: list[dict[str, Any]] = []
    terminated: list[Any] = []

    def app(environ: Environ, start_response: Any) -> Any:
        record = environ_record(environ)
        terminated.append(record.pop("wsgi.input_terminated", MISSING))
        del record["wsgi.input"]
        record["body"] = environ["wsgi.input"].read()
        seen.append(record)
        start_response("200 OK", [])
        return [b"ok"]

    chunked = http_scope(
        method="POST", headers=[(b"host", b"example.com"), (b"transfer-encoding", b"chunked")]
    )
    pieces: list[Message] = [
        {"type": "http.request", "body": b"a=1", "more_body": True},
        {"type": "http.request", "body": b"&b=2", "more_body": False},
    ]
    asyncio.run(serve(app, chunked, pieces))
    with_length = http_scope(
        method="POST", headers=[(b"host", b"example.com"), (b"content-length", b"3")]
    )
    asyncio.run(serve(app, with_length, [{"type": "http.request", "body": b"a=1"}]))
    asyncio.run(serve(app, http_scope(), [REQUEST]))
    obs("environ", seen)
    obs("wsgi.input_terminated", terminated)


def scenario_wsgi_input_reading(obs: Observer) -> None:
    reads: list[Any] = []

    def app(environ: Environ, start_response: Any) -> Any:
        body = environ["wsgi.input"]
        reads.append(("read(3)", body.read(3)))
        reads.append(("readline()", body.readline()))
        reads.append(("readline(2)", body.readline(2)))
        reads.append(("iteration", list(body)))
        reads.append(("read() at the end", body.read()))
        reads.append(("read(5) at the end", body.read(5)))
        reads.append(("readline() at the end", body.readline()))
        start_response("200 OK", [])
        return [b"ok"]

    messages: list[Message] = [
        {"type": "http.request", "body": b"abcde\nline2\n", "more_body": True},
        {"type": "http.request", "body": b"", "more_body": True},
        {"type": "http.request", "body": b"line3\nrest", "more_body": False},
    ]
    _, outcome = asyncio.run(serve(app, http_scope(method="POST"), messages))
    obs("reads", reads)
    obs("adapter outcome", outcome)


@differs(
    "WSGI-1",
    original={
        "seekable()": [True],
        "seek(0), then read()": [{"returned": b"one\ntwo\n"}],
        "fileno() is an int": [True],
    },
    ours={
        "seekable()": [False],
        "seek(0), then read()": [
            {
                "raised": {
                    "exception": "io.UnsupportedOperation",
                    "message": "wsgi.input streams the request body as it arrives and cannot "
                    "seek; read it into a BytesIO to read it twice",
                }
            }
        ],
        "fileno() is an int": [
            {
                "raised": {
                    "exception": "io.UnsupportedOperation",
                    "message": "wsgi.input streams the request body and has no file number",
                }
            }
        ],
    },
)
def scenario_wsgi_input_as_a_file(obs: Observer) -> None:
    seen: list[Any] = []
    seekable: list[Any] = []
    seek: list[Any] = []
    fileno: list[Any] = []

    def attempt(results: list[Any], fn: Any) -> None:
        try:
            results.append(fn())
        except Exception as error:
            results.append({"raised": describe_exception(error)})

    def app(environ: Environ, start_response: Any) -> Any:
        body = environ["wsgi.input"]
        seen.append(("read()", body.read()))
        seen.append(("tell()", body.tell()))
        for name in ("tell", "seek", "readlines", "readable", "seekable", "fileno", "close"):
            seen.append((name, hasattr(body, name)))
        seen.append(("readable()", body.readable()))
        attempt(seekable, body.seekable)

        def seek_and_read_again() -> Any:
            body.seek(0)
            return {"returned": body.read()}

        attempt(seek, seek_and_read_again)
        attempt(fileno, lambda: isinstance(body.fileno(), int))
        start_response("200 OK", [])
        return [b"ok"]

    messages: list[Message] = [{"type": "http.request", "body": b"one\ntwo\n"}]
    asyncio.run(serve(app, http_scope(method="POST"), messages))
    obs("seen", seen)
    obs("seekable()", seekable)
    obs("seek(0), then read()", seek)
    obs("fileno() is an int", fileno)


def scenario_wsgi_input_empty_bodies(obs: Observer) -> None:
    reads: list[Any] = []

    def app(environ: Environ, start_response: Any) -> Any:
        body = environ["wsgi.input"]
        reads.append((body.read(), body.read(1), body.readline()))
        start_response("200 OK", [])
        return [b"ok"]

    bodies: list[list[Message]] = [
        [{"type": "http.request"}],
        [{"type": "http.request", "body": b""}],
        [{"type": "http.request", "body": b"", "more_body": True}, {"type": "http.request"}],
        [{"type": "http.request", "body": b"xyz"}],
    ]
    for messages in bodies:
        asyncio.run(serve(app, http_scope(method="POST"), messages))
    obs("reads", reads)


# --- duplicate_header_limit -----------------------------------------------------------------------


def repeated(count: int, name: bytes = b"x-rep") -> list[tuple[bytes, bytes]]:
    return [(name, str(index).encode()) for index in range(count)]


def record_limit(
    obs: Observer, prefix: str, headers: Any, *, whole: bool = False, **options: Any
) -> None:
    """Record what the app saw of the repeated headers, and the response status (or, if `whole`,
    every message sent)."""
    seen: list[Any] = []

    def app(environ: Environ, start_response: Any) -> Any:
        seen.append({k: v for k, v in environ.items() if k.startswith("HTTP_X")})
        start_response("200 OK", [])
        return [b"ok"]

    sent, outcome = asyncio.run(serve(app, http_scope(headers=headers), [REQUEST], **options))
    obs(f"{prefix} app saw", seen)
    if whole:
        obs(f"{prefix} sent", sent)
    else:
        obs(f"{prefix} status", [m.get("status") for m in sent if "status" in m])
    obs(f"{prefix} outcome", outcome)


def scenario_duplicate_header_limit_default(obs: Observer) -> None:
    record_limit(obs, "100 copies", repeated(100))
    record_limit(obs, "101 copies", repeated(101))


def scenario_duplicate_header_limit_refusal(obs: Observer) -> None:
    record_limit(obs, "limit 1, 2 copies", repeated(2), whole=True, duplicate_header_limit=1)


def scenario_duplicate_header_limit_values(obs: Observer) -> None:
    record_limit(obs, "limit 3, 2 copies", repeated(2), duplicate_header_limit=3)
    record_limit(obs, "limit 3, 3 copies", repeated(3), duplicate_header_limit=3)
    record_limit(obs, "limit 3, 4 copies", repeated(4), duplicate_header_limit=3)
    record_limit(obs, "limit None, 150 copies", repeated(150), duplicate_header_limit=None)
    record_limit(obs, "limit 0, 5 copies", repeated(5), duplicate_header_limit=0)
    record_limit(obs, "limit 1, 2 copies", repeated(2), duplicate_header_limit=1)


def scenario_duplicate_header_limit_counting(obs: Observer) -> None:
    record_limit(
        obs,
        "3 of each of two names",
        repeated(3, b"x-a") + repeated(3, b"x-b"),
        duplicate_header_limit=3,
    )
    record_limit(
        obs,
        "casing variants",
        [(b"X-A", b"1"), (b"x-a", b"2"), (b"X-a", b"3")],
        duplicate_header_limit=2,
    )
    obs("build_environ over the limit", build(http_scope(headers=repeated(3)), 2))
    obs("content-type over the limit", build(http_scope(headers=repeated(2, b"content-type")), 1))
    obs("a negative limit", build(http_scope(headers=repeated(1)), -1))
    obs("a limit of 1.5, 2 copies", build(http_scope(headers=repeated(2)), 1.5))
    obs("a str limit", build(http_scope(headers=repeated(1)), "2"))


@differs(
    "WSGI-6",
    original={"underscore variant app saw": [], "underscore variant status": [400]},
    ours={"underscore variant app saw": [{"HTTP_X_A": "1,3"}], "underscore variant status": [200]},
)
def scenario_duplicate_header_limit_underscore_variant(obs: Observer) -> None:
    """ "x_a" is dropped (DWSGI6), so it does not count towards the limit for "x-a"."""
    record_limit(
        obs,
        "underscore variant",
        [(b"x-a", b"1"), (b"x_a", b"2"), (b"x-a", b"3")],
        duplicate_header_limit=2,
    )
