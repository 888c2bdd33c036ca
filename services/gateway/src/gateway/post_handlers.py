"""Keeps the user's posts current from the publisher's events: each is one named move."""

from faststream.nats import NatsBroker

from aistudio_contracts import PostCancelled, PostFailed, PostPublished, PostScheduled
from aistudio_runtime import durable_subscriber, get_logger

from .posts import PostsCatalog

log = get_logger(__name__)


def register(broker: NatsBroker, posts: PostsCatalog) -> None:
    @durable_subscriber(broker, PostScheduled, "gateway-post-scheduled")
    async def on_scheduled(event: PostScheduled) -> None:
        await posts.move(event.post_id, "scheduled", event.version, platforms=event.platforms)

    @durable_subscriber(broker, PostPublished, "gateway-post-published")
    async def on_published(event: PostPublished) -> None:
        if await posts.move(event.post_id, event.status, event.version, platforms=event.platforms):
            log.info("post_published", post_id=str(event.post_id), status=event.status)

    @durable_subscriber(broker, PostFailed, "gateway-post-failed")
    async def on_failed(event: PostFailed) -> None:
        await posts.move(
            event.post_id,
            "failed",
            event.version,
            platforms=event.platforms,
            error_code=event.reason.value,
            error_message=event.message,
        )

    @durable_subscriber(broker, PostCancelled, "gateway-post-cancelled")
    async def on_cancelled(event: PostCancelled) -> None:
        await posts.move(event.post_id, "cancelled", event.version)
