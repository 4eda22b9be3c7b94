"""The project's ASGI entry point: HTTP through Django's own ASGI handler, WebSockets through
Channels' consumers, named channels (for the worker) through Channels' router."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "intsite.settings")
# Set Django up (get_asgi_application does) before anything imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from .routing import channel_routes, websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
        "channel": channel_routes,
    }
)
