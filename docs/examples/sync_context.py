import asyncio
import threading

from asgiref.sync import ThreadSensitiveContext, sync_to_async

thread_id = sync_to_async(threading.get_ident)


async def handle_request() -> tuple[int, int]:
    async with ThreadSensitiveContext():  # what Django does around each request
        return await thread_id(), await thread_id()


async def main() -> None:
    (a1, a2), (b1, b2) = await asyncio.gather(handle_request(), handle_request())
    print("each request keeps to one thread:", a1 == a2 and b1 == b2)
    print("two requests at once get two threads:", a1 != b1)


asyncio.run(main())
