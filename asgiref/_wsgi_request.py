"""Translating an HTTP request between the two worlds: ASGI scope to WSGI environ, and back.

Pure functions, so they are tested by comparing whole values. The environ is the one asgiref 3.13
builds, key for key and in the same order (projects' tests compare whole environs), with the same
errors, except where passing a request on would let a client fool the app or a proxy
(DIFFERENCES.md, WSGI-6 to WSGI-8 and WSGI-12): a header name with "_" is dropped (it would forge
the header a proxy set under the "-" spelling); a repeated or malformed Content-Length, a repeated
Host, and CR, LF or NUL in a header raise `BadRequestError`, answered with 400 (these smuggle
requests past proxies); cookies are joined with "; ", which cookie parsers split on; `root_path`
comes off the path only as whole segments.

Values are collected and joined once, so building the environ is linear in the number of headers.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

# What no header may hold, either way: CR and LF would end it and start another; NUL truncates.
UNSAFE_IN_HEADER = re.compile(r"[\r\n\x00]")
_DIGITS = re.compile(r"[0-9]+")
_SPECIAL_KEYS = {"content-length": "CONTENT_LENGTH", "content-type": "CONTENT_TYPE"}


class BadRequestError(ValueError):
    """The request cannot be given to a WSGI app safely (the adapter answers 400)."""


def split_path(path: str, root_path: str) -> tuple[str, str]:
    """(SCRIPT_NAME, PATH_INFO) for a path and the root path the app is mounted at."""
    if path.startswith(root_path):
        rest = path[len(root_path) :]
        if not rest or rest[0] == "/":
            return root_path, rest
        if root_path.endswith("/"):
            # A mount point written with a trailing slash: the slash belongs to PATH_INFO.
            trimmed = root_path.rstrip("/")
            return trimmed, path[len(trimmed) :]
    # Not mounted there (or "/app" against "/application"): the app sees the whole path.
    return root_path, path


def header_fields(headers: Iterable[Any], duplicate_header_limit: Any) -> dict[str, str]:
    """The environ's CONTENT_TYPE, CONTENT_LENGTH and `HTTP_*` entries for `headers`."""
    collected: dict[str, list[str]] = {}
    for name, value in headers:
        decoded_name = name.decode("latin1")
        text = value.decode("latin1")
        if "_" in decoded_name:
            continue
        if UNSAFE_IN_HEADER.search(decoded_name) or UNSAFE_IN_HEADER.search(text):
            raise BadRequestError("a request header holds CR, LF or NUL")
        # Only the lower-case names are CONTENT_*, as in the original (ASGI names are lower case).
        key = _SPECIAL_KEYS.get(decoded_name) or "HTTP_" + decoded_name.upper().replace("-", "_")
        values = collected.setdefault(key, [])
        # The original's test, also for odd limits (a negative one refuses every header).
        if duplicate_header_limit and len(values) >= duplicate_header_limit:
            raise ValueError(
                f"Too many duplicate headers: {key} exceeds limit of{duplicate_header_limit}"
            )
        values.append(text)
    fields: dict[str, str] = {}
    for key, values in collected.items():
        if len(values) == 1:
            joined = values[0]
        elif key == "CONTENT_LENGTH":
            raise BadRequestError("the request has more than one Content-Length header")
        elif key == "HTTP_HOST":
            raise BadRequestError("the request has more than one Host header")
        else:
            joined = ("; " if key == "HTTP_COOKIE" else ",").join(values)
        if key == "CONTENT_LENGTH" and not _DIGITS.fullmatch(joined):
            raise BadRequestError("the request's Content-Length is not a number")
        fields[key] = joined
    return fields


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
    scope: Mapping[str, Any], headers: Iterable[Any], body: Any, duplicate_header_limit: Any
) -> dict[str, Any]:
    """The WSGI environ for an ASGI HTTP `scope` with these `headers`, reading the body from the
    file `body`."""
    method = scope["method"]
    # Native strings: the UTF-8 bytes, as latin-1 (raw_path is not used, as in the original).
    root_path = scope.get("root_path", "").encode("utf8").decode("latin1")
    path = scope["path"].encode("utf8").decode("latin1")
    script_name, path_info = split_path(path, root_path)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": script_name,
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
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = client[0]
    environ.update(header_fields(headers, duplicate_header_limit))
    return environ


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
