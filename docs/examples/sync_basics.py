import asyncio
import time

from asgiref.sync import async_to_sync, sync_to_async


@sync_to_async
def load_user(user_id: int) -> dict[str, object]:
    time.sleep(0.05)  # blocking I/O is fine here: this runs in a worker thread
    return {"id": user_id, "name": "alice"}


async def main() -> None:
    user = await load_user(42)
    print("async code got", user)


asyncio.run(main())


async def fetch_total(prices: list[int]) -> int:
    await asyncio.sleep(0.05)  # stands for an async HTTP call or database query
    return sum(prices)


# Sync code (a script, a WSGI view, a management command) blocks for the result.
print("sync code got", async_to_sync(fetch_total)([3, 4, 5]))
