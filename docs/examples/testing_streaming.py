"""Reading an endless stream, then leaving: what the application does once the client is gone."""

import asyncio

from asgiref.testing import HttpCommunicator


async def clock(scope, receive, send):
    """Server-sent events, one per tick, until the client goes away."""
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    tick = 0
    try:
        while True:
            tick += 1
            event = f"data: tick {tick}\n\n".encode()
            await send({"type": "http.response.body", "body": event, "more_body": True})
            await asyncio.sleep(0.01)
    except OSError as error:  # ASGI 2.4: send() on a closed connection raises an OSError
        print("the app saw:", type(error).__name__)


async def main():
    client = HttpCommunicator(clock, "GET", "/clock", validate=True)
    await client.send_body()
    start = await client.receive_start()
    print("status", start.status)
    for _ in range(3):
        print(await client.receive_body_chunk())
    print("ended by itself:", await client.disconnect())
    print("what it tried to send after:", len(client.sent_after_disconnect), "message")


asyncio.run(main())
