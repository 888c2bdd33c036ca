"""One asset's whole story, from every service's own tables, in time order.

Each service keeps its part: the gateway the request, the outcome and the caption it shows; the
generator the claim, the submissions and the waste; the poller the task, its checks and callbacks;
usage the quota; the captioner the caption; each outbox the events it wrote (correlation id = the
asset id). A table that is missing (a service never migrated here) is skipped, not an error.
"""

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from aistudio_contracts.subjects import EVENTS_PREFIX

SCHEMAS = ("gateway", "generator", "poller", "usage", "captioner", "publisher")


@dataclass(frozen=True, slots=True)
class Entry:
    at: datetime | None
    service: str
    what: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat() if self.at else None,
            "service": self.service,
            "what": self.what,
            "detail": self.detail,
        }


Source = Callable[[asyncpg.Connection, UUID], Awaitable[list[Entry]]]


def _detail(**fields: Any) -> str:
    return " ".join(f"{name}={value}" for name, value in fields.items() if value not in (None, "", [], {}))


async def _gateway(conn: asyncpg.Connection, asset_id: UUID) -> list[Entry]:
    row = await conn.fetchrow("SELECT * FROM gateway.media_assets WHERE id = $1", asset_id)
    if row is None:
        return []
    entries = [
        Entry(
            row["created_at"],
            "gateway",
            "requested",
            _detail(
                user=row["user_id"],
                provider=row["requested_provider"],
                type=row["type"],
                deadline=row["deadline_at"],
                prompt=repr(row["prompt"][:60]),
            ),
        )
    ]
    if row["status"] != "processing":
        entries.append(
            Entry(
                row["completed_at"] or row["updated_at"],
                "gateway",
                f"settled {row['status']}",
                _detail(
                    provider=row["provider"],
                    task=row["provider_task_id"],
                    charged=row["charged"],
                    late=row["delivered_late"] or None,
                    error=row["error_code"],
                    message=row["error_message"],
                ),
            )
        )
    if row["caption_status"] in ("ready", "failed"):
        entries.append(Entry(row["caption_at"] or row["updated_at"], "gateway", f"caption {row['caption_status']}", ""))
    changes = await conn.fetch(
        "SELECT seq, changed_at FROM gateway.asset_changes WHERE asset_id = $1 ORDER BY seq", asset_id
    )
    entries += [Entry(change["changed_at"], "gateway", "change", _detail(seq=change["seq"])) for change in changes]
    return entries


async def _generator(conn: asyncpg.Connection, asset_id: UUID) -> list[Entry]:
    row = await conn.fetchrow("SELECT * FROM generator.jobs WHERE asset_id = $1", asset_id)
    if row is None:
        return []
    entries = [Entry(row["claimed_at"], "generator", "job claimed", _detail(provider=row["provider"]))]
    if row["submit_started_at"]:
        entries.append(
            Entry(
                row["submit_started_at"],
                "generator",
                "submission started",
                _detail(
                    provider=row["provider"],
                    attempts=row["attempts"],
                    gemini_calls=row["gemini_calls"] or None,
                ),
            )
        )
    if row["in_doubt_since"]:
        entries.append(Entry(row["in_doubt_since"], "generator", "in doubt", ""))
    wasted = row["wasted"]
    wasted = json.loads(wasted) if isinstance(wasted, str) else wasted
    entries.append(
        Entry(
            row["finished_at"],
            "generator",
            f"job {row['state']}",
            _detail(
                task=row["task_id"],
                reason=row["failure_reason"],
                attempts=row["attempts"],
                wasted=json.dumps(wasted) if wasted else None,
            ),
        )
    )
    return entries


async def _poller(conn: asyncpg.Connection, asset_id: UUID) -> list[Entry]:
    entries = []
    row = await conn.fetchrow("SELECT * FROM poller.tasks WHERE asset_id = $1", asset_id)
    if row is not None:
        entries.append(
            Entry(
                row["created_at"], "poller", "task tracked", _detail(task=row["task_id"], deadline=row["deadline_at"])
            )
        )
        if row["result_found_at"]:
            entries.append(Entry(row["result_found_at"], "poller", "result found", ""))
        if row["state"] == "done":
            entries.append(
                Entry(
                    row["finished_at"],
                    "poller",
                    f"task {row['outcome']}",
                    _detail(checks=row["checks"], last_error=row["last_error"]),
                )
            )
        else:
            entries.append(
                Entry(
                    row["next_check_at"],
                    "poller",
                    "next check",
                    _detail(checks=row["checks"], last_error=row["last_error"]),
                )
            )
    early = await conn.fetchrow("SELECT * FROM poller.early_callbacks WHERE asset_id = $1", asset_id)
    if early is not None:
        entries.append(Entry(early["received_at"], "poller", "callback before task", _detail(task=early["task_id"])))
    return entries


async def _usage(conn: asyncpg.Connection, asset_id: UUID) -> list[Entry]:
    row = await conn.fetchrow("SELECT * FROM usage.reservations WHERE request_id = $1", asset_id)
    if row is None:
        return []
    entries = [Entry(row["created_at"], "usage", "unit reserved", _detail(period=row["period_start"]))]
    if row["state"] != "reserved":
        entries.append(Entry(row["settled_at"], "usage", f"unit {row['state']}", ""))
    return entries


async def _captioner(conn: asyncpg.Connection, asset_id: UUID) -> list[Entry]:
    row = await conn.fetchrow("SELECT * FROM captioner.captions WHERE asset_id = $1", asset_id)
    if row is None:
        return []
    return [
        Entry(row["created_at"], "captioner", f"caption {row['source']}", ""),
        Entry(
            row["updated_at"],
            "captioner",
            f"caption {row['status']}",
            _detail(
                attempts=row["attempts"],
                model=row["model"],
                error=row["last_error"],
            ),
        ),
    ]


async def _outboxes(conn: asyncpg.Connection, asset_id: UUID) -> list[Entry]:
    entries = []
    for schema in SCHEMAS:
        try:
            rows = await conn.fetch(
                f"SELECT subject, created_at, published_at FROM {schema}.outbox"
                " WHERE convert_from(payload, 'UTF8')::jsonb ->> 'correlation_id' = $1 ORDER BY id",
                str(asset_id),
            )
        except asyncpg.UndefinedTableError:
            continue
        for row in rows:
            state = f"published {row['published_at'].isoformat()}" if row["published_at"] else "NOT PUBLISHED"
            entries.append(
                Entry(row["created_at"], schema, f"event {row['subject'].removeprefix(EVENTS_PREFIX + '.')}", state)
            )
    return entries


SOURCES: tuple[Source, ...] = (_gateway, _generator, _poller, _usage, _captioner, _outboxes)


async def asset_timeline(conn: asyncpg.Connection, asset_id: UUID) -> list[Entry]:
    entries: list[Entry] = []
    for source in SOURCES:
        try:
            entries += await source(conn, asset_id)
        except asyncpg.UndefinedTableError:
            continue
    return sorted(entries, key=lambda entry: (entry.at is None, entry.at.timestamp() if entry.at else 0.0))
