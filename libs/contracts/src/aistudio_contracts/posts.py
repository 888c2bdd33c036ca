"""Posting a ready asset to social networks through Late: the events and request/reply messages.

The gateway owns what the user sees (its posts catalog); the publisher owns the work with Late.
`correlation_id` is the post's id. Every event from the publisher carries the post's `version`,
which grows with each of its moves, so the gateway applies an event only when it is newer than
what it shows: Late may report `published` and later `failed` or `partial`, and events may
arrive out of order.
"""

from enum import StrEnum
from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from . import subjects
from .catalog import MediaType
from .envelope import Event, Message

PostStatus = Literal["scheduled", "publishing", "published", "partial", "failed", "cancelled"]
PlatformStatus = Literal["pending", "publishing", "published", "failed"]


class PostFailureReason(StrEnum):
    """Why a post (or one platform of it) failed; the user's message follows from it."""

    AUTH_EXPIRED = "auth_expired"
    PLATFORM_REJECTED = "platform_rejected"
    MEDIA_INVALID = "media_invalid"
    ACCOUNT_ISSUE = "account_issue"
    RATE_LIMITED = "rate_limited"
    PROVIDER_ERROR = "provider_error"
    UNKNOWN_OUTCOME = "unknown_outcome"
    INTERNAL_ERROR = "internal_error"


class PostTarget(BaseModel):
    """One account the post goes to, with what the gateway decided for its platform."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    account_id: str
    platform: str
    # Instagram: a 9:16 image goes as a story (no caption there).
    story: bool = False


class PostMedia(BaseModel):
    """The asset's bytes in our own store: the publisher uploads them to Late itself, so that a
    post scheduled days ahead never depends on a link of ours that expires."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    storage_key: str
    content_type: str
    media_type: MediaType
    aspect_ratio: str | None = None


class PlatformResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    account_id: str
    platform: str
    status: PlatformStatus
    url: str | None = None
    platform_post_id: str | None = None
    error: str | None = None
    reason: PostFailureReason | None = None


class PostRequested(Event):
    """The user asked to post a ready asset now (`scheduled_for` None) or at a time (UTC)."""

    subject: ClassVar[str] = subjects.POST_REQUESTED

    post_id: UUID
    user_id: str
    media_id: UUID
    caption: str
    targets: list[PostTarget] = Field(min_length=1)
    media: PostMedia
    scheduled_for: AwareDatetime | None = None


class PostScheduled(Event):
    """Late holds the post and will publish it at `scheduled_for`."""

    subject: ClassVar[str] = subjects.POST_SCHEDULED

    post_id: UUID
    user_id: str
    version: int = Field(ge=1)
    late_post_id: str
    scheduled_for: AwareDatetime | None = None
    platforms: list[PlatformResult] = Field(default_factory=list)


class PostPublished(Event):
    """Late published the post: on every platform (`published`) or on some (`partial`)."""

    subject: ClassVar[str] = subjects.POST_PUBLISHED

    post_id: UUID
    user_id: str
    version: int = Field(ge=1)
    late_post_id: str
    status: Literal["published", "partial"] = "published"
    platforms: list[PlatformResult] = Field(default_factory=list)


class PostFailed(Event):
    """The post was not published anywhere; `message` is for the user."""

    subject: ClassVar[str] = subjects.POST_FAILED

    post_id: UUID
    user_id: str
    version: int = Field(ge=1)
    reason: PostFailureReason
    message: str
    late_post_id: str | None = None
    platforms: list[PlatformResult] = Field(default_factory=list)


class PostCancelled(Event):
    """The user cancelled the post before it was published; Late will not publish it."""

    subject: ClassVar[str] = subjects.POST_CANCELLED

    post_id: UUID
    user_id: str
    version: int = Field(ge=1)
    late_post_id: str | None = None


class LateWebhookReceived(Event):
    """Late called our webhook (signature verified by the gateway). A hint to look at the post
    now, not a verdict: the publisher reads the post from Late before it moves anything.
    `event_id` is derived from the webhook's own id, so Late's redeliveries are one event."""

    subject: ClassVar[str] = subjects.LATE_WEBHOOK_RECEIVED

    webhook_id: str
    event: str
    late_post_id: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)


class SocialAccount(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    platform: str
    username: str | None = None
    display_name: str | None = None
    needs_reconnection: bool = False


class ListSocialAccounts(Message):
    subject: ClassVar[str] = subjects.PUBLISHER_ACCOUNTS

    user_id: str


class SocialAccounts(Message):
    accounts: list[SocialAccount] = Field(default_factory=list)


class CancelPost(Message):
    """Cancel a post that Late has not published; idempotent (a cancelled post answers cancelled)."""

    subject: ClassVar[str] = subjects.PUBLISHER_CANCEL

    post_id: UUID
    user_id: str


class PostCancelReply(Message):
    # cancelled: it will not be published · conflict: too late (publishing or published) ·
    # not_found: the publisher has no such post (yet) · unavailable: Late did not answer.
    outcome: Literal["cancelled", "conflict", "not_found", "unavailable"]
    status: PostStatus | None = None
    message: str | None = None


POST_EVENTS: tuple[type[Event], ...] = (
    PostRequested,
    PostScheduled,
    PostPublished,
    PostFailed,
    PostCancelled,
    LateWebhookReceived,
)
POST_MESSAGES: tuple[type[Message], ...] = (ListSocialAccounts, SocialAccounts, CancelPost, PostCancelReply)
