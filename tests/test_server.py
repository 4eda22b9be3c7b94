"""Tests for asgiref.server.StatelessServer: asgiref 3.13.0's behaviour (instances, eviction, the
checker, run/arun), the additions for seed-style code, the original's bugs we fix, and real
loopback servers."""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import tracemalloc
import warnings
from typing import Any

import pytest

from asgiref.server import StatelessServer
from asgiref.sync import async_to_sync

Message = dict[str, Any]

TURNS = 1000  # bound, in event-loop turns, for waiting on in-process work
TIMEOUT = 5.0  # bound, in seconds, for waiting on a real socket or a subprocess

# What the original raises here is what `min()` of nothing says, which changed in Python 3.12.
try:
    min([])
except ValueError as _empty:
    _EMPTY_MIN_MESSAGE = str(_empty)


async def turns_until(condition: Any, turns: int = TURNS) -> None:
    """Let the event loop turn until `condition()` holds (bounded in turns)."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


async def stop_instances(server: StatelessServer) -> None:
    """Cancel every listed instance's application and wait until they have all ended."""
    futures = [entry["future"] for entry in server.application_instances.values()]
    for future in futures:
        future.cancel()
    await asyncio.gather(*futures, return_exceptions=True)


class Tracker:
    """An application that records, per scope id, when it started, what it received, and whether
    it was cancelled; `{"raise": text}` makes it fail, `{"stop": True}` makes it return."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.received: list[tuple[str, Message]] = []
        self.cancelled: list[str] = []

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        self.started.append(scope["id"])
        try:
            while True:
                message = await receive()
                self.received.append((scope["id"], message))
                if "raise" in message:
                    raise ValueError(message["raise"])
                if message.get("stop"):
                    return
                await send({"echo": message})
        except asyncio.CancelledError:
            self.cancelled.append(scope["id"])
            raise


class Server(StatelessServer):
    """Collects what the applications send (and answers "sent" to `await send(...)`), and logs
    every call of the delete methods."""

    application_checker_interval = 0  # a check every loop turn: waits are bounded in turns

    def __init__(self, application: Any, max_applications: int = 1000) -> None:
        super().__init__(application, max_applications)
        self.sent: list[tuple[str, Message]] = []
        self.calls: list[Any] = []

    async def application_send(self, scope: Message, message: Message) -> str:
        self.sent.append((scope["id"], message))
        return "sent"

    def delete_oldest_application_instance(self) -> Any:
        self.calls.append("oldest")
        return super().delete_oldest_application_instance()

    def delete_application_instance(self, scope_id: str) -> Any:
        self.calls.append(("delete", scope_id))
        return super().delete_application_instance(scope_id)


def create(server: StatelessServer, *scope_ids: str) -> None:
    for scope_id in scope_ids:
        server.get_or_create_application_instance(scope_id, {"id": scope_id})


# --- instances ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_application_starts_when_the_instance_is_made() -> None:
    tracker = Tracker()
    server = Server(tracker)
    create(server, "a")
    assert tracker.started == []  # a task: it starts at the next loop turn, without any message
    await turns_until(lambda: tracker.started == ["a"])
    await stop_instances(server)


@pytest.mark.asyncio
async def test_entries_are_plain_dicts_and_the_queue_is_returned() -> None:
    tracker = Tracker()
    server = Server(tracker)
    scope = {"id": "a"}
    before = time.time()
    queue = server.get_or_create_application_instance("a", scope)
    entry = server.application_instances["a"]
    assert type(entry) is dict
    assert list(entry) == ["input_queue", "future", "scope", "last_used"]
    assert entry["input_queue"] is queue
    assert isinstance(queue, asyncio.Queue)
    assert entry["scope"] is scope
    assert isinstance(entry["future"], asyncio.Task)
    assert before <= entry["last_used"] <= time.time()  # wall-clock time, as the original's
    # The same id gives the same queue, keeps the first scope, and refreshes last_used.
    entry["last_used"] = 0.0
    assert server.get_or_create_application_instance("a", {"id": "other"}) is queue
    assert entry["scope"] is scope
    assert entry["last_used"] >= before
    # The queue returned is whatever the entry holds.
    replacement: asyncio.Queue[Any] = asyncio.Queue()
    entry["input_queue"] = replacement
    assert server.get_or_create_application_instance("a", scope) is replacement
    await stop_instances(server)


@pytest.mark.asyncio
async def test_the_application_gets_the_queue_and_a_send_giving_what_application_send_did() -> None:
    seen: dict[str, Any] = {}

    async def application(scope: Message, receive: Any, send: Any) -> None:
        seen["receive"] = receive
        seen["send is a coroutine function"] = inspect.iscoroutinefunction(send)
        seen["send returned"] = await send({"got": await receive()})

    server = Server(application)
    queue = server.get_or_create_application_instance("a", {"id": "a"})
    queue.put_nowait({"n": 1})
    await asyncio.wait_for(server.application_instances["a"]["future"], TIMEOUT)
    assert seen == {
        "receive": queue.get,
        "send is a coroutine function": False,
        "send returned": "sent",
    }
    assert server.sent == [("a", {"got": {"n": 1}})]


@pytest.mark.asyncio
async def test_async_to_sync_warns_about_the_send_it_is_given_as_with_the_original() -> None:
    sends: list[Any] = []

    async def application(scope: Message, receive: Any, send: Any) -> None:
        sends.append(send)

    server = Server(application)
    create(server, "a")
    await asyncio.wait_for(server.application_instances["a"]["future"], TIMEOUT)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async_to_sync(sends[0])
    assert [str(w.message) for w in caught] == [
        "async_to_sync was passed a non-async-marked callable"
    ]


@pytest.mark.asyncio
async def test_an_application_call_that_raises_lists_nothing() -> None:
    class Broken:
        _asgi_single_callable = True

        def __call__(self, scope: Message, receive: Any, send: Any) -> Any:
            raise TypeError("cannot start")

    server = Server(Broken())
    with pytest.raises(TypeError, match="cannot start"):
        create(server, "a")
    assert server.application_instances == {}


# --- eviction ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_eviction_allows_one_more_than_max_applications_and_goes_by_last_used() -> None:
    tracker = Tracker()
    server = Server(tracker, max_applications=2)
    create(server, "a", "b")
    server.application_instances["b"]["last_used"] -= 10  # as if "a" was used later
    await turns_until(lambda: tracker.started == ["a", "b"])
    create(server, "c")  # 2 listed: not more than the maximum, so no eviction yet
    assert list(server.application_instances) == ["a", "b", "c"]
    assert server.calls == []
    create(server, "d")  # 3 listed: the one with the smallest last_used goes first
    assert list(server.application_instances) == ["a", "c", "d"]
    assert server.calls == ["oldest", ("delete", "b")]
    await turns_until(lambda: tracker.cancelled == ["b"])
    create(server, "a")  # an existing id: never evicts
    assert list(server.application_instances) == ["a", "c", "d"]
    await stop_instances(server)


@pytest.mark.asyncio
async def test_eviction_ties_go_to_the_first_listed() -> None:
    server = Server(Tracker(), max_applications=1)
    create(server, "a", "b")
    for entry in server.application_instances.values():
        entry["last_used"] = 1.0
    create(server, "c")
    assert list(server.application_instances) == ["b", "c"]
    await stop_instances(server)


@pytest.mark.asyncio
async def test_eviction_deletes_until_no_more_than_max_applications_are_listed() -> None:
    server = Server(Tracker(), max_applications=3)
    create(server, "a", "b", "c", "d")
    server.max_applications = 1
    create(server, "e")
    assert list(server.application_instances) == ["d", "e"]
    assert server.calls == [
        *["oldest", ("delete", "a")],
        *["oldest", ("delete", "b")],
        *["oldest", ("delete", "c")],
    ]
    await stop_instances(server)


@pytest.mark.asyncio
async def test_max_applications_zero_keeps_only_the_newest() -> None:
    server = Server(Tracker(), max_applications=0)
    create(server, "a")
    assert list(server.application_instances) == ["a"]
    create(server, "b")
    assert list(server.application_instances) == ["b"]
    await stop_instances(server)


@pytest.mark.asyncio
async def test_an_override_that_deletes_nothing_does_not_hang_eviction() -> None:
    class Stubborn(Server):
        def delete_oldest_application_instance(self) -> None:
            self.calls.append("refused")

    server = Stubborn(Tracker(), max_applications=0)
    create(server, "a", "b", "c")  # the original loops forever here
    assert list(server.application_instances) == ["a", "b", "c"]
    assert server.calls == ["refused", "refused"]
    await stop_instances(server)


# --- deleting ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_delete_methods_cancel_and_forget_and_raise_like_the_original() -> None:
    tracker = Tracker()
    server = Server(tracker)
    create(server, "a", "b", "c")
    await turns_until(lambda: len(tracker.started) == 3)
    result = server.delete_application_instance("b")
    assert list(server.application_instances) == ["a", "c"]
    await turns_until(lambda: tracker.cancelled == ["b"])
    server.delete_oldest_application_instance()  # "a", never awaited: no warning
    assert list(server.application_instances) == ["c"]
    await turns_until(lambda: tracker.cancelled == ["b", "a"])
    assert await result is None  # awaitable too, for seed-style code
    with pytest.raises(KeyError, match="missing"):
        server.delete_application_instance("missing")
    await server.delete_application_instance("c")
    with pytest.raises(ValueError, match=f"^{re.escape(_EMPTY_MIN_MESSAGE)}$"):
        server.delete_oldest_application_instance()


@pytest.mark.asyncio
async def test_deleting_a_finished_instance_does_not_cancel_it() -> None:
    server = Server(Tracker())
    server.get_or_create_application_instance("a", {"id": "a"}).put_nowait({"stop": True})
    future = server.application_instances["a"]["future"]
    await asyncio.wait_for(future, TIMEOUT)
    server.delete_application_instance("a")
    assert future.result() is None
    assert server.application_instances == {}


# --- the checker -------------------------------------------------------------------------------


class Reporting(Server):
    """Records what application_exception receives, and whether the instance is still listed."""

    def __init__(self, application: Any) -> None:
        super().__init__(application)
        self.reports: list[tuple[BaseException, Any, bool]] = []

    async def application_exception(self, exception: BaseException, details: Any) -> None:
        listed = details["scope"]["id"] in self.application_instances
        self.reports.append((exception, details, listed))


@pytest.mark.asyncio
async def test_the_checker_reports_failures_with_the_entry_and_forgets_finished_instances() -> None:
    server = Reporting(Tracker())
    checker = asyncio.ensure_future(server.application_checker())
    try:
        server.get_or_create_application_instance("ok", {"id": "ok"}).put_nowait({"stop": 1})
        server.get_or_create_application_instance("bad", {"id": "bad"}).put_nowait({"raise": "x"})
        create(server, "live")
        entry = server.application_instances["bad"]
        await turns_until(lambda: list(server.application_instances) == ["live"])
    finally:
        checker.cancel()
    [(exception, details, listed)] = server.reports
    assert (type(exception), str(exception)) == (ValueError, "x")
    assert details is entry
    assert listed  # reported before it is forgotten
    await stop_instances(server)


@pytest.mark.asyncio
async def test_a_cancelled_instance_is_forgotten_and_the_server_goes_on() -> None:
    # The original's checker asks the cancelled future for its exception, gets CancelledError,
    # and arun() (so run()) raises it.
    tracker = Tracker()

    class CancelsOne(Reporting):
        async def handle(self) -> str:  # type: ignore[override]
            create(self, "a", "b")
            await turns_until(lambda: len(tracker.started) == 2)
            self.application_instances["a"]["future"].cancel()
            await turns_until(lambda: list(self.application_instances) == ["b"])
            return "ignored"

    server: Any = CancelsOne(tracker)
    assert await server.arun() is None  # not what handle() returned
    assert server.reports == []
    await stop_instances(server)


@pytest.mark.asyncio
async def test_an_application_exception_that_raises_ends_arun_with_it() -> None:
    class Failing(Server):
        async def application_exception(self, exception: BaseException, details: Any) -> None:
            raise RuntimeError(f"hook failed on {exception}")

        async def handle(self) -> None:
            self.get_or_create_application_instance("bad", {"id": "bad"}).put_nowait({"raise": "x"})
            await asyncio.Event().wait()  # ended by the failure, through arun()

    server = Failing(Tracker())
    with pytest.raises(RuntimeError, match="hook failed on x"):
        await asyncio.wait_for(server.arun(), TIMEOUT)
    assert list(server.application_instances) == ["bad"]


@pytest.mark.asyncio
async def test_the_default_application_exception_logs_to_the_root_logger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = Server(Tracker())

    def fail() -> None:
        raise ValueError("failed on bad")

    try:
        fail()
    except ValueError as error:
        exception = error
    with caplog.at_level(logging.ERROR):
        await server.application_exception(exception, {"scope": {}})
    [record] = caplog.records
    assert (record.name, record.levelname, record.exc_info) == ("root", "ERROR", None)
    # The message carries the traceback (as traceback.format_tb lays it out) and the error.
    lines = record.getMessage().splitlines()
    assert lines[0] == "Exception inside application: failed on bad"
    assert lines[1].startswith('  File "')
    assert "test_server.py" in lines[1]
    assert lines[-3].endswith(", in fail")
    assert lines[-2:] == ['    raise ValueError("failed on bad")', "  failed on bad"]


# --- arun() and run() --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_arun_returns_with_handle_stops_the_checker_and_leaves_the_instances() -> None:
    tracker = Tracker()
    checker_ended: list[str] = []

    class Quick(Server):
        async def handle(self) -> str:  # type: ignore[override]
            create(self, "live")
            await turns_until(lambda: tracker.started == ["live"])
            return "not returned by arun"

        async def application_checker(self) -> None:
            try:
                await super().application_checker()
            except asyncio.CancelledError:
                checker_ended.append("cancelled")
                raise

    server: Any = Quick(tracker)
    assert await server.arun() is None  # not what handle() returned
    # The original leaves its checker running; ours stops it.
    assert checker_ended == ["cancelled"]
    assert list(server.application_instances) == ["live"]
    assert not server.application_instances["live"]["future"].done()
    await stop_instances(server)


@pytest.mark.asyncio
async def test_arun_raises_what_handle_raised() -> None:
    class Raises(Server):
        async def handle(self) -> None:
            raise ValueError("handle failed")

    with pytest.raises(ValueError, match="handle failed"):
        await Raises(Tracker()).arun()


def test_run_leaves_the_instances_listed_and_cancelled() -> None:
    tracker = Tracker()

    class Once(Server):
        async def handle(self) -> None:
            create(self, "live")
            await turns_until(lambda: tracker.started == ["live"])

    server: Any = Once(tracker)
    assert server.run() is None
    assert list(server.application_instances) == ["live"]
    assert server.application_instances["live"]["future"].cancelled()
    assert tracker.cancelled == ["live"]


def run_program(body: str, stop_signal: signal.Signals | None = None) -> tuple[int, str, str]:
    """Run a server program in a subprocess (sending `stop_signal` once it printed "ready");
    its exit code, stdout and stderr."""
    program = textwrap.dedent(
        """
        import asyncio
        from asgiref.server import StatelessServer

        async def app(scope, receive, send):
            await receive()

        class Server(StatelessServer):
            async def application_send(self, scope, message):
                pass
        """
    ) + textwrap.dedent(body)
    process = subprocess.Popen(
        [sys.executable, "-c", program],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        if stop_signal is not None:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"
            process.send_signal(stop_signal)
        out, err = process.communicate(timeout=TIMEOUT * 4)
    finally:
        process.kill()
    return process.returncode, out, err


SERVE_UNTIL_STOPPED = """
    class Idle(Server):
        async def handle(self):
            self.get_or_create_application_instance("x", {})
            print("ready", flush=True)
            await asyncio.Event().wait()

    server = Idle(app)
    server.run()
    entry = server.application_instances["x"]
    print("stopped cleanly", entry["future"].cancelled(), flush=True)
"""


def test_run_exits_cleanly_on_ctrl_c() -> None:
    assert run_program(SERVE_UNTIL_STOPPED, signal.SIGINT) == (0, "stopped cleanly True\n", "")


def test_run_leaves_sigterm_to_its_default_action_as_the_original_does() -> None:
    code, out, err = run_program(SERVE_UNTIL_STOPPED, signal.SIGTERM)
    assert (code, out, err) == (-signal.SIGTERM, "", "")


def test_a_keyboard_interrupt_in_handle_ends_run_quietly() -> None:
    # The original's run() also returns, but prints "Task exception was never retrieved".
    body = """
        class Interrupted(Server):
            async def handle(self):
                raise KeyboardInterrupt

        print("run returned", Interrupted(app).run())
    """
    assert run_program(body) == (0, "run returned None\n", "")


# --- seed-style code ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_seed_style_await_and_items_of_the_returned_queue() -> None:
    tracker = Tracker()
    server = Server(tracker)
    scope = {"id": "a"}
    queue = await server.get_or_create_application_instance("a", scope)
    assert queue is server.application_instances["a"]["input_queue"]
    assert queue["scope"] is scope
    assert queue["future"] is server.application_instances["a"]["future"]
    assert queue["last_used"] == server.application_instances["a"]["last_used"]
    with pytest.raises(KeyError):
        queue["unknown"]
    await queue["input_queue"].put({"n": 1})  # the server's own run gets the message
    await turns_until(lambda: server.sent == [("a", {"echo": {"n": 1}})])
    await server.delete_application_instance("a")
    await turns_until(lambda: tracker.cancelled == ["a"])


@pytest.mark.asyncio
async def test_running_the_application_item_replaces_the_servers_run() -> None:
    tracker = Tracker()
    server = Server(tracker)
    queue = await server.get_or_create_application_instance("a", {"id": "a"})
    server_run = queue["future"]
    mine: asyncio.Queue[Message] = asyncio.Queue()
    replies: list[Message] = []

    async def send(message: Message) -> None:
        replies.append(message)

    running = asyncio.ensure_future(queue["application"]({"id": "a"}, mine.get, send))
    mine.put_nowait({"n": 1})
    mine.put_nowait({"stop": True})
    await asyncio.wait_for(running, TIMEOUT)
    assert replies == [{"echo": {"n": 1}}]
    assert server.sent == []
    assert tracker.started == ["a"]  # once: the server's run was cancelled before it began
    assert server_run.cancelled()
    # Listed, with a future that only deleting ends (so the checker leaves it alone).
    future = server.application_instances["a"]["future"]
    assert future is not server_run
    assert not future.done()
    await server.delete_application_instance("a")
    assert future.cancelled()
    assert server.application_instances == {}


@pytest.mark.asyncio
async def test_coroutine_delete_overrides_run_during_eviction_and_await_waits_for_them() -> None:
    # The original calls the override and drops the coroutine it returns (never awaited), then
    # loops forever because nothing was deleted.
    deleted: list[str] = []

    class SeedStyle(Server):
        async def delete_application_instance(self, scope_id: str) -> None:
            await super().delete_application_instance(scope_id)
            deleted.append(scope_id)

    server = SeedStyle(Tracker(), max_applications=1)
    for scope_id in ["a", "b", "c", "d"]:
        await server.get_or_create_application_instance(scope_id, {"id": scope_id})
    assert deleted == ["a", "b"]
    assert list(server.application_instances) == ["c", "d"]
    create(server, "e")  # called plainly: the deletion runs as a task
    assert list(server.application_instances) == ["c", "d", "e"]
    await turns_until(lambda: deleted == ["a", "b", "c"])
    assert list(server.application_instances) == ["d", "e"]
    await stop_instances(server)


# --- real servers ------------------------------------------------------------------------------


class UdpEchoServer(StatelessServer):
    """Each client address is a scope; its datagrams go to its application instance."""

    def __init__(self, application: Any, ready: asyncio.Future[tuple[str, int]], count: int):
        super().__init__(application, max_applications=10)
        self.ready = ready
        self.remaining = count
        self.transport: asyncio.DatagramTransport | None = None

    async def handle(self) -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        server = self

        class Protocol(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                scope: dict[str, Any] = {
                    "type": "udp",
                    "id": f"{addr[0]}:{addr[1]}",
                    "client": addr,
                }
                server.get_or_create_application_instance(scope["id"], scope).put_nowait(
                    {"payload": data.decode()}
                )

        transport, _ = await loop.create_datagram_endpoint(Protocol, local_addr=("127.0.0.1", 0))
        self.transport = transport
        self.done = done
        self.ready.set_result(transport.get_extra_info("sockname"))
        try:
            await done
        finally:
            transport.close()

    async def application_send(self, scope: Any, message: Message) -> None:
        assert self.transport is not None
        self.transport.sendto(f"echo:{message['payload']}".encode(), scope["client"])
        self.remaining -= 1
        if self.remaining == 0:
            self.done.set_result(None)


async def echo_application(scope: Any, receive: Any, send: Any) -> None:
    while True:
        await send(await receive())


@pytest.mark.asyncio
async def test_udp_echo_server_on_loopback() -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[tuple[str, int]] = loop.create_future()
    server = UdpEchoServer(echo_application, ready, count=6)
    running = asyncio.ensure_future(server.arun())
    address = await asyncio.wait_for(ready, TIMEOUT)
    clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
    try:
        replies = []
        for client in clients:
            client.settimeout(TIMEOUT)
            for text in ("one", "two"):
                client.sendto(text.encode(), address)
                data = await loop.run_in_executor(None, client.recv, 1024)
                replies.append(data.decode())
        assert replies == ["echo:one", "echo:two"] * 3
        await asyncio.wait_for(running, TIMEOUT)
        assert len(server.application_instances) == 3  # one per client, still listed
    finally:
        for client in clients:
            client.close()
        await stop_instances(server)


@pytest.mark.asyncio
async def test_load_100k_messages_to_10k_scopes_with_1000_live() -> None:
    async def counting_application(scope: Any, receive: Any, send: Any) -> None:
        while True:
            await receive()
            scope["received"] += 1

    server = Server(counting_application, max_applications=1000)
    deadline = time.monotonic() + 60
    tracemalloc.start()
    try:
        memory_after_pass: list[int] = []
        # 10 passes over 10,000 scope ids, each id getting a burst of 10 messages per pass.
        for message_number in range(100_000):
            if time.monotonic() > deadline:
                raise AssertionError("the load test ran out of time")
            scope_id = str((message_number // 10) % 10_000)
            queue = server.get_or_create_application_instance(
                scope_id, {"id": scope_id, "received": 0, "sent": 0}
            )
            queue.put_nowait({})
            server.application_instances[scope_id]["scope"]["sent"] += 1
            assert len(server.application_instances) <= 1001
            if message_number % 1000 == 999:
                await asyncio.sleep(0)  # let the instances drain their queues
            if message_number % 10_000 == 9_999:
                # The live instances are the (up to) 1001 most recently used ids, oldest first.
                made = message_number // 10 + 1
                live = min(made, 1001)
                assert list(server.application_instances) == [
                    str(n % 10_000) for n in range(made - live, made)
                ]
                gc.collect()
                memory_after_pass.append(tracemalloc.get_traced_memory()[0])
        await turns_until(
            lambda: all(
                entry["input_queue"].qsize() == 0 for entry in server.application_instances.values()
            )
        )
        # Every message sent to an instance still live was received by it.
        for entry in server.application_instances.values():
            assert entry["scope"]["received"] == entry["scope"]["sent"] == 10
        # Memory is flat from the second pass on: evicted instances are freed.
        assert max(memory_after_pass[1:]) - memory_after_pass[1] < 2_000_000
    finally:
        tracemalloc.stop()
        await stop_instances(server)


@pytest.mark.asyncio
async def test_seed_http_server_example_answers_a_real_client_once() -> None:
    from examples.seed.http_server import SimpleHTTPServer, simple_app

    with socket.socket() as probe:  # a free loopback port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = SimpleHTTPServer(simple_app, host="127.0.0.1", port=port)  # type: ignore[no-untyped-call]
    running = asyncio.ensure_future(server.arun())
    try:
        for _ in range(500):  # until the server listens (bounded)
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.01)
        else:
            raise AssertionError("the example server never started listening")
        writer.write(b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), TIMEOUT)
        writer.close()
        await writer.wait_closed()
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert response == (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nHello from custom ASGI server!"
    )
    assert server.application_instances == {}
