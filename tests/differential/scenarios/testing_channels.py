"""Channels' test helpers (WebsocketCommunicator, HttpCommunicator, its ApplicationCommunicator)
on top of asgiref.testing.ApplicationCommunicator, driving Channels consumers and Django's ASGI
handler, as a project's tests do."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any, ClassVar

from _observe import Observer

from asgiref.sync import ThreadSensitiveContext

# Django resolves ROOT_URLCONF (this module) and reads these when a request comes in.
urlpatterns: list[Any] = []


def _setup_django() -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="differential",
            ALLOWED_HOSTS=["*"],
            ROOT_URLCONF=__name__,
            INSTALLED_APPS=["channels"],
            DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
            CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
            USE_TZ=True,
        )
        django.setup()


def _state(communicator: Any) -> dict[str, bool]:
    future = communicator.future
    failed = future.done() and not future.cancelled() and future.exception() is not None
    return {"done": future.done(), "cancelled": future.cancelled(), "failed": failed}


# --- WebSocket ----------------------------------------------------------------------------------


async def scenario_websocket_sync_consumer_round_trip(obs: Observer) -> None:
    _setup_django()
    from channels.generic.websocket import WebsocketConsumer
    from channels.testing import WebsocketCommunicator

    events: list[Any] = []

    class Upper(WebsocketConsumer):  # type: ignore[misc]
        def connect(self) -> None:
            events.append(["connect", self.scope["path"], self.scope["query_string"]])
            self.accept()

        def receive(self, text_data: Any = None, bytes_data: Any = None) -> None:
            if text_data is not None:
                self.send(text_data=text_data.upper())
            else:
                self.send(bytes_data=bytes_data[::-1])

        def disconnect(self, code: int) -> None:
            events.append(["disconnect", code])

    communicator = WebsocketCommunicator(Upper.as_asgi(), "/ws/room/?token=abc")
    await obs.acall("connect", communicator.connect(0.5))
    obs("response_headers", communicator.response_headers)
    await obs.acall("send_to text", communicator.send_to(text_data="hello"))
    await obs.acall("receive_from text", communicator.receive_from(0.5))
    await communicator.send_to(bytes_data=b"abc")
    await obs.acall("receive_from bytes", communicator.receive_from(0.5))
    await obs.acall("receive_nothing", communicator.receive_nothing(0.05))
    await obs.acall("disconnect", communicator.disconnect(code=1001, timeout=0.5))
    obs("state after disconnect", _state(communicator))
    await obs.acall("wait after disconnect", communicator.wait(0.5))
    obs("consumer events", list(events))


async def scenario_websocket_refused_then_wait(obs: Observer) -> None:
    _setup_django()
    from channels.generic.websocket import WebsocketConsumer
    from channels.testing import WebsocketCommunicator

    class Refuses(WebsocketConsumer):  # type: ignore[misc]
        def connect(self) -> None:
            self.close()

    communicator = WebsocketCommunicator(Refuses.as_asgi(), "/ws/")
    await obs.acall("connect", communicator.connect(0.5))
    await obs.acall("wait", communicator.wait(0.2))
    obs("state after wait", _state(communicator))
    await obs.acall("send_to after", communicator.send_to(text_data="late"))


async def scenario_websocket_refused_with_code_then_disconnect(obs: Observer) -> None:
    _setup_django()
    from channels.generic.websocket import AsyncWebsocketConsumer
    from channels.testing import WebsocketCommunicator

    codes: list[int] = []

    class Refuses(AsyncWebsocketConsumer):  # type: ignore[misc]
        async def connect(self) -> None:
            await self.close(code=4003)

        async def disconnect(self, code: int) -> None:
            codes.append(code)

    communicator = WebsocketCommunicator(Refuses.as_asgi(), "/ws/")
    await obs.acall("connect", communicator.connect(0.5))
    await obs.acall("receive_nothing", communicator.receive_nothing(0.05))
    await obs.acall("disconnect", communicator.disconnect(code=4003, timeout=0.5))
    obs("state", _state(communicator))
    obs("disconnect codes the consumer saw", list(codes))


async def scenario_websocket_subprotocols_and_headers(obs: Observer) -> None:
    _setup_django()
    from channels.generic.websocket import AsyncWebsocketConsumer
    from channels.testing import WebsocketCommunicator

    class Picks(AsyncWebsocketConsumer):  # type: ignore[misc]
        async def connect(self) -> None:
            offered = self.scope["subprotocols"]
            headers = dict(self.scope["headers"])
            await self.accept(subprotocol=offered[-1])
            await self.send(text_data=f"{offered} {headers.get(b'x-test')!r}")

    communicator = WebsocketCommunicator(
        Picks.as_asgi(),
        "/ws/",
        headers=[(b"x-test", b"yes")],
        subprotocols=["v1.chat", "v2.chat"],
    )
    await obs.acall("connect", communicator.connect(0.5))
    await obs.acall("receive_from", communicator.receive_from(0.5))
    await obs.acall("disconnect", communicator.disconnect(timeout=0.5))


async def scenario_websocket_json_consumers(obs: Observer) -> None:
    _setup_django()
    from channels.generic.websocket import AsyncJsonWebsocketConsumer, JsonWebsocketConsumer
    from channels.testing import WebsocketCommunicator

    class SyncJson(JsonWebsocketConsumer):  # type: ignore[misc]
        def connect(self) -> None:
            self.accept()

        def receive_json(self, content: Any, **kwargs: Any) -> None:
            self.send_json({"sync": True, "got": content})

    class AsyncJson(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
        async def connect(self) -> None:
            await self.accept()

        async def receive_json(self, content: Any, **kwargs: Any) -> None:
            await self.send_json({"sync": False, "got": content})

    for name, consumer in (("sync", SyncJson), ("async", AsyncJson)):
        communicator = WebsocketCommunicator(consumer.as_asgi(), "/json/")
        await obs.acall(f"{name} connect", communicator.connect(0.5))
        await communicator.send_json_to({"n": [1, 2], "s": "x"})
        await obs.acall(f"{name} receive_json_from", communicator.receive_json_from(0.5))
        await obs.acall(f"{name} receive_nothing", communicator.receive_nothing(0.05))
        await obs.acall(f"{name} disconnect", communicator.disconnect(timeout=0.5))


async def scenario_websocket_receive_from_timeout_then_calls(obs: Observer) -> None:
    _setup_django()
    from channels.generic.websocket import AsyncWebsocketConsumer
    from channels.testing import WebsocketCommunicator

    class Silent(AsyncWebsocketConsumer):  # type: ignore[misc]
        async def connect(self) -> None:
            await self.accept()

        async def receive(self, text_data: Any = None, bytes_data: Any = None) -> None:
            pass

    communicator = WebsocketCommunicator(Silent.as_asgi(), "/ws/")
    await obs.acall("connect", communicator.connect(0.5))
    await communicator.send_to(text_data="anyone?")
    await obs.acall("receive_from", communicator.receive_from(0.1))
    obs("state", _state(communicator))
    await obs.acall("send_to after the timeout", communicator.send_to(text_data="again"))
    await obs.acall("disconnect after the timeout", communicator.disconnect(timeout=0.1))
    await obs.acall("wait after the timeout", communicator.wait(0.1))


async def scenario_websocket_consumer_raises(obs: Observer) -> None:
    _setup_django()
    from channels.generic.websocket import AsyncWebsocketConsumer, WebsocketConsumer
    from channels.testing import WebsocketCommunicator

    class FailsOnReceive(AsyncWebsocketConsumer):  # type: ignore[misc]
        async def connect(self) -> None:
            await self.accept()

        async def receive(self, text_data: Any = None, bytes_data: Any = None) -> None:
            raise ValueError(f"cannot handle {text_data}")

    class FailsOnConnect(WebsocketConsumer):  # type: ignore[misc]
        def connect(self) -> None:
            raise PermissionError("no entry")

    communicator = WebsocketCommunicator(FailsOnReceive.as_asgi(), "/ws/")
    await obs.acall("connect", communicator.connect(0.5))
    await communicator.send_to(text_data="this")
    await obs.acall("receive_from", communicator.receive_from(0.5))
    await obs.acall("send_to after", communicator.send_to(text_data="that"))
    await obs.acall("wait", communicator.wait(0.5))
    obs("state", _state(communicator))
    obs.call("stop(exceptions=False)", lambda: communicator.stop(exceptions=False))
    obs.call("stop()", communicator.stop)

    refusing = WebsocketCommunicator(FailsOnConnect.as_asgi(), "/ws/")
    await obs.acall("connect to a consumer failing in connect", refusing.connect(0.5))
    await obs.acall("wait on it", refusing.wait(0.5))


async def scenario_websocket_consumer_slow_reply(obs: Observer) -> None:
    _setup_django()
    from channels.generic.websocket import AsyncWebsocketConsumer
    from channels.testing import WebsocketCommunicator

    class Slow(AsyncWebsocketConsumer):  # type: ignore[misc]
        async def connect(self) -> None:
            await self.accept()

        async def receive(self, text_data: Any = None, bytes_data: Any = None) -> None:
            await asyncio.sleep(0.25)
            await self.send(text_data="late " + str(text_data))

    communicator = WebsocketCommunicator(Slow.as_asgi(), "/ws/")
    await communicator.connect(0.5)
    await communicator.send_to(text_data="one")
    await obs.acall("receive_nothing(0.05)", communicator.receive_nothing(0.05))
    await obs.acall("receive_from(1)", communicator.receive_from(1))
    await communicator.send_to(text_data="two")
    await obs.acall("receive_nothing(1)", communicator.receive_nothing(1))
    await obs.acall("receive_from(1) again", communicator.receive_from(1))
    await obs.acall("disconnect", communicator.disconnect(timeout=0.5))


async def scenario_group_send_through_in_memory_layer(obs: Observer) -> None:
    _setup_django()
    from channels.generic.websocket import AsyncJsonWebsocketConsumer
    from channels.layers import get_channel_layer
    from channels.testing import WebsocketCommunicator

    class Room(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
        groups: ClassVar[list[str]] = ["room"]

        async def connect(self) -> None:
            await self.accept()

        async def receive_json(self, content: Any, **kwargs: Any) -> None:
            await self.channel_layer.group_send(
                "room", {"type": "room.message", "text": content["text"]}
            )

        async def room_message(self, event: dict[str, Any]) -> None:
            await self.send_json({"me": self.scope["path"], "text": event["text"]})

    first = WebsocketCommunicator(Room.as_asgi(), "/first/")
    second = WebsocketCommunicator(Room.as_asgi(), "/second/")
    await obs.acall("first connect", first.connect(0.5))
    await obs.acall("second connect", second.connect(0.5))
    await first.send_json_to({"text": "from first"})
    await obs.acall("first gets", first.receive_json_from(0.5))
    await obs.acall("second gets", second.receive_json_from(0.5))
    layer = get_channel_layer()
    await layer.group_send("room", {"type": "room.message", "text": "from the test"})
    await obs.acall("first gets the test's", first.receive_json_from(0.5))
    await obs.acall("second gets the test's", second.receive_json_from(0.5))
    await obs.acall("first disconnect", first.disconnect(timeout=0.5))
    await layer.group_send("room", {"type": "room.message", "text": "after"})
    await obs.acall("second gets the last", second.receive_json_from(0.5))
    await obs.acall("first nothing", first.receive_nothing(0.05))
    await obs.acall("second disconnect", second.disconnect(timeout=0.5))


async def scenario_database_sync_to_async_in_consumer(obs: Observer) -> None:
    _setup_django()
    from channels.db import database_sync_to_async
    from channels.generic.websocket import AsyncWebsocketConsumer
    from channels.testing import WebsocketCommunicator
    from django.db import connection

    where: dict[str, bool] = {}

    def query(value: int) -> Any:
        where["main thread"] = threading.current_thread() is threading.main_thread()
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s * 2", [value])
            return cursor.fetchone()[0]

    class Queries(AsyncWebsocketConsumer):  # type: ignore[misc]
        async def connect(self) -> None:
            await self.accept()

        async def receive(self, text_data: Any = None, bytes_data: Any = None) -> None:
            result = await database_sync_to_async(query)(int(text_data))
            await self.send(text_data=str(result))

    communicator = WebsocketCommunicator(Queries.as_asgi(), "/db/")
    await obs.acall("connect", communicator.connect(0.5))
    await communicator.send_to(text_data="21")
    await obs.acall("receive_from", communicator.receive_from(1))
    obs("query ran on the main thread", where.get("main thread"))
    await obs.acall("disconnect", communicator.disconnect(timeout=0.5))


async def scenario_consumer_context_and_thread_sensitivity(obs: Observer) -> None:
    _setup_django()
    from channels.generic.websocket import WebsocketConsumer
    from channels.testing import WebsocketCommunicator

    marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")
    threads: dict[str, threading.Thread] = {}
    seen: dict[str, str] = {}

    def note(name: str) -> None:
        threads[name] = threading.current_thread()

    class Notes(WebsocketConsumer):  # type: ignore[misc]
        def connect(self) -> None:
            seen[self.scope["path"]] = marker.get()
            note(self.scope["path"])
            self.accept()

    from asgiref.sync import sync_to_async

    marker.set("set by the test")
    async with ThreadSensitiveContext():
        await sync_to_async(note)("test")
        first = WebsocketCommunicator(Notes.as_asgi(), "/first/")
        second = WebsocketCommunicator(Notes.as_asgi(), "/second/")
        await obs.acall("first connect", first.connect(1))
        await obs.acall("second connect", second.connect(1))
        await first.disconnect(timeout=0.5)
        await second.disconnect(timeout=0.5)
    obs("the consumers saw the test's variable", dict(seen))
    obs("first ran on the test's context thread", threads["/first/"] is threads["test"])
    obs("second ran on the test's context thread", threads["/second/"] is threads["test"])


# --- HTTP ---------------------------------------------------------------------------------------


async def scenario_http_consumer_get_response(obs: Observer) -> None:
    _setup_django()
    from channels.generic.http import AsyncHttpConsumer
    from channels.testing import HttpCommunicator

    class Answers(AsyncHttpConsumer):  # type: ignore[misc]
        async def handle(self, body: bytes) -> None:
            method = self.scope["method"].encode()
            query = self.scope["query_string"]
            await self.send_response(
                201, method + b" " + query + b" " + body, headers=[(b"Content-Type", b"text/plain")]
            )

    class Silent(AsyncHttpConsumer):  # type: ignore[misc]
        async def handle(self, body: bytes) -> None:
            await asyncio.sleep(30)

    class Fails(AsyncHttpConsumer):  # type: ignore[misc]
        async def handle(self, body: bytes) -> None:
            raise ValueError("handler failed")

    communicator = HttpCommunicator(Answers.as_asgi(), "post", "/items/?page=2", body=b"data")
    await obs.acall("get_response", communicator.get_response(0.5))
    await obs.acall("wait", communicator.wait(0.5))
    obs("state", _state(communicator))

    silent = HttpCommunicator(Silent.as_asgi(), "GET", "/")
    await obs.acall("get_response from a silent consumer", silent.get_response(0.1))
    obs("silent state", _state(silent))
    await obs.acall("get_response again", silent.get_response(0.1))

    failing = HttpCommunicator(Fails.as_asgi(), "GET", "/")
    await obs.acall("get_response from a failing consumer", failing.get_response(0.5))
    await obs.acall("wait on it", failing.wait(0.5))


async def scenario_django_asgi_handler_requests(obs: Observer) -> None:
    _setup_django()
    from channels.testing import HttpCommunicator
    from django.core.asgi import get_asgi_application
    from django.http import HttpRequest, HttpResponse
    from django.urls import path

    def hello(request: HttpRequest) -> HttpResponse:
        return HttpResponse(f"hello {request.method}", headers={"X-Test": "1"})

    async def ahello(request: HttpRequest) -> HttpResponse:
        return HttpResponse(b"async hello", status=202)

    urlpatterns[:] = [path("hello/", hello), path("ahello/", ahello)]
    application = get_asgi_application()
    first = HttpCommunicator(application, "GET", "/hello/")
    second = HttpCommunicator(application, "GET", "/ahello/")
    missing = HttpCommunicator(application, "GET", "/nowhere/")
    await obs.acall("sync view", first.get_response(1))
    await obs.acall("async view", second.get_response(1))
    await obs.acall("not found", missing.get_response(1))
    for name, communicator in (("sync", first), ("async", second), ("missing", missing)):
        await obs.acall(f"wait {name}", communicator.wait(1))
        obs(f"{name} state", _state(communicator))


async def scenario_channels_application_communicator(obs: Observer) -> None:
    _setup_django()
    from channels.generic.websocket import AsyncWebsocketConsumer
    from channels.testing import ApplicationCommunicator

    class Echo(AsyncWebsocketConsumer):  # type: ignore[misc]
        async def connect(self) -> None:
            await self.accept()

        async def receive(self, text_data: Any = None, bytes_data: Any = None) -> None:
            await self.send(text_data=text_data)

    scope = {"type": "websocket", "path": "/", "headers": [], "subprotocols": []}
    communicator = ApplicationCommunicator(Echo.as_asgi(), scope)
    obs("scope is the dict given", communicator.scope is scope)
    await obs.acall("send connect", communicator.send_input({"type": "websocket.connect"}))
    await obs.acall("accept", communicator.receive_output(0.5))
    await communicator.send_input({"type": "websocket.receive", "text": "ping"})
    await obs.acall("echo", communicator.receive_output(0.5))
    await obs.acall("silence", communicator.receive_output(0.1))
    obs("state", _state(communicator))
    await obs.acall("send after", communicator.send_input({"type": "websocket.disconnect"}))
    await obs.acall("wait after", communicator.wait(0.1))
    obs.call("stop()", communicator.stop)
