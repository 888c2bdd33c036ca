"""`aistudio-ops`: what an operator asks of a running system, answered from every service's tables
and from JetStream (see `cli.py`). Read-only except `dlq replay|drop` and `replay-outbox`."""
