"""Two middleware: one that only Django's sync path can run, one that only its async path can.
Each stamps the response with a header, so a test sees that both ran."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction


class SyncStampMiddleware:
    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        thread = threading.get_ident()
        response = self.get_response(request)
        # The thread it ran on: for a sync view, the view's own thread (they share a sync world).
        response["X-Sync-Middleware"] = str(thread)
        return response


class AsyncStampMiddleware:
    sync_capable = False
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Awaitable[Any]]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    async def __call__(self, request: Any) -> Any:
        response = await self.get_response(request)
        response["X-Async-Middleware"] = "ran"
        return response
