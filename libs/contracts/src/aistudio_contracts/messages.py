"""Request/reply messages exchanged over core NATS (the gateway asks, a service answers)."""

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from pydantic import AwareDatetime, Field

from . import subjects
from .catalog import MediaType, Plan
from .envelope import Message
from .posts import POST_MESSAGES


class UsageSummary(Message):
    user_id: str
    plan: Plan
    limit: int | None = Field(description="Generations allowed this period; null means unlimited.")
    used: int
    reserved: int
    remaining: int | None
    period_start: datetime
    period_end: datetime


class ReserveQuota(Message):
    """Take one unit of quota for a generation; idempotent by request_id (the asset id)."""

    subject: ClassVar[str] = subjects.USAGE_RESERVE

    request_id: UUID
    user_id: str
    # The job's deadline: a reservation that sees no settlement by then (plus a grace) is released.
    deadline_at: datetime | None = None
    # Variants reserved together with request_id, all or none: one unit each, under one conditional
    # update, so a batch never takes part of what it needs. Absent: request_id alone.
    also_request_ids: list[UUID] | None = None


class QuotaReservation(Message):
    granted: bool
    usage: UsageSummary


class ReleaseQuota(Message):
    """Give back a reservation whose generation was never started (e.g. the asset could not be stored)."""

    subject: ClassVar[str] = subjects.USAGE_RELEASE

    request_id: UUID
    user_id: str


class GetUsage(Message):
    subject: ClassVar[str] = subjects.USAGE_SUMMARY

    user_id: str


class SetPlan(Message):
    subject: ClassVar[str] = subjects.USAGE_SET_PLAN

    user_id: str
    plan: Plan
    # When the change was decided; it orders plan changes, so that an older one arriving late
    # never overwrites a newer one. Absent: the moment usage receives it (an admin's "now").
    effective_at: AwareDatetime | None = None


class GenerateCaption(Message):
    """Write a caption for a finished asset now (the user asked for one); the reply carries it."""

    subject: ClassVar[str] = subjects.CAPTION_GENERATE

    asset_id: UUID
    user_id: str
    media_type: MediaType
    media_url: str
    prompt: str
    system_prompt: str | None = None
    # The media's key in our own store; when set, the captioner reads it there instead of fetching media_url.
    storage_key: str | None = None


class CaptionReply(Message):
    success: bool
    caption: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None


class ErrorReply(Message):
    """What a responder answers when it could not do what was asked."""

    error: str
    code: str = "error"


ALL_MESSAGES: tuple[type[Message], ...] = (
    UsageSummary,
    ReserveQuota,
    QuotaReservation,
    ReleaseQuota,
    GetUsage,
    SetPlan,
    GenerateCaption,
    CaptionReply,
    ErrorReply,
    *POST_MESSAGES,
)
