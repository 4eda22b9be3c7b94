import threading

from asgiref.sync import AsyncSingleThreadContext, async_to_sync

thread_ids: list[int] = []


async def record_thread() -> None:
    thread_ids.append(threading.get_ident())


with AsyncSingleThreadContext():
    for _ in range(3):
        async_to_sync(record_thread)()

print("all three coroutines ran on one thread:", len(set(thread_ids)) == 1)
print("and not on this one:", threading.get_ident() not in thread_ids)
