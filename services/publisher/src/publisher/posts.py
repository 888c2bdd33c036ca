"""The publisher's post table, `publisher.posts`, and its only writer.

Every move is a conditional update whose from-states come from the post lifecycle
(domain/post.py), so two replicas can never both move one post, and each move that the gateway
must hear of is written with its event in one transaction (outbox). Work is scheduled here
(`due_at`, leases), not parked in a consumer.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from aistudio_contracts import (
    Event,
    PlatformResult,
    PostCancelled,
    PostFailed,
    PostPublished,
    PostRequested,
    PostScheduled,
)
from aistudio_runtime import Database, enqueue

from .domain.post import (
    ABANDONED_SENT,
    ABANDONED_UNSENT,
    CANCELLABLE_UNSENT,
    CLAIMABLE,
    OBSERVABLE,
    OPEN,
    REFUSABLE,
    RESOLVABLE,
    STARTABLE,
    Failure,
    PostState,
    values,
)

SCHEMA = "publisher"
WAKEUP_CHANNEL = "publisher_posts_due"
_COLUMNS = (
    "post_id, user_id, media_id, request, state, version, late_post_id, late_status, media_url, platforms,"
    " attempts, checks, in_doubt_since"
)


@dataclass(frozen=True, slots=True)
class Post:
    post_id: UUID
    user_id: str
    request: PostRequested
    state: PostState
    version: int
    late_post_id: str | None
    late_status: str | None
    media_url: str | None
    platforms: tuple[PlatformResult, ...]
    attempts: int
    checks: int
    in_doubt_since: datetime | None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> "Post":
        return cls(
            post_id=row["post_id"],
            user_id=row["user_id"],
            request=PostRequested.model_validate_json(row["request"]),
            state=PostState(row["state"]),
            version=row["version"],
            late_post_id=row["late_post_id"],
            late_status=row["late_status"],
            media_url=row["media_url"],
            platforms=tuple(PlatformResult.model_validate(p) for p in json.loads(row["platforms"])),
            attempts=row["attempts"],
            checks=row["checks"],
            in_doubt_since=row["in_doubt_since"],
        )


def _platforms_json(platforms: tuple[PlatformResult, ...] | list[PlatformResult]) -> str:
    return json.dumps([p.model_dump(mode="json") for p in platforms])


class Posts:
    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def _pool(self) -> asyncpg.Pool:
        return self._db.pool

    async def take_in(self, request: PostRequested) -> bool:
        """Take the request in as a waiting post, due now; False when a delivery before took it."""
        pending = [
            PlatformResult(account_id=t.account_id, platform=t.platform, status="pending") for t in request.targets
        ]
        inserted = await self._pool.fetchval(
            "INSERT INTO publisher.posts (post_id, user_id, media_id, request, state, platforms, due_at)"
            " VALUES ($1, $2, $3, $4, 'waiting', $5, clock_timestamp())"
            " ON CONFLICT (post_id) DO NOTHING RETURNING true",
            request.post_id,
            request.user_id,
            request.media_id,
            request.model_dump_json(),
            _platforms_json(pending),
        )
        if inserted:
            await self._pool.execute("SELECT pg_notify($1, '')", WAKEUP_CHANNEL)
        return bool(inserted)

    async def find(self, post_id: UUID) -> Post | None:
        row = await self._pool.fetchrow(f"SELECT {_COLUMNS} FROM publisher.posts WHERE post_id = $1", post_id)
        return Post.from_row(row) if row else None

    async def claim_due(self, limit: int, lease_seconds: float) -> list[Post]:
        """Hold up to `limit` due posts under a lease; a waiting one becomes claimed (nothing sent)."""
        rows = await self._pool.fetch(
            "UPDATE publisher.posts p SET lease_until = clock_timestamp() + make_interval(secs => $2),"
            " state = CASE WHEN p.state = 'waiting' THEN 'claimed' ELSE p.state END"
            " WHERE p.post_id IN (SELECT post_id FROM publisher.posts WHERE due_at <= clock_timestamp()"
            "   AND state = ANY($3::text[]) AND (lease_until IS NULL OR lease_until < clock_timestamp())"
            "   ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED)"
            f" RETURNING {_COLUMNS}",
            limit,
            lease_seconds,
            values(CLAIMABLE),
        )
        return [Post.from_row(row) for row in rows]

    async def seconds_until_next_due(self) -> float | None:
        value = await self._pool.fetchval(
            "SELECT EXTRACT(EPOCH FROM (min(due_at) - clock_timestamp()))::float8 FROM publisher.posts"
            " WHERE due_at IS NOT NULL AND state = ANY($1::text[])"
            " AND (lease_until IS NULL OR lease_until < clock_timestamp())",
            values(CLAIMABLE),
        )
        return None if value is None else float(value)

    async def renew(self, post_ids: list[UUID], lease_seconds: float) -> None:
        if post_ids:
            await self._pool.execute(
                "UPDATE publisher.posts SET lease_until = clock_timestamp() + make_interval(secs => $2)"
                " WHERE post_id = ANY($1::uuid[]) AND lease_until IS NOT NULL",
                post_ids,
                lease_seconds,
            )

    async def recover_abandoned(self) -> tuple[int, int]:
        """Posts whose worker died: unsent ones wait again; a create that may have left is in doubt."""
        unsent = await self._pool.fetchval(
            "WITH moved AS (UPDATE publisher.posts SET state = 'waiting', lease_until = NULL,"
            " due_at = clock_timestamp(), version = version + 1"
            " WHERE state = $1 AND lease_until < clock_timestamp() RETURNING 1)"
            " SELECT count(*) FROM moved",
            ABANDONED_UNSENT.value,
        )
        doubtful = await self._pool.fetchval(
            "WITH moved AS (UPDATE publisher.posts SET state = 'in_doubt', in_doubt_since = clock_timestamp(),"
            " lease_until = NULL, due_at = clock_timestamp(), version = version + 1"
            " WHERE state = $1 AND lease_until < clock_timestamp() RETURNING 1) SELECT count(*) FROM moved",
            ABANDONED_SENT.value,
        )
        # A following post whose worker died is simply checked again when its lease runs out.
        return int(unsent), int(doubtful)

    async def release(self, post: Post, due_at: datetime | None) -> None:
        """Let go of a post without moving it (e.g. no rate-limit slot yet)."""
        await self._pool.execute(
            "UPDATE publisher.posts SET lease_until = NULL, due_at = $2,"
            " state = CASE WHEN state = 'claimed' THEN 'waiting' ELSE state END WHERE post_id = $1",
            post.post_id,
            due_at,
        )

    async def save_media_url(self, post: Post, url: str) -> None:
        await self._pool.execute(
            "UPDATE publisher.posts SET media_url = $2 WHERE post_id = $1 AND state = 'claimed'", post.post_id, url
        )

    async def start_create(self, post: Post) -> bool:
        """Committed before the create leaves: from here a lost answer means the post may exist."""
        async with self._pool.acquire() as conn, conn.transaction():
            started = await conn.fetchval(
                "UPDATE publisher.posts SET state = 'creating', version = version + 1, updated_at = clock_timestamp()"
                " WHERE post_id = $1 AND state = ANY($2::text[]) RETURNING true",
                post.post_id,
                values(STARTABLE),
            )
            if started:
                await conn.executemany(
                    "INSERT INTO publisher.account_creates (account_id, platform, post_id) VALUES ($1, $2, $3)"
                    " ON CONFLICT DO NOTHING",
                    [(t.account_id, t.platform, post.post_id) for t in post.request.targets],
                )
            return bool(started)

    async def doubt(self, post: Post) -> bool:
        moved = await self._pool.fetchval(
            "UPDATE publisher.posts SET state = 'in_doubt', in_doubt_since = clock_timestamp(), lease_until = NULL,"
            " due_at = clock_timestamp(), version = version + 1"
            " WHERE post_id = $1 AND state = 'creating' RETURNING true",
            post.post_id,
        )
        return bool(moved)

    async def retry_at(self, post: Post, at: datetime) -> bool:
        """Refused: nothing was made at Late; the post waits in the table until `at`."""
        moved = await self._pool.fetchval(
            "UPDATE publisher.posts SET state = 'waiting', due_at = $2, lease_until = NULL, attempts = attempts + 1,"
            " version = version + 1 WHERE post_id = $1 AND state = ANY($3::text[]) RETURNING true",
            post.post_id,
            at,
            values(REFUSABLE),
        )
        if moved:
            await self._pool.execute(
                "DELETE FROM publisher.account_creates WHERE post_id = $1", post.post_id
            )  # it made no post: it does not count against the account
        return bool(moved)

    async def fail(self, post: Post, failure: Failure, platforms: tuple[PlatformResult, ...] | None = None) -> bool:
        return await self._end(post, (*OPEN, PostState.PUBLISHED), PostState.FAILED, failure, platforms)

    async def follow(
        self,
        post: Post,
        late_post_id: str,
        late_status: str,
        platforms: tuple[PlatformResult, ...],
        next_check: datetime,
        scheduled: bool,
    ) -> bool:
        """Late has the post (made now, or found): record its id; announce a scheduled post."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "UPDATE publisher.posts SET state = 'following', late_post_id = $2, late_status = $3, platforms = $4,"
                " due_at = $5, lease_until = NULL, in_doubt_since = NULL, version = version + 1,"
                " updated_at = clock_timestamp()"
                " WHERE post_id = $1 AND state = ANY($6::text[]) RETURNING version",
                post.post_id,
                late_post_id,
                late_status,
                _platforms_json(platforms),
                next_check,
                values(RESOLVABLE),
            )
            if row is None:
                return False
            if scheduled:
                event = PostScheduled(
                    correlation_id=post.post_id,
                    post_id=post.post_id,
                    user_id=post.user_id,
                    version=row["version"],
                    late_post_id=late_post_id,
                    scheduled_for=post.request.scheduled_for,
                    platforms=list(platforms),
                )
                await enqueue(conn, SCHEMA, event)
            return True

    async def keep_following(
        self, post: Post, late_status: str, platforms: tuple[PlatformResult, ...], next_check: datetime | None
    ) -> None:
        """Late's post is not at its end yet (or a published one is watched): look again at `next_check`."""
        await self._pool.execute(
            "UPDATE publisher.posts SET late_status = $2, platforms = $3, due_at = $4, lease_until = NULL,"
            " checks = checks + 1 WHERE post_id = $1 AND state = ANY($5::text[])",
            post.post_id,
            late_status,
            _platforms_json(platforms),
            next_check,
            values(OBSERVABLE),
        )

    async def published(self, post: Post, partial: bool, platforms: tuple[PlatformResult, ...]) -> bool:
        to = PostState.PARTIAL if partial else PostState.PUBLISHED
        from_states = (*OBSERVABLE, *RESOLVABLE)
        if partial:
            from_states = (*from_states, PostState.PUBLISHED)
        return await self._end(post, from_states, to, None, platforms)

    async def cancel_unsent(self, post: Post) -> bool:
        return await self._end(post, tuple(CANCELLABLE_UNSENT), PostState.CANCELLED, None, None)

    async def cancelled_at_late(self, post: Post) -> bool:
        return await self._end(post, (PostState.FOLLOWING,), PostState.CANCELLED, None, None)

    async def check_now(self, late_post_id: str) -> int:
        """A webhook says the post changed: look at it now (a replay only repeats a look)."""
        result = await self._pool.execute(
            "UPDATE publisher.posts SET due_at = clock_timestamp() WHERE late_post_id = $1 AND state = ANY($2::text[])",
            late_post_id,
            values(OBSERVABLE),
        )
        moved = int(result.split()[-1])
        if moved:
            await self._pool.execute("SELECT pg_notify($1, '')", WAKEUP_CHANNEL)
        return moved

    async def _end(
        self,
        post: Post,
        from_states: tuple[PostState, ...],
        to: PostState,
        failure: Failure | None,
        platforms: tuple[PlatformResult, ...] | None,
    ) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            # A published post stays watched for a while: Late may still report failed or partial.
            watch = to is PostState.PUBLISHED
            row = await conn.fetchrow(
                "UPDATE publisher.posts SET state = $2, version = version + 1, lease_until = NULL,"
                " platforms = COALESCE($3::jsonb, platforms), failure_reason = $4, failure_message = $5,"
                " due_at = CASE WHEN $6 THEN clock_timestamp() + interval '5 minutes' END,"
                " finished_at = clock_timestamp(), updated_at = clock_timestamp()"
                " WHERE post_id = $1 AND state = ANY($7::text[])"
                " RETURNING version, late_post_id, platforms",
                post.post_id,
                to.value,
                _platforms_json(platforms) if platforms is not None else None,
                failure.reason.value if failure else None,
                failure.message if failure else None,
                watch,
                values(from_states),
            )
            if row is None:
                return False
            stored = [PlatformResult.model_validate(p) for p in json.loads(row["platforms"])]
            event = self._event(post, to, row["version"], row["late_post_id"], stored, failure)
            await enqueue(conn, SCHEMA, event)
            return True

    @staticmethod
    def _event(
        post: Post,
        to: PostState,
        version: int,
        late_post_id: str | None,
        platforms: list[PlatformResult],
        failure: Failure | None,
    ) -> Event:
        common: dict[str, Any] = {"correlation_id": post.post_id, "post_id": post.post_id, "user_id": post.user_id}
        if to in (PostState.PUBLISHED, PostState.PARTIAL):
            return PostPublished(
                **common,
                version=version,
                late_post_id=late_post_id or "",
                status="partial" if to is PostState.PARTIAL else "published",
                platforms=platforms,
            )
        if to is PostState.FAILED:
            assert failure is not None
            return PostFailed(
                **common,
                version=version,
                reason=failure.reason,
                message=failure.message,
                late_post_id=late_post_id,
                platforms=platforms,
            )
        return PostCancelled(**common, version=version, late_post_id=late_post_id)
