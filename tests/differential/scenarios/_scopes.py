"""ASGI scopes the scenarios send, built one way everywhere."""

from __future__ import annotations

from typing import Any


def http_scope(**changes: Any) -> dict[str, Any]:
    """A plain HTTP GET scope for `/` on example.com, with `changes` applied."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"example.com")],
        "client": ("127.0.0.1", 50000),
        "server": ("example.com", 80),
    }
    scope.update(changes)
    return scope
