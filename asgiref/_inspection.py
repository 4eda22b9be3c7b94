"""Telling coroutine functions from sync callables, on every supported Python.

Python 3.12 added `inspect.markcoroutinefunction`, so that a sync callable returning an awaitable
(a wrapper like `sync_to_async`'s) can say it behaves as a coroutine function. On 3.10 and 3.11 the
equivalent mark is the one `asyncio.iscoroutinefunction` has always honoured.
"""

from __future__ import annotations

import asyncio.coroutines
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

    # The standard library's own, as asgiref exports it on 3.12+ (the very same object).
    markcoroutinefunction = inspect.markcoroutinefunction

else:

    def iscoroutinefunction(func: object) -> bool:
        """Whether `func` is a coroutine function or marked as one (`asyncio`'s before 3.12)."""
        return asyncio.iscoroutinefunction(func)

    def markcoroutinefunction(func: _F) -> _F:
        """Mark `func` so that `iscoroutinefunction` reports it as a coroutine function."""
        func._is_coroutine = _ASYNCIO_MARK  # type: ignore[attr-defined]
        return func


_COROUTINE_FLAG = inspect.CO_COROUTINE


def is_async_marked(obj: object) -> bool:
    """Whether `obj`, or its `__call__`, is a coroutine function or marked as one: how the bridge's
    wrappers tell what they were given. The wrappers are built once per call in much real code,
    so plain functions without attributes (which can carry no mark) are read from their code."""
    function = obj.__func__ if type(obj) is MethodType else obj
    if type(function) is FunctionType and not function.__dict__:
        return bool(function.__code__.co_flags & _COROUTINE_FLAG)
    return iscoroutinefunction(obj) or iscoroutinefunction(getattr(obj, "__call__", obj))  # noqa: B004


def is_async_callable(obj: object) -> bool:
    """Whether calling `obj` is known to give a coroutine: coroutine functions, marked callables,
    partials and methods of them, and instances whose `__call__` is one."""
    if iscoroutinefunction(obj) or _has_asyncio_mark(obj):
        return True
    if inspect.isroutine(obj) or inspect.isclass(obj) or isinstance(obj, functools.partial):
        return False
    call = getattr(obj, "__call__", None)  # noqa: B004 - the instance's own method
    return call is not None and (iscoroutinefunction(call) or _has_asyncio_mark(call))
