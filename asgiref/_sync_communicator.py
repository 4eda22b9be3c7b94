"""`SyncCommunicator`: the communicators, for sync tests (Django's sync `TestCase` methods).

Each coroutine method of the wrapped communicator becomes a blocking call on one event loop, kept
for the facade's whole life (a `_thread_loop.LoopLease`: the loop awaiting this thread's
`sync_to_async` call, else the thread's own loop, shared by every facade open on that thread).
The application's task, the communicator's queues and whatever connections share (a channel
layer) therefore survive from one call to the next and between communicators, which one
`async_to_sync` call per step (a new loop each time, as asgiref 3.13 gives) would not allow.
While a call waits, the calling thread serves it as `async_to_sync` does. `close()`, leaving a
``with`` block, or dropping the object ends the application and gives the loop back.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import weakref
from collections.abc import Callable
from typing import Any

from ._app_communicator import ApplicationCommunicator
from ._loop_call import LoopGoneError
from ._thread_loop import LoopLease


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
        self._lease = LoopLease("SyncCommunicator")
        self._closed = False
        self._abandon = weakref.finalize(self, _abandon, communicator, self._lease)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.communicator, name)
        if not inspect.iscoroutinefunction(attribute):
            return attribute
        return self._blocking(attribute)

    def _blocking(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if self._closed:
                raise RuntimeError("this SyncCommunicator is closed")
            return self._lease.run(lambda: method(*args, **kwargs))

        call.__name__ = call.__qualname__ = method.__name__
        call.__doc__ = method.__doc__
        return call

    def close(self) -> None:
        """Cancel the application if it still runs, and give the event loop back."""
        if self._closed:
            return
        self._closed = True
        self._abandon.detach()
        try:
            if self._lease.loop is not None:
                # A loop that has gone (the awaiting one, since ended) took the application along.
                with contextlib.suppress(LoopGoneError):
                    self._lease.run(self._stop_application)
        finally:
            self._lease.release()

    async def _stop_application(self) -> None:
        self.communicator.stop(exceptions=False)
        future = self.communicator._future  # not `.future`, which would start an idle application
        if future is not None:
            # The loop may stay (other facades hold it): see the cancellation through here.
            await asyncio.wait({future})

    def __enter__(self) -> SyncCommunicator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _abandon(communicator: ApplicationCommunicator, lease: LoopLease) -> None:
    """A facade dropped unclosed: stop its application where it runs, without waiting."""
    loop = lease.loop
    if loop is not None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nothing runs there
            loop.call_soon_threadsafe(communicator.stop, False)
    lease.release(wait=False)
