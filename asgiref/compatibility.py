"""Running legacy ASGI 2 applications as ASGI 3 ones.

An ASGI 2 ("double callable") application is called twice: ``app(scope)`` builds an instance, and
``await instance(receive, send)`` runs it; an ASGI 3 one is ``await app(scope, receive, send)``.
Nothing in an application says which it is, so `is_double_callable` guesses, by markers first and
shape second, in the order servers have always used (docs/compatibility.rst spells it out).
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
