"""`SyncCommunicator`: the communicators, for sync tests (Django's sync `TestCase` methods).

Each coroutine method of the wrapped communicator becomes a blocking call, run on an event loop
this object owns and keeps for its whole life (a `_loops.LoopThread`). The application's task, the
communicator's queues and anything else bound to a loop therefore survive from one call to the
next, which one `async_to_sync` call per step (a new loop each time, as asgiref 3.13 gives) would
not allow. While a call waits, the calling thread serves it as `async_to_sync` does. `close()`,
leaving a ``with`` block, or dropping the object ends the application and the loop.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ._app_communicator import ApplicationCommunicator
from ._loop_call import run_on_loop
from ._loops import LoopThread


class SyncCommunicator:
    """A blocking face on a communicator: ``SyncCommunicator(HttpCommunicator(app, "GET", "/"))``
    has every method of the communicator, its coroutine methods made blocking calls."""

    def __init__(self, communicator: ApplicationCommunicator) -> None:
        if not isinstance(communicator, ApplicationCommunicator):
            raise TypeError(
                f"SyncCommunicator wraps a communicator from asgiref.testing, not "
                f"{type(communicator).__name__!r}"
            )
        self.communicator = communicator
        self._owner = LoopThread("asgiref-sync-communicator")

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.communicator, name)
        if not inspect.iscoroutinefunction(attribute):
            return attribute
        return self._blocking(attribute)

    def _blocking(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if not self._owner.usable:
                raise RuntimeError("this SyncCommunicator is closed")
            return run_on_loop(self._owner.loop, lambda: method(*args, **kwargs), watch_loop=True)

        call.__name__ = call.__qualname__ = method.__name__
        call.__doc__ = method.__doc__
        return call

    def close(self) -> None:
        """Cancel the application if it still runs, and end the event loop."""
        if self._owner.usable:
            run_on_loop(self._owner.loop, self._stop_application, watch_loop=True)
            self._owner.close()

    async def _stop_application(self) -> None:
        self.communicator.stop(exceptions=False)

    def __enter__(self) -> SyncCommunicator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
