"""Translating an HTTP request between the two worlds: ASGI scope to WSGI environ, and back.

Pure functions, so they are tested by comparing whole values.

Rules for the environ (PEP 3333, and what production WSGI servers do):

* Strings are "native strings": every CGI value is a `str` holding bytes as latin-1, so paths
  carry the raw UTF-8 bytes the client sent, decoded as latin-1, which is what WSGI apps expect.
* A header name containing "_" is dropped. Both "X-Forwarded-For" and "X_Forwarded_For" would
  become `HTTP_X_FORWARDED_FOR`, so a client could forge a header a proxy set (nginx and Apache
  drop such headers too).
* Repeated headers are joined with "," (cookies with "; "), collected first and joined once, so
  building the environ is linear in the request size (joining by repeated concatenation is
  quadratic, a denial of service reported against the original). More than
  `duplicate_header_limit` copies of one header is refused.
* Anything that cannot make a well-formed environ (a header with CR, LF or NUL, a malformed
  Content-Length, a scope missing what the spec requires) raises `BadRequestError`, which the
  adapter answers with 400 without running the app.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote_to_bytes

# RFC 9110 token characters: what a header name may be made of.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Field values: visible characters, spaces and tabs, and obs-text; never CR, LF or NUL.
_FIELD_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
_DIGITS = re.compile(r"[0-9]+")
# Header names that can become an `HTTP_*` key unambiguously; others ("_", ".") are dropped.
_PLAIN_NAME = re.compile(rb"[A-Za-z0-9-]+")
# What may go into SERVER_NAME or REMOTE_ADDR: printable latin-1, no spaces or controls.
_HOST = re.compile(r"[\x21-\x7e\xa1-\xff]+")
_HTTP_VERSIONS = frozenset({"1.0", "1.1", "2", "3"})
_SCHEMES = frozenset({"http", "https"})


class BadRequestError(ValueError):
    """The request cannot be given to a WSGI app (the adapter answers 400)."""


def _native(data: bytes) -> str:
    return data.decode("latin-1")


def _path_bytes(scope: Mapping[str, Any]) -> bytes:
    """The request path as the bytes the client meant, percent-decoded.

    `raw_path` keeps bytes that are not UTF-8 (the decoded `path` cannot), so it is preferred,
    but only while it still describes `path`: middleware that rewrites `path` often leaves a
    stale `raw_path` behind."""
    path = scope["path"]
    if not isinstance(path, str):
        raise BadRequestError(f"the scope's path must be a str, not {type(path).__name__}")
    raw_path = scope.get("raw_path")
    if isinstance(raw_path, bytes) and raw_path:
        decoded = unquote_to_bytes(raw_path)
        if (
            decoded.decode("utf-8", "replace") == path
            or decoded.decode("utf-8", "surrogateescape") == path
        ):
            return decoded
    return _utf8(path, "path")


def _utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that did not come from undecodable bytes
        raise BadRequestError(f"the scope's {what} is not encodable: {text!r}") from None


def _split_root(path: bytes, root: bytes) -> tuple[bytes, bytes]:
    """(SCRIPT_NAME, PATH_INFO): `root` comes off the front of `path` when it is a whole leading
    segment of it; otherwise the app is mounted at `root` and sees `path` whole."""
    root = root.rstrip(b"/")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in (b"", b"/"):
        return root, path[len(root) :]
    return root, path


def _server_fields(scope: Mapping[str, Any], host_header: str | None) -> tuple[str, str]:
    default_port = "443" if scope.get("scheme") == "https" else "80"
    server = scope.get("server")
    if server:
        host, port = _endpoint(server, "server")
        if host:
            return host, default_port if port is None else port
    if host_header:
        host, _, port = host_header.rpartition(":")
        if host and _DIGITS.fullmatch(port) and not host_header.endswith("]"):
            return host, port
        return host_header, default_port
    return "localhost", default_port


def _endpoint(value: Any, what: str) -> tuple[str, str | None]:
    """A scope's `server` or `client` as (host, port) strings, checked."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise BadRequestError(f"the scope's {what} must be a [host, port] pair, not {value!r}")
    host, port = value
    if not isinstance(host, str) or (host and not _HOST.fullmatch(host)):
        raise BadRequestError(f"the scope's {what} host {host!r} is not a printable latin-1 str")
    if port is not None and (type(port) is not int or port < 0):
        raise BadRequestError(f"the scope's {what} port {port!r} is not a non-negative int")
    return host, None if port is None else str(port)


def _check_header(name: Any, value: Any) -> None:
    if not isinstance(name, bytes) or not isinstance(value, bytes):
        raise BadRequestError("header names and values must be bytes")
    if not _TOKEN.fullmatch(name):
        raise BadRequestError(f"invalid header name {name!r}")
    if not _FIELD_VALUE.fullmatch(value):
        raise BadRequestError(f"header {name!r} has a value with CR, LF, NUL or other controls")


def header_fields(headers: Iterable[Any], duplicate_header_limit: int | None) -> dict[str, str]:
    """The environ's CONTENT_TYPE, CONTENT_LENGTH and `HTTP_*` entries for `headers`."""
    collected: dict[bytes, list[bytes]] = {}
    for header in headers:
        try:
            name, value = header
        except (TypeError, ValueError):
            raise BadRequestError("each header must be a [name, value] pair") from None
        _check_header(name, value)
        if not _PLAIN_NAME.fullmatch(name):
            continue
        values = collected.setdefault(name.lower(), [])
        values.append(value)
        if duplicate_header_limit is not None and len(values) > duplicate_header_limit:
            raise BadRequestError(
                f"header {name!r} is repeated more than {duplicate_header_limit} times"
            )
    fields: dict[str, str] = {}
    for name, values in collected.items():
        if name == b"content-length":
            fields["CONTENT_LENGTH"] = _content_length(values)
            continue
        if name == b"host" and len(values) > 1:
            raise BadRequestError("more than one Host header (RFC 9112 asks for a 400)")
        joined = (b"; " if name == b"cookie" else b",").join(values)
        if name == b"content-type":
            fields["CONTENT_TYPE"] = _native(joined)
        else:
            fields["HTTP_" + _native(name).upper().replace("-", "_")] = _native(joined)
    return fields


def _content_length(values: list[bytes]) -> str:
    lengths = {value.strip() for value in values}
    if len(lengths) != 1:
        raise BadRequestError("conflicting Content-Length headers")
    length = _native(lengths.pop())
    if not _DIGITS.fullmatch(length):
        raise BadRequestError(f"invalid Content-Length {length!r}")
    return length


def content_length(scope: Mapping[str, Any]) -> int | None:
    """The request's Content-Length, if it has a valid one (for refusing large bodies early)."""
    for name, value in scope.get("headers", ()):
        if isinstance(name, bytes) and name.lower() == b"content-length":
            try:
                return int(value)
            except (TypeError, ValueError):
                return None
    return None


def environ_from_scope(
    scope: Mapping[str, Any], body: Any, duplicate_header_limit: int | None
) -> dict[str, Any]:
    """The WSGI environ for an ASGI HTTP `scope`, reading the body from the file `body`."""
    try:
        method = scope["method"]
        path = _path_bytes(scope)
        root_path = scope.get("root_path") or ""
        query_string = scope.get("query_string") or b""
        http_version = scope.get("http_version") or "1.1"
        headers = scope.get("headers") or ()
    except KeyError as missing:
        raise BadRequestError(f"the scope has no {missing.args[0]!r}") from None
    _check_scope_fields(method, root_path, query_string, http_version, scope.get("scheme"))
    try:
        headers = iter(headers)
    except TypeError:
        raise BadRequestError("the scope's headers must be an iterable of pairs") from None
    script_name, path_info = _split_root(path, _utf8(root_path, "root_path"))
    fields = header_fields(headers, duplicate_header_limit)
    server_name, server_port = _server_fields(scope, fields.get("HTTP_HOST"))
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": _native(script_name),
        "PATH_INFO": _native(path_info),
        "QUERY_STRING": _native(query_string),
        "SERVER_NAME": server_name,
        "SERVER_PORT": server_port,
        "SERVER_PROTOCOL": f"HTTP/{http_version}",
        **fields,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme") or "http",
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
        "asgi.scope": scope,
    }
    client = scope.get("client")
    if client:
        host, port = _endpoint(client, "client")
        environ["REMOTE_ADDR"] = host
        if port is not None:
            environ["REMOTE_PORT"] = port
    return environ


def _check_scope_fields(
    method: Any, root_path: Any, query_string: Any, http_version: Any, scheme: Any
) -> None:
    if not isinstance(method, str) or not method.isascii() or not _TOKEN.fullmatch(method.encode()):
        raise BadRequestError(f"the scope's method {method!r} is not an HTTP token")
    if not isinstance(root_path, str) or (root_path and not root_path.startswith("/")):
        raise BadRequestError(f"the scope's root_path {root_path!r} must be '' or start with '/'")
    if not isinstance(query_string, bytes) or re.search(rb"[\r\n\x00]", query_string):
        raise BadRequestError("the scope's query_string must be bytes without CR, LF or NUL")
    if http_version not in _HTTP_VERSIONS:
        raise BadRequestError(
            f"the scope's http_version {http_version!r} is not one of 1.0/1.1/2/3"
        )
    if scheme not in (None, "") and scheme not in _SCHEMES:
        raise BadRequestError(f"the scope's scheme {scheme!r} is not 'http' or 'https'")


# --- WSGI environ to ASGI scope (AsgiToWsgi) ---------------------------------------------------


def _from_native(value: str) -> bytes:
    return value.encode("latin-1")


def _port(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def scope_from_environ(environ: Mapping[str, Any]) -> dict[str, Any]:
    """The ASGI HTTP scope for a WSGI `environ` (the body is streamed separately)."""
    script_name = _from_native(environ.get("SCRIPT_NAME", ""))
    path_info = _from_native(environ.get("PATH_INFO", ""))
    full_path = script_name + path_info
    raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw_uri:
        raw_path = _from_native(raw_uri).partition(b"?")[0]
    else:
        raw_path = quote(full_path, safe="/:@!$&'()*+,;=-._~").encode("ascii")
    headers: list[tuple[bytes, bytes]] = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].lower().replace("_", "-")
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if not value:
                continue
            name = key.lower().replace("_", "-")
        else:
            continue
        headers.append((name.encode("latin-1"), _from_native(value)))
    protocol = environ.get("SERVER_PROTOCOL", "HTTP/1.1")
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": protocol.partition("/")[2] or "1.1",
        "method": environ["REQUEST_METHOD"],
        "scheme": environ.get("wsgi.url_scheme", "http"),
        "path": full_path.decode("utf-8", "replace"),
        "raw_path": raw_path,
        "root_path": script_name.decode("utf-8", "replace"),
        "query_string": _from_native(environ.get("QUERY_STRING", "")),
        "headers": headers,
        "server": (environ.get("SERVER_NAME", "localhost"), _port(environ.get("SERVER_PORT"))),
        "extensions": {},
    }
    if environ.get("REMOTE_ADDR"):
        scope["client"] = (environ["REMOTE_ADDR"], _port(environ.get("REMOTE_PORT")) or 0)
    return scope
