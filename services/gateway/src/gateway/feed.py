"""Live asset changes for server-sent events.

One LISTEN connection per gateway process hears every change (NOTIFY from the catalog, payload
"seq:user_id") and wakes that user's open streams; each stream then reads the changes after the
last one it sent from `asset_changes`, so a stream resumes exactly where a client left off
(Last-Event-ID) and nothing is lost between a wake-up and the read.
"""

import asyncio
import contextlib
from collections import defaultdict
from typing import Any

import asyncpg

from aistudio_runtime import Database, get_logger

from .catalog import ASSET_COLUMNS, CHANGES_CHANNEL

log = get_logger(__name__)


class ChangeFeed:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._listeners: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._connection: asyncpg.Connection | None = None

    async def start(self) -> None:
        self._connection = await self._db.pool.acquire()
        await self._connection.add_listener(CHANGES_CHANNEL, self._on_notify)

    async def stop(self) -> None:
        for events in self._listeners.values():
            for event in events:
                event.set()
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.remove_listener(CHANGES_CHANNEL, self._on_notify)
                await self._db.pool.release(self._connection)
            self._connection = None

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        _, _, user_id = payload.partition(":")
        for event in self._listeners.get(user_id, ()):
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
        value = await self._db.pool.fetchval(
            "SELECT COALESCE(max(seq), 0) FROM gateway.asset_changes WHERE user_id = $1", user_id
        )
        return int(value)

    async def changes_after(self, user_id: str, seq: int, limit: int = 200) -> list[tuple[int, asyncpg.Record]]:
        """The assets changed after `seq`, each once, at its latest change, in order."""
        columns = ", ".join(f"a.{column.strip()}" for column in ASSET_COLUMNS.split(","))
        rows = await self._db.pool.fetch(
            f"SELECT latest.seq, {columns} FROM ("
            "  SELECT asset_id, max(seq) AS seq FROM gateway.asset_changes"
            "  WHERE user_id = $1 AND seq > $2 GROUP BY asset_id ORDER BY max(seq) LIMIT $3"
            ") latest JOIN gateway.media_assets a ON a.id = latest.asset_id ORDER BY latest.seq",
            user_id,
            seq,
            limit,
        )
        return [(row["seq"], row) for row in rows]
