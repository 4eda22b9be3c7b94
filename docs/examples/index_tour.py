import asyncio

from asgiref.local import Local
from asgiref.sync import ThreadSensitiveContext, async_to_sync, sync_to_async

request = Local()


def render(template: str) -> str:
    # Sync code, run in a worker thread; sees the request's values.
    return template.format(user=request.user)


async def view() -> str:
    request.user = "alice"
    async with ThreadSensitiveContext():  # one thread for this request's sync code
        return await sync_to_async(render)("Hello, {user}!")


print(asyncio.run(view()))


async def fetch(n: int) -> int:
    return n * 2


print(async_to_sync(fetch)(21))  # from sync code: blocks for the result
