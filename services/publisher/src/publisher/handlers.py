"""Thin adapters: a request becomes a scheduled post; a webhook makes a post due for a look;
the gateway's accounts and cancel requests are answered at once."""

from faststream.nats import NatsBroker

from aistudio_contracts import (
    CancelPost,
    LateWebhookReceived,
    ListSocialAccounts,
    PostCancelReply,
    PostRequested,
    SocialAccounts,
    subjects,
)
from aistudio_providers.late import LateError
from aistudio_runtime import durable_subscriber, get_logger

from .posts import Posts
from .publishing import Publisher

log = get_logger(__name__)
RPC_WORKERS = 16


def register(broker: NatsBroker, posts: Posts, publisher: Publisher) -> None:
    @durable_subscriber(broker, PostRequested, "publisher-post-requested", batch_size=64)
    async def on_post_requested(event: PostRequested) -> None:
        if await posts.take_in(event):
            log.info("post_queued", post_id=str(event.post_id), targets=len(event.targets))

    @durable_subscriber(broker, LateWebhookReceived, "publisher-late-webhook", batch_size=64)
    async def on_webhook(event: LateWebhookReceived) -> None:
        if event.late_post_id:
            await publisher.webhook(event.late_post_id)

    @broker.subscriber(
        subjects.PUBLISHER_CANCEL, queue=subjects.PUBLISHER_QUEUE, max_workers=RPC_WORKERS, title="publisher:cancel"
    )
    async def cancel(request: CancelPost) -> PostCancelReply:
        reply = await publisher.cancel(request.post_id, request.user_id)
        log.info("post_cancel", post_id=str(request.post_id), outcome=reply.outcome)
        return reply

    @broker.subscriber(
        subjects.PUBLISHER_ACCOUNTS, queue=subjects.PUBLISHER_QUEUE, max_workers=RPC_WORKERS, title="publisher:accounts"
    )
    async def accounts(request: ListSocialAccounts) -> SocialAccounts:
        try:
            return SocialAccounts(accounts=await publisher.accounts())
        except LateError as exc:
            log.warning("late_accounts_failed", error=str(exc))
            raise
