"""The communicators against real frameworks: a small Starlette app and a small Django ASGI app
(Django's handler runs its sync views through this package's sync_to_async)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

from asgiref.testing import (
    HttpCommunicator,
    HttpResponse,
    LifespanCommunicator,
    WebsocketCommunicator,
)

# --- Starlette -------------------------------------------------------------------------------


def starlette_app() -> Any:
    import contextlib

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse, Response
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket

    async def hello(request: Request) -> Response:
        name = request.query_params.get("name", "nobody")
        return PlainTextResponse(f"hello {name}; ready={request.state.ready}")

    async def echo_json(request: Request) -> Response:
        return JSONResponse({"got": await request.json()}, status_code=201)

    async def chat(websocket: WebSocket) -> None:
        if websocket.query_params.get("deny"):
            await websocket.send_denial_response(PlainTextResponse("go away", status_code=403))
            return
        await websocket.accept(subprotocol="chat.v1")
        data = await websocket.receive_json()
        await websocket.send_json({"echo": data})
        text = await websocket.receive_text()
        await websocket.send_bytes(text.upper().encode())
        await websocket.close(code=4000)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        yield {"ready": True}

    return Starlette(
        routes=[
            Route("/hello", hello),
            Route("/echo", echo_json, methods=["POST"]),
            WebSocketRoute("/chat", chat),
        ],
        lifespan=lifespan,
    )


@pytest.mark.asyncio
async def test_starlette_http_with_lifespan_state() -> None:
    app = starlette_app()
    state: dict[str, Any] = {}
    lifespan = LifespanCommunicator(app, state=state)
    await lifespan.startup()
    assert state == {"ready": True}

    hello = HttpCommunicator(app, "GET", "/hello?name=ada", scope={"state": dict(state)})
    response = await hello.get_response()
    assert (response.status, response.body) == (200, b"hello ada; ready=True")
    assert response.header("content-type") == b"text/plain; charset=utf-8"

    echo = HttpCommunicator(
        app,
        "POST",
        "/echo",
        body=b'{"n": 1}',
        headers=[("Content-Type", "application/json")],
        scope={"state": dict(state)},
    )
    posted = await echo.get_response()
    assert (posted.status, posted.json()) == (201, {"got": {"n": 1}})
    await lifespan.shutdown()


@pytest.mark.asyncio
async def test_starlette_websocket_conversation_and_denial() -> None:
    app = starlette_app()
    communicator = WebsocketCommunicator(app, "/chat", subprotocols=["chat.v1"])
    assert await communicator.connect() == (True, "chat.v1")
    await communicator.send_json_to({"a": [1, 2]})
    assert await communicator.receive_json_from() == {"echo": {"a": [1, 2]}}
    await communicator.send_to(text_data="shout")
    assert await communicator.receive_from() == b"SHOUT"
    closing = await communicator.receive_output()
    assert (closing["type"], closing["code"]) == ("websocket.close", 4000)
    await communicator.wait()

    denied = WebsocketCommunicator(app, "/chat?deny=1")
    accepted, response = await denied.connect()
    assert not accepted
    assert isinstance(response, HttpResponse)
    assert (response.status, response.body) == (403, b"go away")
    await denied.wait()


# --- Django ----------------------------------------------------------------------------------

view_threads: list[threading.Thread] = []


def django_app() -> Any:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="tests-only",
            ALLOWED_HOSTS=["*"],
            ROOT_URLCONF=__name__,
            MIDDLEWARE=[],
            INSTALLED_APPS=[],
            USE_TZ=True,
        )
        django.setup()
    from django.core.asgi import get_asgi_application

    return get_asgi_application()


def sync_view(request: Any) -> Any:
    from django.http import HttpResponse

    view_threads.append(threading.current_thread())
    return HttpResponse(f"sync {request.method} {request.GET.get('q', '')}".encode())


async def async_view(request: Any) -> Any:
    from django.http import JsonResponse

    return JsonResponse({"async": True, "body": request.body.decode()})


def urlpatterns_factory() -> list[Any]:
    from django.urls import path

    return [path("sync", sync_view), path("async", async_view)]


def __getattr__(name: str) -> Any:
    # Django imports ROOT_URLCONF (this module) and reads `urlpatterns` lazily, after setup.
    if name == "urlpatterns":
        return urlpatterns_factory()
    raise AttributeError(name)


@pytest.mark.asyncio
async def test_django_sync_and_async_views() -> None:
    app = django_app()
    first = await HttpCommunicator(app, "GET", "/sync?q=1").get_response()
    second = await HttpCommunicator(app, "GET", "/sync?q=2").get_response()
    assert (first.status, first.body) == (200, b"sync GET 1")
    assert (second.status, second.body) == (200, b"sync GET 2")
    assert all(thread is not threading.current_thread() for thread in view_threads)

    posted = await HttpCommunicator(app, "POST", "/async", body=b"payload").get_response()
    assert (posted.status, posted.json()) == (200, {"async": True, "body": "payload"})
    missing = await HttpCommunicator(app, "GET", "/nowhere").get_response()
    assert missing.status == 404
