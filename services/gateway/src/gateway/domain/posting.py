"""Posting a ready asset, decided without I/O: the request's validation (Instagram's rules
among them) and the lifecycle of a post as the user sees it.

The gateway's `gateway.posts` is the user's view; the publisher does the work and announces
each move with the post's version. A move is applied only when it is newer than the row and
allowed from the row's status: `cancelled` is final (Late will not publish it), and a
`published` post may still turn `failed` or `partial`, as Late reports.
"""

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aistudio_contracts import MediaType, PostTarget, SocialAccount

from .requests import InvalidRequest, Issue

MAX_SCHEDULE_AHEAD = timedelta(days=90)
MAX_ACCOUNTS = 10
CAPTION_MAX = 10_000
INSTAGRAM_CAPTION_MAX = 2200
INSTAGRAM_HASHTAGS_MAX = 30
INSTAGRAM_IMAGE_TYPES = ("image/jpeg", "image/png")
INSTAGRAM_VIDEO_TYPES = ("video/mp4",)
# Instagram's feed takes images from 4:5 (0.8) to 1.91:1; a 9:16 image goes as a story.
INSTAGRAM_FEED_RATIO = (0.8, 1.91)
STORY_RATIO = 9 / 16
_HASHTAG = re.compile(r"(?<!\w)#\w+", re.UNICODE)

STATUSES = ("scheduled", "publishing", "published", "partial", "failed", "cancelled")
# Where each move is allowed from (the version check comes on top).
MOVES_FROM: dict[str, tuple[str, ...]] = {
    "scheduled": ("scheduled", "publishing"),
    "published": ("scheduled", "publishing", "published", "partial"),
    "partial": ("scheduled", "publishing", "published", "partial"),
    "failed": ("scheduled", "publishing", "published", "partial"),
    "cancelled": ("scheduled", "publishing"),
}
# DELETE is answered from these without asking the publisher.
ENDED = ("published", "partial", "failed")


@dataclass(frozen=True, slots=True)
class AssetFacts:
    """What the validation needs to know of the asset."""

    media_type: MediaType
    content_type: str | None
    aspect_ratio: str | None
    caption: str | None


@dataclass(frozen=True, slots=True)
class PostSpec:
    caption: str
    targets: tuple[PostTarget, ...]
    scheduled_for: datetime | None

    def fingerprint(self) -> str:
        """Identifies the request's content, to tell an idempotent retry from a different request."""
        canonical = json.dumps(
            [
                self.caption,
                [t.account_id for t in self.targets],
                self.scheduled_for.isoformat() if self.scheduled_for else None,
            ]
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def initial_status(self) -> str:
        return "scheduled" if self.scheduled_for is not None else "publishing"


def ratio_of(aspect_ratio: str | None) -> float | None:
    """16:9 → 1.78; None for anything else (e.g. Auto)."""
    if not aspect_ratio or ":" not in aspect_ratio:
        return None
    width, _, height = aspect_ratio.partition(":")
    try:
        value = float(width) / float(height)
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None


def parse_time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def parse_post_request(body: Any, asset: AssetFacts, accounts: dict[str, SocialAccount], now: datetime) -> PostSpec:
    """The request as a PostSpec, or InvalidRequest with one issue per field that is wrong."""
    if not isinstance(body, dict):
        raise InvalidRequest([Issue((), "Request body must be a JSON object")])
    issues: list[Issue] = []

    ids = body.get("accountIds")
    chosen: list[SocialAccount] = []
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        issues.append(Issue(("accountIds",), "Choose at least one account (accountIds: a list of account ids)"))
    elif len(set(ids)) > MAX_ACCOUNTS:
        issues.append(Issue(("accountIds",), f"At most {MAX_ACCOUNTS} accounts per post"))
    else:
        for index, account_id in enumerate(dict.fromkeys(ids)):
            account = accounts.get(account_id)
            if account is None:
                issues.append(
                    Issue(("accountIds", index), f"Account {account_id} is not one of your connected accounts")
                )
            elif account.needs_reconnection:
                issues.append(
                    Issue(("accountIds", index), f"Account {account.username or account_id} needs to be reconnected")
                )
            else:
                chosen.append(account)

    caption = body.get("caption")
    if caption is None:
        caption = asset.caption or ""
    elif not isinstance(caption, str):
        issues.append(Issue(("caption",), "Caption must be a string"))
        caption = ""
    caption = caption.strip()
    if len(caption) > CAPTION_MAX:
        issues.append(Issue(("caption",), f"Caption must be at most {CAPTION_MAX} characters"))
    if "\x00" in caption:
        issues.append(Issue(("caption",), "Caption must not contain NUL characters"))

    scheduled_for: datetime | None = None
    raw_time = body.get("scheduledFor")
    if raw_time is not None:
        parsed = parse_time(raw_time) if isinstance(raw_time, str) else None
        if parsed is None:
            issues.append(
                Issue(("scheduledFor",), "scheduledFor must be an ISO-8601 time with a zone, or null for now")
            )
        elif parsed <= now:
            issues.append(Issue(("scheduledFor",), "scheduledFor must be in the future"))
        elif parsed > now + MAX_SCHEDULE_AHEAD:
            issues.append(Issue(("scheduledFor",), "scheduledFor must be at most 90 days ahead"))
        else:
            scheduled_for = parsed

    targets = []
    for account in chosen:
        story = False
        if account.platform == "instagram":
            story = _instagram_issues(asset, caption, issues)
        targets.append(PostTarget(account_id=account.id, platform=account.platform, story=story))

    if issues:
        raise InvalidRequest(issues)
    return PostSpec(caption, tuple(targets), scheduled_for)


def _instagram_issues(asset: AssetFacts, caption: str, issues: list[Issue]) -> bool:
    """Instagram's rules; True when the image goes as a story (9:16)."""
    if len(caption) > INSTAGRAM_CAPTION_MAX:
        issues.append(Issue(("caption",), f"Instagram captions are at most {INSTAGRAM_CAPTION_MAX} characters"))
    if len(_HASHTAG.findall(caption)) > INSTAGRAM_HASHTAGS_MAX:
        issues.append(Issue(("caption",), f"Instagram allows at most {INSTAGRAM_HASHTAGS_MAX} hashtags"))
    if asset.media_type is MediaType.VIDEO:
        if asset.content_type not in INSTAGRAM_VIDEO_TYPES:
            issues.append(Issue(("media",), "Instagram takes videos as MP4 only"))
        return False
    if asset.content_type not in INSTAGRAM_IMAGE_TYPES:
        issues.append(Issue(("media",), "Instagram takes images as JPEG or PNG only"))
    ratio = ratio_of(asset.aspect_ratio)
    if ratio is None:
        return False
    if abs(ratio - STORY_RATIO) < 0.01:
        return True
    low, high = INSTAGRAM_FEED_RATIO
    if not low <= ratio <= high:
        issues.append(
            Issue(("media",), f"Instagram's feed takes aspect ratios from 4:5 to 1.91:1, not {asset.aspect_ratio}")
        )
    return False


def can_move(status: str, version: int, to: str, event_version: int) -> bool:
    """Whether an event moving the post to `to` applies to a row at (`status`, `version`)."""
    return event_version > version and status in MOVES_FROM.get(to, ())
