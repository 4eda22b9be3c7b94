"""A small Django project (with Channels) that the integration tests serve through real stacks."""
