"""Idempotent consumer: a handler's effect and the record that it ran commit together."""

from uuid import UUID

import asyncpg


async def first_delivery(conn: asyncpg.Connection, schema: str, consumer: str, event_id: UUID) -> bool:
    """Record (consumer, event) inside the caller's transaction; False when it was handled before."""
    inserted = await conn.fetchval(
        f"INSERT INTO {schema}.processed_events (consumer, event_id) VALUES ($1, $2)"
        " ON CONFLICT DO NOTHING RETURNING true",
        consumer,
        event_id,
    )
    return bool(inserted)
