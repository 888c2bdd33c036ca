"""Where a job stands in front of a provider's limit: the generator owns the queue, the gateway shows it.

A job waiting for KIE's account limit is served in fair order (the generator's domain/fairness.py)
by its `ticket`, a number fixed when it joins. The generator tells each job's ticket once
(`QueueJoined`) and, at most once a second while the queue moves, where the queue stands
(`QueueAdvanced`): every ticket up to `served_through` has been sent. A waiting job's position
is then 1 + the waiting jobs with a smaller ticket, counted when it is read, so no change to the
queue costs more than one small event however long the queue is.
"""

from datetime import datetime, timedelta
from typing import ClassVar
from uuid import UUID, uuid5

from pydantic import AwareDatetime, Field

from . import subjects
from .catalog import Provider
from .envelope import Event

KIE_QUEUE = "kie"
_QUEUE_NAMESPACE = UUID("6f1c7f0e-3c55-4d0b-9a43-5b8f3f6c1e21")


def queue_correlation_id(queue: str) -> UUID:
    """A queue's events share one correlation id (they belong to no single asset)."""
    return uuid5(_QUEUE_NAMESPACE, queue)


class QueueJoined(Event):
    """A job began waiting for a provider's limit; smaller tickets are served first."""

    subject: ClassVar[str] = subjects.QUEUE_JOINED

    asset_id: UUID
    user_id: str
    provider: Provider
    queue: str = KIE_QUEUE
    ticket: float
    # How long the provider typically takes once a task started: the ready estimate adds it.
    typical_seconds: float | None = Field(default=None, ge=0)


class QueueAdvanced(Event):
    """Where a queue stands: tickets up to `served_through` were sent; the next slot frees at
    `next_slot_at`, and `slots_per_cycle` start every `cycle_seconds` after it."""

    subject: ClassVar[str] = subjects.QUEUE_ADVANCED

    queue: str = KIE_QUEUE
    served_through: float
    next_slot_at: AwareDatetime
    slots_per_cycle: int = Field(ge=1)
    cycle_seconds: float = Field(gt=0)


QUEUE_EVENTS: tuple[type[Event], ...] = (QueueJoined, QueueAdvanced)


def estimated_start(
    position: int, next_slot_at: datetime, slots_per_cycle: int, cycle_seconds: float, now: datetime
) -> datetime:
    """When the job at `position` (1-based) is expected to be sent: the first `slots_per_cycle`
    jobs at the next free slot, the next as many one cycle later, and so on."""
    cycles = (max(position, 1) - 1) // slots_per_cycle
    return max(next_slot_at, now) + timedelta(seconds=cycles * cycle_seconds)
