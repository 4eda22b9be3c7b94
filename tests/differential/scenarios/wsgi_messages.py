"""WsgiToAsgi as an ASGI server sees it: every message it sends for a WSGI app's response.

Each request is driven with a `receive` that hands out the given request messages and then waits
(until cancelled), and a `send` that keeps every message exactly as sent, so the records show the
message sequence, each message's keys and values, tuples vs lists and bytes vs str. The adapter's
own outcome (returned, or the exception that escaped it) and the log records it left at WARNING
and above are recorded too.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from typing import Any

from _observe import Observer, describe_exception, differs
from _requests import REQUEST, Message, http_scope, serve

from asgiref.sync import ThreadSensitiveContext, async_to_sync, sync_to_async
from asgiref.testing import ApplicationCommunicator
from asgiref.wsgi import WsgiToAsgi, WsgiToAsgiInstance

Environ = dict[str, Any]


def record_request(
    obs: Observer,
    prefix: str,
    app: Any,
    scope: dict[str, Any] | None = None,
    messages: list[Message] | None = None,
    *,
    timeout: float = 2.0,
    **options: Any,
) -> None:
    """Serve one request and record `<prefix> sent`, `<prefix> outcome` and `<prefix> logs`."""
    with obs.logs(f"{prefix} logs"):
        sent, outcome = asyncio.run(serve(app, scope, messages, timeout=timeout, **options))
    obs(f"{prefix} sent", sent)
    obs(f"{prefix} outcome", outcome)


def replying(body: Any, headers: Any = None, status: Any = "200 OK") -> Any:
    """A WSGI app that starts the response with `status` and `headers` and returns `body`."""

    def app(environ: Environ, start_response: Any) -> Any:
        start_response(status, [("Content-Type", "text/plain")] if headers is None else headers)
        return body

    return app


class Tracked:
    """A response iterable that notes each chunk it produces in `events`, and each call of its
    close() in `closes` (kept apart: only the original leaves close() uncalled, see DWSGI9)."""

    def __init__(
        self,
        chunks: list[Any],
        events: list[Any],
        fail_at: int | None = None,
        closes: list[str] | None = None,
    ) -> None:
        self.chunks = chunks
        self.events = events
        self.fail_at = fail_at
        self.closes = closes if closes is not None else []

    def __iter__(self) -> Iterator[Any]:
        for index, chunk in enumerate(self.chunks):
            self.events.append(("produce", index))
            if index == self.fail_at:
                raise KeyError(f"failed producing chunk {index}")
            yield chunk

    def close(self) -> None:
        self.closes.append("close")


# --- plain responses ----------------------------------------------------------------------------


def scenario_list_response(obs: Observer) -> None:
    record_request(obs, "two chunks", replying([b"Hello, ", b"world"]))
    record_request(obs, "one chunk tuple", replying((b"only",)))


def scenario_generator_and_iterator_responses(obs: Observer) -> None:
    def generator() -> Iterator[bytes]:
        yield b"first"
        yield b"second"

    record_request(obs, "generator", replying(generator()))
    record_request(obs, "iterator", replying(iter([b"a", b"b", b"c"])))

    def starts_inside(environ: Environ, start_response: Any) -> Any:
        def body() -> Iterator[bytes]:
            start_response("202 Accepted", [("X-Late", "1")])
            yield b"late"

        return body()

    record_request(obs, "start_response inside the generator", starts_inside)


def scenario_empty_bodies(obs: Observer) -> None:
    record_request(obs, "empty list", replying([]))
    record_request(obs, "one empty chunk", replying([b""]))
    record_request(obs, "empty iterator", replying(iter([])))


def scenario_empty_chunks_between(obs: Observer) -> None:
    record_request(obs, "chunks", replying([b"", b"x", b"", b"y", b""]))


def scenario_content_length_clamps_longer_body(obs: Observer) -> None:
    events: list[Any] = []
    app = replying(Tracked([b"abc", b"def", b"ghi"], events), [("Content-Length", "5")])
    record_request(obs, "clamped", app)
    obs("clamped iterable events", events)
    record_request(obs, "one long chunk", replying([b"hello world"], [("Content-Length", "5")]))
    exact: list[Any] = []
    app = replying(Tracked([b"ab", b"c", b"d"], exact), [("Content-Length", "3")])
    record_request(obs, "reached on a chunk boundary", app)
    obs("reached on a chunk boundary iterable events", exact)


def scenario_content_length_longer_than_body(obs: Observer) -> None:
    record_request(obs, "short body", replying([b"hi"], [("Content-Length", "10")]))
    record_request(obs, "zero length", replying([b"abc"], [("Content-Length", "0")]))
    record_request(obs, "upper-case name", replying([b"abc"], [("CONTENT-LENGTH", "2")]))


def scenario_content_length_odd_values(obs: Observer) -> None:
    record_request(obs, "not a number", replying([b"abc"], [("Content-Length", "abc")]))
    record_request(obs, "an int", replying([b"abc"], [("Content-Length", 2)]))
    record_request(
        obs,
        "same value twice",
        replying([b"hello"], [("Content-Length", "3"), ("content-length", "3")]),
    )


@differs(
    "WSGI-5",
    original={
        "negative sent": [
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"-1")]},
            {"type": "http.response.body", "body": b"ab", "more_body": True},
            {"type": "http.response.body"},
        ],
        "negative outcome": {"returned": None},
        "two values sent": [
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"3"), (b"content-length", b"4")],
            },
            {"type": "http.response.body", "body": b"hell", "more_body": True},
            {"type": "http.response.body"},
        ],
        "two values outcome": {"returned": None},
        "generator of headers sent": [
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"3")]},
            {"type": "http.response.body", "body": b"abcd", "more_body": True},
            {"type": "http.response.body"},
        ],
    },
    ours={
        "negative sent": [],
        "negative outcome": {
            "raised": {
                "exception": "ValueError",
                "message": "response Content-Length '-1' is negative",
                "asgiref_subclass": True,
            }
        },
        "two values sent": [],
        "two values outcome": {
            "raised": {
                "exception": "ValueError",
                "message": "response Content-Length headers disagree (3 and 4)",
                "asgiref_subclass": True,
            }
        },
        "generator of headers sent": [
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"3")]},
            {"type": "http.response.body", "body": b"abc", "more_body": True},
            {"type": "http.response.body"},
        ],
    },
)
def scenario_content_length_unsafe_values(obs: Observer) -> None:
    """Lengths that let the body and the declared length disagree, which desynchronizes a
    kept-alive connection: the original sends them (and, for headers given as a generator, does
    not cut the body at the length)."""
    record_request(obs, "negative", replying([b"abc"], [("Content-Length", "-1")]))
    record_request(
        obs, "two values", replying([b"hello"], [("Content-Length", "3"), ("content-length", "4")])
    )
    headers = (pair for pair in [("Content-Length", "3")])
    record_request(obs, "generator of headers", replying([b"abcd"], headers))


# --- status and headers -------------------------------------------------------------------------


def scenario_headers_as_lists(obs: Observer) -> None:
    record_request(obs, "list pair", replying([b"x"], [["X-Colour", "Blue"]]))
    record_request(
        obs,
        "mixed pairs",
        replying([b"x"], [("Content-Type", "text/plain"), ["X-Colour", "Blue"]]),
    )


def scenario_header_names_and_values(obs: Observer) -> None:
    record_request(
        obs,
        "casing and repeats",
        replying(
            [b"x"],
            [
                ("X-MiXeD-Case", "VaLuE"),
                ("content-type", "text/html; charset=utf-8"),
                ("Set-Cookie", "a=1; Path=/"),
                ("Set-Cookie", "b=2; Path=/"),
            ],
        ),
    )
    record_request(obs, "spaces around name", replying([b"x"], [(" X-A ", "v")]))


@differs(
    "WSGI-4",
    original={
        "Django's Set-Cookie sent": [
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"set-cookie", b" a=b; Path=/"), (b"x-tab", b"\tv\t")],
            },
            {"type": "http.response.body", "body": b"x", "more_body": True},
            {"type": "http.response.body"},
        ],
        "padded Content-Length sent": [
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b" 2 ")],
            },
            {"type": "http.response.body", "body": b"ab", "more_body": True},
            {"type": "http.response.body"},
        ],
    },
    ours={
        "Django's Set-Cookie sent": [
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"set-cookie", b"a=b; Path=/"), (b"x-tab", b"v")],
            },
            {"type": "http.response.body", "body": b"x", "more_body": True},
            {"type": "http.response.body"},
        ],
        "padded Content-Length sent": [
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]},
            {"type": "http.response.body", "body": b"ab", "more_body": True},
            {"type": "http.response.body"},
        ],
    },
)
def scenario_header_value_spaces(obs: Observer) -> None:
    """Spaces and tabs around header values (Django's Set-Cookie values start with a space)."""
    record_request(
        obs,
        "Django's Set-Cookie",
        replying([b"x"], [("Set-Cookie", " a=b; Path=/"), ("X-Tab", "\tv\t")]),
    )
    record_request(obs, "padded Content-Length", replying([b"abc"], [("Content-Length", " 2 ")]))


def scenario_header_values_outside_ascii(obs: Observer) -> None:
    record_request(obs, "latin-1 value", replying([b"x"], [("X-A", "caf\u00e9")]))
    record_request(obs, "cjk value", replying([b"x"], [("X-A", "\u4e2d")]))
    record_request(obs, "latin-1 name", replying([b"x"], [("X-\u00e9", "v")]))


@differs(
    "WSGI-3",
    original={
        "CRLF in value sent": [
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"x-a", b"a\r\nX-Injected: b")],
            },
            {"type": "http.response.body", "body": b"x", "more_body": True},
            {"type": "http.response.body"},
        ],
        "CRLF in value outcome": {"returned": None},
        "NUL in name sent": [
            {"type": "http.response.start", "status": 200, "headers": [(b"x-\x00a", b"v")]},
            {"type": "http.response.body", "body": b"x", "more_body": True},
            {"type": "http.response.body"},
        ],
        "NUL in name outcome": {"returned": None},
    },
    ours={
        "CRLF in value sent": [],
        "CRLF in value outcome": {
            "raised": {
                "exception": "ValueError",
                "message": "response header 'X-A': 'a\\r\\nX-Injected: b' holds CR, LF or NUL, "
                "which could inject headers into the response; it was not sent",
                "asgiref_subclass": True,
            }
        },
        "NUL in name sent": [],
        "NUL in name outcome": {
            "raised": {
                "exception": "ValueError",
                "message": "response header 'X-\\x00a': 'v' holds CR, LF or NUL, which could "
                "inject headers into the response; it was not sent",
                "asgiref_subclass": True,
            }
        },
    },
)
def scenario_header_injection(obs: Observer) -> None:
    record_request(obs, "CRLF in value", replying([b"x"], [("X-A", "a\r\nX-Injected: b")]))
    record_request(obs, "NUL in name", replying([b"x"], [("X-\x00a", "v")]))


def scenario_header_shapes(obs: Observer) -> None:
    record_request(obs, "int value", replying([b"x"], [("X-N", 5)]))
    record_request(obs, "bytes pair", replying([b"x"], [(b"X-B", b"v")]))
    record_request(obs, "tuple of pairs", replying([b"x"], (("X-A", "a"),)))
    record_request(obs, "generator of pairs", replying([b"x"], (h for h in [("X-A", "a")])))
    record_request(obs, "three-item header", replying([b"x"], [("X-A", "v", "w")]))
    record_request(obs, "dict", replying([b"x"], {"X-A": "v"}))


def scenario_status_lines_common(obs: Observer) -> None:
    for status in ("200 OK", "404 Not Found", "299 Whatever Thing", "418 I'm a teapot", "200  OK"):
        record_request(obs, repr(status), replying([b"x"], [], status))


def scenario_status_lines_odd(obs: Observer) -> None:
    for status in ("200", "099 Low", "600 High", "2000 OK", "200 OK\r\nX: y", " 200 OK", "2x OK"):
        record_request(obs, repr(status), replying([b"x"], [], status))
    record_request(obs, "int status", replying([b"x"], [], 200))


def scenario_body_chunk_types(obs: Observer) -> None:
    record_request(obs, "str", replying(["text"]))
    record_request(obs, "bytearray", replying([bytearray(b"ba")]))
    record_request(obs, "memoryview", replying([memoryview(b"mv")]))
    record_request(obs, "int", replying([5]))
    record_request(obs, "None", replying([None]))


# --- start_response ------------------------------------------------------------------------------


@differs(
    "WSGI-10",
    original={
        "write then return sent": [],
        "write then return outcome": {
            "raised": {"exception": "TypeError", "message": "'NoneType' object is not callable"}
        },
        "start_response returned a callable": [False],
    },
    ours={
        "write then return sent": [
            {"type": "http.response.start", "status": 200, "headers": [(b"x-w", b"1")]},
            {"type": "http.response.body", "body": b"written ", "more_body": True},
            {"type": "http.response.body", "body": b"returned", "more_body": True},
            {"type": "http.response.body"},
        ],
        "write then return outcome": {"returned": None},
        "start_response returned a callable": [True],
    },
)
def scenario_write_callable(obs: Observer) -> None:
    returned: list[Any] = []

    def writer(environ: Environ, start_response: Any) -> Any:
        write = start_response("200 OK", [("X-W", "1")])
        returned.append(callable(write))
        write(b"written ")
        return [b"returned"]

    record_request(obs, "write then return", writer)
    obs("start_response returned a callable", returned)


def scenario_start_response_twice_before_body(obs: Observer) -> None:
    def twice(environ: Environ, start_response: Any) -> Any:
        start_response("200 OK", [])
        start_response("201 Created", [("X-Second", "1")])
        return [b"x"]

    record_request(obs, "without exc_info", twice)

    def replaced(environ: Environ, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Length", "2"), ("X-First", "1")])
        try:
            raise ValueError("failed after start_response")
        except ValueError:
            start_response("500 Internal Server Error", [("X-Second", "2")], sys.exc_info())
        return [b"an error page"]

    record_request(obs, "with exc_info", replaced)

    def none_exc_info(environ: Environ, start_response: Any) -> Any:
        start_response("200 OK", [])
        start_response("201 Created", [], (None, None, None))
        return [b"x"]

    record_request(obs, "with an empty exc_info", none_exc_info)

    def first_with_exc_info(environ: Environ, start_response: Any) -> Any:
        try:
            raise ValueError("failed at once")
        except ValueError:
            start_response("500 Internal Server Error", [("X-Err", "1")], sys.exc_info())
        return [b"error"]

    record_request(obs, "first call with exc_info", first_with_exc_info)


def scenario_start_response_after_body_sent(obs: Observer) -> None:
    def with_exc_info(environ: Environ, start_response: Any) -> Any:
        start_response("200 OK", [])

        def body() -> Iterator[bytes]:
            yield b"first"
            try:
                raise ValueError("late failure")
            except ValueError:
                start_response("500 Internal Server Error", [], sys.exc_info())
            yield b"second"

        return body()

    record_request(obs, "with exc_info", with_exc_info)

    def without_exc_info(environ: Environ, start_response: Any) -> Any:
        start_response("200 OK", [])

        def body() -> Iterator[bytes]:
            yield b"first"
            start_response("201 Created", [])
            yield b"second"

        return body()

    record_request(obs, "without exc_info", without_exc_info)


# --- failing and odd apps -----------------------------------------------------------------------


def scenario_app_raises_before_body(obs: Observer) -> None:
    def before(environ: Environ, start_response: Any) -> Any:
        raise KeyError("before start_response")

    def after(environ: Environ, start_response: Any) -> Any:
        start_response("200 OK", [])
        raise KeyError("after start_response")

    record_request(obs, "before start_response", before)
    record_request(obs, "after start_response", after)


def scenario_app_raises_during_iteration(obs: Observer) -> None:
    for fail_at in (0, 1):
        events: list[Any] = []
        record_request(
            obs, f"fails at chunk {fail_at}", replying(Tracked([b"a", b"b"], events, fail_at))
        )
        obs(f"fails at chunk {fail_at} events", events)


@differs(
    "WSGI-9",
    original={
        "complete close() calls": [],
        "cut at Content-Length close() calls": [],
        "failing close() calls": [],
    },
    ours={
        "complete close() calls": ["close"],
        "cut at Content-Length close() calls": ["close"],
        "failing close() calls": ["close"],
    },
)
def scenario_close_of_the_iterable(obs: Observer) -> None:
    cases: dict[str, tuple[Any, Any]] = {
        "complete": ([b"a", b"b"], None),
        "cut at Content-Length": ([b"ab", b"c", b"d"], [("Content-Length", "3")]),
        "failing": ([b"a", b"b"], None),
    }
    for name, (chunks, headers) in cases.items():
        events: list[Any] = []
        closes: list[str] = []
        fail_at = 1 if name == "failing" else None
        record_request(obs, name, replying(Tracked(chunks, events, fail_at, closes), headers))
        obs(f"{name} events", events)
        obs(f"{name} close() calls", closes)


def scenario_app_without_a_response(obs: Observer) -> None:
    def never_starts(environ: Environ, start_response: Any) -> Any:
        return [b"body without status"]

    def never_starts_empty(environ: Environ, start_response: Any) -> Any:
        return []

    def returns_none(environ: Environ, start_response: Any) -> Any:
        start_response("200 OK", [])
        return None

    record_request(obs, "no start_response", never_starts)
    record_request(obs, "no start_response and no body", never_starts_empty)
    record_request(obs, "returns None", returns_none)


# --- the request side ---------------------------------------------------------------------------


@differs("WSGI-1", original={"app ran": []}, ours={"app ran": ["GET", "GET"]})
def scenario_disconnect_while_reading_body(obs: Observer) -> None:
    ran: list[str] = []

    def app(environ: Environ, start_response: Any) -> Any:
        ran.append(environ["REQUEST_METHOD"])
        start_response("200 OK", [])
        return [environ["wsgi.input"].read()]

    partial: Message = {"type": "http.request", "body": b"part", "more_body": True}
    record_request(obs, "after a chunk", app, None, [partial, {"type": "http.disconnect"}])
    record_request(obs, "at once", app, None, [{"type": "http.disconnect"}])
    record_request(
        obs,
        "unknown message type",
        app,
        None,
        [partial, {"type": "http.unknown"}, {"type": "http.request", "body": b"end"}],
    )
    obs("app ran", ran)


@differs("WSGI-1", original={"app started": False}, ours={"app started": True})
def scenario_app_waits_for_the_whole_body(obs: Observer) -> None:
    started = threading.Event()

    def app(environ: Environ, start_response: Any) -> Any:
        started.set()
        data = environ["wsgi.input"].read()
        start_response("200 OK", [])
        return [data]

    partial: Message = {"type": "http.request", "body": b"part", "more_body": True}
    record_request(obs, "body never completes", app, None, [partial], timeout=0.5)
    obs("app started", started.is_set())


def scenario_response_streams_while_app_runs(obs: Observer) -> None:
    first_sent = threading.Event()
    released: list[bool] = []

    def app(environ: Environ, start_response: Any) -> Any:
        start_response("200 OK", [])

        def body() -> Iterator[bytes]:
            yield b"one"
            released.append(first_sent.wait(1.0))
            yield b"two"

        return body()

    async def main() -> list[Message]:
        sent: list[Message] = []
        pending = [REQUEST]
        never = asyncio.Event()

        async def receive() -> Message:
            if pending:
                return pending.pop(0)
            await never.wait()
            raise AssertionError("unreachable")

        async def send(message: Message) -> None:
            sent.append(message)
            if message.get("body") == b"one":
                first_sent.set()

        await asyncio.wait_for(WsgiToAsgi(app)(http_scope(), receive, send), 2.0)
        return sent

    obs("sent", asyncio.run(main()))
    obs("app saw the first chunk sent before producing the next", released)


def scenario_receive_always_ready(obs: Observer) -> None:
    """A test's `receive` that returns a request at once on every call (a common shortcut)."""
    sent: list[Message] = []
    outcome: list[Any] = []

    def app(environ: Environ, start_response: Any) -> Any:
        start_response("200 OK", [])
        return [b"ok"]

    async def receive() -> Message:
        return {"type": "http.request"}

    async def send(message: Message) -> None:
        sent.append(message)

    def run() -> None:
        try:
            asyncio.run(WsgiToAsgi(app)(http_scope(), receive, send))
        except BaseException as error:
            outcome.append(describe_exception(error))
        else:
            outcome.append("returned")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(1.5)
    obs("finished within 1.5 s", not thread.is_alive())
    obs("adapter outcome", list(outcome))
    obs("sent", list(sent))


@differs(
    "WSGI-11",
    original={
        "lifespan sent": [],
        "lifespan outcome": {
            "raised": {
                "exception": "ValueError",
                "message": "WSGI wrapper received a non-HTTP scope",
            }
        },
    },
    ours={
        "lifespan sent": [
            {"type": "lifespan.startup.complete"},
            {"type": "lifespan.shutdown.complete"},
        ],
        "lifespan outcome": {"returned": None},
    },
)
def scenario_lifespan_scope(obs: Observer) -> None:
    record_request(
        obs,
        "lifespan",
        replying([b"x"]),
        {"type": "lifespan", "asgi": {"version": "3.0"}},
        [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}],
        timeout=1.0,
    )


def scenario_non_http_scopes(obs: Observer) -> None:
    app = replying([b"x"])
    record_request(
        obs,
        "websocket",
        app,
        http_scope(type="websocket"),
        [{"type": "websocket.connect"}],
        timeout=1.0,
    )

    async def instance_with_lifespan() -> None:
        async def receive() -> Message:
            return {"type": "lifespan.startup"}

        async def send(message: Message) -> None:
            obs("instance sent", message)

        await WsgiToAsgiInstance(app)({"type": "lifespan"}, receive, send)

    obs.call(
        "WsgiToAsgiInstance given a lifespan scope", lambda: asyncio.run(instance_with_lifespan())
    )


# --- threads ------------------------------------------------------------------------------------


@differs(
    "WSGI-2",
    original={"each app saw the other running": {"/a": False, "/b": True}, "same thread": True},
    ours={"each app saw the other running": {"/a": True, "/b": True}, "same thread": False},
)
def scenario_concurrent_requests(obs: Observer) -> None:
    entered = {"/a": threading.Event(), "/b": threading.Event()}
    saw: dict[str, bool] = {}
    threads: dict[str, threading.Thread] = {}

    def app(environ: Environ, start_response: Any) -> Any:
        me = environ["PATH_INFO"]
        other = "/b" if me == "/a" else "/a"
        threads[me] = threading.current_thread()
        entered[me].set()
        saw[me] = entered[other].wait(0.75)
        start_response("200 OK", [])
        return [me.encode()]

    async def main() -> list[list[Message]]:
        adapter = WsgiToAsgi(app)
        results: list[list[Message]] = [[], []]

        async def one(path: str, sent: list[Message]) -> None:
            pending = [REQUEST]
            never = asyncio.Event()

            async def receive() -> Message:
                if pending:
                    return pending.pop(0)
                await never.wait()
                raise AssertionError("unreachable")

            async def send(message: Message) -> None:
                sent.append(message)

            await adapter(http_scope(path=path, raw_path=path.encode()), receive, send)

        await asyncio.wait_for(asyncio.gather(one("/a", results[0]), one("/b", results[1])), 2.5)
        return results

    obs("sent", asyncio.run(main()))
    obs("each app saw the other running", dict(sorted(saw.items())))
    obs("same thread", threads.get("/a") is threads.get("/b"))
    obs("main thread", [t is threading.main_thread() for _, t in sorted(threads.items())])


def scenario_thread_under_async_to_sync(obs: Observer) -> None:
    def app(environ: Environ, start_response: Any) -> Any:
        obs.thread("app thread")
        start_response("200 OK", [])
        return [b"x"]

    sent: list[Message] = []
    pending = [REQUEST]

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    obs.thread("caller thread")
    async_to_sync(WsgiToAsgi(app))(http_scope(), receive, send)
    obs("sent", sent)


def scenario_thread_in_thread_sensitive_context(obs: Observer) -> None:
    def app(environ: Environ, start_response: Any) -> Any:
        obs.thread("app thread")
        start_response("200 OK", [])
        return [b"x"]

    async def main() -> list[Message]:
        sent: list[Message] = []
        async with ThreadSensitiveContext():
            await sync_to_async(obs.thread)("sync_to_async thread in the context")

            async def receive() -> Message:
                return REQUEST

            async def send(message: Message) -> None:
                sent.append(message)

            await asyncio.wait_for(WsgiToAsgi(app)(http_scope(), receive, send), 2.0)
        return sent

    obs.thread("caller thread")
    obs("sent", asyncio.run(main()))


# --- as tests drive it --------------------------------------------------------------------------


def scenario_application_communicator(obs: Observer) -> None:
    def app(environ: Environ, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello ", environ["wsgi.input"].read()]

    async def main() -> None:
        communicator = ApplicationCommunicator(WsgiToAsgi(app), http_scope(method="POST"))
        await communicator.send_input({"type": "http.request", "body": b"world"})
        received: list[Any] = []
        for _ in range(6):
            try:
                message = await communicator.receive_output(1)
            except BaseException as error:
                received.append(describe_exception(error))
                break
            received.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                break
        obs("received", received)
        await obs.acall("receive_nothing", communicator.receive_nothing(0.1))
        await obs.acall("wait", communicator.wait(1))

    asyncio.run(main())


def scenario_adapter_attributes(obs: Observer) -> None:
    import inspect

    def app(environ: Environ, start_response: Any) -> Any:
        start_response("200 OK", [])
        return []

    adapter = WsgiToAsgi(app)
    obs("wsgi_application is app", adapter.wsgi_application is app)
    obs("duplicate_header_limit default", adapter.duplicate_header_limit)
    positional: Any = WsgiToAsgi
    obs("positional limit", positional(app, 7).duplicate_header_limit)
    obs("keyword limit", WsgiToAsgi(app, duplicate_header_limit=None).duplicate_header_limit)
    obs("__call__ is a coroutine function", inspect.iscoroutinefunction(WsgiToAsgi.__call__))
    params = inspect.signature(WsgiToAsgi).parameters.values()
    obs(
        "positional parameters",
        [
            (p.name, p.default if p.default is not p.empty else "<none>")
            for p in params
            if p.kind is p.POSITIONAL_OR_KEYWORD
        ],
    )
