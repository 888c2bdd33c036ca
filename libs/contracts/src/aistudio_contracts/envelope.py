"""The envelope every event carries."""

from datetime import UTC, datetime
from typing import ClassVar, Self
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


def utcnow() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """Base of every event: immutable, versioned, identified.

    `event_id` is sent as `Nats-Msg-Id`, so a republished event is dropped by the stream's
    duplicate window and recognised by every idempotent consumer. `correlation_id` ties
    together all events of one generation (it is the media asset's id). Events evolve by
    adding optional fields; unknown fields are ignored so that older consumers keep working.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    subject: ClassVar[str]

    event_id: UUID = Field(default_factory=uuid4)
    occurred_at: AwareDatetime = Field(default_factory=utcnow)
    correlation_id: UUID
    schema_version: int = 1

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> Self:
        return cls.model_validate_json(data)


class Message(BaseModel):
    """Base of request/reply messages (core NATS, not persisted); requests know their subject."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    subject: ClassVar[str]

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()
