"""Live asset changes for server-sent events.

One LISTEN connection per gateway process hears every change (NOTIFY from the catalog, payload
"seq:user_id") and wakes that user's feed; it reads the changes after the last one each of the
user's streams sent from `asset_changes`, so a stream resumes exactly where a client left off
(Last-Event-ID) and nothing is lost between a wake-up and the read.

Why a stream never passes over a change: change numbers are per user and taken from the user's
counter row (`gateway.user_feeds`, incremented by an upsert in the transaction that records the
change). That row stays locked until the transaction commits, so a second change of the same
user waits for the first to commit before it gets the next number: a user's changes commit in
the order of their numbers. A reader that sees change n has therefore seen every change below n,
and "after the last one sent" is exact. (A global sequence could not promise this: numbers are
taken at insert, and a transaction holding a lower one may commit after a higher one was read.)
The cost is that one user's change-writers are serialised for the end of their transactions;
different users never wait for each other.

Why the cost follows the changes, not the streams: a user's open streams in this process share
one reader (`_UserFeed`). A notification marks the user's feed dirty; its reader reads the changes
after the furthest-behind stream once and hands each stream those it has not sent. Notifications
that arrive while it reads are folded into its next read, so a change costs one query per user
with open streams, however many streams that user (or anyone else) has open; an idle stream costs
no query at all (its keep-alive is written from memory).
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg

from aistudio_runtime import Database, get_logger
from aistudio_runtime.db import Listener, listen

from .catalog import ASSET_COLUMNS, CHANGES_CHANNEL, QUEUE_FIGURES, QUEUE_MOVED, queue_figures

log = get_logger(__name__)

CHANGES_BATCH = 200


def parse_event_id(value: str | None) -> int | None:
    """An SSE id we issued, or None: `isdigit()` alone accepts "²" and other digits int() refuses."""
    if not value or not (value.isascii() and value.isdigit()):
        return None
    return int(value)


class FollowedChanges:
    """One open stream's view of its user's shared reader: what it has not sent yet."""

    def __init__(self, after: int) -> None:
        self.sent = after
        self._pending: list[tuple[int, asyncpg.Record]] = []
        self._ready = asyncio.Event()

    def offer(self, after: int, changes: list[tuple[int, asyncpg.Record]]) -> None:
        """Changes read after `after`: taken only if that read covers everything this stream lacks
        (a stream that joined behind a read in progress waits for the next read, from its own place)."""
        if after > self.sent:
            return
        fresh = [(seq, row) for seq, row in changes if seq > self.sent]
        if fresh:
            self._pending.extend(fresh)
            self.sent = fresh[-1][0]
            self._ready.set()

    def refresh(self, rows: list[asyncpg.Record]) -> None:
        """Assets whose shown figures moved without a change of their own (their queue moved):
        sent again under the stream's current id, which still means "every change up to here"."""
        if rows:
            self._pending.extend((self.sent, row) for row in rows)
            self._ready.set()

    def wake(self) -> None:
        self._ready.set()

    async def next(self, keepalive_seconds: float) -> list[tuple[int, asyncpg.Record]]:
        """The changes to send, in order, or [] after `keepalive_seconds` with none (time for a keep-alive)."""
        if not self._pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), timeout=keepalive_seconds)
        self._ready.clear()
        batch, self._pending = self._pending, []
        return batch


class _UserFeed:
    """A user's open streams in this process and their one reader."""

    def __init__(self, feed: "ChangeFeed", user_id: str) -> None:
        self._feed = feed
        self._user_id = user_id
        self.streams: set[FollowedChanges] = set()
        self._dirty = False
        self._reader: asyncio.Task[None] | None = None
        self._refresher: asyncio.Task[None] | None = None

    def changed(self) -> None:
        self._dirty = True
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read(), name=f"feed-{self._user_id}")

    async def _read(self) -> None:
        while self._dirty and self.streams:
            self._dirty = False
            after = min(stream.sent for stream in self.streams)
            try:
                while True:
                    changes = await self._feed.changes_after(self._user_id, after, CHANGES_BATCH)
                    for stream in list(self.streams):
                        stream.offer(after, changes)
                    if len(changes) < CHANGES_BATCH:
                        break
                    after = changes[-1][0]
            except Exception as exc:  # the database is away: the streams look again on the next change
                log.warning("feed_read_failed", user_id=self._user_id, error=repr(exc))
                await asyncio.sleep(1.0)
                self._dirty = True

    def queue_moved(self) -> None:
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.create_task(self._refresh(), name=f"feed-queue-{self._user_id}")

    async def _refresh(self) -> None:
        try:
            rows = await self._feed.waiting(self._user_id)
        except Exception as exc:
            log.warning("feed_queue_refresh_failed", user_id=self._user_id, error=repr(exc))
            return
        for stream in list(self.streams):
            stream.refresh(rows)

    async def close(self) -> None:
        if self._refresher is not None and not self._refresher.done():
            self._refresher.cancel()
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


class ChangeFeed:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._users: dict[str, _UserFeed] = {}
        self._listener: Listener | None = None

    async def start(self) -> None:
        self._listener = await listen(self._db, CHANGES_CHANNEL, self._on_notify)

    async def stop(self) -> None:
        for user in list(self._users.values()):
            for stream in user.streams:
                stream.wake()
            await user.close()
        if self._listener is not None:
            await self._listener.close()
            self._listener = None

    def _on_notify(self, payload: str | None) -> None:
        if payload == QUEUE_MOVED:  # at most once a second (the generator's report): one read per user
            for user in self._users.values():
                user.queue_moved()
        elif payload is None:  # (re)connected: a change may have gone unheard, so every user's feed looks
            for user in self._users.values():
                user.changed()
        elif (followed := self._users.get(payload.partition(":")[2])) is not None:
            followed.changed()

    @contextlib.asynccontextmanager
    async def follow(self, user_id: str, after: int) -> AsyncIterator[FollowedChanges]:
        """The user's changes after `after`, shared with their other streams in this process; the
        first read (a resume's backlog) happens at once."""
        stream = FollowedChanges(after)
        user = self._users.get(user_id)
        if user is None:
            user = self._users[user_id] = _UserFeed(self, user_id)
        user.streams.add(stream)
        user.changed()
        try:
            yield stream
        finally:
            user.streams.discard(stream)
            if not user.streams and self._users.get(user_id) is user:
                del self._users[user_id]
                await user.close()

    async def waiting(self, user_id: str) -> list[asyncpg.Record]:
        """The user's assets waiting in a provider's queue, with their figures (None-free)."""
        rows: list[asyncpg.Record] = await self._db.pool.fetch(
            f"SELECT {ASSET_COLUMNS}, {QUEUE_FIGURES} FROM gateway.media_assets WHERE user_id = $1"
            " AND status = 'processing' AND provider_task_id IS NULL AND queue_ticket IS NOT NULL",
            user_id,
        )
        return [row for row in rows if row["queue"] is not None]

    async def latest_seq(self, user_id: str) -> int:
        """The number of the user's latest committed change (0 before the first)."""
        value = await self._db.pool.fetchval(
            "SELECT COALESCE((SELECT seq FROM gateway.user_feeds WHERE user_id = $1), 0)", user_id
        )
        return int(value)

    async def resume_point(self, user_id: str, last_event_id: str | None) -> int:
        """Where a stream starts: after the client's Last-Event-ID when it is one of ours.

        Anything else (absent, not plain ASCII digits, or beyond the user's latest change, as
        after a restore) is treated as absent: the stream starts at the latest change.
        """
        latest = await self.latest_seq(user_id)
        seen = parse_event_id(last_event_id)
        return latest if seen is None or seen > latest else seen

    async def changes_after(
        self, user_id: str, seq: int, limit: int = CHANGES_BATCH
    ) -> list[tuple[int, asyncpg.Record]]:
        """The assets changed after `seq`, each once, at its latest change, in order."""
        columns = ", ".join(f"a.{column.strip()}" for column in ASSET_COLUMNS.split(","))
        rows = await self._db.pool.fetch(
            f"SELECT latest.seq, {columns}, {queue_figures('a')} FROM ("
            "  SELECT asset_id, max(seq) AS seq FROM gateway.asset_changes"
            "  WHERE user_id = $1 AND seq > $2 GROUP BY asset_id ORDER BY max(seq) LIMIT $3"
            ") latest JOIN gateway.media_assets a ON a.id = latest.asset_id ORDER BY latest.seq",
            user_id,
            seq,
            limit,
        )
        return [(row["seq"], row) for row in rows]
