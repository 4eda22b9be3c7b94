"""`Local`: attribute storage like `threading.local`, that also follows async code.

Theory
------
Each attribute name of a `Local` gets a context variable of its own (made on first use). Its
value is an *entry*: the attribute's value, plus the flow that stored it (see `_flow`: the thread
where the work started, which code the bridge runs elsewhere for that work shares). An entry is
visible only to its own flow. A read is one dict lookup and one `ContextVar.get`; a write is one
`ContextVar.set`, with nothing copied; a delete stores "no entry". So values follow the context
(and the bridge, which copies contexts there and back), setting in one context never changes
another, and a thread that starts with a copy of its parent's context (free-threaded 3.14) sees
nothing of the parent's. Nothing refers back to the `Local`: values die with the last context
that holds them, with no cycles to wait for. (docs/local.rst tells users all this.)

`thread_critical=True` is for things that must never cross threads (database connections): in sync
code the storage is a plain `threading.local`; in async code it is context variables whose entries
are only visible on the thread that stored them, so they are never shared across the bridge.

The face users see is asgiref 3.13's: ``Local(...)`` returns an instance of one of two private
classes, one per mode (which also spares every access a test of the mode), `Local` cannot be
subclassed, and a missing attribute raises an `AttributeError` naming the storage object it was
looked up in (a `_CVar`, or the `threading.local` of a thread-critical `Local` in sync code).
Names the class itself has (``__class__``, ``__dict__``, ...) read as on any object; a value set
under such a name is stored (as asgiref 3.13 does) where reads never look, so that it cannot
shadow the real attribute through the fast path.
"""

import asyncio
import contextvars
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn, SupportsIndex, final

from ._flow import ACTING_FOR, current_flow

__all__ = ["Local"]

_get_running_loop = asyncio._get_running_loop
_get_ident = threading.get_ident

# (the value, the flow or thread that stored it); None: no value here.
_Entry = tuple[Any, int]
_Var = contextvars.ContextVar[_Entry | None]


class _CVar(dict[str, _Var]):
    """The context variables of one `Local`, by attribute name.

    Named and shown (``<asgiref.local._CVar object at 0x...>``) like the storage object of
    asgiref 3.13, because `AttributeError` messages and ``error.obj`` show it to users. The text
    is made once: a miss (``getattr(local, name, default)``) is a common read."""

    __slots__ = ("shown",)

    def __init__(self) -> None:
        super().__init__()
        self.shown = object.__repr__(self)

    def __repr__(self) -> str:
        return self.shown

    def __dir__(self) -> list[str]:
        # Tracebacks suggest names from ``dir(error.obj)`` ("Did you mean: 'values'?"); a dict's
        # methods are not attributes of the Local, so offer none (asgiref 3.13's offers none).
        return []

    def __reduce_ex__(self, protocol: SupportsIndex) -> NoReturn:
        # Values live in context variables, which cannot be pickled: refuse at once (as asgiref
        # 3.13 does) rather than pickle an empty Local that could never be loaded.
        raise TypeError(f"cannot pickle {type(self).__qualname__!r} object")


@final
class Local:
    """An attribute namespace like `threading.local`, aware of async code and of the sync/async
    bridge. A missing attribute raises `AttributeError`.

    With ``thread_critical=True``, values never leave the thread that set them, not even across
    the bridge: per thread in sync code (a `threading.local`), per task in async code.
    """

    # `__dict__` exists (empty) because instances of asgiref 3.13 have one; values never go
    # there. The slots are reached through their descriptors (`_vars_of` and friends), never by
    # name, so a user attribute called `_vars` is an ordinary value.
    __slots__ = ("__dict__", "__weakref__", "_own_vars", "_vars")

    def __new__(cls, thread_critical: bool = False) -> "Local":
        # Checked here rather than in `__init_subclass__` because asgiref 3.13 lets the class
        # statement pass and refuses at instantiation (and so does copy.copy of an instance).
        if cls is not Local:
            raise TypeError("asgiref.local.Local cannot be subclassed")
        local = object.__new__(_ThreadCriticalLocal if thread_critical else _DefaultLocal)
        object.__setattr__(local, "_vars", _CVar())
        object.__setattr__(local, "_own_vars", _CVar())
        if thread_critical:
            object.__setattr__(local, "_thread", threading.local())
            object.__setattr__(local, "_own_thread", threading.local())
        return local

    def __init__(self, thread_critical: bool = False) -> None:
        """Everything is set up by `__new__`; this only accepts the same arguments."""

    if TYPE_CHECKING:
        # For type checkers: any attribute may be set, read and deleted.
        def __getattr__(self, name: str) -> Any: ...
        def __setattr__(self, name: str, value: Any) -> None: ...
        def __delattr__(self, name: str) -> None: ...


# `Local` is final for users; its two modes are the only subclasses.
class _DefaultLocal(Local):  # type: ignore[misc]
    """A `Local` whose values follow the context and the bridge (``thread_critical=False``)."""

    __slots__ = ()

    def __getattribute__(self, name: str) -> Any:
        var = _vars_of(self).get(name)
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
        return _class_attribute_or_missing(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        # `_flow.current_flow()`, inlined: this is every write's path.
        owner = _get_ident()
        acting = ACTING_FOR.get()
        if acting is not None and acting[0] == owner:
            owner = acting[1]
        var = _vars_of(self).get(name)
        if var is None:
            var = _var_for(self, name)
        var.set((value, owner))

    def __delattr__(self, name: str) -> None:
        _delete_entry(self, name, current_flow())


class _ThreadCriticalLocal(Local):  # type: ignore[misc]
    """A `Local` whose values never leave their thread (``thread_critical=True``)."""

    __slots__ = ("_own_thread", "_thread")

    def __getattribute__(self, name: str) -> Any:
        if _get_running_loop() is None:
            try:
                return _thread_of(self).__dict__[name]
            except KeyError:
                pass
            if _found_on_object(self, name):
                return object.__getattribute__(self, name)
            # Raises the `threading.local`'s own "'_thread._local' object has no attribute".
            return getattr(_thread_of(self), name)
        var = _vars_of(self).get(name)
        if var is not None:
            entry = var.get()
            if entry is not None and entry[1] == _get_ident():
                return entry[0]
        return _class_attribute_or_missing(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if _get_running_loop() is None:
            if name in _CLASS_NAMES:
                # Through `setattr`, so that `__class__` and `__dict__` fail exactly as they do on
                # a `threading.local` (as in asgiref 3.13).
                setattr(_own_thread_of(self), name, value)
            else:
                _thread_of(self).__dict__[name] = value
            return
        var = _vars_of(self).get(name)
        if var is None:
            var = _var_for(self, name)
        var.set((value, _get_ident()))

    def __delattr__(self, name: str) -> None:
        if _get_running_loop() is None:
            delattr(_own_thread_of(self) if name in _CLASS_NAMES else _thread_of(self), name)
        else:
            _delete_entry(self, name, _get_ident())


_vars_of: Callable[[Local], _CVar] = Local.__dict__["_vars"].__get__
_own_vars_of: Callable[[Local], _CVar] = Local.__dict__["_own_vars"].__get__
_thread_of: Callable[[Local], threading.local] = _ThreadCriticalLocal.__dict__["_thread"].__get__
_own_thread_of: Callable[[Local], threading.local] = _ThreadCriticalLocal.__dict__[
    "_own_thread"
].__get__

_dict_of: Callable[[Local], dict[str, Any]] = Local.__dict__["__dict__"].__get__
# The namespaces of each class and its bases (live views: attributes added later are seen).
_CLASS_DICTS: dict[type[Local], tuple[Mapping[str, Any], ...]] = {
    cls: tuple(base.__dict__ for base in cls.__mro__)
    for cls in (_DefaultLocal, _ThreadCriticalLocal)
}

# The special names of both classes: reading them gives the class's attribute, never a value.
_CLASS_NAMES = frozenset(
    name
    for cls in (_DefaultLocal, _ThreadCriticalLocal)
    for name in dir(cls)
    if name.startswith("__") and name.endswith("__")
)


def _store_for(local: Local, name: str) -> _CVar:
    return _own_vars_of(local) if name in _CLASS_NAMES else _vars_of(local)


def _var_for(local: Local, name: str) -> _Var:
    """The context variable holding attribute `name`, made on first use."""
    store = _store_for(local, name)
    var = store.get(name)
    if var is None:
        var = contextvars.ContextVar(f"asgiref.local.Local.{name}", default=None)
        var = store.setdefault(name, var)  # atomic: racing threads agree on one var
    return var


def _delete_entry(local: Local, name: str, owner: int) -> None:
    """Delete `name` as seen by `owner` (a flow, or a thread for thread-critical Locals)."""
    store = _store_for(local, name)
    var = store.get(name)
    entry = None if var is None else var.get()
    if var is None or entry is None or entry[1] != owner:
        raise AttributeError(f"{store!r} object has no attribute {name!r}")
    var.set(None)


def _found_on_object(local: Local, name: str) -> bool:
    """Whether `object.__getattribute__` finds `name` (asked first, because a failing lookup is
    several times slower than these few dict lookups)."""
    if name in _dict_of(local):
        return True
    for attributes in _CLASS_DICTS[type(local)]:  # noqa: SIM110 - any() would cost a generator
        if name in attributes:
            return True
    return False


def _class_attribute_or_missing(local: Local, name: str) -> Any:
    """`name` found on the object itself (its class's attributes, its `__dict__`), or the
    `AttributeError` of asgiref 3.13: it names the `_CVar` and carries it as ``obj``."""
    if _found_on_object(local, name):
        return object.__getattribute__(local, name)
    store = _vars_of(local)
    error = AttributeError(f"{store.shown} object has no attribute {name!r}", name=name, obj=store)
    # asgiref 3.13 raises it while handling a KeyError of its own lookup, so that is what a
    # traceback shows first ("During handling of the above exception...").
    error.__context__ = KeyError(name)
    raise error
