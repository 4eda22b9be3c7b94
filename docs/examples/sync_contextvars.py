import asyncio
import contextvars

from asgiref.sync import sync_to_async

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")


def sync_handler() -> str:
    seen = request_id.get()
    request_id.set("set by sync code")
    return seen


async def main() -> None:
    request_id.set("abc123")
    print("sync code saw:", await sync_to_async(sync_handler)())
    print("afterwards the caller sees:", request_id.get())


asyncio.run(main())
