import asyncio

from asgiref.sync import async_to_sync, sync_to_async


async def coroutine_function() -> None:
    pass


try:
    sync_to_async(coroutine_function)
except TypeError as error:
    print("TypeError:", error)


async def main() -> None:
    try:
        async_to_sync(coroutine_function)()
    except RuntimeError as error:
        print("RuntimeError:", error)


asyncio.run(main())
