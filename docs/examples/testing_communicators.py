import asyncio
from typing import Any

from asgiref.testing import (
    ApplicationCommunicator,
    HttpCommunicator,
    LifespanCommunicator,
    WebsocketCommunicator,
)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    elif scope["type"] == "http":
        request = await receive()
        body = b"you sent " + request.get("body", b"")
        headers = [(b"content-type", b"text/plain")]
        await send(
            {"type": "http.response.start", "status": 200, "headers": headers}
        )
        await send({"type": "http.response.body", "body": body})
    else:  # websocket
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message["text"].upper()})


async def main() -> None:
    # The general tool: feed messages in, read messages out.
    communicator = ApplicationCommunicator(
        app, {"type": "http", "method": "GET", "path": "/"}
    )
    await communicator.send_input({"type": "http.request", "body": b"raw"})
    print(await communicator.receive_output())
    print(await communicator.receive_output())
    await communicator.wait()

    # One request, one response.
    response = await HttpCommunicator(
        app, "POST", "/echo", body=b"data"
    ).get_response()
    print(response.status, response.header("Content-Type"), response.body)

    # A WebSocket conversation.
    websocket = WebsocketCommunicator(app, "/ws")
    connected, subprotocol = await websocket.connect()
    await websocket.send_to(text_data="hello")
    print(connected, subprotocol, await websocket.receive_from())
    await websocket.disconnect()

    # Startup and shutdown.
    lifespan = LifespanCommunicator(app)
    await lifespan.startup()
    await lifespan.shutdown()
    print("lifespan: started and stopped")


asyncio.run(main())
