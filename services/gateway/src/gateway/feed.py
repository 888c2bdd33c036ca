"""Live asset changes for server-sent events.

One LISTEN connection per gateway process hears every change (NOTIFY from the catalog, payload
"seq:user_id") and wakes that user's open streams; each stream then reads the changes after the
last one it sent from `asset_changes`, so a stream resumes exactly where a client left off
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
"""

import asyncio
import contextlib
from collections import defaultdict
from typing import Any

import asyncpg

from aistudio_runtime import Database, get_logger
from aistudio_runtime.db import Listener, listen

from .catalog import ASSET_COLUMNS, CHANGES_CHANNEL, queue_figures

log = get_logger(__name__)

CHANGES_BATCH = 200


def parse_event_id(value: str | None) -> int | None:
    """An SSE id we issued, or None: `isdigit()` alone accepts "²" and other digits int() refuses."""
    if not value or not (value.isascii() and value.isdigit()):
        return None
    return int(value)


class ChangeFeed:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._listeners: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._listener: Listener | None = None

    async def start(self) -> None:
        self._listener = await listen(self._db, CHANGES_CHANNEL, self._on_notify)

    async def stop(self) -> None:
        for events in self._listeners.values():
            for event in events:
                event.set()
        if self._listener is not None:
            await self._listener.close()
            self._listener = None

    def _on_notify(self, payload: str | None) -> None:
        if payload is None:  # (re)connected: a change may have gone unheard, so every stream looks
            woken = [event for events in self._listeners.values() for event in events]
        else:
            woken = list(self._listeners.get(payload.partition(":")[2], ()))
        for event in woken:
            event.set()

    @contextlib.contextmanager
    def subscription(self, user_id: str) -> Any:
        wake = asyncio.Event()
        self._listeners[user_id].add(wake)
        try:
            yield wake
        finally:
            self._listeners[user_id].discard(wake)
            if not self._listeners[user_id]:
                del self._listeners[user_id]

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
