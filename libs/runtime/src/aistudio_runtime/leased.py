"""The one loop that works a table of leased rows: claim what is due, run each, keep the leases fresh.

The generator's jobs and the publisher's posts are worked the same way. Replicas share the table
through `FOR UPDATE SKIP LOCKED` in the service's own claim; a NOTIFY on the table's channel wakes
the loop when a row is taken in or made due, and the loop also looks again when the next row falls
due (at least once a second), so a lost notification only delays. A worker that dies lets its leases
run out, and `recover` (the service's rules) decides what each abandoned row becomes.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from .db import Database, Listener, listen
from .logging import get_logger

log = get_logger(__name__)

T = TypeVar("T")

# The longest the loop sleeps without a notification: what a lost NOTIFY costs at most.
MAX_IDLE_SECONDS = 1.0
ERROR_PAUSE_SECONDS = 1.0


@dataclass(frozen=True)
class LeasedTable(Generic[T]):
    """What the loop needs from the service; each is the service's own repository method."""

    # Claim up to `free` due rows under a fresh lease (the service's rules say what is due).
    claim: Callable[[int], Awaitable[list[T]]]
    # Seconds until the next row falls due (None: nothing waits).
    seconds_until_next_due: Callable[[], Awaitable[float | None]]
    # Extend the leases of the rows this replica is running.
    renew: Callable[[list[T]], Awaitable[None]]
    # Apply the rules to rows whose lease ran out: (sent back to waiting, made in doubt).
    recover_abandoned: Callable[[], Awaitable[tuple[int, int]]]
    # Run one claimed row; an exception is logged and the row's lease runs out.
    work: Callable[[T], Awaitable[None]]


class LeasedWorkLoop(Generic[T]):
    def __init__(
        self,
        name: str,
        db: Database,
        channel: str,
        table: LeasedTable[T],
        *,
        concurrency: int,
        lease_seconds: float,
        grace_seconds: float,
    ) -> None:
        self._name = name
        self._db = db
        self._channel = channel
        self._table = table
        self._concurrency = concurrency
        self._lease = lease_seconds
        self._grace = grace_seconds
        self._wakeup = asyncio.Event()
        self._running: dict[asyncio.Task[None], T] = {}
        self._loop: asyncio.Task[None] | None = None
        self._leases: asyncio.Task[None] | None = None
        self._listener: Listener | None = None
        self._stopping = False

    @property
    def running(self) -> list[T]:
        return list(self._running.values())

    def wake(self) -> None:
        self._wakeup.set()

    async def start(self) -> None:
        # Through the runtime's session connection when it has one (DATABASE_DIRECT_URL behind
        # pgbouncer), reconnecting by itself when the database comes back.
        self._listener = await listen(self._db, self._channel, lambda *_: self._wakeup.set())
        self._loop = asyncio.create_task(self._run(), name=f"{self._name}-loop")
        self._leases = asyncio.create_task(self._keep_leases(), name=f"{self._name}-leases")

    async def stop(self) -> None:
        """No new claims; the running rows get the grace to finish; their leases are kept meanwhile."""
        self._stopping = True
        self._wakeup.set()
        if self._loop is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        if self._running:
            await asyncio.wait(list(self._running), timeout=self._grace)
        if self._leases is not None:
            self._leases.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._leases
        if self._listener is not None:
            await self._listener.close()
            self._listener = None

    async def _run(self) -> None:
        while not self._stopping:
            try:
                self._wakeup.clear()
                free = self._concurrency - len(self._running)
                due = await self._table.claim(free) if free > 0 else []
                for item in due:
                    task = asyncio.create_task(self._work(item))
                    self._running[task] = item
                    task.add_done_callback(self._running.pop)
                if due and len(due) == free:
                    await asyncio.sleep(0)
                    continue
                until_next = await self._table.seconds_until_next_due()
                timeout = MAX_IDLE_SECONDS if until_next is None else min(max(until_next, 0.01), MAX_IDLE_SECONDS)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: try again shortly
                log.warning("work_loop_error", loop=self._name, error=repr(exc))
                await asyncio.sleep(ERROR_PAUSE_SECONDS)

    async def _work(self, item: T) -> None:
        try:
            await self._table.work(item)
        except Exception as exc:
            # Its lease runs out and the service's rules look at the row again; nothing is redone blindly.
            log.warning("work_failed", loop=self._name, error=repr(exc))

    async def _keep_leases(self) -> None:
        while True:
            await asyncio.sleep(self._lease / 3)
            try:
                await self._table.renew(self.running)
                unsent, doubtful = await self._table.recover_abandoned()
                if unsent or doubtful:
                    log.warning("abandoned_work_recovered", loop=self._name, unsent=unsent, in_doubt=doubtful)
                    self._wakeup.set()
            except Exception as exc:
                log.warning("lease_renewal_failed", loop=self._name, error=repr(exc))
