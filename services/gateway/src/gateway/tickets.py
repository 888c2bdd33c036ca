"""Short-lived single-use stream tickets: `?ticket=` opens one event stream, so no token is in a URL.

Kept in Postgres (as a hash) so that a ticket issued by one gateway replica is redeemed by any other.
"""

import hashlib
import secrets
from datetime import datetime

from aistudio_runtime import Database

from .auth import Principal


def _digest(ticket: str) -> bytes:
    return hashlib.sha256(ticket.encode()).digest()


class StreamTickets:
    def __init__(self, db: Database, ttl_seconds: float) -> None:
        self._db = db
        self._ttl = ttl_seconds

    async def issue(self, user: Principal) -> tuple[str, datetime]:
        ticket = secrets.token_urlsafe(32)
        async with self._db.pool.acquire() as conn, conn.transaction():
            # Expired tickets are worthless: each issue clears them, so the table stays small.
            await conn.execute("DELETE FROM gateway.stream_tickets WHERE expires_at < now()")
            expires_at: datetime = await conn.fetchval(
                "INSERT INTO gateway.stream_tickets (ticket_hash, user_id, role, expires_at)"
                " VALUES ($1, $2, $3, now() + make_interval(secs => $4)) RETURNING expires_at",
                _digest(ticket),
                user.user_id,
                user.role,
                self._ttl,
            )
        return ticket, expires_at

    async def redeem(self, ticket: str) -> Principal | None:
        """The ticket's user, once: the row is deleted by the same statement that reads it."""
        row = await self._db.pool.fetchrow(
            "DELETE FROM gateway.stream_tickets WHERE ticket_hash = $1"
            " RETURNING user_id, role, expires_at > now() AS valid",
            _digest(ticket),
        )
        if row is None or not row["valid"]:
            return None
        return Principal(user_id=row["user_id"], role=row["role"])
