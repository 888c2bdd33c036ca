"""Every event of the generation lifecycle.

Past-tense names; each class knows its subject. A breaking change is a new class (and subject
version) published alongside the old one; adding an optional field is not breaking.
"""

from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from . import subjects
from .catalog import FailureReason, MediaType, Plan, Provider
from .costs import COST_EVENTS
from .envelope import Event
from .posts import POST_EVENTS
from .queue import QUEUE_EVENTS


class StoredMedia(BaseModel):
    """A result copied into our own storage; the provider's URL is kept only as its origin."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    storage_key: str
    content_type: str
    size_bytes: int = Field(ge=0)
    sha256: str
    origin_url: str | None = None


class GenerationRequested(Event):
    subject: ClassVar[str] = subjects.GENERATION_REQUESTED

    asset_id: UUID
    user_id: str
    provider: Provider
    media_type: MediaType
    prompt: str
    aspect_ratio: str
    reference_image_url: str | None = None
    # The job's one deadline, stamped by the gateway at acceptance; every service uses it. Absent
    # only in events from before it existed: see `deadline_of`.
    deadline_at: AwareDatetime | None = None
    # The user's plan when the request was accepted (from the quota reservation's reply): the
    # generator picks the provider's model by it. Absent in older events: the free plan's model.
    plan: Plan | None = None
    # The style preset already composed into `prompt` (the catalog keeps the user's own words).
    style: str | None = None
    # The variants requested together share a batch id.
    batch_id: UUID | None = None
    # Set on the one request of a batch made as a single paid task (4o Image's nVariants): every
    # asset of the batch in order, this one first; result i of the task belongs to asset i. The
    # other assets have no request of their own.
    variant_asset_ids: list[UUID] | None = None
    # An edit of one of the user's ready images: the asset it starts from. `reference_image_url` is
    # then our own signed link to that image (what KIE fetches: Flux `inputImage`, 4o `filesUrl`).
    parent_asset_id: UUID | None = None
    # The parent image's key in our media store: a generator sends it to Gemini inline from the store
    # rather than fetching our own public link back.
    input_image_key: str | None = None


class TaskStarted(Event):
    """A provider accepted a paid, asynchronous task for the asset."""

    subject: ClassVar[str] = subjects.TASK_STARTED

    asset_id: UUID
    user_id: str
    provider: Provider
    media_type: MediaType
    task_id: str
    prompt: str
    # When the provider is asked to call back, the URL it was given (it carries a secret token).
    callback_url: str | None = None
    deadline_at: AwareDatetime | None = None
    # True when the task was recovered from the provider's callback after its submitter crashed.
    adopted: bool = False
    # The provider's model the task was asked of (e.g. veo3_fast or veo3), when the provider has several.
    model: str | None = None
    # One task making several variants: every asset it delivers to, in result order (see
    # GenerationRequested.variant_asset_ids); absent for a task of one asset.
    variant_asset_ids: list[UUID] | None = None


class GenerationCompleted(Event):
    subject: ClassVar[str] = subjects.GENERATION_COMPLETED

    asset_id: UUID
    user_id: str
    provider: Provider
    media_type: MediaType
    prompt: str
    media: StoredMedia
    task_id: str | None = None
    # Set when another provider made the media because the requested one refused the job.
    requested_provider: Provider | None = None
    # The provider's model that made the media (e.g. Gemini's), when known; a KIE task's model is
    # named already by its TaskStarted.
    model: str | None = None


class GenerationFailed(Event):
    subject: ClassVar[str] = subjects.GENERATION_FAILED

    asset_id: UUID
    user_id: str
    provider: Provider
    reason: FailureReason
    message: str
    task_id: str | None = None


class CaptionGenerated(Event):
    subject: ClassVar[str] = subjects.CAPTION_GENERATED

    asset_id: UUID
    user_id: str
    caption: str
    model: str | None = None


class CaptionFailed(Event):
    """Captioning gave up for now; the media itself is unaffected."""

    subject: ClassVar[str] = subjects.CAPTION_FAILED

    asset_id: UUID
    user_id: str
    message: str


class CaptionSettingsChanged(Event):
    """A user stored (or reset, with None) the system prompt their captions follow.

    `version` grows with every change of one user's settings, so a consumer keeping a copy
    applies an event only when it is newer than what it has (order-tolerant, idempotent).
    """

    subject: ClassVar[str] = subjects.CAPTION_SETTINGS_CHANGED

    user_id: str
    caption_system_prompt: str | None = None
    version: int = Field(ge=1)


class ProviderCallbackReceived(Event):
    """A provider called our callback URL; the body is a hint to check now, not a verdict."""

    subject: ClassVar[str] = subjects.PROVIDER_CALLBACK_RECEIVED

    asset_id: UUID
    provider: Provider
    task_id: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)


class SubscriptionChanged(Event):
    """Billing moved a user to another plan (published by a billing service)."""

    subject: ClassVar[str] = subjects.SUBSCRIPTION_CHANGED

    user_id: str
    plan: Plan
    # When billing decided the change; an older change arriving late never overwrites a newer
    # one. Absent: `occurred_at` stands for it.
    effective_at: AwareDatetime | None = None


class GenerationSettled(Event):
    """The catalog, the one authority on what the user sees, settled the asset's outcome.

    The user is charged if and only if `charged`: a ready asset is charged unless it became
    ready after the user had been told it failed (`late`); an asset in error never is. Usage
    commits or releases the unit from this event alone.
    """

    subject: ClassVar[str] = subjects.GENERATION_SETTLED

    asset_id: UUID
    user_id: str
    outcome: Literal["ready", "error", "cancelled"]
    charged: bool
    reason: FailureReason | None = None
    late: bool = False


class GenerationCancelled(Event):
    """The user cancelled a processing asset; the catalog settled it (uncharged) before this.

    The generator sends nothing more for the job (a job not yet sent is never sent), the poller
    stops following its task; a result that still arrives is not delivered and is recorded as
    waste. `provider` and `media_type` let a consumer that has not seen the request yet keep a
    tombstone, so the request that arrives after the cancel is never worked.
    """

    subject: ClassVar[str] = subjects.GENERATION_CANCELLED

    asset_id: UUID
    user_id: str
    provider: Provider
    media_type: MediaType
    task_id: str | None = None


class MessageDeadLettered(Event):
    """A consumer gave up on a message (too many deliveries, or unreadable); it was kept in the
    dead-letter stream under `dead_letter_subject`. `asset_id` is set when the message named one,
    so the job it belonged to can be ended and its unit released."""

    subject: ClassVar[str] = subjects.MESSAGE_DEAD_LETTERED

    durable: str
    original_subject: str
    dead_letter_subject: str
    attempts: int
    error: str
    asset_id: UUID | None = None
    user_id: str | None = None


def deadline_of(event: GenerationRequested | TaskStarted, timeout_seconds: float) -> datetime:
    """The job's deadline: its stamp, or (for events from before the stamp) occurred_at + timeout."""
    return event.deadline_at or event.occurred_at + timedelta(seconds=timeout_seconds)


ALL_EVENTS: tuple[type[Event], ...] = (
    GenerationRequested,
    TaskStarted,
    GenerationCompleted,
    GenerationFailed,
    CaptionGenerated,
    CaptionFailed,
    CaptionSettingsChanged,
    ProviderCallbackReceived,
    SubscriptionChanged,
    GenerationSettled,
    MessageDeadLettered,
    GenerationCancelled,
    *POST_EVENTS,
    *QUEUE_EVENTS,
    *COST_EVENTS,
)
