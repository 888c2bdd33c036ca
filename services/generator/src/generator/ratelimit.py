"""KIE's account-wide submit limit, shared by every generator replica through Postgres.

A sliding window: a submission may start when fewer than `limit` were in flight or answered
within the last `window + margin` seconds. KIE counts a request when it arrives, which is
somewhere between the moment we book the slot and the moment its answer comes back; so a slot
is booked right before the request leaves and, once answered, moved to the answer's time
(`settle`). The window then covers every instant KIE may have counted it, however late a busy
machine sent it. Bookings are serialised by a transaction-scoped advisory lock, so replicas
never overbook; work over the limit waits in the job table instead of drawing a 429.
"""

from dataclasses import dataclass

from aistudio_runtime import Database

from .metrics import KIE_LIMITER_WAIT

_LOCK_KEY = 0x4B49455F5355424D  # "KIE_SUBM"
_UNANSWERED_RECHECK_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class Booking:
    slot_id: int | None
    # Seconds until a slot frees up when none was booked (slot_id is None).
    wait_seconds: float

    @property
    def granted(self) -> bool:
        return self.slot_id is not None


class SubmitRateLimiter:
    def __init__(self, db: Database, *, limit: int, window_seconds: float, margin_seconds: float) -> None:
        self._db = db
        self._limit = limit
        self._window = window_seconds + margin_seconds

    async def book(self) -> Booking:
        """Book a slot for a request about to leave, or say how long until one frees up."""
        async with self._db.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            await conn.execute(
                "DELETE FROM generator.kie_submissions"
                " WHERE COALESCE(answered_at, at) < clock_timestamp() - make_interval(secs => $1)",
                self._window * 6,
            )
            # Unanswered bookings hold their slot however old they are (up to the cleanup above).
            # An unanswered booking is looked at again shortly: its answer usually comes within a second.
            wait = await conn.fetchval(
                "SELECT CASE WHEN answered_at IS NULL THEN $3 ELSE"
                "   EXTRACT(EPOCH FROM (answered_at + make_interval(secs => $1) - clock_timestamp()))::float8 END"
                " FROM generator.kie_submissions"
                " WHERE answered_at IS NULL OR answered_at > clock_timestamp() - make_interval(secs => $1)"
                " ORDER BY COALESCE(answered_at, 'infinity'::timestamptz) DESC OFFSET $2 - 1 LIMIT 1",
                self._window,
                self._limit,
                _UNANSWERED_RECHECK_SECONDS,
            )
            if wait is not None and wait > 0:
                KIE_LIMITER_WAIT.observe(float(wait))
                return Booking(None, float(wait))
            slot_id = await conn.fetchval("INSERT INTO generator.kie_submissions DEFAULT VALUES RETURNING id")
            KIE_LIMITER_WAIT.observe(0.0)
            return Booking(int(slot_id), 0.0)

    async def settle(self, slot_id: int) -> None:
        """The request was answered (or failed): KIE counted it no later than now."""
        await self._db.pool.execute(
            "UPDATE generator.kie_submissions SET answered_at = clock_timestamp() WHERE id = $1", slot_id
        )

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def cycle_seconds(self) -> float:
        """How long a slot stays taken at least: the window and the margin (plus its answer's time)."""
        return self._window

    async def next_free_in(self) -> float:
        """Seconds until a slot is free (0 when one is now): an estimate for queue figures."""
        wait = await self._db.pool.fetchval(
            "SELECT EXTRACT(EPOCH FROM (COALESCE(answered_at, clock_timestamp()) + make_interval(secs => $1)"
            "   - clock_timestamp()))::float8"
            " FROM generator.kie_submissions"
            " WHERE answered_at IS NULL OR answered_at > clock_timestamp() - make_interval(secs => $1)"
            " ORDER BY COALESCE(answered_at, 'infinity'::timestamptz) DESC OFFSET $2 - 1 LIMIT 1",
            self._window,
            self._limit,
        )
        return max(float(wait), 0.0) if wait is not None else 0.0

    async def free_slots(self) -> int:
        """How many submissions could start now (a hint for claiming; `book` decides)."""
        used = await self._db.pool.fetchval(
            "SELECT count(*) FROM generator.kie_submissions"
            " WHERE answered_at IS NULL OR answered_at > clock_timestamp() - make_interval(secs => $1)",
            self._window,
        )
        return max(self._limit - int(used), 0)
