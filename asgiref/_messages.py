"""ASGI messages as the internals pass them around: plain dicts (`asgiref.typing` has the precise
types, for users). The sizes are the WSGI adapters' pipes': how many bytes may wait in one before
its writer waits (see `_pipe`)."""

from collections.abc import Callable
from typing import Any

Message = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]

BODY_BUFFER = RESPONSE_BUFFER = 256 * 1024
