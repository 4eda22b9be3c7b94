"""Running legacy ASGI 2 applications as ASGI 3 ones.

An ASGI 2 ("double callable") application is called twice: ``app(scope)`` synchronously builds an
instance, and ``await instance(receive, send)`` runs it. An ASGI 3 ("single callable") application
is one coroutine function, ``await app(scope, receive, send)``. Servers speak ASGI 3 and wrap
anything else.

Nothing in an application says which kind it is, so the test is a guess from its shape, in this
order (the order matters; it is the one servers have always used):

1. An explicit marker wins: a truthy ``_asgi_single_callable`` attribute means ASGI 3, a truthy
   ``_asgi_double_callable`` one ASGI 2 (the single marker is read first).
2. A class is ASGI 2: calling it with the scope builds the instance. A class written as an ASGI 3
   application cannot be told apart from its ``__init__`` alone, so it needs the marker.
3. Anything that gives a coroutine when called is ASGI 3: an ``async def`` function, a bound
   method or ``functools.partial`` of one, a callable marked as a coroutine function, or an
   instance whose ``__call__`` is one of those.
4. Everything else is ASGI 2: a sync function, method or callable instance is taken to be the
   first half of a double call.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TypeAlias, cast

from ._inspection import is_async_callable

# Importable from here, as with asgiref 3.13: the very function asgiref.sync offers.
from .sync import iscoroutinefunction
from .typing import (
    ASGI3Application,
    ASGIReceiveCallable,
    ASGISendCallable,
    Scope,
)

# What these functions take. `asgiref.typing.ASGI2Application` is a class only (as in asgiref 3.13),
# but these functions, unannotated there, have always taken any ASGI 2 application, including a
# function that returns the instance; a class fits this type as well.
_LegacyApplication: TypeAlias = Callable[
    [Scope], Callable[[ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]
]

__all__ = [
    "double_to_single_callable",
    "guarantee_single_callable",
    "is_double_callable",
    "iscoroutinefunction",
]


def is_double_callable(application: object) -> bool:
    """Whether `application` is an ASGI 2 application (``app(scope)(receive, send)``), judged by
    its markers first and its shape second."""
    if getattr(application, "_asgi_single_callable", False):
        return False
    if getattr(application, "_asgi_double_callable", False):
        return True
    if inspect.isclass(application):
        return True
    return not is_async_callable(application)


def double_to_single_callable(application: _LegacyApplication) -> ASGI3Application:
    """Wrap an ASGI 2 `application` as an ASGI 3 one: each call builds an instance from the scope
    and awaits it with `receive` and `send`."""

    async def new_application(
        scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        instance = application(scope)
        await instance(receive, send)

    return new_application


def guarantee_single_callable(
    application: _LegacyApplication | ASGI3Application,
) -> ASGI3Application:
    """`application` itself if it is ASGI 3, or wrapped as ASGI 3 if it is ASGI 2."""
    # The static union cannot be narrowed by a run-time guess, hence the casts.
    if is_double_callable(application):
        return double_to_single_callable(cast("_LegacyApplication", application))
    return cast("ASGI3Application", application)
