"""Works the post table (runtime's leased loop): claims due posts, runs each, keeps the leases fresh,
and lets the post rules recover what dead workers left behind: what was not sent goes back to
waiting, a create that may have been sent becomes in doubt (domain/post.py)."""

import structlog

from aistudio_runtime import Database, get_logger
from aistudio_runtime.leased import LeasedTable, LeasedWorkLoop

from .posts import WAKEUP_CHANNEL, Post, Posts
from .publishing import Publisher
from .settings import PublisherSettings

log = get_logger(__name__)


def post_scheduler(
    settings: PublisherSettings, db: Database, posts: Posts, publisher: Publisher
) -> LeasedWorkLoop[Post]:
    lease = settings.post_lease_seconds

    async def claim(free: int) -> list[Post]:
        return await posts.claim_due(free, lease)

    async def renew(running: list[Post]) -> None:
        await posts.renew([post.post_id for post in running], lease)

    async def work(post: Post) -> None:
        with structlog.contextvars.bound_contextvars(post_id=str(post.post_id), user_id=post.user_id):
            try:
                await publisher.work(post)
            except Exception as exc:
                # Its lease runs out and the rules look at the post again; nothing is created blindly.
                log.warning("post_work_failed", error=repr(exc))

    table = LeasedTable(claim, posts.seconds_until_next_due, renew, posts.recover_abandoned, work)
    return LeasedWorkLoop(
        "publisher-posts",
        db,
        WAKEUP_CHANNEL,
        table,
        concurrency=settings.publish_concurrency,
        lease_seconds=lease,
        grace_seconds=settings.shutdown_grace_seconds,
    )
