"""What the bridge is doing on each thread: one `threading.local` read by `_hop`, `_loops` and
`local`, kept in a module of its own so that none of them has to import another for it."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._hop import ThreadCall
    from ._lanes import BorrowedLane


class ThreadState(threading.local):
    # The ThreadCall (sync_to_async) this thread is running, the innermost one, if any.
    call: ThreadCall | None = None
    # Whether the bridge is running code on this thread: a ThreadCall, or one of the event loops
    # async_to_sync owns. `Local` needs this on every write, so it is one plain read.
    bridged: bool = False
    # The lane of the sync world this thread is in, while it is in one.
    lane: BorrowedLane | None = None
    # A plain thread's own lane, kept for the thread's lifetime.
    home_lane: BorrowedLane | None = None


THREAD = ThreadState()
