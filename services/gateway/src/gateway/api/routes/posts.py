"""Posting ready assets to social networks (through the publisher and Late), and Late's webhook."""

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4, uuid5

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import SecretStr

from aistudio_contracts import AssetStatus, MediaType, SocialAccount
from aistudio_providers.late import verify_late_signature
from aistudio_runtime import get_logger

from ...domain.posting import ENDED, AssetFacts, PostSpec, parse_post_request
from ...domain.requests import InvalidRequest, Issue
from ...posts import PostsCatalog, decode_cursor
from ...publisher_client import PublisherClient, PublisherUnavailable
from ..deps import CurrentUser, GatewayDep
from ..errors import ApiError, not_found
from ..schemas import CamelModel

router = APIRouter(tags=["posts"])
log = get_logger(__name__)

_IDEMPOTENCY_NAMESPACE = UUID("2d5b0a61-93c4-4c0e-9d0b-5d3c7a1e8f42")
MAX_IDEMPOTENCY_KEY = 255
# A cancel that reaches the publisher before the post does (the outbox relay is a moment behind).
CANCEL_ATTEMPTS = 5


@dataclass(slots=True)
class Posting:
    """What these routes use, built by the composition root next to the Gateway."""

    posts: PostsCatalog
    publisher: PublisherClient
    webhook_secret: SecretStr | None


def get_posting(request: Request) -> Posting:
    return request.app.state.posting  # type: ignore[no-any-return]


PostingDep = Annotated[Posting, Depends(get_posting)]


class SocialAccountPublic(CamelModel):
    id: str
    platform: str
    username: str | None = None
    display_name: str | None = None
    needs_reconnection: bool = False


class SocialAccountsPublic(CamelModel):
    accounts: list[SocialAccountPublic]


class PostPlatformPublic(CamelModel):
    account_id: str
    platform: str
    status: Literal["pending", "publishing", "published", "failed"]
    url: str | None = None
    error: str | None = None


class PostPublic(CamelModel):
    id: UUID
    media_id: UUID
    status: Literal["scheduled", "publishing", "published", "partial", "failed", "cancelled"]
    caption: str
    scheduled_for: datetime | None = None
    platforms: list[PostPlatformPublic]
    error_code: str | None = None
    error_message: str | None = None
    created_at: datetime
    updated_at: datetime


class PostEnvelope(CamelModel):
    post: PostPublic


class PostsPublic(CamelModel):
    posts: list[PostPublic]
    next_cursor: str | None = None


def present_post(row: Any) -> PostPublic:
    platforms = json.loads(row["platforms"]) if isinstance(row["platforms"], str) else row["platforms"]
    return PostPublic(
        id=row["id"],
        media_id=row["media_id"],
        status=row["status"],
        caption=row["caption"],
        scheduled_for=row["scheduled_for"],
        platforms=[
            PostPlatformPublic(
                account_id=p["account_id"],
                platform=p["platform"],
                status=p["status"],
                url=p.get("url"),
                error=p.get("error"),
            )
            for p in platforms
        ],
        error_code=row["error_code"],
        error_message=row["error_message"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _unavailable() -> ApiError:
    return ApiError(
        503,
        {"error": "Service unavailable", "message": "Posting is unavailable right now; please try again shortly."},
        headers={"Retry-After": "5"},
    )


async def _accounts(posting: Posting, user_id: str) -> list[SocialAccount]:
    try:
        return await posting.publisher.accounts(user_id)
    except PublisherUnavailable as exc:
        log.warning("publisher_unavailable", error=str(exc))
        raise _unavailable() from exc


def _parse_uuid(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        return None


@router.get("/api/social/accounts", response_model=SocialAccountsPublic, responses={401: {}, 503: {}})
async def social_accounts(posting: PostingDep, user: CurrentUser) -> SocialAccountsPublic:
    found = await _accounts(posting, user.user_id)
    return SocialAccountsPublic(accounts=[SocialAccountPublic(**a.model_dump()) for a in found])


def _replay(existing: Any, spec: PostSpec) -> PostEnvelope:
    if existing["request_hash"] != spec.fingerprint():
        raise ApiError(
            422,
            {
                "error": "Idempotency-Key reused",
                "message": "This Idempotency-Key was already used with a different request body.",
            },
        )
    return PostEnvelope(post=present_post(existing))


@router.post(
    "/api/ai/media/{media_id}/posts",
    status_code=202,
    response_model=PostEnvelope,
    responses={400: {}, 401: {}, 404: {}, 409: {}, 422: {}, 503: {}},
)
async def create_post(
    media_id: str,
    request: Request,
    gateway: GatewayDep,
    posting: PostingDep,
    user: CurrentUser,
    idempotency_key: Annotated[str | None, Header(max_length=MAX_IDEMPOTENCY_KEY)] = None,
) -> PostEnvelope:
    parsed = _parse_uuid(media_id)
    asset = await gateway.catalog.find(user.user_id, parsed) if parsed else None
    if asset is None:
        raise not_found()
    if asset["status"] != AssetStatus.READY.value or not asset["result_storage_key"]:
        raise ApiError(409, {"error": "Media not ready", "message": "Only ready media can be posted."})
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest([Issue((), "Request body must be valid JSON")]) from exc
    accounts = {a.id: a for a in await _accounts(posting, user.user_id)}
    facts = AssetFacts(
        media_type=MediaType(asset["type"]),
        content_type=asset["result_content_type"],
        aspect_ratio=asset["aspect_ratio"],
        caption=asset["caption"],
    )
    spec = parse_post_request(body, facts, accounts, datetime.now(UTC))
    key = idempotency_key.strip() if idempotency_key and idempotency_key.strip() else None
    if key:
        existing = await posting.posts.find_by_idempotency_key(user.user_id, key)
        if existing:
            return _replay(existing, spec)
        post_id = uuid5(_IDEMPOTENCY_NAMESPACE, f"{user.user_id}\x00{key}")
    else:
        post_id = uuid4()
    row = await posting.posts.create(post_id, user.user_id, asset, spec, key)
    if row is None:
        existing = await posting.posts.find_by_idempotency_key(user.user_id, key or "")
        if existing is None:
            raise ApiError(409, {"error": "Conflicting request, please retry"})
        return _replay(existing, spec)
    log.info("post_requested", post_id=str(post_id), media_id=str(parsed), targets=len(spec.targets))
    return PostEnvelope(post=present_post(row))


def _post_not_found() -> ApiError:
    return ApiError(404, {"error": "Post not found"})


@router.get("/api/posts", response_model=PostsPublic, responses={400: {}, 401: {}, 503: {}})
async def list_posts(
    posting: PostingDep,
    user: CurrentUser,
    media_id: Annotated[UUID | None, Query(alias="mediaId")] = None,
    status: Annotated[
        Literal["scheduled", "publishing", "published", "partial", "failed", "cancelled"] | None, Query()
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> PostsPublic:
    try:
        position = decode_cursor(cursor) if cursor else None
    except ValueError as exc:
        raise InvalidRequest([Issue(("cursor",), "Cursor is not valid; use nextCursor from a previous page")]) from exc
    page = await posting.posts.page(user.user_id, limit=limit, cursor=position, media_id=media_id, status=status)
    return PostsPublic(posts=[present_post(row) for row in page.posts], next_cursor=page.next_cursor)


@router.get("/api/posts/{post_id}", response_model=PostEnvelope, responses={401: {}, 404: {}, 503: {}})
async def get_post(post_id: str, posting: PostingDep, user: CurrentUser) -> PostEnvelope:
    parsed = _parse_uuid(post_id)
    row = await posting.posts.find(user.user_id, parsed) if parsed else None
    if row is None:
        raise _post_not_found()
    return PostEnvelope(post=present_post(row))


@router.delete("/api/posts/{post_id}", response_model=PostEnvelope, responses={401: {}, 404: {}, 409: {}, 503: {}})
async def cancel_post(post_id: str, posting: PostingDep, user: CurrentUser) -> PostEnvelope:
    parsed = _parse_uuid(post_id)
    row = await posting.posts.find(user.user_id, parsed) if parsed else None
    if row is None or parsed is None:
        raise _post_not_found()
    if row["status"] == "cancelled":
        return PostEnvelope(post=present_post(row))
    if row["status"] in ENDED or row["status"] == "publishing":
        raise _too_late(row["status"])
    for attempt in range(CANCEL_ATTEMPTS):
        try:
            reply = await posting.publisher.cancel(parsed, user.user_id)
        except PublisherUnavailable as exc:
            raise _unavailable() from exc
        if reply.outcome != "not_found":
            break
        await asyncio.sleep(0.2 * 2**attempt)
    if reply.outcome == "cancelled":
        updated = await posting.posts.cancelled(user.user_id, parsed)
        latest = updated or await posting.posts.find(user.user_id, parsed)
        assert latest is not None
        return PostEnvelope(post=present_post(latest))
    if reply.outcome == "conflict":
        raise _too_late(reply.status or "publishing")
    raise _unavailable()


def _too_late(status: str) -> ApiError:
    return ApiError(
        409,
        {
            "error": "Post cannot be cancelled",
            "message": f"The post is {status}; only scheduled posts can be cancelled.",
        },
    )


@router.post("/api/providers/late/webhook", tags=["provider callbacks"], responses={400: {}, 401: {}})
async def late_webhook(request: Request, posting: PostingDep) -> dict[str, bool]:
    """Late posts here when a post changes. Verified (hex HMAC-SHA256 of the raw body, under either
    header name), then passed on: the publisher checks the post at Late before it moves anything."""
    body = await request.body()
    secret = posting.webhook_secret
    if (
        secret is None
        or not secret.get_secret_value()
        or not verify_late_signature(secret.get_secret_value(), body, dict(request.headers))
    ):
        raise ApiError(401, {"error": "Unauthorized", "message": "Bad webhook signature"})
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise ApiError(400, {"error": "Webhook body must be JSON"}) from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("id"), str):
        raise ApiError(400, {"error": "Webhook body must carry an id"})
    raw_post = payload.get("post")
    post: dict[str, Any] = raw_post if isinstance(raw_post, dict) else {}
    late_post_id = post.get("id") or post.get("_id")
    await posting.posts.record_webhook(
        payload["id"], str(payload.get("event") or ""), str(late_post_id) if late_post_id else None, payload
    )
    log.info("late_webhook", webhook_id=payload["id"], late_event=payload.get("event"), late_post_id=late_post_id)
    return {"received": True}
