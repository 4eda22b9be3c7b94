"""A tour of the sync/async bridge: run it with `scripts/demo` (finishes in a second or two)."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import asgiref
from asgiref.local import Local
from asgiref.sync import ThreadSensitiveContext, async_to_sync, sync_to_async

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
    print("\nDone.")


if __name__ == "__main__":
    main()
