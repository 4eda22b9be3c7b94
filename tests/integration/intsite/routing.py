from __future__ import annotations

from typing import Any

from channels.routing import ChannelNameRouter
from django.urls import path

from .consumers import AsyncChatConsumer, EchoConsumer, ItemsJsonConsumer, TaskConsumer

websocket_urlpatterns: list[Any] = [
    path("ws/echo/", EchoConsumer.as_asgi()),
    path("ws/async/", AsyncChatConsumer.as_asgi()),
    path("ws/json/", ItemsJsonConsumer.as_asgi()),
]

# Named channels served by `manage.py runworker` (channels.worker.Worker).
channel_routes = ChannelNameRouter({"tasks": TaskConsumer.as_asgi()})
