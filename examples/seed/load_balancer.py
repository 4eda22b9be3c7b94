# The seed page's "Load Balancing Server", as written (indentation restored; the page's code had
# lost it). Type hints are not added: this is the page's code, kept verbatim.
# mypy: ignore-errors
from asgiref.server import StatelessServer
import asyncio
import random

class LoadBalancingServer(StatelessServer):
    """Server that load balances between multiple application instances."""

    def __init__(self, applications, max_applications=1000):
        # Use a simple round-robin selector as the main application
        self.applications = applications
        self.current_app_index = 0

        # Create a dispatcher application
        super().__init__(self.dispatcher_app, max_applications)

    async def dispatcher_app(self, scope, receive, send):
        """Dispatcher that selects application based on load balancing."""
        # Simple round-robin selection
        app = self.applications[self.current_app_index]
        self.current_app_index = (self.current_app_index + 1) % len(self.applications)

        await app(scope, receive, send)

    async def handle(self):
        """Custom handle method for load balancing."""
        print(f"Load balancing server with {len(self.applications)} applications")

        # In a real implementation, this would start actual network handling
        # For demonstration, we'll just run the application checker
        await self.application_checker()

    async def application_send(self, scope, message):
        """Handle sending messages (implementation depends on transport)."""
        print(f"Sending message: {message['type']}")

    async def application_exception(self, exception, application_details):
        """Enhanced exception handling with load balancer context."""
        print(f"Application exception in load balancer: {exception}")
        print(f"Application details: {application_details}")

        # Could implement circuit breaker logic here
        # Remove failing application temporarily, etc.

# Usage with multiple applications
async def app1(scope, receive, send):
    await send({
        'type': 'http.response.start',
        'status': 200,
        'headers': [[b'content-type', b'text/plain']],
    })
    await send({
        'type': 'http.response.body',
        'body': b'Response from App 1',
    })

async def app2(scope, receive, send):
    await send({
        'type': 'http.response.start',
        'status': 200,
        'headers': [[b'content-type', b'text/plain']],
    })
    await send({
        'type': 'http.response.body',
        'body': b'Response from App 2',
    })

load_balancer = LoadBalancingServer([app1, app2])
