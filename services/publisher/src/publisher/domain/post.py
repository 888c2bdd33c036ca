"""A post's lifecycle in the publisher: what happens next, decided without I/O.

    waiting ──claim──▶ claimed ──start create──▶ creating ──Late answered──▶ following
       ▲                  │                          │                         │
       └──refused (429)───┘◀──────refused────────────┘                         ├──▶ published ──▶ failed / partial
                                                     └──answer lost──▶ in_doubt ├──▶ partial
    in_doubt ──found by metadata / same x-request-id──▶ following               └──▶ failed
    waiting, claimed, following (Late still holds it unpublished) ──cancel──▶ cancelled
    any open state ──definite failure──▶ failed

`claimed` means a worker holds the post and has provably sent no create: a worker that dies
there leaves a post that is simply created later. `creating` is committed before the create
leaves, so a worker that dies there leaves a post in doubt, which is resolved by asking Late
(the same `x-request-id`, or `metadata.postId`), never by a blind second create. Late may
report `published` and later `failed` or `partial`, so a published post can still move there.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from aistudio_contracts import PostFailureReason
from aistudio_providers import ErrorKind


class PostState(StrEnum):
    WAITING = "waiting"
    CLAIMED = "claimed"
    CREATING = "creating"
    IN_DOUBT = "in_doubt"
    FOLLOWING = "following"
    PUBLISHED = "published"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"


# A worker picks these up when due: to create (waiting), to resolve (in_doubt), to check (following).
CLAIMABLE = frozenset({PostState.WAITING, PostState.IN_DOUBT, PostState.FOLLOWING})
# Where a worker starts the create from: only a post it holds and has sent nothing for.
STARTABLE = frozenset({PostState.CLAIMED})
# Where Late's answer (a post id) is recorded from.
RESOLVABLE = frozenset({PostState.CREATING, PostState.IN_DOUBT})
# Where a refusal sends a post back to waiting: nothing was made at Late.
REFUSABLE = frozenset({PostState.CLAIMED, PostState.CREATING})
# Where Late's view of the post is applied from (published may still turn into failed or partial).
OBSERVABLE = frozenset({PostState.FOLLOWING, PostState.PUBLISHED})
# Nothing was sent: cancelled without asking Late.
CANCELLABLE_UNSENT = frozenset({PostState.WAITING, PostState.CLAIMED})
OPEN = frozenset({PostState.WAITING, PostState.CLAIMED, PostState.CREATING, PostState.IN_DOUBT, PostState.FOLLOWING})
FINISHED = frozenset({PostState.PUBLISHED, PostState.PARTIAL, PostState.FAILED, PostState.CANCELLED})
# A dead worker's post: unsent goes back to waiting, a create that may have left is in doubt.
ABANDONED_UNSENT = PostState.CLAIMED
ABANDONED_SENT = PostState.CREATING

# Late statuses a cancel (DELETE) is still accepted in.
LATE_CANCELLABLE = frozenset({"draft", "scheduled"})
LATE_FINISHED = frozenset({"published", "partial", "failed", "cancelled"})


def values(states: frozenset[PostState] | tuple[PostState, ...]) -> list[str]:
    return sorted(state.value for state in states)


@dataclass(frozen=True, slots=True)
class Failure:
    reason: PostFailureReason
    message: str


@dataclass(frozen=True, slots=True)
class RetryAt:
    at: datetime


@dataclass(frozen=True, slots=True)
class Doubt:
    """The create may have made a post: ask Late, never create blindly again."""


CreateOutcome = Failure | RetryAt | Doubt

RECONNECT_MESSAGE = "Your {platform} account needs to be reconnected: reconnect your account in Late, then post again."
REJECTED_MESSAGE = "{platform} rejected this post{detail}."
ACCOUNT_MESSAGE = "{platform} refused this account{detail}. Check the account in Late, then post again."
RATE_MESSAGE = "{platform} limits how often an account can post; this post could not be sent in time."
PROVIDER_MESSAGE = "{platform} failed to publish this post. Please try again."
MEDIA_MESSAGE = "This media cannot be posted to {platform}{detail}."
GAVE_UP_MESSAGE = "Late stayed unavailable, so the post was not sent. Please try again later."
UNKNOWN_MESSAGE = "We could not confirm whether Late received this post, so it was not sent again. Check your accounts."


_NAMES = {"instagram": "Instagram", "facebook": "Facebook", "twitter": "X", "tiktok": "TikTok", "linkedin": "LinkedIn"}


def _platform_name(platform: str | None) -> str:
    return _NAMES.get((platform or "").lower(), (platform or "The network").capitalize())


def _detail(error: str | None) -> str:
    cleaned = " ".join((error or "").split())[:200].rstrip(".")
    return f": {cleaned}" if cleaned else ""


def failure_for(category: str | None, platform: str | None, error: str | None) -> Failure:
    """The reason and the user's sentence for a platform that failed, from Late's errorCategory."""
    name, detail = _platform_name(platform), _detail(error)
    match (category or "").lower():
        case "auth_expired":
            return Failure(PostFailureReason.AUTH_EXPIRED, RECONNECT_MESSAGE.format(platform=name))
        case "platform_rejected" | "user_content" | "validation":
            return Failure(PostFailureReason.PLATFORM_REJECTED, REJECTED_MESSAGE.format(platform=name, detail=detail))
        case "account_issue" | "user_abuse" | "permission":
            return Failure(PostFailureReason.ACCOUNT_ISSUE, ACCOUNT_MESSAGE.format(platform=name, detail=detail))
        case "rate_limit" | "rate_limited":
            return Failure(PostFailureReason.RATE_LIMITED, RATE_MESSAGE.format(platform=name))
        case "media" | "media_invalid":
            return Failure(PostFailureReason.MEDIA_INVALID, MEDIA_MESSAGE.format(platform=name, detail=detail))
        case _:
            return Failure(PostFailureReason.PROVIDER_ERROR, PROVIDER_MESSAGE.format(platform=name))


@dataclass(frozen=True, slots=True)
class CreateError:
    kind: ErrorKind
    message: str
    account_disconnected: bool = False
    retry_after: float | None = None


def after_create_error(
    error: CreateError, *, attempts: int, max_attempts: int, now: datetime, backoff: float, platform: str | None
) -> CreateOutcome:
    """What follows a create (or an upload before it) that raised a classified error."""
    if error.kind is ErrorKind.AMBIGUOUS:
        return Doubt()
    if error.account_disconnected:
        return failure_for("auth_expired", platform, error.message)
    if error.kind is ErrorKind.USER:
        return failure_for("platform_rejected", platform, error.message)
    if attempts + 1 >= max_attempts:
        return Failure(PostFailureReason.PROVIDER_ERROR, GAVE_UP_MESSAGE)
    wait = max(error.retry_after or 0.0, backoff)
    return RetryAt(now + timedelta(seconds=wait))


@dataclass(frozen=True, slots=True)
class PlatformView:
    account_id: str
    platform: str
    status: str
    url: str | None = None
    platform_post_id: str | None = None
    error: str | None = None
    error_category: str | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    """What Late's view of the post means for ours: the state to move to (None: stay) and, for a
    failure, the reason and message (from the first failed platform)."""

    to: PostState | None
    failure: Failure | None = None


def observe(state: PostState, late_status: str, platforms: tuple[PlatformView, ...]) -> Observation:
    late_status = late_status.lower()
    if late_status == "published":
        return Observation(PostState.PUBLISHED if state is not PostState.PUBLISHED else None)
    if late_status == "partial":
        return Observation(PostState.PARTIAL)
    if late_status == "failed":
        failed = next((p for p in platforms if p.status == "failed"), None)
        if failed is None:
            return Observation(PostState.FAILED, failure_for(None, platforms[0].platform if platforms else None, None))
        return Observation(PostState.FAILED, failure_for(failed.error_category, failed.platform, failed.error))
    if late_status == "cancelled":
        return Observation(PostState.CANCELLED)
    return Observation(None)


def next_check_in(late_status: str, checks: int, *, scheduled_for: datetime | None, now: datetime,
                  min_seconds: float, max_seconds: float) -> datetime:  # fmt: skip
    """When polling looks again (webhooks usually come first): just after a scheduled time, then
    more and more rarely while Late is publishing; a safety net, not the main path."""
    step = min(min_seconds * 2 ** min(checks, 16), max_seconds)
    if late_status in LATE_CANCELLABLE and scheduled_for is not None and scheduled_for > now:
        return min(scheduled_for + timedelta(seconds=min_seconds), now + timedelta(seconds=max_seconds * 10))
    return now + timedelta(seconds=step)
