"""Translating a response's status and headers between WSGI and ASGI.

WSGI to ASGI converts exactly as asgiref 3.13 does, with the same errors for the same mistakes
(a test may expect them), except where passing a header on would hurt the user (DIFFERENCES.md,
WSGI-3 to WSGI-5): CR, LF or NUL in a header (injection) raise `InvalidResponseError`; spaces and
tabs around a value are removed (strict servers drop the connection over them, and Django's
Set-Cookie values start with one); a negative or conflicting Content-Length is refused (it
desynchronizes a kept-alive connection).
"""

from __future__ import annotations

import http
from collections.abc import Iterable
from typing import Any

from ._wsgi_request import UNSAFE_IN_HEADER


class InvalidResponseError(ValueError):
    """A WSGI app's response headers cannot be sent safely."""


def status_code(status: Any) -> int:
    """The code of a WSGI status line such as "200 OK" (its reason phrase is not sent)."""
    # Unpacking, not partition: "200" without a reason fails as it does in the original.
    code, _ = status.split(" ", 1)
    return int(code)


def encode_headers(response_headers: Iterable[Any]) -> tuple[list[tuple[bytes, bytes]], int | None]:
    """The ASGI headers for a WSGI app's header pairs, and the Content-Length they declare.

    `response_headers` is read once, so a generator works and its Content-Length is enforced."""
    headers: list[tuple[bytes, bytes]] = []
    lengths: list[str] = []
    for name, value in response_headers:
        encoded_name = name.lower().encode("ascii")
        encoded_value = value.encode("ascii").strip(b" \t")
        # Checked once encoded: a name or value that is not ASCII fails as in the original first.
        if UNSAFE_IN_HEADER.search(name) or UNSAFE_IN_HEADER.search(value):
            raise InvalidResponseError(
                f"response header {name!r}: {value!r} holds CR, LF or NUL, which could inject "
                "headers into the response; it was not sent"
            )
        headers.append((encoded_name, encoded_value))
        if encoded_name == b"content-length":
            lengths.append(value)
    return headers, _declared_length(lengths)


def _declared_length(values: list[str]) -> int | None:
    """The length the Content-Length headers declare (None without one)."""
    declared = None
    for value in values:
        length = int(value)  # the original's parsing: ' 2 ' is 2, 'abc' a ValueError
        if length < 0:
            raise InvalidResponseError(f"response Content-Length {value!r} is negative")
        if declared is not None and length != declared:
            raise InvalidResponseError(
                f"response Content-Length headers disagree ({declared} and {length})"
            )
        declared = length
    return declared


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
