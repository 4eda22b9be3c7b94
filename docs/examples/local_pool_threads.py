import asyncio

from asgiref.local import Local
from asgiref.sync import ThreadSensitiveContext, sync_to_async

connections = Local(thread_critical=True)


def remember(request: str) -> str:
    # threading.local semantics: what an earlier call left on this thread is
    # still there.
    previous = getattr(connections, "request", None)
    connections.request = request
    return f"{request}: previous value on this thread: {previous}"


async def main() -> None:
    print(await sync_to_async(remember)("request 1"))
    print(await sync_to_async(remember)("request 2"))
    for name in ("request 3", "request 4"):
        async with ThreadSensitiveContext():  # a fresh thread for each "request"
            print(await sync_to_async(remember)(name))


asyncio.run(main())
