"""Driving ASGI applications from tests.

`ApplicationCommunicator` behaves as asgiref 3.13.0's does, error states and timeouts included,
because test suites (and Channels, which subclasses it) depend on them; docs/testing.rst says how,
point by point. The protocol communicators and `SyncCommunicator` are additions of this package.
"""

from ._app_communicator import ApplicationCommunicator
from ._protocol_communicators import (
    HttpCommunicator,
    HttpResponse,
    LifespanCommunicator,
    WebsocketCommunicator,
)
from ._sync_communicator import SyncCommunicator
from ._wsgi_body import ClientDisconnectedError
from .compatibility import guarantee_single_callable  # noqa: F401 - importable here, as in asgiref

__all__ = [
    "ApplicationCommunicator",
    "ClientDisconnectedError",
    "HttpCommunicator",
    "HttpResponse",
    "LifespanCommunicator",
    "SyncCommunicator",
    "WebsocketCommunicator",
]

# Defined with their machinery; they belong to this module (repr, pickling by reference, docs).
for _public in (
    ApplicationCommunicator,
    HttpCommunicator,
    HttpResponse,
    LifespanCommunicator,
    SyncCommunicator,
    WebsocketCommunicator,
):
    _public.__module__ = __name__
del _public
