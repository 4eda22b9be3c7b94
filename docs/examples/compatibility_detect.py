import asyncio
from typing import Any

from asgiref.compatibility import guarantee_single_callable, is_double_callable


class LegacyApp:
    """ASGI 2: built with the scope, then awaited with receive and send."""

    def __init__(self, scope: dict[str, Any]) -> None:
        self.scope = scope

    async def __call__(self, receive: Any, send: Any) -> None:
        await send({"type": "demo", "text": f"legacy app for {self.scope['type']}"})


async def modern_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "demo", "text": f"modern app for {scope['type']}"})


class Router:
    """ASGI 3, though its ``__call__`` is a plain function that returns the
    coroutine to await: only the marker tells it from the first half of an ASGI 2
    call."""

    _asgi_single_callable = True

    def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        return modern_app(scope, receive, send)


print(is_double_callable(LegacyApp), is_double_callable(modern_app))
print(is_double_callable(Router()))


async def main() -> None:
    async def receive() -> dict[str, Any]:
        return {}

    async def send(message: dict[str, Any]) -> None:
        print(message["text"])

    for app in (LegacyApp, modern_app, Router()):
        await guarantee_single_callable(app)({"type": "http"}, receive, send)


asyncio.run(main())
