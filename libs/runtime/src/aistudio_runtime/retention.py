"""Each service deletes the rows that only record its past, once they are older than it keeps.

A service names its tables with `ServiceRuntime.prune(table, by=timestamp column, where=...)`;
the runtime adds the inbox. Deletes go in small batches so a first run over months of rows does
not hold long locks or one huge transaction; a failure is logged and tried again next time.
"""

import asyncio
import contextlib
import re
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from .logging import get_logger

log = get_logger(__name__)

BATCH_ROWS = 1000
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Retention:
    """Rows of `table` (in the service's schema) whose `by` is older than the retention period and
    that match `where` (SQL over the table's columns, written by the service, never by a user)."""

    table: str
    by: str
    where: str = "TRUE"

    def __post_init__(self) -> None:
        for name in (self.table, self.by):
            if not _IDENTIFIER.match(name):
                raise ValueError(f"not a plain column or table name: {name!r}")

    def delete_batch_sql(self, schema: str) -> str:
        # ctid, not the key: every table has one. A row updated meanwhile has a new ctid and is
        # left for the next run instead of being deleted on a stale look.
        return (
            f"DELETE FROM {schema}.{self.table} WHERE ctid = ANY(ARRAY("
            f"SELECT ctid FROM {schema}.{self.table}"
            f" WHERE {self.by} < now() - $1::interval AND ({self.where}) LIMIT $2))"
        )


INBOX = Retention("processed_events", by="processed_at")


class Pruner:
    def __init__(
        self,
        pool: asyncpg.Pool,
        schema: str,
        rules: list[Retention],
        *,
        keep: timedelta,
        interval_seconds: float,
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        self._pool = pool
        self._schema = schema
        self._rules = rules
        self._keep = keep
        self._interval = interval_seconds
        self._batch_rows = batch_rows
        self._task: asyncio.Task[None] | None = None

    async def prune_once(self) -> dict[str, int]:
        """Delete what is due in every table; how many rows each lost. One table's failure does not
        spare the others."""
        deleted: dict[str, int] = {}
        for rule in self._rules:
            try:
                deleted[rule.table] = await self._prune(rule)
            except Exception as exc:
                log.warning("retention_prune_failed", schema=self._schema, table=rule.table, error=repr(exc))
        if any(deleted.values()):
            log.info("retention_pruned", schema=self._schema, deleted=deleted)
        return deleted

    async def _prune(self, rule: Retention) -> int:
        sql = rule.delete_batch_sql(self._schema)
        total = 0
        while True:
            status = await self._pool.execute(sql, self._keep, self._batch_rows)
            count = int(status.split()[-1])
            total += count
            if count < self._batch_rows:
                return total
            await asyncio.sleep(0)  # let handlers have the pool between batches

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"retention-{self._schema}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await self.prune_once()
            await asyncio.sleep(self._interval)
