# The seed page's "Basic HTTP Server Implementation", as written (indentation restored; the
# page's code had lost it). Type hints are not added: this is the page's code, kept verbatim.
# mypy: ignore-errors
from asgiref.server import StatelessServer
import asyncio
import socket


class SimpleHTTPServer(StatelessServer):
    """Simple HTTP server implementation."""

    def __init__(self, application, host='127.0.0.1', port=8000, max_applications=1000):
        super().__init__(application, max_applications)
        self.host = host
        self.port = port
        self.server = None

    async def handle(self):
        """Start HTTP server and handle connections."""
        self.server = await asyncio.start_server(
            self.handle_connection,
            self.host,
            self.port
        )

        print(f"Server running on {self.host}:{self.port}")
        await self.server.serve_forever()

    async def handle_connection(self, reader, writer):
        """Handle individual HTTP connection."""
        try:
            # Read HTTP request (simplified)
            request_line = await reader.readline()
            if not request_line:
                return

            # Parse request
            method, path, version = request_line.decode().strip().split()

            # Read headers (simplified)
            headers = []
            while True:
                line = await reader.readline()
                if not line or line == b'\r\n':
                    break
                header_line = line.decode().strip()
                if ':' in header_line:
                    name, value = header_line.split(':', 1)
                    headers.append([name.strip().lower().encode(), value.strip().encode()])

            # Create ASGI scope
            scope = {
                'type': 'http',
                'method': method,
                'path': path,
                'query_string': b'',
                'headers': headers,
                'server': (self.host, self.port),
            }

            # Create unique scope ID
            scope_id = f"{writer.get_extra_info('peername')}_{id(writer)}"

            # Get application instance
            app_instance = await self.get_or_create_application_instance(scope_id, scope)

            # Set up ASGI receive/send
            self.writer = writer  # Store for application_send method

            async def receive():
                return {'type': 'http.request', 'body': b''}

            async def send(message):
                await self.application_send(scope, message)

            # Run application
            try:
                await app_instance['application'](scope, receive, send)
            except Exception as e:
                await self.application_exception(e, app_instance)
            finally:
                await self.delete_application_instance(scope_id)
                writer.close()

        except Exception as e:
            print(f"Connection error: {e}")
            writer.close()

    async def application_send(self, scope, message):
        """Send ASGI message as HTTP response."""
        if message['type'] == 'http.response.start':
            status = message['status']
            self.writer.write(f'HTTP/1.1 {status} OK\r\n'.encode())

            for name, value in message.get('headers', []):
                self.writer.write(f'{name.decode()}: {value.decode()}\r\n'.encode())

            self.writer.write(b'\r\n')

        elif message['type'] == 'http.response.body':
            body = message.get('body', b'')
            self.writer.write(body)

            if not message.get('more_body', False):
                await self.writer.drain()


# Usage
async def simple_app(scope, receive, send):
    await send({
        'type': 'http.response.start',
        'status': 200,
        'headers': [[b'content-type', b'text/plain']],
    })
    await send({
        'type': 'http.response.body',
        'body': b'Hello from custom ASGI server!',
    })

server = SimpleHTTPServer(simple_app, port=8000)
# server.run()
