import asyncio
import contextvars

from asgiref.local import Local
from asgiref.sync import sync_to_async

state = Local()
var: contextvars.ContextVar[str] = contextvars.ContextVar("var")


def read() -> tuple[str, str]:
    return getattr(state, "value", "<not set>"), var.get("<not set>")


async def main() -> None:
    state.value = "local"
    var.set("contextvar")
    print("sync_to_async:    ", await sync_to_async(read)())
    print("asyncio.to_thread:", await asyncio.to_thread(read))


asyncio.run(main())
