"""Tests for asgiref.compatibility: telling ASGI 2 from ASGI 3 applications by shape and marker,
and running ASGI 2 applications through the ASGI 3 wrapper end to end."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import pytest

from asgiref._inspection import markcoroutinefunction
from asgiref.compatibility import (
    double_to_single_callable,
    guarantee_single_callable,
    is_double_callable,
)
from asgiref.typing import (
    ASGI3Application,
    ASGIReceiveCallable,
    ASGIReceiveEvent,
    ASGISendCallable,
    ASGISendEvent,
    HTTPScope,
    Scope,
)

Instance = Callable[[ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]
# What the functions under test take: an ASGI 3 application, or an ASGI 2 one written as a class or
# as a function returning the instance (asgiref.typing's ASGIApplication, as in asgiref 3.13,
# allows ASGI 2 classes only).
AnyApplication = Callable[[Scope], Instance] | ASGI3Application


def make_scope() -> HTTPScope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "path": "/",
        "query_string": b"",
        "headers": [],
    }


async def respond(
    label: str, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> None:
    """What every test application does: read the request, answer with `label`."""
    request = await receive()
    assert request["type"] == "http.request"
    await send({"type": "http.response.start", "status": 200})
    await send({"type": "http.response.body", "body": f"{label} {scope['type']}".encode()})


def expected_events(label: str) -> list[ASGISendEvent]:
    return [
        {"type": "http.response.start", "status": 200},
        {"type": "http.response.body", "body": f"{label} http".encode()},
    ]


async def drive(app: ASGI3Application, scope: Scope | None = None) -> list[ASGISendEvent]:
    """Run `app` for one request with an in-memory receive/send; return what it sent."""
    sent: list[ASGISendEvent] = []

    async def receive() -> ASGIReceiveEvent:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(event: ASGISendEvent) -> None:
        sent.append(event)

    await app(make_scope() if scope is None else scope, receive, send)
    return sent


def case(name: str, app: AnyApplication, label: str) -> object:
    """A test case: an application, the label it answers with, and a readable id."""
    return pytest.param(app, label, id=name)


# --- ASGI 3 (single callable) shapes -------------------------------------------------------------


async def single_function(
    scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> None:
    await respond("single function", scope, receive, send)


async def single_with_label(
    label: str, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> None:
    await respond(label, scope, receive, send)


class SingleMethodHolder:
    async def app(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await respond("single method", scope, receive, send)


class SingleInstance:
    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        await respond("single instance", scope, receive, send)


class SinglePartialInstance:
    """A callable instance whose `__call__` is a partial of a coroutine function (in a
    `staticmethod`, as Python 3.13 asks of partials stored on classes)."""

    __call__ = staticmethod(functools.partial(single_with_label, "single partial instance"))


@markcoroutinefunction
def single_marked_coroutine_function(
    scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> Awaitable[None]:
    """A sync function returning an awaitable, marked as a coroutine function (as wrappers are)."""
    return respond("single marked coroutine function", scope, receive, send)


class SingleClassMarked:
    """An ASGI 3 application written as a class: built with all three arguments, then awaited.
    Its shape says "class", so only the marker makes it single."""

    _asgi_single_callable = True

    def __init__(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        self.scope, self.receive, self.send = scope, receive, send

    def __await__(self) -> Generator[Any, None, None]:
        return respond("single class", self.scope, self.receive, self.send).__await__()


def single_sync_function_marked(
    scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> Awaitable[None]:
    return respond("single sync function marked", scope, receive, send)


single_sync_function_marked._asgi_single_callable = True  # type: ignore[attr-defined]


SINGLE_APPS = [
    case("function", single_function, "single function"),
    case("bound method", SingleMethodHolder().app, "single method"),
    case("instance with async __call__", SingleInstance(), "single instance"),
    case(
        "partial of coroutine function",
        functools.partial(single_with_label, "single partial"),
        "single partial",
    ),
    case("instance with partial __call__", SinglePartialInstance(), "single partial instance"),
    case(
        "marked coroutine function",
        single_marked_coroutine_function,
        "single marked coroutine function",
    ),
    case("class marked single", SingleClassMarked, "single class"),
    case("sync function marked single", single_sync_function_marked, "single sync function marked"),
]


# --- ASGI 2 (double callable) shapes -------------------------------------------------------------


class DoubleClass:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await respond("double class", self.scope, receive, send)


def double_function(scope: Scope) -> Instance:
    async def instance(receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await respond("double function", scope, receive, send)

    return instance


def double_with_label(label: str, scope: Scope) -> Instance:
    async def instance(receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await respond(label, scope, receive, send)

    return instance


class DoubleMethodHolder:
    def app(self, scope: Scope) -> Instance:
        return double_with_label("double method", scope)


class DoubleInstance:
    def __call__(self, scope: Scope) -> Instance:
        return double_with_label("double instance", scope)


class DoubleClassMarked(DoubleClass):
    _asgi_double_callable = True


class DoubleClassFalsySingleMarker(DoubleClass):
    """A false marker counts as no marker."""

    _asgi_single_callable = False


async def double_async_function_marked(scope: Scope) -> Instance:
    """An `async def` that is really the first half of a double call; only its marker says so."""
    return double_with_label("double async function marked", scope)


double_async_function_marked._asgi_double_callable = True  # type: ignore[attr-defined]


DOUBLE_APPS = [
    case("class", DoubleClass, "double class"),
    case("sync function returning coroutine function", double_function, "double function"),
    case("bound sync method", DoubleMethodHolder().app, "double method"),
    case("instance with sync __call__", DoubleInstance(), "double instance"),
    case(
        "partial of sync function",
        functools.partial(double_with_label, "double partial"),
        "double partial",
    ),
    case("class marked double", DoubleClassMarked, "double class"),
    case("class with false single marker", DoubleClassFalsySingleMarker, "double class"),
]


# --- detection -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("app", "label"), SINGLE_APPS)
def test_single_callables_are_not_double(app: AnyApplication, label: str) -> None:
    assert is_double_callable(app) is False


@pytest.mark.parametrize(("app", "label"), DOUBLE_APPS)
def test_double_callables_are_double(app: AnyApplication, label: str) -> None:
    assert is_double_callable(app) is True


def test_class_with_async_call_taking_scope_is_still_double() -> None:
    # A class is taken as ASGI 2 whatever its __call__ looks like; an ASGI 3 class needs a marker.
    assert is_double_callable(SingleInstance) is True


def test_double_marker_overrides_async_shape() -> None:
    assert is_double_callable(double_async_function_marked) is True


def test_single_marker_overrides_class_shape() -> None:
    assert is_double_callable(SingleClassMarked) is False


def test_single_marker_read_before_double_marker() -> None:
    class BothMarkers(DoubleClass):
        _asgi_single_callable = True
        _asgi_double_callable = True

    assert is_double_callable(BothMarkers) is False


def test_marker_on_instance_attribute() -> None:
    app = SingleInstance()
    app._asgi_double_callable = True  # type: ignore[attr-defined]
    assert is_double_callable(app) is True


def test_marker_on_function_seen_through_bound_method() -> None:
    class Holder:
        async def app(self, scope: Scope) -> Instance:
            return double_with_label("marked method", scope)

        app._asgi_double_callable = True  # type: ignore[attr-defined]

    assert is_double_callable(Holder().app) is True


def test_unmarked_sync_function_returning_a_coroutine_is_taken_as_double() -> None:
    # Its shape cannot be told from an ASGI 2 application's, so it needs a marker (as
    # single_sync_function_marked has) or inspect.markcoroutinefunction.
    def unmarked(
        scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> Awaitable[None]:
        return respond("unmarked", scope, receive, send)

    assert is_double_callable(unmarked) is True


# --- guarantee_single_callable -------------------------------------------------------------------


@pytest.mark.parametrize(("app", "label"), SINGLE_APPS)
def test_guarantee_returns_single_callables_unchanged(app: AnyApplication, label: str) -> None:
    assert guarantee_single_callable(app) is app


@pytest.mark.asyncio
@pytest.mark.parametrize(("app", "label"), SINGLE_APPS)
async def test_single_callables_run_as_asgi3(app: AnyApplication, label: str) -> None:
    assert await drive(guarantee_single_callable(app)) == expected_events(label)


@pytest.mark.parametrize(("app", "label"), DOUBLE_APPS)
def test_guarantee_wraps_double_callables(app: AnyApplication, label: str) -> None:
    wrapped = guarantee_single_callable(app)
    assert wrapped is not app
    assert is_double_callable(wrapped) is False
    assert guarantee_single_callable(wrapped) is wrapped


@pytest.mark.asyncio
@pytest.mark.parametrize(("app", "label"), DOUBLE_APPS)
async def test_wrapped_double_callables_run_end_to_end(app: AnyApplication, label: str) -> None:
    assert await drive(guarantee_single_callable(app)) == expected_events(label)


# --- double_to_single_callable -------------------------------------------------------------------


@pytest.mark.asyncio
async def test_wrapper_builds_one_instance_per_call_from_the_scope() -> None:
    scopes: list[Scope] = []

    class Recording(DoubleClass):
        def __init__(self, scope: Scope) -> None:
            super().__init__(scope)
            scopes.append(scope)

    wrapped = double_to_single_callable(Recording)
    first, second = make_scope(), make_scope()
    assert await drive(wrapped, first) == expected_events("double class")
    assert await drive(wrapped, second) == expected_events("double class")
    assert len(scopes) == 2
    assert scopes[0] is first
    assert scopes[1] is second


@pytest.mark.asyncio
async def test_wrapper_passes_receive_and_send_through() -> None:
    seen: list[object] = []

    def legacy(scope: Scope) -> Instance:
        async def instance(receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
            seen.extend([receive, send])

        return instance

    async def receive() -> ASGIReceiveEvent:
        return {"type": "http.disconnect"}

    async def send(event: ASGISendEvent) -> None:
        pass

    await double_to_single_callable(legacy)(make_scope(), receive, send)
    assert seen == [receive, send]


class LegacyAppError(Exception):
    pass


@pytest.mark.asyncio
async def test_wrapper_propagates_errors_from_the_instance() -> None:
    class Failing(DoubleClass):
        async def __call__(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
            raise LegacyAppError("boom")

    with pytest.raises(LegacyAppError, match="boom"):
        await drive(double_to_single_callable(Failing))


@pytest.mark.asyncio
async def test_wrapper_propagates_errors_from_building_the_instance() -> None:
    def failing(scope: Scope) -> Instance:
        raise LegacyAppError("no instance")

    with pytest.raises(LegacyAppError, match="no instance"):
        await drive(double_to_single_callable(failing))


def test_wrapper_does_not_call_the_application_until_awaited() -> None:
    calls: list[Scope] = []

    def legacy(scope: Scope) -> Instance:
        calls.append(scope)
        return double_with_label("never", scope)

    double_to_single_callable(legacy)
    assert calls == []


def test_public_names() -> None:
    import asgiref.compatibility as module

    assert sorted(module.__all__) == [
        "double_to_single_callable",
        "guarantee_single_callable",
        "is_double_callable",
        "iscoroutinefunction",
    ]


def test_iscoroutinefunction_is_the_one_of_asgiref_sync() -> None:
    # asgiref 3.13 lets it be imported from here too.
    import asgiref.sync
    from asgiref.compatibility import iscoroutinefunction

    assert iscoroutinefunction is asgiref.sync.iscoroutinefunction
    assert iscoroutinefunction(single_function) is True
    assert iscoroutinefunction(double_function) is False
