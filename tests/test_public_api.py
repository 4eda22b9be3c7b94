"""Pins the public API: every public name importable, main signatures unchanged."""

from __future__ import annotations

import importlib
import inspect

import pytest

import asgiref

PUBLIC_NAMES = {
    "asgiref.sync": [
        "AsyncSingleThreadContext",
        "AsyncToSync",
        "BridgeObserver",
        "BridgedCall",
        "SyncToAsync",
        "ThreadSensitiveContext",
        "async_to_sync",
        "async_to_sync_context",
        "async_to_sync_iter",
        "iscoroutinefunction",
        "markcoroutinefunction",
        "register_bridge_observer",
        "set_slow_lane_warning",
        "sync_to_async",
        "sync_to_async_context",
        "sync_to_async_iter",
    ],
    "asgiref.local": ["Local"],
    "asgiref.current_thread_executor": ["CurrentThreadExecutor"],
    "asgiref.server": ["StatelessServer"],
    "asgiref.testing": [
        "ApplicationCommunicator",
        "ClientDisconnectedError",
        "HttpCommunicator",
        "HttpResponse",
        "LifespanCommunicator",
        "SyncCommunicator",
        "WebsocketCommunicator",
    ],
    "asgiref.conformance": ["ApplicationChecker", "ProtocolError"],
    "asgiref.compatibility": [
        "double_to_single_callable",
        "guarantee_single_callable",
        "is_double_callable",
        "iscoroutinefunction",
    ],
    "asgiref.timeout": ["timeout"],
    "asgiref.wsgi": ["AsgiToWsgi", "WsgiToAsgi", "WsgiToAsgiInstance"],
    "asgiref.typing": [
        "ASGI2Application",
        "ASGI2Protocol",
        "ASGI3Application",
        "ASGIApplication",
        "ASGIReceiveCallable",
        "ASGIReceiveEvent",
        "ASGISendCallable",
        "ASGISendEvent",
        "ASGIVersions",
        "HTTPScope",
        "LifespanScope",
        "Scope",
        "WWWScope",
        "WebSocketScope",
    ],
}


# Importable as with asgiref 3.13 (which has no `__all__` there, or does not list them in it).
IMPORTABLE_NAMES = {
    "asgiref.sync": ["CurrentThreadExecutor", "Local"],
    "asgiref.typing": [
        "Any",
        "Awaitable",
        "Callable",
        "Iterable",
        "Literal",
        "NotRequired",
        "Protocol",
        "TypedDict",
        "Union",
    ],
}


@pytest.mark.parametrize(("module_name", "names"), PUBLIC_NAMES.items())
def test_public_names_are_importable_and_listed(module_name: str, names: list[str]) -> None:
    module = importlib.import_module(module_name)
    for name in names:
        assert hasattr(module, name), f"{module_name}.{name} is missing"
        assert name in module.__all__


@pytest.mark.parametrize(("module_name", "names"), IMPORTABLE_NAMES.items())
def test_other_names_are_importable(module_name: str, names: list[str]) -> None:
    module = importlib.import_module(module_name)
    assert [name for name in names if not hasattr(module, name)] == []


def test_version_is_a_3_13_release() -> None:
    assert asgiref.__version__.startswith("3.13.")


def signature_of(obj: object) -> str:
    return str(inspect.signature(obj))  # type: ignore[arg-type]


def test_main_signatures() -> None:
    from asgiref.current_thread_executor import CurrentThreadExecutor
    from asgiref.local import Local
    from asgiref.sync import (
        AsyncToSync,
        SyncToAsync,
        ThreadSensitiveContext,
        async_to_sync,
        sync_to_async,
    )

    assert signature_of(sync_to_async) == (
        "(func: 'Callable[_P, _R] | None' = None, *, thread_sensitive: 'bool' = True, "
        "executor: 'Executor | None' = None, context: 'contextvars.Context | None' = None) "
        "-> 'SyncToAsync[_P, _R] | Callable[[Callable[_P, _R]], SyncToAsync[_P, _R]]'"
    )
    parameters = inspect.signature(async_to_sync).parameters
    assert list(parameters) == ["awaitable", "force_new_loop"]
    assert parameters["force_new_loop"].kind is inspect.Parameter.KEYWORD_ONLY
    assert list(inspect.signature(SyncToAsync).parameters) == [
        "func",
        "thread_sensitive",
        "executor",
        "context",
    ]
    assert list(inspect.signature(AsyncToSync).parameters) == ["awaitable", "force_new_loop"]
    assert list(inspect.signature(SyncToAsync.thread_handler).parameters) == [
        "self",
        "loop",
        "args",
        "kwargs",
    ]
    executor_parameter = inspect.signature(ThreadSensitiveContext).parameters["executor"]
    assert executor_parameter.kind is inspect.Parameter.KEYWORD_ONLY
    assert str(inspect.signature(Local)) == "(thread_critical: bool = False) -> 'Local'"
    assert list(inspect.signature(CurrentThreadExecutor).parameters) == ["old_executor"]


def test_plumbing_signatures() -> None:
    from asgiref.server import StatelessServer
    from asgiref.testing import ApplicationCommunicator
    from asgiref.timeout import timeout

    assert list(inspect.signature(StatelessServer).parameters) == [
        "application",
        "max_applications",
    ]
    assert inspect.signature(StatelessServer).parameters["max_applications"].default == 1000
    assert StatelessServer.application_checker_interval == 0.1
    assert list(inspect.signature(ApplicationCommunicator).parameters) == ["application", "scope"]
    receive_output = inspect.signature(ApplicationCommunicator.receive_output).parameters
    assert receive_output["timeout"].default == 1
    nothing = inspect.signature(ApplicationCommunicator.receive_nothing).parameters
    assert (nothing["timeout"].default, nothing["interval"].default) == (0.1, 0.01)
    assert str(inspect.signature(timeout)) == (
        "(timeout: float | None, *, loop: asyncio.events.AbstractEventLoop | None = None) -> None"
    )


def test_wsgi_signatures() -> None:
    from asgiref.wsgi import AsgiToWsgi, WsgiToAsgi, WsgiToAsgiInstance

    parameters = inspect.signature(WsgiToAsgi).parameters
    assert list(parameters)[:2] == ["wsgi_application", "duplicate_header_limit"]
    assert parameters["duplicate_header_limit"].default == 100
    assert all(
        parameter.kind is inspect.Parameter.KEYWORD_ONLY
        for parameter in list(parameters.values())[2:]
    )
    assert list(inspect.signature(WsgiToAsgiInstance).parameters)[:2] == [
        "wsgi_application",
        "duplicate_header_limit",
    ]
    assert list(inspect.signature(WsgiToAsgiInstance.build_environ).parameters) == [
        "self",
        "scope",
        "body",
    ]
    assert list(inspect.signature(WsgiToAsgiInstance.start_response).parameters) == [
        "self",
        "status",
        "response_headers",
        "exc_info",
    ]
    assert list(inspect.signature(WsgiToAsgiInstance.run_wsgi_app).parameters) == ["self", "body"]
    assert list(inspect.signature(AsgiToWsgi).parameters) == ["asgi_application"]
