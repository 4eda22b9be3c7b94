"""The project's views.

The URLs of `sync/`, `async/` and `orm/` are fixed: a benchmark uses them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from channels.layers import get_channel_layer
from django.db import connections
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse

from asgiref.sync import async_to_sync, async_to_sync_iter, sync_to_async, sync_to_async_iter

from .shop.models import Item, ItemLog


def hello_sync(request: Any) -> Any:
    response = HttpResponse("hello sync", content_type="text/plain; charset=utf-8")
    response["X-View-Thread"] = str(threading.get_ident())
    return response


async def hello_async(request: Any) -> Any:
    return HttpResponse("hello async", content_type="text/plain; charset=utf-8")


def _create_item(name: str) -> dict[str, Any]:
    """Save an Item (its post_save receivers each write an ItemLog) and say what happened."""
    item = Item.objects.create(name=name, thread=threading.get_ident())
    logs = ItemLog.objects.filter(item_name=name).order_by("receiver")
    return {
        "id": item.pk,
        "thread": item.thread,
        "logs": [{"receiver": log.receiver, "thread": log.thread} for log in logs],
    }


async def orm(request: Any) -> Any:
    """GET: how many items there are. POST ?name=N: save an item named N first."""
    created = None
    if request.method == "POST":
        created = await sync_to_async(_create_item)(request.GET.get("name", "item"))
    count = await sync_to_async(Item.objects.count)()
    return JsonResponse({"count": count, "created": created})


def _connection_report() -> dict[str, Any]:
    """This thread's database connection, after a query has opened it."""
    count = Item.objects.count()
    wrapper = connections["default"]
    return {
        "thread": threading.get_ident(),
        "wrapper": id(wrapper),
        "wrapper_thread": wrapper._thread_ident,
        "raw": id(wrapper.connection),
        "count": count,
    }


def whoami(request: Any) -> Any:
    return JsonResponse(_connection_report())


_barriers: dict[str, threading.Barrier] = {}
_barriers_lock = threading.Lock()


def hold(request: Any) -> Any:
    """Open this thread's connection, then wait until `parties` requests of the same `round` all
    hold theirs at once (a barrier, 20 s at most: if they are not served at the same time, it
    breaks and the request fails)."""
    parties = int(request.GET["parties"])
    with _barriers_lock:
        barrier = _barriers.setdefault(request.GET["round"], threading.Barrier(parties, timeout=20))
    report = _connection_report()
    barrier.wait()
    return JsonResponse(report)


def stream_sync(request: Any) -> Any:
    count = int(request.GET.get("n", "5"))

    def chunks() -> Iterator[bytes]:
        for number in range(count):
            yield f"sync chunk {number}\n".encode()

    return StreamingHttpResponse(chunks(), content_type="text/plain")


async def stream_async(request: Any) -> Any:
    count = int(request.GET.get("n", "5"))

    async def chunks() -> AsyncIterator[bytes]:
        for number in range(count):
            yield f"async chunk {number}\n".encode()

    return StreamingHttpResponse(chunks(), content_type="text/plain")


# Gates the streaming views wait at after their first chunk, until the test (having received that
# chunk) opens the gate with another request: proof that the response streams rather than buffers.
_GATES: dict[str, threading.Event] = {}
GATE_WAIT = 20.0  # seconds


def _gate(key: str) -> threading.Event:
    return _GATES.setdefault(key, threading.Event())


def release(request: Any) -> Any:
    _gate(request.GET["id"]).set()
    return HttpResponse("released")


def stream_orm_bridged(request: Any) -> Any:
    """A sync generator reading the ORM for each row, served under ASGI through
    `sync_to_async_iter` (Django would otherwise consume it whole in a thread first)."""
    key, count = request.GET["id"], int(request.GET.get("n", "5"))

    def rows() -> Iterator[bytes]:
        for number in range(count):
            total = Item.objects.count()  # the ORM, on the thread this step runs on
            yield f"row {number} thread {threading.get_ident()} items {total}\n".encode()
            if number == 0 and not _gate(key).wait(GATE_WAIT):
                yield b"the gate was never opened\n"

    return StreamingHttpResponse(sync_to_async_iter(rows()), content_type="text/plain")


def stream_async_bridged(request: Any) -> Any:
    """An async generator served by a sync view (under WSGI) through `async_to_sync_iter`."""
    key, count = request.GET["id"], int(request.GET.get("n", "5"))

    async def chunks() -> AsyncIterator[bytes]:
        for number in range(count):
            yield f"async chunk {number}\n".encode()
            if number == 0:
                loop = asyncio.get_running_loop()
                if not await loop.run_in_executor(None, _gate(key).wait, GATE_WAIT):
                    yield b"the gate was never opened\n"

    return StreamingHttpResponse(async_to_sync_iter(chunks()), content_type="text/plain")


def group_send(request: Any) -> Any:
    """Send `n` messages to a group, one `async_to_sync(channel_layer.group_send)` call each."""
    layer = get_channel_layer()
    group = request.GET["group"]
    count = int(request.GET["n"])
    for seq in range(count):
        async_to_sync(layer.group_send)(group, {"type": "group.message", "seq": seq})
    return JsonResponse({"sent": count, "thread": threading.get_ident()})
