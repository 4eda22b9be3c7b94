"""`Local`: attribute storage like `threading.local`, that also follows async code.

Theory
------
Each attribute name of a `Local` gets a context variable of its own (made on first use). Its
value is an *entry*: the attribute's value, plus the flow that stored it (see `_flow`: the thread
where the work started, which code the bridge runs elsewhere for that work shares). An entry is
visible only to its own flow. A read is one dict lookup and one `ContextVar.get`; a write is one
`ContextVar.set`, with nothing copied; a delete stores "no entry". Consequences:

* Values follow the context: code awaited from the setter and tasks it spawns see them, and so
  does code on the far side of `sync_to_async` / `async_to_sync`, whose context is a copy of the
  caller's; the bridge copies changed variables back, so values set there are seen by the caller
  afterwards.
* Setting or deleting in one context never changes what another context sees.
* Threads stay isolated even when a new thread starts with a copy of its parent's context (as
  threads do on free-threaded Python 3.14), whether it runs sync code or its own event loop. The
  same goes for threads that run a copied context by hand (`asyncio.to_thread`, executors): use
  `sync_to_async` to carry values to a thread. The bridge is not "another thread" in this sense.
* Nothing refers back to the `Local`, so values are freed with the last context (or, for
  `thread_critical`, the last thread) that holds them; there are no cycles to wait for.

`thread_critical=True` is for things that must never cross threads (database connections): in sync
code the storage is a plain `threading.local`; in async code it is context variables whose entries
are only visible on the thread that stored them, so they are never shared across the bridge.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from typing import Any

from ._flow import ACTING_FOR, current_flow

__all__ = ["Local"]

_get_running_loop = asyncio._get_running_loop
_get_ident = threading.get_ident

# (the value, the flow that stored it); None: no value here.
_Entry = tuple[Any, int]
_Var = contextvars.ContextVar[_Entry | None]


class _ThreadCriticalVars(dict[str, _Var]):
    """The variables of a thread-critical `Local`, with the `threading.local` its sync code uses.

    Keeping both behind one slot makes the mode known from the one read every access needs."""

    __slots__ = ("storage",)

    def __init__(self) -> None:
        super().__init__()
        self.storage = threading.local()


class Local:
    """An attribute namespace like `threading.local`, aware of async code and of the sync/async
    bridge. A missing attribute raises `AttributeError`.

    Subclassing is allowed: a subclass's methods and class attributes work as usual, and its
    instance attributes are stored like any other (per context, not in an instance dict).
    """

    __slots__ = ("__weakref__", "_vars")

    def __init__(self, thread_critical: bool = False) -> None:
        object.__setattr__(self, "_vars", _ThreadCriticalVars() if thread_critical else {})

    def __repr__(self) -> str:
        mode = "thread_critical=True" if type(_vars_of(self)) is _ThreadCriticalVars else ""
        return f"<{type(self).__qualname__}({mode}) at {id(self):#x}>"

    # Stored attributes come first, so the lookup that matters is one dict lookup and one
    # ContextVar.get. The machinery reads its own slot through `_vars_of`, so a stored attribute
    # can never shadow it.
    def __getattribute__(self, name: str) -> Any:
        variables = _vars_of(self)
        if type(variables) is dict:
            var = variables.get(name)
            if var is not None:
                entry = var.get()
                if entry is not None:
                    # `_flow.current_flow() == entry[1]`, inlined: this is every read's path.
                    ident = _get_ident()
                    if entry[1] == ident:
                        return entry[0]
                    acting = ACTING_FOR.get()
                    if acting is not None and acting[0] == ident and acting[1] == entry[1]:
                        return entry[0]
        elif _get_running_loop() is None:
            try:
                return variables.storage.__dict__[name]  # type: ignore[attr-defined]
            except KeyError:
                pass
        else:
            var = variables.get(name)
            if var is not None:
                entry = var.get()
                if entry is not None and entry[1] == _get_ident():
                    return entry[0]
        return object.__getattribute__(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        variables = _vars_of(self)
        if type(variables) is dict:
            # `_flow.current_flow()`, inlined: this is every write's path.
            owner = _get_ident()
            acting = ACTING_FOR.get()
            if acting is not None and acting[0] == owner:
                owner = acting[1]
        elif _get_running_loop() is None:
            variables.storage.__dict__[name] = value  # type: ignore[attr-defined]
            return
        else:
            owner = _get_ident()
        var = variables.get(name)
        if var is None:
            var = _var_for(variables, name)
        var.set((value, owner))

    def __delattr__(self, name: str) -> None:
        variables = _vars_of(self)
        if type(variables) is _ThreadCriticalVars and _get_running_loop() is None:
            try:
                del variables.storage.__dict__[name]
            except KeyError:
                raise _missing(self, name) from None
            return
        var = variables.get(name)
        if var is None or not _visible(variables, var.get()):
            raise _missing(self, name)
        var.set(None)


_vars_of: Callable[[Local], dict[str, _Var]] = Local.__dict__["_vars"].__get__


def _var_for(variables: dict[str, _Var], name: str) -> _Var:
    """The context variable holding attribute `name`, made on first use."""
    var: _Var = contextvars.ContextVar(f"asgiref.local.Local.{name}", default=None)
    return variables.setdefault(name, var)  # atomic: racing threads agree on one var


def _visible(variables: dict[str, _Var], entry: _Entry | None) -> bool:
    """Whether the caller may see `entry` (the rules of the module docstring)."""
    if entry is None:
        return False
    if type(variables) is _ThreadCriticalVars:
        return entry[1] == _get_ident()
    return entry[1] == current_flow()


def _missing(local: Local, name: str) -> AttributeError:
    return AttributeError(f"{type(local).__qualname__!r} object has no attribute {name!r}")
