import asyncio
import threading

from asgiref.local import Local
from asgiref.sync import sync_to_async

thread_local = threading.local()
local = Local()


def read_both() -> str:
    from_threading_local = getattr(thread_local, "user", "<not set>")
    return f"threading.local: {from_threading_local}, Local: {local.user}"


async def handle(user: str) -> None:
    thread_local.user = user
    local.user = user
    await asyncio.sleep(0)  # the other request runs meanwhile, on the same thread
    print(f"{user}, in async code: {read_both()}")
    print(f"{user}, in sync code:  {await sync_to_async(read_both)()}")


async def main() -> None:
    await asyncio.gather(handle("alice"), handle("bob"))


asyncio.run(main())
