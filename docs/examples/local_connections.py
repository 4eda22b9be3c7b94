import asyncio
import itertools

from asgiref.local import Local
from asgiref.sync import async_to_sync, sync_to_async

connections = Local(thread_critical=True)
opened = itertools.count(1)


def get_connection() -> str:
    # One connection per thread, opened on first use, as Django does with its
    # database connections.
    if not hasattr(connections, "db"):
        connections.db = f"connection #{next(opened)}"
    return connections.db


async def handler() -> str:
    # The coroutine runs on the event loop's thread: the connection does not
    # follow it there...
    print("in the coroutine:", getattr(connections, "db", "<none>"))
    # ...but a thread-sensitive call comes back to the thread that called
    # async_to_sync.
    return await sync_to_async(get_connection)()


def view() -> None:
    print("in the view:", get_connection())
    print("back from the handler:", async_to_sync(handler)())


view()


async def two_tasks() -> None:
    async def task(name: str) -> None:
        connections.cursor = name
        await asyncio.sleep(0)
        print(name, "sees", connections.cursor)

    await asyncio.gather(task("task 1"), task("task 2"))


asyncio.run(two_tasks())
