"""A tour of the library (the sync/async bridge, Local, a StatelessServer, the test communicators
and the WSGI adapters): run it with `scripts/demo` (finishes in a second or two)."""

from __future__ import annotations

import asyncio
import contextvars
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import asgiref
from asgiref.local import Local
from asgiref.server import StatelessServer
from asgiref.sync import ThreadSensitiveContext, async_to_sync, sync_to_async
from asgiref.testing import HttpCommunicator, WebsocketCommunicator
from asgiref.wsgi import AsgiToWsgi, WsgiToAsgi

user: contextvars.ContextVar[str] = contextvars.ContextVar("user", default="anonymous")
request_state = Local()


def thread_name() -> str:
    return threading.current_thread().name


def sync_view() -> str:
    """Sync code (think: a Django view) that calls async code and comes back."""
    request_state.view = "sync_view"
    return async_to_sync(async_service)()


async def async_service() -> str:
    """Async code that calls thread-sensitive sync code: it runs on the view's thread."""
    db_thread = await sync_to_async(thread_name)()
    return f"service ran for {user.get()!r}; its DB call ran on {db_thread!r}"


async def handle_request(name: str) -> str:
    user.set(name)
    async with ThreadSensitiveContext():  # one thread per request, like Django does
        view_thread = await sync_to_async(thread_name)()
        answer = await sync_to_async(sync_view)()
    return f"[{name}] view on {view_thread!r}; {answer}; Local saw {request_state.view!r}"


async def serve() -> None:
    for line in await asyncio.gather(handle_request("alice"), handle_request("bob")):
        print(line)


async def shout_app(scope: Any, receive: Any, send: Any) -> None:
    """One application for every protocol the demo speaks."""
    if scope["type"] == "udp":
        while True:
            message = await receive()
            await send({"type": "udp.send", "data": message["data"].upper()})
    elif scope["type"] == "http":
        request = await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": request["body"].upper()})
    elif scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message["text"].upper()})


class UdpShoutServer(StatelessServer):
    """A StatelessServer: every client address is a scope with its own application instance."""

    def __init__(self, application: Any, replies: int) -> None:
        super().__init__(application, max_applications=100)
        self.replies_left = replies
        self.address: asyncio.Future[tuple[str, int]] = asyncio.get_running_loop().create_future()
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.DatagramTransport | None = None

    async def handle(self) -> None:
        server = self

        class Protocol(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                scope = {"type": "udp", "client": addr}
                instance = server.get_or_create_application_instance(str(addr), scope)
                instance.put_nowait({"type": "udp.receive", "data": data})

        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(
            Protocol, local_addr=("127.0.0.1", 0)
        )
        self.address.set_result(self.transport.get_extra_info("sockname"))
        try:
            await self.finished
        finally:
            self.transport.close()

    async def application_send(self, scope: Any, message: Any) -> None:
        assert self.transport is not None
        self.transport.sendto(message["data"], scope["client"])
        self.replies_left -= 1
        if self.replies_left == 0:
            self.finished.set_result(None)


async def serve_udp() -> None:
    server = UdpShoutServer(shout_app, replies=3)
    running = asyncio.ensure_future(server.arun())
    address = await server.address
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(5)
        for word in (b"stateless", b"servers", b"work"):
            client.sendto(word, address)
            reply = await loop.run_in_executor(None, client.recv, 1024)
            print(f"   sent {word!r} to {address[0]}:{address[1]}, got {reply!r}")
    await running
    print(f"   server stopped; live instances left: {len(server.application_instances)}")


async def drive_with_communicators() -> None:
    response = await HttpCommunicator(shout_app, "POST", "/", body=b"hello").get_response()
    print(f"   HTTP POST 'hello' -> {response.status} {response.body!r}")
    websocket = WebsocketCommunicator(shout_app, "/ws")
    connected, _ = await websocket.connect()
    await websocket.send_to(text_data="hi there")
    print(f"   WebSocket connected={connected}, 'hi there' -> {await websocket.receive_from()!r}")
    await websocket.disconnect()


def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """A plain WSGI app: counts the body it streams in, and says which thread it ran on."""
    size = 0
    while chunk := environ["wsgi.input"].read(65536):
        size += len(chunk)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"read {size} bytes on {threading.current_thread().name}".encode()]


def bridge_wsgi() -> None:
    asgi_app = WsgiToAsgi(wsgi_app)

    async def post_to_asgi() -> None:
        body = b"x" * 3_000_000
        response = await HttpCommunicator(asgi_app, "POST", "/", body=body).get_response()
        print(f"   WSGI app behind WsgiToAsgi: {response.status} {response.body.decode()}")

    asyncio.run(post_to_asgi())
    # The same ASGI app, back under a WSGI caller: AsgiToWsgi runs it on a loop of its own.
    wsgi_again = AsgiToWsgi(asgi_app)
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
    }
    statuses: list[str] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        statuses.append(status)
        return lambda data: None

    result = wsgi_again(environ, start_response)
    body = b"".join(result)
    getattr(result, "close", lambda: None)()
    wsgi_again.close()
    print(f"   ...and back under WSGI with AsgiToWsgi: {statuses[0]} {body.decode()}")


def main() -> None:
    print(f"asgiref {asgiref.__version__} from {asgiref.__file__}")
    print("\n1. Two concurrent requests, each with its own sync thread, nested both ways:")
    asyncio.run(serve())

    print("\n2. async_to_sync from a plain thread reuses that thread's event loop:")

    async def loop_id() -> int:
        return id(asyncio.get_running_loop())

    loops = {async_to_sync(loop_id)() for _ in range(3)}
    print(f"   3 calls ran on {len(loops)} event loop(s)")
    calls = 2000
    start = time.perf_counter()
    for _ in range(calls):
        async_to_sync(loop_id)()
    per_call = (time.perf_counter() - start) / calls * 1e6
    print(f"   {calls} calls took {per_call:.0f} us each")

    print("\n3. Context variables flow both ways across the bridge:")

    def set_in_sync() -> None:
        user.set("set in a worker thread")

    async def show() -> None:
        await sync_to_async(set_in_sync)()
        print(f"   after sync_to_async returned, the caller sees user={user.get()!r}")

    asyncio.run(show())

    print("\n4. A StatelessServer answering a real UDP client on 127.0.0.1:")
    asyncio.run(serve_udp())

    print("\n5. The same application driven by the test communicators:")
    asyncio.run(drive_with_communicators())

    print("\n6. WSGI apps under ASGI servers, and ASGI apps under WSGI servers:")
    bridge_wsgi()
    print("\nDone.")


if __name__ == "__main__":
    main()
