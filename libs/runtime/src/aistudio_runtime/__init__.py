"""Infrastructure every AI Studio service shares. Libraries only: no entry points but migrations."""

from .db import Database, create_pool, transaction
from .delivery import DeliveryPolicy
from .inbox import first_delivery
from .logging import configure_logging, get_logger
from .messaging import create_broker, delivery_attempt, durable_subscriber, ensure_stream, publish_event
from .outbox import OutboxRelay, enqueue
from .service import ServiceRuntime
from .settings import ServiceSettings

__all__ = [
    "Database",
    "DeliveryPolicy",
    "OutboxRelay",
    "ServiceRuntime",
    "ServiceSettings",
    "configure_logging",
    "create_broker",
    "create_pool",
    "delivery_attempt",
    "durable_subscriber",
    "enqueue",
    "ensure_stream",
    "first_delivery",
    "get_logger",
    "publish_event",
    "transaction",
]
