"""`Local`: attribute storage like `threading.local`, that also follows async code.

Theory
------
Each `Local` owns one context variable. Its value is an immutable snapshot: the attributes as a
dict that is never changed once stored, plus the thread that stored it when it was set from plain
sync code (``None`` when set from async code or from code the bridge runs). A read is one
`ContextVar.get` and one dict lookup; a write or delete stores a new snapshot. Consequences:

* Values follow the context: code awaited from the setter and tasks it spawns see them, and so
  does code on the far side of `sync_to_async` / `async_to_sync`, whose context is a copy of the
  caller's;
  the bridge copies changed variables back, so values set there are seen by the caller afterwards.
* Deleting or setting in one context never changes what another context sees.
* Plain sync threads stay isolated even when a new thread starts with a copy of its parent's context
  (as threads do on free-threaded Python 3.14): a snapshot stored by plain sync code on thread A is
  invisible to plain sync code on another thread. The bridge is not "another thread" in this sense:
  code it runs, and async code, see whatever their context carries.
* Nothing refers back to the `Local`, so values are freed with the last context (or, for
  `thread_critical`, the last thread) that holds them; there are no cycles to wait for.

`thread_critical=True` is for things that must never cross threads (database connections): in sync
code the storage is a plain `threading.local`; in async code it is a context variable whose
snapshots are only visible on the thread that stored them, so they are never shared across the
bridge.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from typing import Any

from ._hop import THREAD

__all__ = ["Local"]

_get_running_loop = asyncio._get_running_loop
_get_ident = threading.get_ident

# (thread that stored it from plain sync code, or None; the attributes, never mutated)
_Snapshot = tuple[int | None, dict[str, Any]]


def _in_plain_sync_code() -> bool:
    """Whether the caller is sync code that neither an event loop nor the bridge is running."""
    return _get_running_loop() is None and THREAD.call is None


class Local:
    """An attribute namespace like `threading.local`, aware of async code and of the sync/async
    bridge. A missing attribute raises `AttributeError`.

    Subclassing is allowed: a subclass's methods and class attributes work as usual, and its
    instance attributes are stored like any other (per context, not per instance dict).
    """

    __slots__ = ("__weakref__", "_thread_critical", "_thread_storage", "_var")

    def __init__(self, thread_critical: bool = False) -> None:
        object.__setattr__(self, "_thread_critical", thread_critical)
        object.__setattr__(self, "_thread_storage", threading.local() if thread_critical else None)
        var: contextvars.ContextVar[_Snapshot | None] = contextvars.ContextVar(
            f"asgiref.local.Local@{id(self):x}", default=None
        )
        object.__setattr__(self, "_var", var)

    def __repr__(self) -> str:
        mode = "thread_critical=True" if _critical_of(self) else ""
        return f"<{type(self).__qualname__}({mode}) at {id(self):#x}>"

    # Stored attributes come first, so the lookup that matters costs one ContextVar.get and one
    # dict lookup. The machinery reads its own slots through the module's slot readers below, so
    # a stored attribute can never shadow it.
    def __getattribute__(self, name: str) -> Any:
        if _critical_of(self) and _get_running_loop() is None:
            storage = _thread_storage_of(self)
            try:
                return storage.__dict__[name]
            except KeyError:
                return object.__getattribute__(self, name)
        snapshot = _var_of(self).get()
        if snapshot is not None:
            attributes = _visible(self, snapshot)
            if attributes is not None and name in attributes:
                return attributes[name]
        return object.__getattribute__(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        critical = _critical_of(self)
        no_loop = _get_running_loop() is None
        if critical and no_loop:
            _thread_storage_of(self).__dict__[name] = value
            return
        var = _var_of(self)
        snapshot = var.get()
        ident = _get_ident()
        plain = no_loop and THREAD.call is None
        if snapshot is None:
            updated = {}
        else:
            owner, attributes = snapshot
            # The same visibility rule as `_visible`, inlined: this is the hot path of a write.
            if owner == ident or (owner is None and not critical) or not (critical or plain):
                updated = attributes.copy()
            else:
                updated = {}
        updated[name] = value
        var.set((ident if critical or plain else None, updated))

    def __delattr__(self, name: str) -> None:
        if _critical_of(self) and _get_running_loop() is None:
            try:
                del _thread_storage_of(self).__dict__[name]
            except KeyError:
                raise _missing(self, name) from None
            return
        attributes = _visible_attributes(self)
        if attributes is None or name not in attributes:
            raise _missing(self, name)
        updated = attributes.copy()
        del updated[name]
        _store(self, updated)


_critical_of: Callable[[Local], bool] = Local.__dict__["_thread_critical"].__get__
_thread_storage_of: Callable[[Local], threading.local] = Local.__dict__["_thread_storage"].__get__
_var_of: Callable[[Local], contextvars.ContextVar[_Snapshot | None]] = Local.__dict__[
    "_var"
].__get__


def _missing(local: Local, name: str) -> AttributeError:
    return AttributeError(f"{type(local).__qualname__!r} object has no attribute {name!r}")


def _visible(local: Local, snapshot: _Snapshot) -> dict[str, Any] | None:
    """The attributes of `snapshot` that the caller may see (see the module docstring)."""
    owner, attributes = snapshot
    if owner is None:
        return None if _critical_of(local) else attributes
    if owner == _get_ident():
        return attributes
    if _critical_of(local) or _in_plain_sync_code():
        return None
    return attributes


def _visible_attributes(local: Local) -> dict[str, Any] | None:
    snapshot = _var_of(local).get()
    return None if snapshot is None else _visible(local, snapshot)


def _store(local: Local, attributes: dict[str, Any]) -> None:
    owner = _get_ident() if _critical_of(local) or _in_plain_sync_code() else None
    _var_of(local).set((owner, attributes))
