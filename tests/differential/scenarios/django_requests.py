"""Django's request handling on top of asgiref: ASGIHandler driven by ApplicationCommunicator,
the threads views and middleware run on, async_unsafe, signals, streaming, async test methods.

Every scenario configures Django itself (each runs in an interpreter of its own), with a urlconf
module built on the spot."""

from __future__ import annotations

import asyncio
import io
import logging
import sys
import threading
import types
import unittest
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from _observe import Observer

from asgiref.sync import async_to_sync, sync_to_async
from asgiref.testing import ApplicationCommunicator

WAIT = 2.0


def _sync_middleware(get_response: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def middleware(request: Any) -> Any:
        request.sync_middleware_thread = threading.current_thread()
        return get_response(request)

    return middleware


_sync_middleware.sync_capable = True  # type: ignore[attr-defined]
_sync_middleware.async_capable = False  # type: ignore[attr-defined]


def _async_middleware(get_response: Callable[[Any], Any]) -> Callable[[Any], Any]:
    async def middleware(request: Any) -> Any:
        request.async_middleware_thread = threading.current_thread()
        return await get_response(request)

    return middleware


_async_middleware.sync_capable = False  # type: ignore[attr-defined]
_async_middleware.async_capable = True  # type: ignore[attr-defined]


def _setup(routes: Callable[[], dict[str, Any]], middleware: bool = False) -> Any:
    """Configure Django with `routes()` (path -> view) as its urlconf; the ASGI application."""
    import django
    from django.conf import settings

    urls = types.ModuleType("differential_urls")
    sys.modules["differential_urls"] = urls
    middleware_module = types.ModuleType("differential_middleware")
    middleware_module.sync_middleware = _sync_middleware  # type: ignore[attr-defined]
    middleware_module.async_middleware = _async_middleware  # type: ignore[attr-defined]
    sys.modules["differential_middleware"] = middleware_module
    settings.configure(
        DEBUG=False,
        SECRET_KEY="differential",
        ROOT_URLCONF="differential_urls",
        ALLOWED_HOSTS=["*"],
        INSTALLED_APPS=[],
        LOGGING_CONFIG=None,
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        MIDDLEWARE=(
            ["differential_middleware.sync_middleware", "differential_middleware.async_middleware"]
            if middleware
            else []
        ),
    )
    django.setup()
    from django.core.asgi import get_asgi_application
    from django.urls import path

    urls.urlpatterns = [path(route, view) for route, view in routes().items()]  # type: ignore[attr-defined]
    return get_asgi_application()


def _scope(path: str, query_string: bytes = b"") -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query_string,
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }


async def _request(application: Any, path: str, query_string: bytes = b"") -> list[Any]:
    """The response messages of one GET request (or where it stopped)."""
    communicator = ApplicationCommunicator(application, _scope(path, query_string))
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
    messages: list[Any] = []
    while True:
        try:
            message = await communicator.receive_output(WAIT)
        except BaseException as error:
            messages.append(("stopped", type(error).__name__))
            break
        messages.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            break
    await communicator.wait(WAIT)
    return messages


def _status_and_body(messages: list[Any]) -> Any:
    status = next((m["status"] for m in messages if isinstance(m, dict) and "status" in m), None)
    body = b"".join(
        m.get("body", b"")
        for m in messages
        if isinstance(m, dict) and m["type"] == "http.response.body"
    )
    return (status, body)


@contextmanager
def _captured_logs(name: str) -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger(name)
    handler = Collect()
    logger.addHandler(handler)
    propagate = logger.propagate
    logger.propagate = False
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def scenario_django_sync_and_async_views(obs: Observer) -> None:
    threads: dict[str, threading.Thread] = {}

    def routes() -> dict[str, Any]:
        from django.http import HttpResponse

        def sync_view(request: Any) -> Any:
            threads["sync view"] = threading.current_thread()
            threads["sync middleware (sync)"] = request.sync_middleware_thread
            threads["async middleware (sync)"] = request.async_middleware_thread
            return HttpResponse(b"sync " + request.method.encode())

        async def async_view(request: Any) -> Any:
            threads["async view"] = threading.current_thread()
            threads["sync middleware (async)"] = request.sync_middleware_thread
            threads["async middleware (async)"] = request.async_middleware_thread

            def in_sync() -> None:
                threads["sync_to_async in async view"] = threading.current_thread()

            await sync_to_async(in_sync)()
            return HttpResponse(b"async")

        return {"sync/": sync_view, "async/": async_view}

    application = _setup(routes, middleware=True)

    async def main() -> None:
        obs.thread("scenario")
        obs("sync response", await _request(application, "/sync/"))
        obs("async response", await _request(application, "/async/"))

    asyncio.run(main())
    main_thread = threading.main_thread()
    obs("sync view on main", threads["sync view"] is main_thread)
    obs("sync middleware with sync view", threads["sync middleware (sync)"] is threads["sync view"])
    obs(
        "async middleware on main (sync request)", threads["async middleware (sync)"] is main_thread
    )
    obs("async view on main", threads["async view"] is main_thread)
    obs(
        "async middleware on main (async request)",
        threads["async middleware (async)"] is main_thread,
    )
    obs(
        "sync middleware on main (async request)", threads["sync middleware (async)"] is main_thread
    )
    obs(
        "sync_to_async in async view runs with the sync middleware",
        threads["sync_to_async in async view"] is threads["sync middleware (async)"],
    )


def scenario_django_sync_view_threads_across_requests(obs: Observer) -> None:
    seen: list[threading.Thread] = []

    def routes() -> dict[str, Any]:
        from django.http import HttpResponse

        def view(request: Any) -> Any:
            seen.append(threading.current_thread())
            return HttpResponse(b"ok")

        return {"view/": view}

    application = _setup(routes)

    async def main() -> None:
        for _ in range(3):
            await _request(application, "/view/")

    asyncio.run(main())
    obs("view threads", [obs.thread_label(t) for t in seen])
    obs("distinct threads", len(set(seen)))


def scenario_django_thread_local_across_requests(obs: Observer) -> None:
    state = threading.local()

    def routes() -> dict[str, Any]:
        from django.http import HttpResponse

        def view(request: Any) -> Any:
            previous = getattr(state, "value", None)
            state.value = request.GET["v"]
            return HttpResponse(f"previous={previous}".encode())

        return {"view/": view}

    application = _setup(routes)

    async def main() -> None:
        for index in range(3):
            messages = await _request(application, "/view/", f"v={index}".encode())
            obs(f"request {index}", _status_and_body(messages))

    asyncio.run(main())


def scenario_django_in_memory_sqlite_across_requests(obs: Observer) -> None:
    def routes() -> dict[str, Any]:
        from django.db import connection
        from django.http import HttpResponse

        def view(request: Any) -> Any:
            with connection.cursor() as cursor:
                cursor.execute("CREATE TABLE IF NOT EXISTS hits (n INTEGER)")
                cursor.execute("INSERT INTO hits VALUES (1)")
                cursor.execute("SELECT COUNT(*) FROM hits")
                count = cursor.fetchone()[0]
            return HttpResponse(f"rows={count}".encode())

        return {"db/": view}

    application = _setup(routes)

    async def main() -> None:
        for index in range(3):
            obs(f"request {index}", _status_and_body(await _request(application, "/db/")))

    asyncio.run(main())


def scenario_django_concurrent_sync_requests(obs: Observer) -> None:
    barrier = threading.Barrier(2, timeout=1.5)
    threads: list[threading.Thread] = []

    def routes() -> dict[str, Any]:
        from django.http import HttpResponse

        def view(request: Any) -> Any:
            threads.append(threading.current_thread())
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                return HttpResponse(b"barrier broken")
            return HttpResponse(b"barrier passed")

        return {"wait/": view}

    application = _setup(routes)

    async def main() -> None:
        results = await asyncio.gather(
            _request(application, "/wait/"), _request(application, "/wait/")
        )
        obs("responses", sorted(_status_and_body(r) for r in results))

    asyncio.run(main())
    obs("views ran", len(threads))
    obs("distinct threads", len(set(threads)))
    obs("any on the main thread", any(t is threading.main_thread() for t in threads))


def scenario_django_view_exception(obs: Observer) -> None:
    def routes() -> dict[str, Any]:
        def sync_boom(request: Any) -> Any:
            raise ValueError("sync view failed")

        async def async_boom(request: Any) -> Any:
            raise KeyError("async view failed")

        return {"sync-boom/": sync_boom, "async-boom/": async_boom}

    application = _setup(routes)

    async def main() -> None:
        for path in ("/sync-boom/", "/async-boom/"):
            with _captured_logs("django.request") as records:
                messages = await _request(application, path)
            obs(f"{path} status and body", _status_and_body(messages))
            obs(
                f"{path} log records",
                [
                    (
                        r.levelname,
                        r.getMessage(),
                        r.exc_info[0].__name__ if r.exc_info and r.exc_info[0] else None,
                        str(r.exc_info[1]) if r.exc_info else None,
                    )
                    for r in records
                ],
            )

    asyncio.run(main())


def scenario_django_async_unsafe(obs: Observer) -> None:
    _setup(dict)
    from django.core.exceptions import SynchronousOnlyOperation
    from django.db import connection
    from django.utils.asyncio import async_unsafe

    def plain() -> str:
        return "ran"

    unsafe: Any = async_unsafe(plain)

    obs.call("sync, no loop", unsafe)

    async def main() -> None:
        obs.call("directly in async code", unsafe)
        await obs.acall("through sync_to_async", sync_to_async(unsafe)())
        await obs.acall(
            "through sync_to_async thread_sensitive=False",
            sync_to_async(unsafe, thread_sensitive=False)(),
        )
        obs.call("cursor in async code", lambda: connection.cursor() and "cursor")
        obs("SynchronousOnlyOperation base", SynchronousOnlyOperation.__mro__[1].__name__)

    asyncio.run(main())

    def in_async_to_sync() -> None:
        async def inner() -> None:
            obs.call("in a coroutine run by async_to_sync", unsafe)
            await obs.acall("sync_to_async inside async_to_sync", sync_to_async(unsafe)())

        async_to_sync(inner)()

    thread = threading.Thread(target=in_async_to_sync)
    thread.start()
    thread.join(WAIT)


def scenario_django_signals(obs: Observer) -> None:
    _setup(dict)
    from django.dispatch import Signal

    signal = Signal()

    async def async_receiver(sender: Any, **kwargs: Any) -> Any:
        return (
            "async",
            kwargs["x"],
            threading.current_thread() is threading.main_thread(),
            obs.loop_running(),
        )

    def sync_receiver(sender: Any, **kwargs: Any) -> Any:
        return (
            "sync",
            kwargs["x"],
            threading.current_thread() is threading.main_thread(),
            obs.loop_running(),
        )

    signal.connect(async_receiver)
    signal.connect(sync_receiver)

    def summary(responses: list[Any]) -> list[Any]:
        return [(receiver.__name__, response) for receiver, response in responses]

    obs("send from sync code", summary(signal.send(sender=None, x=1)))
    obs("send_robust from sync code", summary(signal.send_robust(sender=None, x=2)))

    async def main() -> None:
        obs("asend from async code", summary(await signal.asend(sender=None, x=3)))
        obs("asend_robust from async code", summary(await signal.asend_robust(sender=None, x=4)))
        obs.call("send from async code", lambda: summary(signal.send(sender=None, x=5)))

    asyncio.run(main())


def scenario_django_streaming_sync_iterator(obs: Observer) -> None:
    def routes() -> dict[str, Any]:
        from django.http import StreamingHttpResponse

        def stream(request: Any) -> Any:
            def chunks() -> Iterator[bytes]:
                yield b"first "
                yield b"second"

            return StreamingHttpResponse(chunks(), content_type="text/plain")

        async def astream(request: Any) -> Any:
            async def chunks() -> Any:
                yield b"async "
                yield b"chunks"

            return StreamingHttpResponse(chunks(), content_type="text/plain")

        return {"stream/": stream, "astream/": astream}

    application = _setup(routes)

    async def main() -> None:
        for path in ("/stream/", "/astream/"):
            with obs.warnings(f"{path} warnings"):
                obs(f"{path} messages", await _request(application, path))

    asyncio.run(main())


def scenario_django_request_signals(obs: Observer) -> None:
    threads: dict[str, threading.Thread] = {}

    def routes() -> dict[str, Any]:
        from django.http import HttpResponse

        def view(request: Any) -> Any:
            threads["view"] = threading.current_thread()
            return HttpResponse(b"ok")

        return {"view/": view}

    application = _setup(routes)
    from django.core.signals import request_finished, request_started

    def started(sender: Any, **kwargs: Any) -> None:
        threads["request_started"] = threading.current_thread()

    def finished(sender: Any, **kwargs: Any) -> None:
        threads["request_finished"] = threading.current_thread()

    request_started.connect(started)
    request_finished.connect(finished)

    async def main() -> None:
        obs("response", _status_and_body(await _request(application, "/view/")))

    asyncio.run(main())
    obs("request_started with the view", threads.get("request_started") is threads.get("view"))
    obs("request_finished with the view", threads.get("request_finished") is threads.get("view"))
    obs("view on the main thread", threads.get("view") is threading.main_thread())


def scenario_django_async_test_methods(obs: Observer) -> None:
    _setup(dict)
    from django.test import SimpleTestCase

    loop_threads: list[threading.Thread] = []

    class Tests(SimpleTestCase):  # type: ignore[misc]
        async def test_1_passes(self) -> None:
            loop_threads.append(threading.current_thread())
            obs("test thread is main", threading.current_thread() is threading.main_thread())
            obs("loop running in test", obs.loop_running())

            def sync_part() -> bool:
                return threading.current_thread() is threading.main_thread()

            obs("sync_to_async in test runs on main", await sync_to_async(sync_part)())

        async def test_2_fails(self) -> None:
            loop_threads.append(threading.current_thread())
            self.fail("deliberate failure")

        async def test_3_errors(self) -> None:
            loop_threads.append(threading.current_thread())
            raise KeyError("in test")

        def test_4_sync(self) -> None:
            obs("sync test thread is main", threading.current_thread() is threading.main_thread())

    suite = unittest.TestLoader().loadTestsFromTestCase(Tests)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = unittest.TextTestRunner(stream=io.StringIO(), verbosity=0).run(suite)
    obs("tests run", result.testsRun)
    obs(
        "failures",
        [(t.id().rsplit(".", 1)[1], tb.strip().splitlines()[-1]) for t, tb in result.failures],
    )
    obs(
        "errors",
        [(t.id().rsplit(".", 1)[1], tb.strip().splitlines()[-1]) for t, tb in result.errors],
    )
    obs("async tests ran", len(loop_threads))
    obs("distinct loop threads across async tests", len(set(loop_threads)))
