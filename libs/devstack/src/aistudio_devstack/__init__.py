"""Development and test infrastructure: never imported by the services themselves."""

from .embedded import EmbeddedNats, EmbeddedNatsCluster, EmbeddedPostgres, free_port, wait_for_port

__all__ = ["EmbeddedNats", "EmbeddedNatsCluster", "EmbeddedPostgres", "free_port", "wait_for_port"]
