"""A sync test driving an ASGI application: one event loop for every call."""

from asgiref.testing import SyncCommunicator, WebsocketCommunicator


async def counter(scope, receive, send):
    """Counts the messages of one connection: state that lives as long as the connection."""
    await receive()
    await send({"type": "websocket.accept"})
    count = 0
    while (await receive())["type"] == "websocket.receive":
        count += 1
        await send({"type": "websocket.send", "text": str(count)})


def test_counter():
    with SyncCommunicator(WebsocketCommunicator(counter, "/count")) as client:
        print("connected:", client.connect())
        for word in ("a", "b", "c"):
            client.send_to(text_data=word)
            print("count", client.receive_from())
        print("ended by itself:", client.disconnect())


test_counter()
