"""The project's views.

The URLs of `sync/`, `async/` and `orm/` are fixed: a benchmark uses them.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from channels.layers import get_channel_layer
from django.db import connections
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse

from asgiref.sync import async_to_sync, sync_to_async

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


def group_send(request: Any) -> Any:
    """Send `n` messages to a group, one `async_to_sync(channel_layer.group_send)` call each."""
    layer = get_channel_layer()
    group = request.GET["group"]
    count = int(request.GET["n"])
    for seq in range(count):
        async_to_sync(layer.group_send)(group, {"type": "group.message", "seq": seq})
    return JsonResponse({"sent": count, "thread": threading.get_ident()})
