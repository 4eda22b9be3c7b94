"""Flows: which thread's work the running code is doing, so that `Local` can keep threads apart.

A flow starts on a plain thread (sync code, or a user's event loop). Code the bridge runs for it
elsewhere, a `sync_to_async` call on a worker thread or an `async_to_sync` coroutine on an event
loop, belongs to the same flow. `Local` tags what it stores with the flow, and shows an entry only
to its own flow: a thread that merely inherits a context (as new threads do on free-threaded
Python 3.14) starts a flow of its own and sees nothing of its parent's.

The bridge records the flow in the callee's context as (thread, flow): the pair counts only on the
thread it names, so a context that travels on to an unrelated thread does not carry the flow
with it.
"""

from __future__ import annotations

import contextvars
import threading

ACTING_FOR: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar(
    "asgiref.flow.acting_for", default=None
)

_get_ident = threading.get_ident


def current_flow() -> int:
    """The flow the calling code belongs to: the ident of the thread where it started."""
    ident = _get_ident()
    acting = ACTING_FOR.get()
    if acting is not None and acting[0] == ident:
        return acting[1]
    return ident
