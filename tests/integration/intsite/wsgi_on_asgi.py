"""The project's WSGI entry point, served to an ASGI server through asgiref's WsgiToAsgi."""

from __future__ import annotations

from asgiref.wsgi import WsgiToAsgi

from .wsgi import application as wsgi_application

application = WsgiToAsgi(wsgi_application)
