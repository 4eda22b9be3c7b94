import asyncio
from typing import Any

from asgiref.server import StatelessServer


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    # One instance per scope id (here: per user), alive across that user's messages.
    count = 0
    while True:
        message = await receive()
        count += 1
        text = f"{scope['user']} said {message['text']!r} (message {count})"
        await send({"type": "chat.reply", "text": text})


class InMemoryServer(StatelessServer):
    """Takes (user, text) pairs from a list instead of a socket."""

    def __init__(self, application: Any, incoming: list[tuple[str, str]]) -> None:
        super().__init__(application, max_applications=100)
        self.incoming = incoming
        self.replies: asyncio.Queue[str] = asyncio.Queue()

    async def handle(self) -> None:
        for user, text in self.incoming:
            scope = {"type": "chat", "user": user}
            input_queue = self.get_or_create_application_instance(user, scope)
            input_queue.put_nowait({"type": "chat.message", "text": text})
        for _ in self.incoming:
            print(await self.replies.get())
        # Returning from handle() ends arun().

    async def application_send(
        self, scope: dict[str, Any], message: dict[str, Any]
    ) -> None:
        await self.replies.put(message["text"])


async def main() -> None:
    server = InMemoryServer(
        application, [("ann", "hi"), ("bob", "hello"), ("ann", "bye")]
    )
    await server.arun()
    print("instances:", sorted(server.application_instances))


asyncio.run(main())
