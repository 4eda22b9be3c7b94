"""The project's one app: items, and a log written by signal receivers."""
