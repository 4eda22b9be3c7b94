"""The one way work done on other threads wakes an event loop: an inbox per loop.

Waking a loop from another thread (`call_soon_threadsafe`) costs a pipe write and a loop
iteration. When many things arrive together (a `gather` of many `sync_to_async` calls finishing,
a WSGI app writing its response while the loop waits to send it), the first arrival wakes the loop
and the others join its batch. Everything that comes back to a loop from a thread goes through
its inbox: finished `ThreadCall`s and `Pipe`s with news for their loop side.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar


class Arrival(Protocol):
    """Something handed to a loop from another thread: `arrive()` runs on the loop."""

    def arrive(self) -> None: ...


class Inbox:
    """Arrivals on their way to one event loop, delivered with one wake-up per batch."""

    __slots__ = ("__weakref__", "_lock", "_pending", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._lock = threading.Lock()
        self._pending: list[Arrival] | None = None

    def deliver(self, arrival: Arrival) -> None:
        """From any thread: have `arrival.arrive()` called on the loop (never, if it closed)."""
        with self._lock:
            if self._pending is not None:
                self._pending.append(arrival)
                return
            self._pending = [arrival]
        try:
            self.loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            self._take()

    def _take(self) -> list[Arrival]:
        with self._lock:
            arrivals, self._pending = self._pending, None
        return arrivals or []

    def _drain(self) -> None:
        for arrival in self._take():
            arrival.arrive()


class _OfLoop(Protocol):
    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...


_V = TypeVar("_V", bound=_OfLoop)


class PerLoop(Generic[_V]):
    """One value per event loop (which it names as `.loop`), made on first use and found from the
    loop's own thread. Held weakly, per thread (a thread runs one loop at a time): whoever needs the
    value while work is in flight holds it (and so its loop) alive; a thread must not keep a
    finished loop alive, and a new value is made once the old one is gone."""

    def __init__(self, make: Callable[[asyncio.AbstractEventLoop], _V]) -> None:
        self._make = make
        self._state = threading.local()

    def of(self, loop: asyncio.AbstractEventLoop) -> _V:
        """The value for `loop`; called on the loop's own thread."""
        state = self._state
        known: weakref.ref[_V] | None = getattr(state, "known", None)
        value = known() if known is not None else None
        if value is None or value.loop is not loop:
            value = self._make(loop)
            state.known = weakref.ref(value)
        return value


INBOXES = PerLoop(Inbox)
