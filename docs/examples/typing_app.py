import asyncio

from asgiref.testing import HttpCommunicator
from asgiref.typing import ASGIReceiveCallable, ASGISendCallable, Scope


async def app(
    scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> None:
    if scope["type"] != "http":
        return  # lifespan and websocket scopes are not served here
    # A type checker now knows that `scope` is an HTTPScope.
    event = await receive()
    size = len(event.get("body", b"")) if event["type"] == "http.request" else 0
    # `headers` is NotRequired: it may be left out.
    await send({"type": "http.response.start", "status": 200})
    await send(
        {"type": "http.response.body", "body": f"{scope['method']} {size}".encode()}
    )


async def main() -> None:
    response = await HttpCommunicator(app, "PUT", "/", body=b"12345").get_response()
    print(response.status, response.body)


asyncio.run(main())
