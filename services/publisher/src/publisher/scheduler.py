"""Works the post table: claims due posts under a lease, runs each, keeps the leases fresh.

Replicas share the table through `FOR UPDATE SKIP LOCKED`; a NOTIFY wakes the loop when a post
is taken in or a webhook makes one due. A worker that dies lets its leases run out: what it had
not sent goes back to waiting, a create it may have sent becomes in doubt (domain/post.py).
"""

import asyncio
import contextlib

import asyncpg
import structlog

from aistudio_runtime import Database, get_logger

from .posts import WAKEUP_CHANNEL, Post, Posts
from .publishing import Publisher
from .settings import PublisherSettings

log = get_logger(__name__)


class PostScheduler:
    def __init__(self, settings: PublisherSettings, db: Database, posts: Posts, publisher: Publisher) -> None:
        self._settings = settings
        self._db = db
        self._posts = posts
        self._publisher = publisher
        self._lease = settings.post_lease_seconds
        self._wakeup = asyncio.Event()
        self._running: dict[asyncio.Task[None], Post] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._listener: asyncpg.Connection | None = None
        self._stopping = False

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name="publisher-scheduler"),
            asyncio.create_task(self._keep_leases(), name="publisher-leases"),
        ]

    async def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()
        if self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await self._tasks[0]
        if self._running:
            await asyncio.wait(list(self._running), timeout=self._settings.shutdown_grace_seconds)
        if len(self._tasks) > 1:
            self._tasks[1].cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tasks[1]
        await self._close_listener()

    def _on_notify(self, *_: object) -> None:
        self._wakeup.set()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self._ensure_listener()
                self._wakeup.clear()
                free = self._settings.publish_concurrency - len(self._running)
                due = await self._posts.claim_due(free, self._lease) if free > 0 else []
                for post in due:
                    task = asyncio.create_task(self._work(post))
                    self._running[task] = post
                    task.add_done_callback(self._running.pop)
                if due and len(due) == free:
                    await asyncio.sleep(0)
                    continue
                until_next = await self._posts.seconds_until_next_due()
                timeout = 1.0 if until_next is None else min(max(until_next, 0.01), 1.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: try again shortly
                log.warning("scheduler_loop_error", error=repr(exc))
                await self._close_listener()
                await asyncio.sleep(1.0)

    async def _work(self, post: Post) -> None:
        with structlog.contextvars.bound_contextvars(post_id=str(post.post_id), user_id=post.user_id):
            try:
                await self._publisher.work(post)
            except Exception as exc:
                # Its lease runs out and the rules look at the post again; nothing is created blindly.
                log.warning("post_work_failed", error=repr(exc))

    async def _keep_leases(self) -> None:
        while True:
            await asyncio.sleep(self._lease / 3)
            try:
                await self._posts.renew([post.post_id for post in self._running.values()], self._lease)
                unsent, doubtful = await self._posts.recover_abandoned()
                if unsent or doubtful:
                    log.warning("abandoned_posts_recovered", unsent=unsent, in_doubt=doubtful)
                    self._wakeup.set()
            except Exception as exc:
                log.warning("lease_renewal_failed", error=repr(exc))

    async def _ensure_listener(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        conn: asyncpg.Connection = await self._db.pool.acquire()
        await conn.add_listener(WAKEUP_CHANNEL, self._on_notify)
        self._listener = conn

    async def _close_listener(self) -> None:
        conn, self._listener = self._listener, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            await conn.remove_listener(WAKEUP_CHANNEL, self._on_notify)
        with contextlib.suppress(Exception):
            await self._db.pool.release(conn)
