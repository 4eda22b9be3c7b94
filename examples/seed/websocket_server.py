# The seed page's "WebSocket Server Implementation", as written (indentation restored; the
# page's code had lost it). Type hints are not added: this is the page's code, kept verbatim,
# except for the lines marked "ADAPTED", each of which says why it had to change.
# mypy: ignore-errors
from asgiref.server import StatelessServer
import asyncio
import websockets
import json

class SimpleWebSocketServer(StatelessServer):
    """Simple WebSocket server implementation."""

    def __init__(self, application, host='127.0.0.1', port=8001, max_applications=1000):
        super().__init__(application, max_applications)
        self.host = host
        self.port = port

    async def handle(self):
        """Start WebSocket server."""
        print(f"WebSocket server running on {self.host}:{self.port}")
        # ADAPTED (keep serving; needed with any websockets version): the page's
        # `await websockets.serve(...)` only starts listening and returns, so handle() returned at
        # once, which ends arun() (the server's run) with the listening socket left open and
        # unreachable (no reference kept, so it could never be closed). Keep the websockets server
        # and serve until arun() is cancelled, then close it (its connections get 1001) and wait
        # for their handlers. (Cancelling serve_forever() alone does that on Python 3.12+ only.)
        server = await websockets.serve(self.handle_websocket, self.host, self.port)
        try:
            await server.serve_forever()
        finally:
            server.close()
            await server.wait_closed()

    # ADAPTED for websockets>=14: `websockets.serve` is now the new asyncio implementation
    # (websockets.asyncio.server.serve), which calls the handler with one argument, the
    # connection; the two-argument `(websocket, path)` handler is gone, and the request path is
    # `websocket.request.path`.
    async def handle_websocket(self, websocket):
        """Handle WebSocket connection."""
        path = websocket.request.path  # ADAPTED for websockets>=14: see the signature above
        scope = {
            'type': 'websocket',
            'path': path,
            'query_string': b'',
            'headers': [],
            'server': (self.host, self.port),
        }

        scope_id = f"{websocket.remote_address}_{id(websocket)}"

        try:
            app_instance = await self.get_or_create_application_instance(scope_id, scope)

            # Store websocket for application_send method
            self.websocket = websocket

            # Message queues for ASGI communication
            receive_queue = asyncio.Queue()

            async def receive():
                return await receive_queue.get()

            async def send(message):
                await self.application_send(scope, message)

            # Start application
            app_task = asyncio.create_task(
                app_instance['application'](scope, receive, send)
            )

            # Send connect event
            await receive_queue.put({'type': 'websocket.connect'})

            try:
                # Handle incoming messages
                async for message in websocket:
                    if isinstance(message, str):
                        await receive_queue.put({
                            'type': 'websocket.receive',
                            'text': message
                        })
                    else:
                        await receive_queue.put({
                            'type': 'websocket.receive',
                            'bytes': message
                        })
            except websockets.exceptions.ConnectionClosed:
                await receive_queue.put({'type': 'websocket.disconnect', 'code': 1000})
            # ADAPTED (page bug, any websockets version): `async for` over a connection ends
            # without raising when it closes normally (codes 1000/1001: the client closing, or the
            # server shutting down), so the page sent no disconnect then; the application waited
            # forever, `await app_task` never returned, and the server could not stop (it waits
            # for every connection handler). Send the same disconnect in that case too.
            else:
                await receive_queue.put({'type': 'websocket.disconnect', 'code': 1000})

            await app_task

        except Exception as e:
            await self.application_exception(e, {'scope_id': scope_id})
        finally:
            await self.delete_application_instance(scope_id)

    async def application_send(self, scope, message):
        """Send ASGI message as WebSocket message."""
        if message['type'] == 'websocket.accept':
            # WebSocket already accepted by websockets library
            pass

        elif message['type'] == 'websocket.send':
            if 'text' in message:
                await self.websocket.send(message['text'])
            elif 'bytes' in message:
                await self.websocket.send(message['bytes'])

        elif message['type'] == 'websocket.close':
            code = message.get('code', 1000)
            await self.websocket.close(code)

# Usage
async def echo_websocket_app(scope, receive, send):
    """Echo WebSocket application."""
    await send({'type': 'websocket.accept'})

    while True:
        message = await receive()

        if message['type'] == 'websocket.disconnect':
            break

        elif message['type'] == 'websocket.receive':
            if 'text' in message:
                echo_text = f"Echo: {message['text']}"
                await send({
                    'type': 'websocket.send',
                    'text': echo_text
                })

ws_server = SimpleWebSocketServer(echo_websocket_app)
# await ws_server.arun()
