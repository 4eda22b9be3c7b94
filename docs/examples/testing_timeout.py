import asyncio
from typing import Any

from asgiref.testing import ApplicationCommunicator


async def silent_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await receive()
    await asyncio.sleep(10)  # never answers in time


async def main() -> None:
    communicator = ApplicationCommunicator(silent_app, {"type": "http"})
    await communicator.send_input({"type": "http.request"})
    print("sends nothing:", await communicator.receive_nothing(timeout=0.05))
    try:
        await communicator.receive_output(timeout=0.1)
    except asyncio.TimeoutError:
        print("receive_output timed out; the application was cancelled")
    try:
        await communicator.send_input({"type": "http.disconnect"})
    except asyncio.CancelledError:
        print("later calls raise CancelledError")


asyncio.run(main())
