import asyncio

from asgiref.local import Local
from asgiref.sync import sync_to_async

follows_context = Local()
thread_critical = Local(thread_critical=True)


def look() -> tuple[str, str]:
    return (
        getattr(follows_context, "value", "<not set>"),
        getattr(thread_critical, "value", "<not set>"),
    )


async def main() -> None:
    follows_context.value = "set in async code"
    thread_critical.value = "set in async code"
    print("async code:", look())
    print("sync code: ", await sync_to_async(look)())


asyncio.run(main())
