"""The post lifecycle's rules and the posting validation, without servers."""

from datetime import UTC, datetime, timedelta

import pytest

from aistudio_contracts import MediaType, PostFailureReason, SocialAccount
from aistudio_providers import ErrorKind
from aistudio_providers.late import late_signature, verify_late_signature
from gateway.domain.posting import AssetFacts, can_move, parse_post_request
from gateway.domain.requests import InvalidRequest
from publisher.domain.post import (
    CreateError,
    Doubt,
    Failure,
    PlatformView,
    PostState,
    RetryAt,
    after_create_error,
    failure_for,
    next_check_in,
    observe,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ACCOUNTS = {
    "ig": SocialAccount(id="ig", platform="instagram", username="studio"),
    "fb": SocialAccount(id="fb", platform="facebook", username="studio"),
}
PNG_SQUARE = AssetFacts(MediaType.IMAGE, "image/png", "1:1", "the asset's caption")


def _error(kind: ErrorKind, **extra: object) -> CreateError:
    return CreateError(kind, "Late said no", **extra)  # type: ignore[arg-type]


def test_an_ambiguous_create_is_in_doubt_never_sent_again() -> None:
    outcome = after_create_error(
        _error(ErrorKind.AMBIGUOUS), attempts=0, max_attempts=8, now=NOW, backoff=1, platform="instagram"
    )
    assert isinstance(outcome, Doubt)


def test_a_refused_create_waits_at_least_for_late_retry_after() -> None:
    outcome = after_create_error(
        _error(ErrorKind.REFUSED, retry_after=30.0), attempts=0, max_attempts=8, now=NOW, backoff=1, platform=None
    )
    assert outcome == RetryAt(NOW + timedelta(seconds=30))


def test_a_create_refused_too_often_fails() -> None:
    outcome = after_create_error(
        _error(ErrorKind.REFUSED), attempts=7, max_attempts=8, now=NOW, backoff=1, platform="instagram"
    )
    assert isinstance(outcome, Failure) and outcome.reason is PostFailureReason.PROVIDER_ERROR


def test_a_disconnected_account_asks_the_user_to_reconnect() -> None:
    outcome = after_create_error(
        _error(ErrorKind.USER, account_disconnected=True), attempts=0, max_attempts=8, now=NOW, backoff=1,
        platform="instagram",
    )  # fmt: skip
    assert isinstance(outcome, Failure) and outcome.reason is PostFailureReason.AUTH_EXPIRED
    assert "reconnect your account" in outcome.message


@pytest.mark.parametrize(
    ("category", "reason"),
    [
        ("auth_expired", PostFailureReason.AUTH_EXPIRED),
        ("platform_rejected", PostFailureReason.PLATFORM_REJECTED),
        ("user_content", PostFailureReason.PLATFORM_REJECTED),
        ("account_issue", PostFailureReason.ACCOUNT_ISSUE),
        ("rate_limit", PostFailureReason.RATE_LIMITED),
        ("something_new", PostFailureReason.PROVIDER_ERROR),
        (None, PostFailureReason.PROVIDER_ERROR),
    ],
)
def test_each_error_category_has_a_reason_and_a_sentence(category: str | None, reason: PostFailureReason) -> None:
    failure = failure_for(category, "instagram", "bad\nthing.")
    assert failure.reason is reason and failure.message and "\n" not in failure.message


def test_published_may_later_turn_partial_or_failed_and_a_repeat_changes_nothing() -> None:
    failed = PlatformView("ig", "instagram", "failed", error="gone", error_category="platform_rejected")
    assert observe(PostState.FOLLOWING, "published", ()).to is PostState.PUBLISHED
    assert observe(PostState.PUBLISHED, "published", ()).to is None
    assert observe(PostState.PUBLISHED, "partial", ()).to is PostState.PARTIAL
    seen = observe(PostState.PUBLISHED, "failed", (failed,))
    assert seen.to is PostState.FAILED and seen.failure is not None
    assert seen.failure.reason is PostFailureReason.PLATFORM_REJECTED
    assert observe(PostState.FOLLOWING, "scheduled", ()).to is None


def test_polling_looks_just_after_the_scheduled_time_then_less_and_less_often() -> None:
    soon, far = NOW + timedelta(minutes=5), NOW + timedelta(days=3)
    first = next_check_in("scheduled", 0, scheduled_for=soon, now=NOW, min_seconds=1, max_seconds=60)
    assert first == soon + timedelta(seconds=1)
    # A schedule days ahead is still looked at now and then (a cancel at Late whose webhook was lost).
    assert next_check_in("scheduled", 0, scheduled_for=far, now=NOW, min_seconds=1, max_seconds=60) < far
    steps = [
        next_check_in("publishing", n, scheduled_for=None, now=NOW, min_seconds=1, max_seconds=60) for n in range(8)
    ]
    assert steps == sorted(steps) and steps[-1] == NOW + timedelta(seconds=60)


def test_the_gateway_applies_only_newer_allowed_moves_and_cancelled_is_final() -> None:
    assert can_move("publishing", 0, "published", 3)
    assert not can_move("published", 5, "scheduled", 3)  # older
    assert not can_move("published", 3, "scheduled", 5)  # not allowed from published
    assert can_move("published", 3, "failed", 5)
    assert not can_move("cancelled", 0, "published", 9)


def test_a_post_defaults_to_the_assets_caption_and_now() -> None:
    spec = parse_post_request({"accountIds": ["ig"]}, PNG_SQUARE, ACCOUNTS, NOW)
    assert spec.caption == "the asset's caption" and spec.scheduled_for is None
    assert spec.initial_status == "publishing" and not spec.targets[0].story


def test_instagram_takes_a_nine_by_sixteen_image_as_a_story() -> None:
    story = AssetFacts(MediaType.IMAGE, "image/jpeg", "9:16", None)
    spec = parse_post_request({"accountIds": ["ig", "fb"]}, story, ACCOUNTS, NOW)
    assert [t.story for t in spec.targets] == [True, False]


@pytest.mark.parametrize(
    ("asset", "body", "path"),
    [
        (PNG_SQUARE, {"accountIds": ["ig"], "caption": "x" * 2201}, ["caption"]),
        (PNG_SQUARE, {"accountIds": ["ig"], "caption": "#a " * 31}, ["caption"]),
        (AssetFacts(MediaType.IMAGE, "image/webp", "1:1", None), {"accountIds": ["ig"]}, ["media"]),
        (AssetFacts(MediaType.IMAGE, "image/png", "21:9", None), {"accountIds": ["ig"]}, ["media"]),
        (AssetFacts(MediaType.VIDEO, "video/webm", "9:16", None), {"accountIds": ["ig"]}, ["media"]),
        (PNG_SQUARE, {"accountIds": []}, ["accountIds"]),
        (PNG_SQUARE, {"accountIds": ["ig"], "scheduledFor": "2026-12-01T11:00:00Z"}, ["scheduledFor"]),
        (PNG_SQUARE, {"accountIds": ["ig"], "scheduledFor": "2027-06-01T11:00:00Z"}, ["scheduledFor"]),
        (PNG_SQUARE, {"accountIds": ["ig"], "scheduledFor": "2026-12-02T11:00:00"}, ["scheduledFor"]),
    ],
)
def test_instagram_rules_and_the_schedule_are_checked_per_field(
    asset: AssetFacts, body: dict[str, object], path: list[object]
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_post_request(body, asset, ACCOUNTS, NOW)
    assert next(list(issue.path) for issue in raised.value.issues) == path


def test_a_webhook_signature_is_checked_under_either_header_name() -> None:
    body = b'{"id":"wh_1"}'
    signature = late_signature("secret", body)
    assert verify_late_signature("secret", body, {"X-Zernio-Signature": signature})
    assert verify_late_signature("secret", body, {"x-late-signature": signature})
    assert not verify_late_signature("secret", body, {"X-Zernio-Signature": late_signature("other", body)})
    assert not verify_late_signature("secret", body + b" ", {"X-Zernio-Signature": signature})
    assert not verify_late_signature("secret", body, {})
