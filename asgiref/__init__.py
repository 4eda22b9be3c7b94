"""asgiref: the helpers every Python ASGI stack stands on."""

__version__ = "3.13.0"
