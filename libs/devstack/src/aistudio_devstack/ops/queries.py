"""The operator's other questions: what is stuck, how far behind each consumer is, a user's quota,
and publishing outbox rows again."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from aistudio_contracts.subjects import DEAD_LETTER_STREAM, EVENTS_STREAM

from .timeline import SCHEMAS

# An unpublished outbox row older than this means its relay is not running.
OUTBOX_STUCK_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Stuck:
    service: str
    asset_id: UUID | None
    state: str
    since: datetime | None
    why: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "asset_id": str(self.asset_id) if self.asset_id else None,
            "state": self.state,
            "since": self.since.isoformat() if self.since else None,
            "why": self.why,
        }


# Each: (service, the SQL selecting asset_id, state, since, why) for work past its expected time.
# The deadline is the job's one deadline (stamped by the gateway); before it nothing is late.
_STUCK_QUERIES = (
    (
        "gateway",
        "SELECT id AS asset_id, status AS state, deadline_at AS since, 'processing past its deadline' AS why"
        " FROM gateway.media_assets WHERE status = 'processing' AND deadline_at < now()",
    ),
    (
        "generator",
        "SELECT asset_id, state, deadline_at AS since, 'open past its deadline' AS why FROM generator.jobs"
        " WHERE state IN ('waiting', 'claimed', 'submitting', 'in_doubt') AND deadline_at < now()",
    ),
    (
        "generator",
        "SELECT asset_id, state, lease_until AS since, 'lease expired, no worker took it back' AS why"
        " FROM generator.jobs WHERE state IN ('claimed', 'submitting') AND lease_until < now() - interval '1 minute'",
    ),
    (
        "poller",
        "SELECT asset_id, state, deadline_at AS since, 'pending past its deadline' AS why FROM poller.tasks"
        " WHERE state = 'pending' AND deadline_at < now()",
    ),
    (
        "poller",
        "SELECT asset_id, state, next_check_at AS since, 'check overdue by more than a minute' AS why"
        " FROM poller.tasks WHERE state = 'pending' AND next_check_at < now() - interval '1 minute'"
        " AND (checking_until IS NULL OR checking_until < now())",
    ),
    (
        "usage",
        "SELECT request_id AS asset_id, state, deadline_at AS since, 'unit still reserved past the deadline' AS why"
        " FROM usage.reservations WHERE state = 'reserved' AND deadline_at < now()",
    ),
    (
        "captioner",
        "SELECT asset_id, status AS state, updated_at AS since, 'caption pending for over ten minutes' AS why"
        " FROM captioner.captions WHERE status = 'pending' AND updated_at < now() - interval '10 minutes'",
    ),
)


async def stuck(conn: asyncpg.Connection) -> list[Stuck]:
    found: list[Stuck] = []
    for service, sql in _STUCK_QUERIES:
        try:
            rows = await conn.fetch(sql + " ORDER BY 3 LIMIT 500")
        except asyncpg.UndefinedTableError:
            continue
        found += [Stuck(service, row["asset_id"], row["state"], row["since"], row["why"]) for row in rows]
    for schema in SCHEMAS:
        try:
            row = await conn.fetchrow(
                f"SELECT count(*) AS n, min(created_at) AS since FROM {schema}.outbox"
                " WHERE published_at IS NULL AND created_at < now() - make_interval(secs => $1)",
                OUTBOX_STUCK_SECONDS,
            )
        except asyncpg.UndefinedTableError:
            continue
        if row and row["n"]:
            found.append(Stuck(schema, None, "outbox", row["since"], f"{row['n']} events unpublished (relay down?)"))
    return found


async def consumers(js: JetStreamContext) -> list[dict[str, Any]]:
    """Every durable of the events and dead-letter streams: how many messages wait for it (pending),
    how many it holds unacknowledged, and how many were redelivered."""
    found: list[dict[str, Any]] = []
    for stream in (EVENTS_STREAM.name, DEAD_LETTER_STREAM.name):
        try:
            info = await js.stream_info(stream)
            listed = await js.consumers_info(stream)
        except NotFoundError:
            continue
        for consumer in listed:
            pending, unacked = consumer.num_pending or 0, consumer.num_ack_pending or 0
            found.append(
                {
                    "stream": stream,
                    "durable": consumer.name,
                    # Lag: messages of its subjects it has not finished with, delivered or not.
                    "lag": pending + unacked,
                    "pending": pending,
                    "ack_pending": unacked,
                    "redelivered": consumer.num_redelivered or 0,
                    "stream_messages": info.state.messages,
                }
            )
    return sorted(found, key=lambda row: (row["stream"], row["durable"]))


async def usage(conn: asyncpg.Connection, user_id: str) -> dict[str, Any]:
    account = await conn.fetchrow(
        "SELECT plan, updated_at, plan_effective_at FROM usage.accounts WHERE user_id = $1", user_id
    )
    months = await conn.fetch(
        "SELECT period_start, used, reserved FROM usage.monthly_usage WHERE user_id = $1 ORDER BY period_start DESC",
        user_id,
    )
    reservations = await conn.fetch(
        "SELECT request_id, state, created_at, settled_at, deadline_at FROM usage.reservations"
        " WHERE user_id = $1 ORDER BY created_at DESC LIMIT 20",
        user_id,
    )
    return {
        "user_id": user_id,
        "plan": account["plan"] if account else "free",
        "months": [
            {"period": str(row["period_start"]), "used": row["used"], "reserved": row["reserved"]} for row in months
        ],
        "recent_reservations": [
            {
                "asset_id": str(row["request_id"]),
                "state": row["state"],
                "created_at": row["created_at"].isoformat(),
                "settled_at": row["settled_at"].isoformat() if row["settled_at"] else None,
            }
            for row in reservations
        ],
    }


async def replay_outbox(
    conn: asyncpg.Connection, js: JetStreamContext, *, schema: str | None, asset_id: UUID | None, published: bool
) -> list[dict[str, Any]]:
    """Publish outbox rows to JetStream (PubAck awaited, `Nats-Msg-Id` = the event id) and mark them
    published: by default every unpublished row of every schema, what a relay that is down would
    send; `--asset` and `--published` send one asset's events again, which the stream's duplicate
    window and the idempotent consumers make harmless."""
    sent: list[dict[str, Any]] = []
    for name in (schema,) if schema else SCHEMAS:
        conditions = ["TRUE" if published else "published_at IS NULL"]
        args: list[Any] = []
        if asset_id is not None:
            args.append(str(asset_id))
            conditions.append(f"convert_from(payload, 'UTF8')::jsonb ->> 'correlation_id' = ${len(args)}")
        try:
            rows = await conn.fetch(
                f"SELECT id, event_id, subject, payload FROM {name}.outbox"
                f" WHERE {' AND '.join(conditions)} ORDER BY id",
                *args,
            )
        except asyncpg.UndefinedTableError:
            continue
        for row in rows:
            await js.publish(
                row["subject"],
                bytes(row["payload"]),
                timeout=5.0,
                stream=EVENTS_STREAM.name,
                headers={"Nats-Msg-Id": str(row["event_id"]), "content-type": "application/json"},
            )
            await conn.execute(
                f"UPDATE {name}.outbox SET published_at = COALESCE(published_at, now()) WHERE id = $1", row["id"]
            )
            sent.append({"schema": name, "event_id": str(row["event_id"]), "subject": row["subject"]})
    return sent


# Every paid call in both ledgers, with what it bought: wasted (paid and known to deliver nothing, or
# the user cancelled), delivered (the asset is ready), failed (it ended in error), or pending.
COSTS_SQL = """
WITH calls AS (
    SELECT asset_id, user_id, provider, model, units, unit, usd, wasted, why, estimated, at
    FROM generator.provider_costs
    UNION ALL
    SELECT asset_id, user_id, provider, model, units, unit, usd, wasted, why, estimated, at
    FROM captioner.provider_costs
)
SELECT calls.*, CASE
        WHEN calls.wasted OR a.status = 'cancelled' THEN 'wasted'
        WHEN a.status = 'ready' THEN 'delivered'
        WHEN a.status = 'error' THEN 'failed'
        ELSE 'pending' END AS outcome
FROM calls LEFT JOIN gateway.media_assets a ON a.id = calls.asset_id
WHERE ($1::uuid IS NULL OR calls.asset_id = $1) AND ($2::text IS NULL OR calls.user_id = $2)
ORDER BY calls.at
"""


async def costs(conn: asyncpg.Connection, *, asset_id: UUID | None, user_id: str | None) -> dict[str, Any]:
    """The cost ledger: each paid call with its outcome, and the totals by provider and outcome."""
    rows = await conn.fetch(COSTS_SQL, asset_id, user_id)
    calls = [
        {
            "at": row["at"].isoformat(),
            "asset_id": str(row["asset_id"]),
            "user_id": row["user_id"],
            "provider": row["provider"],
            "model": row["model"],
            "units": float(row["units"]),
            "unit": row["unit"],
            "usd": float(row["usd"]),
            "outcome": row["outcome"],
            "why": row["why"],
            # Units the provider never reported (a Gemini answer lost in transit): our estimate.
            "estimated": row["estimated"],
        }
        for row in rows
    ]
    totals: dict[tuple[str, str], dict[str, Any]] = {}
    for call in calls:
        total = totals.setdefault(
            (call["provider"], call["outcome"]),
            {"provider": call["provider"], "outcome": call["outcome"], "calls": 0, "units": 0.0, "usd": 0.0},
        )
        total["calls"] += 1
        total["units"] += call["units"]
        total["usd"] = round(total["usd"] + call["usd"], 6)
    return {"calls": calls, "totals": sorted(totals.values(), key=lambda t: (t["provider"], t["outcome"]))}
