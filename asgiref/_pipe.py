"""A bounded FIFO between an event loop and one thread: how the WSGI adapters stream.

Theory
------
Both WSGI adapters run the WSGI side on a thread and the ASGI side on an event loop, and stream
the request body one way and the response the other, each through a `Pipe`: a queue of items with
a byte budget. The writer waits while the queue holds `limit` bytes or more, so memory stays
bounded however large the body, and back-pressure reaches the other side (a slow client slows the
WSGI app's thread; a slow WSGI app stops the server reading the request). With `lazy_reader`, the
pipe holds one item until the reader first takes one: a request still waiting for a thread takes
in no more of its body than the first message.

The thread side blocks (`put_blocking`, `get_blocking`), the loop side awaits (`put`, `get`).
Wake-ups across the boundary are what streaming costs, so they are spent only when somebody
waits: the thread wakes the loop through the loop's inbox (`_inbox`) at most once per wait (items
written meanwhile, and other requests' pipes and calls, ride along in the same batch); the thread
side waits as every thread here waits for something, serving a lane (`LaneWaiter`), and the loop
wakes it through that lane.

`close()` is the writer saying "no more": the reader gets what is queued, then `None`.
`abort(error)` is either side saying "stop": queued items are dropped, and every wait and every
later call on either end raises `error` (for example, the client went away).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from ._inbox import INBOXES, Inbox
from ._lanes import BorrowedLane
from ._loop_call import LOOP_CHECK_INTERVAL

_T = TypeVar("_T")


class LaneWaiter:
    """How the thread side of a pipe waits: serving a lane (see `_lanes`), as a thread waiting in
    `async_to_sync` does, so that work sent to that lane runs meanwhile; woken through the lane.
    `poll` is called every `LOOP_CHECK_INTERVAL` seconds of waiting; it may raise to give up. The
    lane is made on the first wait (most pipes of a small request never make their thread wait)."""

    __slots__ = ("_lane", "_poll", "_waiting")

    def __init__(
        self, lane: BorrowedLane | None = None, poll: Callable[[], None] | None = None
    ) -> None:
        self._lane = lane
        self._poll = poll
        self._waiting = False

    def wait_until(self, ready: Callable[[], bool]) -> None:
        """Block until `ready()` is true (`ready` takes the pipe's lock itself)."""
        if ready():
            return  # the common case (a pipe with room): no lane, no serving
        lane = self._lane
        if lane is None:
            lane = self._lane = BorrowedLane()
        # Marked before `ready()` is first checked: a waker changes the pipe's state under the
        # pipe's lock before it reads this, so either the check sees the new state or the waker
        # sees the mark and wakes the lane.
        self._waiting = True
        try:
            lane.serve_until(ready, self._poll, LOOP_CHECK_INTERVAL)
        finally:
            self._waiting = False

    def wake(self) -> None:
        """Make a thread blocked in `wait_until` check `ready()` again."""
        lane = self._lane
        if self._waiting and lane is not None:
            lane.wake()


class Pipe(Generic[_T]):
    """A FIFO of items, each with a size in bytes, from a writer on one side to a reader on the
    other; see the module docstring."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        limit: int,
        thread: LaneWaiter | None = None,
        *,
        lazy_reader: bool = False,
    ) -> None:
        self._loop = loop
        self._limit = limit
        self._thread = thread if thread is not None else LaneWaiter()
        self._lock = threading.Lock()
        self._items: deque[tuple[_T, int]] = deque()
        self._size = 0
        self._read_from = not lazy_reader
        self._closed = False
        self.aborted: BaseException | None = None  # the error it was aborted with, if it was
        self._loop_waiter: asyncio.Future[None] | None = None
        self._wake_pending = False
        # The loop's inbox, found when the loop side first waits (on the loop's thread).
        self._inbox: Inbox | None = None

    def _has_room(self) -> bool:
        with self._lock:
            return self._room_locked()

    def _room_locked(self) -> bool:
        # With a lazy reader, the pipe holds one item until the first read (see the module).
        limit = self._limit if self._read_from else 1
        return self._size < limit or self.aborted is not None

    def _has_news(self) -> bool:
        with self._lock:
            return bool(self._items) or self._closed or self.aborted is not None

    # --- either side -------------------------------------------------------------------------

    def close(self) -> None:
        """The writer is done: the reader gets the queued items, then `None`."""
        with self._lock:
            if self._closed or self.aborted is not None:
                return
            self._closed = True
        self._wake_both()

    def abort(self, error: BaseException) -> None:
        """Stop the stream: drop the queued items, and make both ends raise `error` from now on.
        The first abort wins; later ones, and a close after it, change nothing."""
        with self._lock:
            if self.aborted is not None:
                return
            self.aborted = error
            self._items.clear()
            self._size = 0
        self._wake_both()

    def _wake_both(self) -> None:
        self._thread.wake()
        with self._lock:
            self._wake_loop_locked()

    def _wake_loop_locked(self) -> None:
        inbox = self._inbox
        if self._loop_waiter is None or self._wake_pending or inbox is None:
            return
        self._wake_pending = True
        inbox.deliver(self)  # a closed loop drops it: nobody will ever wait on that side again

    def arrive(self) -> None:
        """On the loop, through its inbox: wake the loop side if it waits."""
        with self._lock:
            self._wake_pending = False
            waiter = self._loop_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _raise_if_aborted_locked(self) -> None:
        error = self.aborted
        if error is not None:
            raise error

    # --- the thread side ---------------------------------------------------------------------

    def put_blocking(self, item: _T, size: int) -> None:
        """Append `item`, first waiting (on this thread) while the pipe is full."""
        self._thread.wait_until(self._has_room)
        with self._lock:
            self._raise_if_aborted_locked()
            self._append_locked(item, size)
            self._wake_loop_locked()

    def get_blocking(self) -> _T | None:
        """Take the next item, waiting (on this thread) for one; `None` once closed and empty."""
        self._thread.wait_until(self._has_news)
        with self._lock:
            self._raise_if_aborted_locked()
            if not self._items:
                return None
            item = self._pop_locked()
            self._wake_loop_locked()
        return item

    # --- the loop side -----------------------------------------------------------------------

    async def put(self, item: _T, size: int) -> None:
        """Append `item`, first waiting (on the loop) while the pipe is full."""
        await self.wait_for_room()
        self.put_nowait(item, size)

    async def wait_for_room(self) -> None:
        """Wait (on the loop) until the pipe has room, or was aborted (the next put raises).

        A writer that waits before taking the next item from its source, rather than holding it
        while it waits, leaves that item where its source's own flow control can see it."""
        while True:
            with self._lock:
                if self._room_locked():
                    return
                waiter = self._new_loop_waiter_locked()
            await self._wait_on_loop(waiter)

    def put_nowait(self, item: _T, size: int) -> None:
        """Append `item` whatever the pipe holds (for a first item, which must never wait)."""
        with self._lock:
            self._raise_if_aborted_locked()
            self._append_locked(item, size)
        self._thread.wake()

    async def get(self) -> _T | None:
        """Take the next item, waiting (on the loop) for one; `None` once closed and empty."""
        while True:
            with self._lock:
                self._raise_if_aborted_locked()
                if self._items:
                    item = self._pop_locked()
                    break
                if self._closed:
                    return None
                waiter = self._new_loop_waiter_locked()
            await self._wait_on_loop(waiter)
        self._thread.wake()
        return item

    def _new_loop_waiter_locked(self) -> asyncio.Future[None]:
        if self._inbox is None:
            self._inbox = INBOXES.of(self._loop)
        waiter = self._loop_waiter = self._loop.create_future()
        return waiter

    async def _wait_on_loop(self, waiter: asyncio.Future[None]) -> None:
        try:
            await waiter
        finally:
            with self._lock:
                if self._loop_waiter is waiter:
                    self._loop_waiter = None

    def _append_locked(self, item: _T, size: int) -> None:
        if self._closed:
            raise RuntimeError("cannot write to a pipe after closing it")
        self._items.append((item, size))
        self._size += size

    def _pop_locked(self) -> _T:
        self._read_from = True
        item, size = self._items.popleft()
        self._size -= size
        return item
