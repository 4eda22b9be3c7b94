# The seed page's "Custom Application Lifecycle Management", as written (indentation restored;
# the page's code had lost it). Type hints are not added: this is the page's code, kept verbatim,
# except for the line marked "ADAPTED".
# mypy: ignore-errors
from asgiref.server import StatelessServer
import asyncio
import time

# ADAPTED (page omission): the page's usage line below uses `simple_app` without defining it; it
# is the "Basic HTTP Server Implementation" example's application, so import it from there.
from examples.seed.http_server import simple_app

class ManagedLifecycleServer(StatelessServer):
    """Server with custom application lifecycle management."""

    def __init__(self, application, max_applications=500):
        super().__init__(application, max_applications)
        self.instance_stats = {}

    async def get_or_create_application_instance(self, scope_id, scope):
        """Enhanced instance creation with statistics tracking."""
        instance = await super().get_or_create_application_instance(scope_id, scope)

        # Track instance statistics
        self.instance_stats[scope_id] = {
            'created_at': time.time(),
            'request_count': 0,
            'last_activity': time.time(),
        }

        return instance

    async def delete_application_instance(self, scope_id):
        """Enhanced instance deletion with cleanup."""
        await super().delete_application_instance(scope_id)

        # Clean up statistics
        if scope_id in self.instance_stats:
            stats = self.instance_stats.pop(scope_id)
            lifetime = time.time() - stats['created_at']
            print(f"Instance {scope_id} lived {lifetime:.2f}s, handled {stats['request_count']} requests")

    async def application_send(self, scope, message):
        """Track message sending statistics."""
        # Update activity tracking
        scope_id = getattr(self, '_current_scope_id', None)
        if scope_id and scope_id in self.instance_stats:
            self.instance_stats[scope_id]['last_activity'] = time.time()
            self.instance_stats[scope_id]['request_count'] += 1

        print(f"Sending {message['type']} for scope {scope_id}")

    async def application_checker(self):
        """Enhanced application checker with custom logic."""
        while True:
            await asyncio.sleep(self.application_checker_interval)

            current_time = time.time()
            expired_instances = []

            for scope_id, stats in self.instance_stats.items():
                # Mark instances idle for more than 30 seconds as expired
                if current_time - stats['last_activity'] > 30:
                    expired_instances.append(scope_id)

            # Clean up expired instances
            for scope_id in expired_instances:
                await self.delete_application_instance(scope_id)

            print(f"Active instances: {len(self.instance_stats)}")

    async def handle(self):
        """Start the application checker."""
        await self.application_checker()

# Usage
managed_server = ManagedLifecycleServer(simple_app)
