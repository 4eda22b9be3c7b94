"""Channels consumers: one of each kind of WebSocket consumer, and a worker consumer for a named
channel. A `?group=NAME` query string makes a WebSocket consumer join that group, and forward
every `group.message` it gets to its client."""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import SyncConsumer
from channels.db import database_sync_to_async
from channels.generic.websocket import (
    AsyncWebsocketConsumer,
    JsonWebsocketConsumer,
    WebsocketConsumer,
)
from django.db import connections

from asgiref.sync import async_to_sync, sync_to_async

from .shop.models import Item, ItemLog


def _group_of(scope: dict[str, Any]) -> str | None:
    values = parse_qs(scope["query_string"].decode()).get("group")
    return values[0] if values else None


def _count_items() -> dict[str, int]:
    return {"count": Item.objects.count(), "thread": threading.get_ident()}


def touch_database() -> dict[str, Any]:
    """Run a query (which opens this thread's connection) and report it open."""
    Item.objects.count()
    return {"thread": threading.get_ident(), "open": connections["default"].connection is not None}


def connection_state() -> dict[str, Any]:
    """Whether this thread's connection is open, without opening it."""
    return {"thread": threading.get_ident(), "open": connections["default"].connection is not None}


def close_connection() -> None:
    connections["default"].close()


class EchoConsumer(WebsocketConsumer):  # type: ignore[misc, unused-ignore]  # Channels is untyped
    """Sync: its handlers run in a thread (through Channels' database_sync_to_async)."""

    group: str | None = None

    def connect(self) -> None:
        self.group = _group_of(self.scope)
        if self.group:
            async_to_sync(self.channel_layer.group_add)(self.group, self.channel_name)
        self.accept()

    def disconnect(self, code: int) -> None:
        if self.group:
            async_to_sync(self.channel_layer.group_discard)(self.group, self.channel_name)

    def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data == "db":
            # The ORM, straight from a sync consumer.
            self.send(text_data=json.dumps(_count_items()))
        elif text_data is not None:
            self.send(text_data=text_data.upper())
        elif bytes_data is not None:
            self.send(bytes_data=bytes_data[::-1])

    def group_message(self, event: dict[str, Any]) -> None:
        self.send(text_data=json.dumps({"consumer": "sync", "seq": event["seq"]}))


class AsyncChatConsumer(AsyncWebsocketConsumer):  # type: ignore[misc, unused-ignore]
    group: str | None = None

    async def connect(self) -> None:
        self.group = _group_of(self.scope)
        if self.group:
            await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data == "count":
            await self.send(text_data=json.dumps(await database_sync_to_async(_count_items)()))
        elif text_data == "dbcheck":
            await self.send(text_data=json.dumps(await self._db_check()))
        elif text_data is not None:
            await self.send(text_data=f"async:{text_data}")
        elif bytes_data is not None:
            await self.send(bytes_data=bytes_data * 2)

    async def _db_check(self) -> dict[str, Any]:
        """Whether a thread's connection is still open after a query run through Channels'
        database_sync_to_async (whose thread_handler closes old connections around the call),
        and, for contrast, after one run through plain sync_to_async (which leaves it open).
        All four calls are thread-sensitive, so they run on one thread."""
        report: dict[str, Any] = {}
        for name, bridge in (
            ("database_sync_to_async", database_sync_to_async),
            ("sync_to_async", sync_to_async),
        ):
            during = await bridge(touch_database)()
            after = await sync_to_async(connection_state)()
            report[name] = {"during": during, "after": after}
        await sync_to_async(close_connection)()
        return report

    async def group_message(self, event: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps({"consumer": "async", "seq": event["seq"]}))


class ItemsJsonConsumer(JsonWebsocketConsumer):  # type: ignore[misc, unused-ignore]
    def connect(self) -> None:
        self.accept()

    def receive_json(self, content: Any, **kwargs: Any) -> None:
        action = content.get("action")
        if action == "create":
            name = content["name"]
            item = Item.objects.create(name=name, thread=threading.get_ident())
            logs = ItemLog.objects.filter(item_name=name).order_by("receiver")
            self.send_json(
                {
                    "created": item.pk,
                    "thread": item.thread,
                    "count": Item.objects.count(),
                    "logs": [{"receiver": log.receiver, "thread": log.thread} for log in logs],
                }
            )
        elif action == "count":
            self.send_json(_count_items())
        else:
            self.send_json({"error": f"unknown action {action!r}"})


class TaskConsumer(SyncConsumer):  # type: ignore[misc, unused-ignore]
    """Serves the named channel `tasks` (run by Channels' worker): saves an Item per
    `task.record` message and answers on the message's `reply_to` channel."""

    def task_record(self, message: dict[str, Any]) -> None:
        item = Item.objects.create(name=message["name"], thread=threading.get_ident())
        async_to_sync(self.channel_layer.send)(
            message["reply_to"],
            {"type": "task.done", "name": item.name, "id": item.pk, "thread": item.thread},
        )
