import asyncio
import time

from asgiref.sync import sync_to_async

finished: list[str] = []


def slow() -> str:
    time.sleep(0.3)
    finished.append("slow() ran to its end")
    return "result"


async def main() -> None:
    started = time.monotonic()
    try:
        await asyncio.wait_for(sync_to_async(slow)(), timeout=0.1)
    except asyncio.TimeoutError:
        print("timed out at once:", time.monotonic() - started < 0.25)
    print("slow() still running:", finished == [])
    await asyncio.sleep(0.4)
    print(finished)


asyncio.run(main())
