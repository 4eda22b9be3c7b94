"""Telling coroutine functions from sync callables, on every supported Python.

Python 3.12 added `inspect.markcoroutinefunction`, so that a sync callable returning an awaitable
(a wrapper like `sync_to_async`'s) can say it behaves as a coroutine function. On 3.10 and 3.11 the
equivalent mark is the one `asyncio.iscoroutinefunction` has always honoured.
"""

from __future__ import annotations

import asyncio.coroutines
import enum
import functools
import inspect
import sys
from collections.abc import Callable
from types import FunctionType, MethodType
from typing import Any, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])

# asyncio's own mark for "treat this as a coroutine function" (present on 3.10 to 3.13).
_ASYNCIO_MARK: object = getattr(asyncio.coroutines, "_is_coroutine", object())


def _unwrap(func: object) -> object:
    """Strip `functools.partial`s and bound methods, as `inspect` does before testing a function."""
    while True:
        if isinstance(func, functools.partial):
            func = func.func
        elif inspect.ismethod(func):
            func = func.__func__
        else:
            return func


def _has_asyncio_mark(func: object) -> bool:
    return getattr(_unwrap(func), "_is_coroutine", None) is _ASYNCIO_MARK


if sys.version_info >= (3, 12):

    def iscoroutinefunction(func: object) -> bool:
        """Whether `func` is a coroutine function or marked as one (`inspect`'s, 3.12+)."""
        return inspect.iscoroutinefunction(func)

    def markcoroutinefunction(func: _F) -> _F:
        """Mark `func` so that `iscoroutinefunction` reports it as a coroutine function."""
        return inspect.markcoroutinefunction(func)

else:

    def iscoroutinefunction(func: object) -> bool:
        """Whether `func` is a coroutine function or marked as one (`inspect`'s, 3.12+)."""
        return inspect.iscoroutinefunction(func) or _has_asyncio_mark(func)

    def markcoroutinefunction(func: _F) -> _F:
        """Mark `func` so that `iscoroutinefunction` reports it as a coroutine function."""
        target: Any = getattr(func, "__func__", func)
        target._is_coroutine = _ASYNCIO_MARK
        return func


def _call_method(obj: object) -> object | None:
    """The bound `__call__` of a callable instance (not of a function or a class)."""
    if inspect.isfunction(obj) or inspect.ismethod(obj) or inspect.isclass(obj):
        return None
    if isinstance(obj, functools.partial):
        return None
    return getattr(obj, "__call__", None)  # noqa: B004


def is_async_callable(obj: object) -> bool:
    """Whether calling `obj` is known to give a coroutine: coroutine functions, marked callables,
    partials and methods of them, and instances whose `__call__` is one."""
    if iscoroutinefunction(obj) or _has_asyncio_mark(obj):
        return True
    call = _call_method(obj)
    return call is not None and (iscoroutinefunction(call) or _has_asyncio_mark(call))


def is_generator_callable(obj: object) -> bool:
    """Whether calling `obj` gives a (sync) generator."""
    call = _call_method(obj)
    return inspect.isgeneratorfunction(obj) or (
        call is not None and inspect.isgeneratorfunction(call)
    )


def is_async_generator_callable(obj: object) -> bool:
    """Whether calling `obj` gives an async generator."""
    call = _call_method(obj)
    return inspect.isasyncgenfunction(obj) or (
        call is not None and inspect.isasyncgenfunction(call)
    )


class CallableKind(enum.Enum):
    """What calling something gives, as far as can be told without calling it."""

    SYNC = "sync"
    ASYNC = "async"
    GENERATOR = "generator"
    ASYNC_GENERATOR = "async generator"


_ASYNC_GENERATOR_FLAG = inspect.CO_ASYNC_GENERATOR
_GENERATOR_FLAG = inspect.CO_GENERATOR
_COROUTINE_FLAG = inspect.CO_COROUTINE | inspect.CO_ITERABLE_COROUTINE  # incl. types.coroutine


def callable_kind(obj: object) -> CallableKind:
    """Classify `obj` for the bridge's wrappers (which build one per call in much real code, so
    plain functions and bound methods are read directly; anything else takes the general path)."""
    function = obj.__func__ if type(obj) is MethodType else obj
    if type(function) is FunctionType:
        flags = function.__code__.co_flags
        if flags & _ASYNC_GENERATOR_FLAG:
            return CallableKind.ASYNC_GENERATOR
        if flags & _COROUTINE_FLAG:
            return CallableKind.ASYNC
        if flags & _GENERATOR_FLAG:
            return CallableKind.GENERATOR
        # A mark can only live in the function's attributes; when there are any, ask the official
        # test (inspect's private mark object changed names between 3.12 and 3.13).
        if function.__dict__ and (iscoroutinefunction(function) or _has_asyncio_mark(function)):
            return CallableKind.ASYNC
        return CallableKind.SYNC
    if is_async_generator_callable(obj):
        return CallableKind.ASYNC_GENERATOR
    if is_generator_callable(obj):
        return CallableKind.GENERATOR
    if is_async_callable(obj):
        return CallableKind.ASYNC
    return CallableKind.SYNC
