"""How often, and how patiently, every durable consumer of a service takes a message.

Declared once (from `ServiceSettings`), handed to `create_broker`, and read by every
`durable_subscriber` of that broker, so no call site can forget it.
"""

from dataclasses import dataclass

# JetStream's own `max_deliver` sits this far above ours. The runtime dead-letters a failing
# message on delivery `max_deliver`; the server's limit is only a backstop against a message
# that would otherwise loop forever. Handlers that ask to be called again later (the generator's
# refusal ladder) get a little room beyond `max_deliver` before the backstop's last delivery.
CONSUMER_MAX_DELIVER_MARGIN = 5


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    # How long an unacknowledged message waits before JetStream redelivers it.
    ack_wait_seconds: float = 60.0
    # Deliveries a failing message gets before it is moved to the dead-letter stream.
    max_deliver: int = 10

    def __post_init__(self) -> None:
        if self.ack_wait_seconds <= 0:
            raise ValueError("ack_wait_seconds must be positive")
        if self.max_deliver < 1:
            raise ValueError("max_deliver must be at least 1")

    @property
    def consumer_max_deliver(self) -> int:
        """The server's limit: the delivery on which the runtime must have the last word."""
        return self.max_deliver + CONSUMER_MAX_DELIVER_MARGIN
