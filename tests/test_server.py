"""Tests for asgiref.server.StatelessServer, in both call styles, with real loopback sockets."""

from __future__ import annotations

import asyncio
import gc
import signal
import socket
import subprocess
import sys
import textwrap
import time
import tracemalloc
from typing import Any

import pytest

from asgiref.server import ApplicationInstance, StatelessServer

Message = dict[str, Any]


async def echo_application(scope: Any, receive: Any, send: Any) -> None:
    """Replies to every message with the scope id and the message's payload."""
    while True:
        message = await receive()
        await send({"type": "reply", "scope_id": scope["id"], "payload": message["payload"]})


class QueueFedServer(StatelessServer):
    """Takes (scope_id, payload) pairs from an asyncio queue, Channels-worker style: the result
    of get_or_create_application_instance is used directly as the input queue."""

    def __init__(self, application: Any, max_applications: int = 1000) -> None:
        super().__init__(application, max_applications)
        self.incoming: asyncio.Queue[tuple[str, Any] | None] = asyncio.Queue()
        self.sent: list[Message] = []
        self.failures: list[tuple[BaseException, Any]] = []

    async def handle(self) -> None:
        while True:
            item = await self.incoming.get()
            if item is None:
                return
            scope_id, payload = item
            queue = self.get_or_create_application_instance(scope_id, {"id": scope_id})
            queue.put_nowait({"payload": payload})

    async def application_send(self, scope: Any, message: Message) -> None:
        self.sent.append(message)

    async def application_exception(self, exception: BaseException, details: Any) -> None:
        self.failures.append((exception, details))


async def settle(server: QueueFedServer, expected: int) -> None:
    """Let the instances run until `expected` replies are sent (bounded)."""
    for _ in range(10_000):
        if len(server.sent) >= expected:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"only {len(server.sent)} of {expected} replies arrived")


@pytest.mark.asyncio
async def test_channels_style_sync_call_and_queue_use() -> None:
    server = QueueFedServer(echo_application)
    running = asyncio.ensure_future(server.arun())
    for scope_id, payload in [("a", 1), ("b", 2), ("a", 3)]:
        server.incoming.put_nowait((scope_id, payload))
    await settle(server, 3)
    assert sorted((m["scope_id"], m["payload"]) for m in server.sent) == [
        ("a", 1),
        ("a", 3),
        ("b", 2),
    ]
    assert set(server.application_instances) == {"a", "b"}
    entry = server.application_instances["a"]
    assert entry["scope"] == {"id": "a"}
    assert entry["input_queue"] is entry
    assert isinstance(entry["last_used"], float)
    assert not entry["future"].done()
    tasks = [instance["future"] for instance in server.application_instances.values()]
    server.incoming.put_nowait(None)
    await running
    assert all(task.cancelled() for task in tasks)
    assert server.application_instances == {}


@pytest.mark.asyncio
async def test_seed_style_awaited_methods_and_coroutine_overrides() -> None:
    deleted: list[str] = []

    class SeedStyleServer(StatelessServer):
        replies: list[Message]

        async def get_or_create_application_instance(  # type: ignore[override]
            self, scope_id: str, scope: dict[str, Any]
        ) -> ApplicationInstance:
            return await super().get_or_create_application_instance(scope_id, scope)

        async def delete_application_instance(self, scope_id: str) -> None:
            await super().delete_application_instance(scope_id)
            deleted.append(scope_id)

        async def handle(self) -> None:
            instance = await self.get_or_create_application_instance("x", {"id": "x"})
            assert instance["application"] is not None
            await instance["input_queue"].put({"payload": "hi"})
            for _ in range(100):
                if self.replies:
                    break
                await asyncio.sleep(0)
            await self.delete_application_instance("x")

        async def application_send(self, scope: Any, message: Message) -> None:
            self.replies.append(message)

    server = SeedStyleServer(echo_application)
    server.replies = []
    await server.arun()
    assert server.replies == [{"type": "reply", "scope_id": "x", "payload": "hi"}]
    assert deleted == ["x"]
    assert server.application_instances == {}


@pytest.mark.asyncio
async def test_max_applications_is_a_hard_limit_and_evicts_least_recently_used() -> None:
    server = QueueFedServer(echo_application, max_applications=3)
    running = asyncio.ensure_future(server.arun())
    for scope_id in ["a", "b", "c"]:
        server.incoming.put_nowait((scope_id, 0))
    await settle(server, 3)
    server.incoming.put_nowait(("a", 1))  # "a" is now the most recently used
    server.incoming.put_nowait(("d", 0))  # evicts "b", the least recently used
    await settle(server, 5)
    assert list(server.application_instances) == ["c", "a", "d"]
    server.incoming.put_nowait(("e", 0))  # evicts "c"
    await settle(server, 6)
    assert list(server.application_instances) == ["a", "d", "e"]
    server.incoming.put_nowait(None)
    await running


@pytest.mark.asyncio
async def test_a_failing_or_cancelled_instance_is_reported_and_the_server_goes_on() -> None:
    async def fragile(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        if message["payload"] == "boom":
            raise ValueError("instance failed")
        if message["payload"] == "cancel":
            raise asyncio.CancelledError
        await send({"type": "reply", "scope_id": scope["id"], "payload": message["payload"]})

    server = QueueFedServer(fragile)
    server.application_checker_interval = 0.001
    running = asyncio.ensure_future(server.arun())
    server.incoming.put_nowait(("bad", "boom"))
    server.incoming.put_nowait(("gone", "cancel"))
    for _ in range(2000):
        if server.failures and "bad" not in server.application_instances:
            break
        await asyncio.sleep(0.001)
    assert [str(error) for error, _ in server.failures] == ["instance failed"]
    assert server.failures[0][1]["scope_id"] == "bad"
    server.incoming.put_nowait(("good", "fine"))
    await settle(server, 1)
    assert server.sent == [{"type": "reply", "scope_id": "good", "payload": "fine"}]
    assert "gone" not in server.application_instances
    server.incoming.put_nowait(None)
    await running


@pytest.mark.asyncio
async def test_base_methods_to_implement_raise_not_implemented() -> None:
    server = StatelessServer(echo_application)
    with pytest.raises(NotImplementedError, match="handle"):
        await server.handle()
    with pytest.raises(NotImplementedError, match="application_send"):
        await server.application_send({}, {})
    with pytest.raises(ValueError, match="max_applications must be at least 1"):
        StatelessServer(echo_application, max_applications=0)


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


@pytest.mark.asyncio
async def test_udp_echo_server_on_loopback() -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[tuple[str, int]] = loop.create_future()
    server = UdpEchoServer(echo_application, ready, count=6)
    running = asyncio.ensure_future(server.arun())
    address = await asyncio.wait_for(ready, 5)
    clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
    try:
        replies = []
        for client in clients:
            client.settimeout(5)
            for text in ("one", "two"):
                client.sendto(text.encode(), address)
                data = await loop.run_in_executor(None, client.recv, 1024)
                replies.append(data.decode())
        assert replies == ["echo:one", "echo:two"] * 3
        await asyncio.wait_for(running, 5)
        assert server.application_instances == {}
    finally:
        for client in clients:
            client.close()


@pytest.mark.asyncio
async def test_load_100k_messages_to_10k_scopes_with_1000_live() -> None:
    async def counting_application(scope: Any, receive: Any, send: Any) -> None:
        while True:
            await receive()
            scope["received"] += 1

    server = QueueFedServer(counting_application, max_applications=1000)
    deadline = time.monotonic() + 60
    tracemalloc.start()
    try:
        memory_after_pass: list[int] = []
        # 10 passes over 10,000 scope ids, each id getting a burst of 10 messages per pass.
        for message_number in range(100_000):
            if time.monotonic() > deadline:
                raise AssertionError("the load test ran out of time")
            scope_id = str((message_number // 10) % 10_000)
            instance = server.get_or_create_application_instance(
                scope_id, {"id": scope_id, "received": 0, "sent": 0}
            )
            instance.put_nowait({})
            instance.scope["sent"] += 1
            assert len(server.application_instances) <= 1000
            if message_number % 1000 == 999:
                await asyncio.sleep(0)  # let the instances drain their queues
            if message_number % 10_000 == 9_999:
                # The live instances are the 1000 most recently used ids, oldest first.
                first = (message_number // 10) - 999
                assert list(server.application_instances) == [
                    str(n % 10_000) for n in range(first, first + 1000)
                ]
                gc.collect()
                memory_after_pass.append(tracemalloc.get_traced_memory()[0])
        for _ in range(100):
            await asyncio.sleep(0)
        # Every message sent to an instance still live was received by it.
        for instance in server.application_instances.values():
            assert instance.qsize() == 0
            assert instance.scope["received"] == instance.scope["sent"] == 10
        # Memory is flat from the second pass on: evicted instances are freed.
        assert max(memory_after_pass[1:]) - memory_after_pass[1] < 2_000_000
    finally:
        tracemalloc.stop()
        await server._stop_all_instances()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_run_exits_cleanly_on_sigterm_and_ctrl_c(stop_signal: signal.Signals) -> None:
    program = textwrap.dedent(
        """
        import asyncio, os, signal, sys
        from asgiref.server import StatelessServer

        class Idle(StatelessServer):
            async def handle(self):
                print("ready", flush=True)
                await asyncio.Event().wait()

            async def application_send(self, scope, message):
                pass

        async def app(scope, receive, send):
            pass

        Idle(app).run()
        print("stopped cleanly", flush=True)
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", program],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        process.send_signal(stop_signal)
        out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert (process.returncode, out.strip(), err) == (0, "stopped cleanly", "")


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
        response = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        await writer.wait_closed()
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert response == (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nHello from custom ASGI server!"
    )
    assert server.application_instances == {}
