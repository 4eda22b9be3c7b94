"""Runnable examples of the library (see README)."""
