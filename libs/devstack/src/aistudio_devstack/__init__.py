"""Development and test infrastructure: never imported by the services themselves."""

from .embedded import EmbeddedNats, EmbeddedPostgres, free_port, wait_for_port

__all__ = ["EmbeddedNats", "EmbeddedPostgres", "free_port", "wait_for_port"]
