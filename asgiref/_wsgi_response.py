"""Translating a response's status and headers between WSGI and ASGI, refusing what is unsafe.

A WSGI app hands `start_response` a status line and a list of header pairs as `str`. Before they go
out as an ASGI `http.response.start`, they are checked: a CR, LF or NUL in a header would let
whoever controls the value (often a redirect target taken from the request) inject headers or a
whole response, so such a response is refused with `InvalidResponseError`, never sent.
"""

from __future__ import annotations

import http
import re
from collections.abc import Iterable
from typing import Any

_STATUS = re.compile(r"([1-9][0-9]{2})(?: [^\x00-\x08\x0a-\x1f\x7f]*)?")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
_DIGITS = re.compile(r"[0-9]+")


class InvalidResponseError(ValueError):
    """A WSGI app's status line or response headers cannot be sent safely."""


def status_code(status: Any) -> int:
    """The code of a WSGI status line such as "200 OK"."""
    if not isinstance(status, str):
        raise InvalidResponseError(
            f"the status must be a str such as '200 OK', not {type(status).__name__}"
        )
    match = _STATUS.fullmatch(status)
    if match is None:
        raise InvalidResponseError(
            f"invalid status line {status!r}: expected three digits, a space and a reason, "
            "with no control characters"
        )
    return int(match.group(1))


def encode_headers(headers: Any) -> tuple[list[tuple[bytes, bytes]], int | None]:
    """The ASGI header list for WSGI `headers`, and the Content-Length they declare, if any."""
    if not isinstance(headers, list):
        raise InvalidResponseError(
            f"response headers must be a list of (name, value) tuples, not {type(headers).__name__}"
        )
    encoded: list[tuple[bytes, bytes]] = []
    length: int | None = None
    for header in headers:
        if not isinstance(header, tuple) or len(header) != 2:
            raise InvalidResponseError(f"response header {header!r} is not a (name, value) tuple")
        name, value = header
        if isinstance(value, str):
            # Spaces around a field value are not part of it (RFC 9110), and strict HTTP
            # parsers refuse to send them: Django's Set-Cookie values start with one.
            value = value.strip(" \t")
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise InvalidResponseError(f"invalid response header name {name!r}")
        if not isinstance(value, str) or not _FIELD_VALUE.fullmatch(value):
            raise InvalidResponseError(
                f"response header {name!r} has an invalid value {value!r} "
                "(CR, LF, NUL and other control characters are not allowed)"
            )
        if name.lower() == "content-length":
            if not _DIGITS.fullmatch(value):
                raise InvalidResponseError(f"invalid Content-Length {value!r}")
            if length is not None and length != int(value):
                raise InvalidResponseError("conflicting Content-Length headers")
            length = int(value)
        encoded.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    return encoded, length


def wsgi_status(code: int) -> str:
    """The WSGI status line for an ASGI status code."""
    try:
        phrase = http.HTTPStatus(code).phrase
    except ValueError:
        phrase = "Unknown"
    return f"{code} {phrase}"


def wsgi_headers(headers: Iterable[Any]) -> list[tuple[str, str]]:
    """The WSGI header list for ASGI `headers` (pairs of bytes)."""
    return [
        (bytes(name).decode("latin-1"), bytes(value).decode("latin-1")) for name, value in headers
    ]
