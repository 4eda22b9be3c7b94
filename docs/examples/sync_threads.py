import asyncio
import threading

from asgiref.sync import async_to_sync, sync_to_async

thread_id = sync_to_async(threading.get_ident)  # thread-sensitive (the default)
any_thread_id = sync_to_async(threading.get_ident, thread_sensitive=False)


async def main() -> None:
    first, second = await thread_id(), await thread_id()
    print("thread-sensitive calls share one thread:", first == second)
    print("...which is not the event loop's:", first != threading.get_ident())
    print("thread_sensitive=False runs elsewhere:", await any_thread_id() != first)


asyncio.run(main())


async def middle() -> int:
    # Async code called from sync code, calling sync code again.
    return await thread_id()


def outer() -> None:
    # The thread-sensitive call made by `middle` comes back to this thread, which
    # serves it while it waits in async_to_sync.
    inner = async_to_sync(middle)()
    print(
        "the inner sync call ran on the outer thread:",
        inner == threading.get_ident(),
    )


outer()
