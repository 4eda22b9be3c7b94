import asyncio

from asgiref.local import Local
from asgiref.sync import sync_to_async

request = Local()


def read_in_sync_code() -> str:
    # Runs in a worker thread, yet sees the value set by the coroutine that
    # awaits it.
    return request.user


def set_in_sync_code() -> None:
    request.language = "fr"


async def view() -> None:
    request.user = "alice"
    print("sync code sees:", await sync_to_async(read_in_sync_code)())
    await sync_to_async(set_in_sync_code)()
    print("after the call:", request.language)


asyncio.run(view())
