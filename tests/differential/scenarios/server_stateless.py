"""asgiref.server.StatelessServer: instances, eviction, the checker, errors, run()/arun(), and
Channels' worker built on it."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from _observe import ABSENT, Observer, differs, until

from asgiref.server import StatelessServer

WAIT = 1.0


class _Server(StatelessServer):
    """A server whose sends are collected; handle() is given per scenario."""

    def __init__(self, application: Any, max_applications: int = 1000) -> None:
        super().__init__(application, max_applications=max_applications)
        self.sent: list[Any] = []

    async def application_send(self, scope: Any, message: Any) -> Any:
        self.sent.append((scope.get("id"), message))
        return "application_send result"


class _Tracker:
    """Events an application sets: when each instance started, got a message, was cancelled."""

    def __init__(self) -> None:
        self.started: dict[str, asyncio.Event] = {}
        self.cancelled: dict[str, asyncio.Event] = {}
        self.order: list[str] = []

    def event(self, kind: dict[str, asyncio.Event], scope_id: str) -> asyncio.Event:
        return kind.setdefault(scope_id, asyncio.Event())

    async def wait(self, kind: dict[str, asyncio.Event], scope_id: str) -> bool:
        try:
            await asyncio.wait_for(self.event(kind, scope_id).wait(), WAIT)
        except TimeoutError:
            return False
        return True

    async def application(self, scope: Any, receive: Any, send: Any) -> None:
        scope_id = scope["id"]
        self.event(self.started, scope_id).set()
        try:
            while True:
                message = await receive()
                if message.get("raise"):
                    raise ValueError(f"failed on {scope_id}")
                if message.get("stop"):
                    return
                await send({"echo": message})
        except asyncio.CancelledError:
            self.order.append(scope_id)
            self.event(self.cancelled, scope_id).set()
            raise


def scenario_base_methods_not_implemented(obs: Observer) -> None:
    server = StatelessServer(lambda scope: None)

    async def main() -> None:
        await obs.acall("handle", server.handle())
        await obs.acall("application_send", server.application_send({}, {}))

    asyncio.run(main())
    obs.call("run", server.run)


def scenario_class_surface(obs: Observer) -> None:
    obs("application_checker_interval", StatelessServer.application_checker_interval)
    names = (
        "run",
        "arun",
        "handle",
        "application_send",
        "get_or_create_application_instance",
        "delete_oldest_application_instance",
        "delete_application_instance",
        "application_checker",
        "application_exception",
    )
    for name in names:
        method = getattr(StatelessServer, name)
        obs(f"{name} is a coroutine function", inspect.iscoroutinefunction(method))
        obs(f"{name} parameters", list(inspect.signature(method).parameters))
    obs("constructor parameters", list(inspect.signature(StatelessServer).parameters))

    def application(scope: Any) -> None:
        return None

    server = StatelessServer(application, 7)
    obs("application attribute", server.application is application)
    obs("max_applications attribute", server.max_applications)
    obs("application_instances", server.application_instances)
    obs("default max_applications", StatelessServer(application).max_applications)


@differs(
    "SERVER-1",
    original={"type is asyncio.Queue": True, "is awaitable": False},
    ours={"type is asyncio.Queue": False, "is awaitable": True},
)
def scenario_get_or_create_returns(obs: Observer) -> None:
    tracker = _Tracker()

    async def main() -> None:
        server = _Server(tracker.application)
        queue: Any = server.get_or_create_application_instance("a", {"id": "a"})
        obs("type is asyncio.Queue", type(queue) is asyncio.Queue)
        obs("isinstance asyncio.Queue", isinstance(queue, asyncio.Queue))
        obs("is awaitable", inspect.isawaitable(queue))
        obs(
            "same object for the same scope id",
            server.get_or_create_application_instance("a", {"id": "x"}) is queue,
        )
        obs("put_nowait", queue.put_nowait({"n": 1}))
        await queue.put({"n": 2})
        await queue.put({"stop": True})
        future = server.application_instances["a"]["future"]
        await asyncio.wait_for(asyncio.shield(future), WAIT)
        obs("sent", server.sent)
        obs("application result", future.result())

    asyncio.run(main())


def scenario_application_instances_entries(obs: Observer) -> None:
    tracker = _Tracker()

    async def main() -> None:
        server = _Server(tracker.application)
        scope = {"id": "a", "type": "custom"}
        queue = server.get_or_create_application_instance("a", scope)
        obs("keys", list(server.application_instances))
        entry: Any = server.application_instances["a"]
        obs("entry is a dict", type(entry) is dict)
        obs("entry isinstance dict", isinstance(entry, dict))
        obs("entry keys", sorted(entry.keys()) if hasattr(entry, "keys") else "no keys()")
        obs("input_queue is the returned queue", entry["input_queue"] is queue)
        obs("scope is the given scope", entry["scope"] is scope)
        obs("future type", type(entry["future"]).__name__)
        obs("last_used type", type(entry["last_used"]).__name__)
        obs("application key", _try_key(entry, "application"))
        await queue.put({"stop": True})
        await asyncio.wait_for(asyncio.shield(entry["future"]), WAIT)

    asyncio.run(main())


def _try_key(entry: Any, key: str) -> Any:
    try:
        value = entry[key]
    except KeyError as error:
        return ("KeyError", str(error))
    return type(value).__name__


def scenario_application_starts_without_input(obs: Observer) -> None:
    tracker = _Tracker()

    async def main() -> None:
        server = _Server(tracker.application)
        server.get_or_create_application_instance("a", {"id": "a"})
        obs("started before any message", await tracker.wait(tracker.started, "a"))

    asyncio.run(main())


def scenario_application_send_and_receive_callables(obs: Observer) -> None:
    async def application(scope: Any, receive: Any, send: Any) -> None:
        obs("receive is a coroutine function", inspect.iscoroutinefunction(receive))
        obs("send is a coroutine function", inspect.iscoroutinefunction(send))
        obs("receive name", getattr(receive, "__name__", None))
        obs("send name", getattr(send, "__name__", None))
        obs("scope is the given scope", scope is given_scope)
        message = await receive()
        obs("send returns", await send({"got": message}))

    given_scope = {"id": "a"}

    async def main() -> None:
        server = _Server(application)
        server.get_or_create_application_instance("a", given_scope).put_nowait({"n": 1})
        future = server.application_instances["a"]["future"]
        await asyncio.wait_for(asyncio.shield(future), WAIT)
        obs("sent", server.sent)

    asyncio.run(main())


def scenario_asgi2_application(obs: Observer) -> None:
    class Asgi2:
        def __init__(self, scope: Any) -> None:
            self.scope = scope

        async def __call__(self, receive: Any, send: Any) -> None:
            await send({"asgi2": await receive(), "id": self.scope["id"]})

    async def main() -> None:
        server = _Server(Asgi2)
        server.get_or_create_application_instance("a", {"id": "a"}).put_nowait({"n": 1})
        future = server.application_instances["a"]["future"]
        await asyncio.wait_for(asyncio.shield(future), WAIT)
        obs("sent", server.sent)

    asyncio.run(main())


def scenario_max_applications_eviction_order(obs: Observer) -> None:
    tracker = _Tracker()

    async def main() -> None:
        server = _Server(tracker.application, max_applications=2)

        async def create(scope_id: str) -> None:
            server.get_or_create_application_instance(scope_id, {"id": scope_id})
            await asyncio.sleep(0.01)  # distinct last_used times

        await create("a")
        await create("b")
        await create("a")  # used again: now b is the least recently used
        obs("after a, b, a", list(server.application_instances))
        for scope_id in ("c", "d", "e"):
            await create(scope_id)
            obs(f"after {scope_id}", list(server.application_instances))
        await asyncio.sleep(0.05)
        obs("cancelled instances, in order", tracker.order)

    asyncio.run(main())


def scenario_max_applications_zero(obs: Observer) -> None:
    tracker = _Tracker()

    async def main() -> None:
        try:
            server = _Server(tracker.application, max_applications=0)
        except Exception as error:
            obs("constructor", (type(error).__name__, str(error)))
            return
        obs("constructor", "accepted")
        for scope_id in ("a", "b", "c"):
            server.get_or_create_application_instance(scope_id, {"id": scope_id})
            obs(f"after {scope_id}", list(server.application_instances))

    asyncio.run(main())


def _returned(call: Any) -> Any:
    """What `call()` gave, as a user sees it: None, "an awaitable" (whatever its class), another
    value, or the exception it raised."""
    try:
        result = call()
    except Exception as error:
        return {"raised": error}
    if result is None or not inspect.isawaitable(result):
        return {"returned": result}
    return {"returned": "an awaitable"}


# The records name the user-visible facts (None, or an awaitable) rather than the class of the
# awaitable ours returns, which is a private helper.
@differs(
    "SERVER-2",
    original={
        "delete_application_instance b": {"returned": None},
        "delete_oldest_application_instance": {"returned": None},
    },
    ours={
        "delete_application_instance b": {"returned": "an awaitable"},
        "delete_oldest_application_instance": {"returned": "an awaitable"},
    },
)
def scenario_delete_methods(obs: Observer) -> None:
    tracker = _Tracker()

    async def main() -> None:
        server = _Server(tracker.application)
        for scope_id in ("a", "b", "c"):
            server.get_or_create_application_instance(scope_id, {"id": scope_id}).put_nowait({})
            await tracker.wait(tracker.started, scope_id)
            await asyncio.sleep(0.01)  # distinct last_used times
        obs(
            "delete_application_instance b",
            _returned(lambda: server.delete_application_instance("b")),
        )
        obs("after deleting b", list(server.application_instances))
        obs("b cancelled", await tracker.wait(tracker.cancelled, "b"))
        obs(
            "delete_oldest_application_instance",
            _returned(server.delete_oldest_application_instance),
        )
        obs("after deleting oldest", list(server.application_instances))
        obs("a cancelled", await tracker.wait(tracker.cancelled, "a"))
        obs("delete missing", _returned(lambda: server.delete_application_instance("missing")))
        server.delete_application_instance("c")
        obs("delete oldest of none", _returned(server.delete_oldest_application_instance))
        obs("after all", list(server.application_instances))

    asyncio.run(main())


def scenario_application_exception_override(obs: Observer) -> None:
    tracker = _Tracker()
    reported = asyncio.Event()

    class Server(_Server):
        application_checker_interval = 0.01

        async def application_exception(self, exception: Any, application_details: Any) -> None:
            scope_id = application_details["scope"]["id"]
            obs(f"{scope_id} exception", exception)
            obs(f"{scope_id} details is a dict", isinstance(application_details, dict))
            obs(f"{scope_id} details scope", application_details["scope"])
            obs(f"{scope_id} details future done", application_details["future"].done())
            obs(f"{scope_id} still listed", scope_id in self.application_instances)
            reported.set()

        async def handle(self) -> None:
            self.get_or_create_application_instance("ok", {"id": "ok"}).put_nowait({"stop": 1})
            self.get_or_create_application_instance("bad", {"id": "bad"}).put_nowait({"raise": 1})
            try:
                await asyncio.wait_for(reported.wait(), WAIT)
            except TimeoutError:
                obs("reported", False)
            await until(lambda: not self.application_instances)
            obs("instances after the checker ran", sorted(self.application_instances))

    obs.call("run", Server(tracker.application).run)


@contextmanager
def _captured_logs() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    try:
        yield records
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def scenario_default_application_exception_logs(obs: Observer) -> None:
    tracker = _Tracker()

    class Server(_Server):
        application_checker_interval = 0.01

        async def handle(self) -> None:
            self.get_or_create_application_instance("bad", {"id": "bad"}).put_nowait({"raise": 1})
            future = self.application_instances["bad"]["future"]
            await asyncio.wait([asyncio.ensure_future(asyncio.shield(future))], timeout=WAIT)
            await until(lambda: bool(records))
            await until(lambda: not self.application_instances)

    with _captured_logs() as records:
        obs.call("run", Server(tracker.application).run)
    mine = [r for r in records if not r.name.startswith("asyncio")]
    obs("number of records", len(mine))
    for index, record in enumerate(mine):
        message = record.getMessage()
        obs(f"record {index} logger", record.name)
        obs(f"record {index} level", record.levelname)
        obs(f"record {index} first line", message.splitlines()[0] if message else "")
        obs(f"record {index} message mentions the error", "failed on bad" in message)
        obs(f"record {index} has exc_info", bool(record.exc_info))


@differs(
    "SERVER-3",
    original={
        "run": {"raised": {"exception": "asyncio.CancelledError", "message": ""}},
        "removed by the checker": ABSENT,
        "handle finished": ABSENT,
    },
    ours={"run": {"returned": None}, "removed by the checker": True, "handle finished": True},
)
def scenario_cancelled_instance_and_checker(obs: Observer) -> None:
    tracker = _Tracker()

    class Server(_Server):
        application_checker_interval = 0.01

        async def handle(self) -> None:
            self.get_or_create_application_instance("a", {"id": "a"}).put_nowait({})
            await tracker.wait(tracker.started, "a")
            self.application_instances["a"]["future"].cancel()
            await tracker.wait(tracker.cancelled, "a")
            obs("removed by the checker", await until(lambda: not self.application_instances))
            obs("handle finished", True)

    obs.call("run", Server(tracker.application).run)


def scenario_run_and_arun(obs: Observer) -> None:
    class Returns(_Server):
        async def handle(self) -> Any:
            q = self.get_or_create_application_instance("a", {"id": "a"})
            await q.put({"n": 1})
            await q.put({"stop": True})
            await asyncio.wait_for(asyncio.shield(self.application_instances["a"]["future"]), WAIT)
            return "handle result"

    class Raises(_Server):
        async def handle(self) -> None:
            raise ValueError("handle failed")

    tracker = _Tracker()
    server = Returns(tracker.application)
    obs.call("run returns", server.run)
    obs("sent", server.sent)
    obs.call("arun returns", lambda: asyncio.run(Returns(tracker.application).arun()))
    obs.call("run with failing handle", Raises(tracker.application).run)
    obs.call("arun with failing handle", lambda: asyncio.run(Raises(tracker.application).arun()))

    async def in_loop() -> None:
        obs.call("run inside a running loop", Returns(tracker.application).run)

    asyncio.run(in_loop())


def scenario_instances_after_run(obs: Observer) -> None:
    tracker = _Tracker()

    class Server(_Server):
        async def handle(self) -> None:
            self.get_or_create_application_instance("live", {"id": "live"}).put_nowait({})
            await tracker.wait(tracker.started, "live")

    server = Server(tracker.application)
    obs.call("run", server.run)
    obs("instances after run", list(server.application_instances))
    obs("live instance cancelled", tracker.event(tracker.cancelled, "live").is_set())
    entry = server.application_instances.get("live")
    if entry is not None:
        obs("live future cancelled", entry["future"].cancelled())


@differs(
    "SERVER-4",
    original={
        "stderr": ["Task exception was never retrieved", "Traceback (most recent call last)"]
    },
    ours={"stderr": []},
)
def scenario_keyboard_interrupt_in_handle(obs: Observer) -> None:
    tracker = _Tracker()

    class Server(_Server):
        async def handle(self) -> None:
            raise KeyboardInterrupt

    obs.call("run", Server(tracker.application).run)


class _Logged(_Server):
    """Logs every call of the delete methods (and whether the instance was listed then)."""

    def __init__(self, application: Any, max_applications: int = 1000) -> None:
        super().__init__(application, max_applications=max_applications)
        self.calls: list[Any] = []

    def delete_oldest_application_instance(self) -> Any:
        self.calls.append("oldest")
        return super().delete_oldest_application_instance()

    def delete_application_instance(self, scope_id: str) -> Any:
        self.calls.append(("delete", scope_id))
        return super().delete_application_instance(scope_id)


def scenario_eviction_through_the_delete_methods(obs: Observer) -> None:
    tracker = _Tracker()

    async def main() -> None:
        server = _Logged(tracker.application, max_applications=3)
        for scope_id in "abcd":
            server.get_or_create_application_instance(scope_id, {"id": scope_id})
        obs("after a to d", (list(server.application_instances), server.calls))
        server.calls.clear()
        server.max_applications = 1
        server.get_or_create_application_instance("c", {"id": "c"})  # known: never evicts
        obs("existing id over the maximum", (list(server.application_instances), server.calls))
        server.get_or_create_application_instance("e", {"id": "e"})
        obs("new id over the maximum", (list(server.application_instances), server.calls))
        # last_used is a plain value: edits count, and a tie goes to the first listed.
        server.calls.clear()
        server.max_applications = 2
        for scope_id in "fg":
            server.get_or_create_application_instance(scope_id, {"id": scope_id})
        for entry in server.application_instances.values():
            entry["last_used"] = 5.0
        server.application_instances["f"]["last_used"] = 1.0
        server.get_or_create_application_instance("h", {"id": "h"})
        obs("edited last_used", list(server.application_instances))
        server.get_or_create_application_instance("i", {"id": "i"})
        obs("tied last_used", list(server.application_instances))
        await asyncio.sleep(0)
        obs("never started, so never saw a cancellation", sorted(tracker.order))
        for entry in server.application_instances.values():
            entry["future"].cancel()

    asyncio.run(main())


def scenario_how_the_application_is_called(obs: Observer) -> None:
    calls: list[Any] = []

    async def application(*args: Any, **kwargs: Any) -> None:
        calls.append((len(args), sorted(kwargs)))

    class Refuses:
        _asgi_single_callable = True

        def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
            calls.append(("refused", sorted(server.application_instances)))
            raise TypeError("cannot start")

    server = _Logged(application, max_applications=1)

    async def main() -> None:
        for scope_id in "ab":
            server.get_or_create_application_instance(scope_id, {"id": scope_id})
        futures = [entry["future"] for entry in server.application_instances.values()]
        await asyncio.wait(futures, timeout=WAIT)
        obs("arguments", calls)
        calls.clear()
        server.application = Refuses()  # read when an instance is made
        with obs.raises("application call raises"):
            server.get_or_create_application_instance("c", {"id": "c"})
        obs("evicted before the call, nothing listed for it", (calls, server.calls))
        obs("instances", list(server.application_instances))

    asyncio.run(main())


def scenario_checker_and_application_exception(obs: Observer) -> None:
    """What the checker does around application_exception: falsy exceptions, a hook that deletes
    the instance itself or makes a new one, and a hook that raises."""

    class Falsy(Exception):
        def __bool__(self) -> bool:
            return False

    async def application(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        if scope["id"] == "falsy":
            raise Falsy("falsy")
        if scope["id"] != "new":
            raise ValueError(scope["id"])

    reports: list[str] = []

    class Server(_Server):
        application_checker_interval = 0.01

        async def application_exception(self, exception: Any, application_details: Any) -> None:
            scope_id = application_details["scope"]["id"]
            reports.append(scope_id)
            if scope_id == "deletes itself":
                del self.application_instances[scope_id]
            elif scope_id == "makes one":
                self.get_or_create_application_instance("new", {"id": "new"})
            elif scope_id == "raises":
                raise RuntimeError("application_exception failed")

        async def handle(self) -> None:
            for scope_id in ("falsy", "deletes itself", "makes one"):
                self.get_or_create_application_instance(scope_id, {"id": scope_id}).put_nowait({})
            await until(lambda: list(self.application_instances) == ["new"])
            obs("reported", list(reports))
            obs("listed", list(self.application_instances))
            self.get_or_create_application_instance("raises", {"id": "raises"}).put_nowait({})
            await asyncio.sleep(WAIT)  # ended early by the failure of application_exception

    server = Server(application)
    obs.call("run", server.run)
    obs("listed after run", list(server.application_instances))


def scenario_default_application_exception_message(obs: Observer) -> None:
    """The whole message the default application_exception logs (file names left out), and the
    root logger's set-up it leaves behind (module-level logging.error configures it)."""
    root = logging.getLogger()
    old_handlers = root.handlers[:]
    for handler in old_handlers:
        root.removeHandler(handler)
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    def fail() -> None:
        raise KeyError("missing %s")

    async def main() -> None:
        server = _Server(lambda scope: None)
        await server.application_exception(ValueError("no traceback"), None)
        obs("root handlers after", [type(h).__name__ for h in root.handlers])
        root.addHandler(Collect())
        try:
            fail()
        except KeyError as error:
            await server.application_exception(error, {})

    try:
        asyncio.run(main())
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in old_handlers:
            root.addHandler(handler)
    for index, record in enumerate(records):
        lines = record.getMessage().splitlines()
        obs(f"record {index} lines", [_without_file(line) for line in lines])
        obs(f"record {index} args", len(record.args or ()))


def _without_file(line: str) -> str:
    if line.startswith('  File "'):
        return "  File ..., in " + line.rsplit(", in ", 1)[1]
    return line


@differs(
    "SERVER-5",
    original={"failure reported after arun returned": True, "tasks left running": 1},
    ours={"failure reported after arun returned": False, "tasks left running": 0},
)
def scenario_checker_after_arun_returns(obs: Observer) -> None:
    tracker = _Tracker()
    reports: list[str] = []

    class Server(_Server):
        application_checker_interval = 0.01

        async def handle(self) -> None:
            return None

        async def application_exception(self, exception: Any, application_details: Any) -> None:
            reports.append(str(exception))

    async def main() -> None:
        server = Server(tracker.application)
        await obs.acall("arun", server.arun())
        queue = server.get_or_create_application_instance("bad", {"id": "bad"})
        queue.put_nowait({"raise": True})
        future = server.application_instances["bad"]["future"]
        await asyncio.wait([future], timeout=WAIT)
        obs("failure reported after arun returned", await until(lambda: bool(reports), 0.3))
        future.exception()  # seen here, whether or not a checker saw it
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        obs("tasks left running", len(others))
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    asyncio.run(main())


@differs(
    "SERVER-1",
    original={
        "await the returned queue": (
            "TypeError",
            "object Queue can't be used in 'await' expression",
        ),
        "queue['scope']": ("TypeError", "'Queue' object is not subscriptable"),
        "queue['application'] run by the caller": ABSENT,
    },
    ours={
        "await the returned queue": "the queue",
        "queue['scope']": "the scope",
        "queue['application'] run by the caller": {
            "caller's replies": [{"echo": {"n": 1}}],
            "server sent": [],
            "application started": ["a"],
            "listed": ["a"],
            "future done": False,
        },
    },
)
def scenario_seed_style_queue(obs: Observer) -> None:
    """The seed page's way: await get_or_create_application_instance, read instance[...] and run
    instance["application"] with its own receive and send."""
    tracker = _Tracker()

    async def main() -> None:
        server = _Server(tracker.application)
        scope = {"id": "a"}
        queue: Any = server.get_or_create_application_instance("a", scope)
        try:
            awaited = await queue
            obs("await the returned queue", "the queue" if awaited is queue else repr(awaited))
        except TypeError as error:
            obs("await the returned queue", ("TypeError", str(error)))
        try:
            obs("queue['scope']", "the scope" if queue["scope"] is scope else repr(queue["scope"]))
        except TypeError as error:
            obs("queue['scope']", ("TypeError", str(error)))
            return
        mine: asyncio.Queue[Any] = asyncio.Queue()
        replies: list[Any] = []

        async def send(message: Any) -> None:
            replies.append(message)

        running = asyncio.ensure_future(queue["application"](scope, mine.get, send))
        mine.put_nowait({"n": 1})
        mine.put_nowait({"stop": True})
        await asyncio.wait_for(running, WAIT)
        obs(
            "queue['application'] run by the caller",
            {
                "caller's replies": replies,
                "server sent": server.sent,
                "application started": sorted(tracker.started),
                "listed": list(server.application_instances),
                "future done": server.application_instances["a"]["future"].done(),
            },
        )
        server.delete_application_instance("a")

    asyncio.run(main())


@differs(
    "SERVER-2",
    original={
        "await delete_application_instance": (
            "TypeError",
            "object NoneType can't be used in 'await' expression",
        ),
        "await delete_oldest_application_instance": (
            "TypeError",
            "object NoneType can't be used in 'await' expression",
        ),
    },
    ours={
        "await delete_application_instance": "done",
        "await delete_oldest_application_instance": "done",
    },
)
def scenario_seed_style_delete(obs: Observer) -> None:
    tracker = _Tracker()

    async def main() -> None:
        server = _Server(tracker.application)
        for scope_id in "abc":
            server.get_or_create_application_instance(scope_id, {"id": scope_id})
        calls: dict[str, Any] = {
            "await delete_application_instance": lambda: server.delete_application_instance("b"),
            "await delete_oldest_application_instance": server.delete_oldest_application_instance,
        }
        for key, call in calls.items():
            try:
                await call()
                obs(key, "done")
            except TypeError as error:
                obs(key, ("TypeError", str(error)))
        obs("listed", list(server.application_instances))
        server.delete_application_instance("c")

    asyncio.run(main())


# --- Channels' worker -------------------------------------------------------------------------


def _configure_channels() -> None:
    import django
    from django.conf import settings

    settings.configure(
        SECRET_KEY="differential",
        INSTALLED_APPS=[],
        CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
    )
    django.setup()


def scenario_channels_worker(obs: Observer) -> None:
    _configure_channels()
    from channels.consumer import AsyncConsumer, SyncConsumer
    from channels.layers import InMemoryChannelLayer
    from channels.routing import ChannelNameRouter
    from channels.worker import Worker

    got: dict[str, list[Any]] = {"tasks-a": [], "tasks-s": []}
    sync_done = threading.Event()

    class Async(AsyncConsumer):  # type: ignore[misc]
        async def task_run(self, message: Any) -> None:
            got["tasks-a"].append((message["n"], self.scope))
            if message["n"] == "last":
                async_done.set()

    class Sync(SyncConsumer):  # type: ignore[misc]
        def task_run(self, message: Any) -> None:
            got["tasks-s"].append(
                (message["n"], self.scope, threading.current_thread() is threading.main_thread())
            )
            if message["n"] == "last":
                sync_done.set()

    application = ChannelNameRouter({"tasks-a": Async.as_asgi(), "tasks-s": Sync.as_asgi()})
    layer = InMemoryChannelLayer()

    async def main() -> None:
        worker = Worker(
            application=application, channels=["tasks-a", "tasks-s"], channel_layer=layer
        )
        handle = asyncio.ensure_future(worker.handle())
        checker = asyncio.ensure_future(worker.application_checker())
        for n in (1, 2, "last"):
            await layer.send("tasks-a", {"type": "task.run", "n": n})
            await layer.send("tasks-s", {"type": "task.run", "n": n})
        try:
            await asyncio.wait_for(async_done.wait(), WAIT)
            obs("async consumer done", True)
        except TimeoutError:
            obs("async consumer done", False)
        obs("sync consumer done", await asyncio.to_thread(sync_done.wait, WAIT))
        obs("instances", sorted(worker.application_instances))
        obs(
            "instance entry types",
            sorted({type(e).__name__ for e in worker.application_instances.values()}),
        )
        obs("handle still running", not handle.done())
        handle.cancel()
        checker.cancel()
        await asyncio.gather(handle, checker, return_exceptions=True)

    async_done: asyncio.Event
    with obs.warnings("warnings"):

        async def run() -> None:
            nonlocal async_done
            async_done = asyncio.Event()
            await main()

        asyncio.run(run())
    obs("messages", got)


def scenario_channels_worker_message_without_type(obs: Observer) -> None:
    _configure_channels()
    from channels.layers import InMemoryChannelLayer
    from channels.worker import Worker

    async def application(scope: Any, receive: Any, send: Any) -> None:
        await receive()

    layer = InMemoryChannelLayer()

    async def main() -> None:
        worker = Worker(application=application, channels=["only"], channel_layer=layer)
        await layer.send("only", {"no": "type"})
        await obs.acall("handle", asyncio.wait_for(worker.handle(), WAIT))

    asyncio.run(main())
    obs.call(
        "no channel layer", lambda: Worker(application=application, channels=[], channel_layer=None)
    )


def scenario_warnings_from_sync_consumer_send(obs: Observer) -> None:
    """A sync application (Channels' SyncConsumer style) wrapping the server's send with
    async_to_sync."""
    from asgiref.sync import async_to_sync, sync_to_async

    async def application(scope: Any, receive: Any, send: Any) -> None:
        with obs.warnings("async_to_sync(send) warnings"):
            sync_send = async_to_sync(send)
        message = await receive()
        await sync_to_async(sync_send)({"got": message})

    async def main() -> None:
        server = _Server(application)
        server.get_or_create_application_instance("a", {"id": "a"}).put_nowait({"n": 1})
        future = server.application_instances["a"]["future"]
        await asyncio.wait_for(asyncio.shield(future), WAIT)
        obs("sent", server.sent)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        asyncio.run(main())
