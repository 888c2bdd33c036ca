"""Late's wire (zernio.com/api/v1, mounted here under /late/api/v1): accounts, presigned media
upload, posts with scheduling and publishNow, idempotency, content dedup, cancel, retry, and
signed webhooks with redelivery; faults by marker in the post's content.

Markers (in `content`): `[sim:late=timeout]` creates the post, then holds the answer past the
client's timeout; `[sim:late=429:N]` refuses the first N creates; `[sim:late=500:N]` creates,
then answers 500; `[sim:late=reject]` the platforms reject it at publish time;
`[sim:late=auth_expired]` the account's token has expired at publish time;
`[sim:late=webhook_lost]` no webhook is ever delivered for the post;
`[sim:late=partial]` the first platform publishes, the others fail;
`[sim:late=publish_seconds=N]` publishing takes N seconds.
Admin: GET /_admin/late/posts, GET /_admin/late/webhooks, POST /_admin/late/reset,
POST /_admin/late/config, POST /_admin/late/webhooks/{id}/replay.
"""

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from .markers import Markers

router = APIRouter()
PREFIX = "/late/api/v1"
IDEMPOTENCY_SECONDS = 300.0
DEDUP_SECONDS = 24 * 3600.0


class LateConfig(BaseModel):
    publish_seconds: float = Field(default=0.2, ge=0)
    # A "timeout" create holds its answer this long (longer than any client's read timeout).
    hang_seconds: float = Field(default=3.0, ge=0)
    webhook_attempts: int = Field(default=3, ge=1)
    webhook_retry_seconds: float = Field(default=0.1, ge=0)
    # Late's header since the rebrand; "x-late-signature" for the old one.
    signature_header: str = "x-zernio-signature"
    # Send every webhook this many times (same id): Late redelivers.
    webhook_copies: int = Field(default=1, ge=1)


def _default_accounts() -> list[dict[str, Any]]:
    return [
        {"_id": "acc_instagram", "platform": "instagram", "username": "studio.ig", "displayName": "Studio IG",
         "profilePicture": None, "isActive": True, "accountType": "business"},
        {"_id": "acc_facebook", "platform": "facebook", "username": "studio.fb", "displayName": "Studio FB",
         "profilePicture": None, "isActive": True},
        {"_id": "acc_twitter", "platform": "twitter", "username": "studio_x", "displayName": "Studio X",
         "profilePicture": None, "isActive": True},
        {"_id": "acc_instagram_expired", "platform": "instagram", "username": "old.ig", "displayName": "Old IG",
         "profilePicture": None, "isActive": True, "needsReconnection": True, "accountType": "creator"},
    ]  # fmt: skip


@dataclass
class SimPost:
    id: str
    body: dict[str, Any]
    markers: Markers
    status: str
    scheduled_for: datetime | None
    platforms: list[dict[str, Any]]
    request_id: str | None
    created_at: float = field(default_factory=time.time)
    task: asyncio.Task[None] | None = None

    def view(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "content": self.body.get("content"),
            "status": self.status,
            "scheduledFor": self.scheduled_for.isoformat().replace("+00:00", "Z") if self.scheduled_for else None,
            "platforms": self.platforms,
            "mediaItems": self.body.get("mediaItems") or [],
            "metadata": self.body.get("metadata") or {},
            "createdAt": datetime.fromtimestamp(self.created_at, UTC).isoformat().replace("+00:00", "Z"),
        }


@dataclass
class LateState:
    config: LateConfig = field(default_factory=LateConfig)
    accounts: list[dict[str, Any]] = field(default_factory=_default_accounts)
    posts: dict[str, SimPost] = field(default_factory=dict)
    by_request_id: dict[str, tuple[str, float]] = field(default_factory=dict)
    by_content: dict[str, tuple[str, float]] = field(default_factory=dict)
    uploads: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    webhooks: list[dict[str, Any]] = field(default_factory=list)  # registrations
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    sent: dict[str, bytes] = field(default_factory=dict)  # webhook id → body, for replays
    creates: int = 0
    creates_by_request_id: dict[str, int] = field(default_factory=dict)
    fault_counts: dict[tuple[str, str], int] = field(default_factory=dict)
    background: set[asyncio.Task[None]] = field(default_factory=set)

    def spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def fault(self, markers: Markers, key: str) -> str | None:
        """The marker's fault if it still applies to this key (`name:N` applies N times)."""
        found = markers.fault("late")
        if found is None:
            return None
        if found.times is not None:
            used = self.fault_counts.get((found.name, key), 0)
            if used >= found.times:
                return None
            self.fault_counts[(found.name, key)] = used + 1
        return found.name


def late(request: Request) -> LateState:
    state: LateState = request.app.state.late
    return state


def _error(status: int, message: str, *, code: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"error": message, **({"code": code} if code else {}), **extra}
    return JSONResponse(body, status_code=status)


def _authorized(request: Request) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get(f"{PREFIX}/accounts")
async def accounts(request: Request, platform: str | None = None, status: str | None = None) -> Response:
    if not _authorized(request):
        return _error(401, "Invalid API key", code="UNAUTHORIZED")
    found = [a for a in late(request).accounts if platform in (None, "", a["platform"])]
    return JSONResponse({"accounts": found})


@router.post(f"{PREFIX}/media/presign")
async def presign(request: Request) -> Response:
    if not _authorized(request):
        return _error(401, "Invalid API key", code="UNAUTHORIZED")
    body = await request.json()
    key = f"{secrets.token_hex(8)}-{str(body.get('filename') or 'media')[-60:]}"
    base = _base(request)
    return JSONResponse(
        {"uploadUrl": f"{base}/late/uploads/{key}", "publicUrl": f"{base}/late/media/{key}", "key": key,
         "expiresIn": 3600}
    )  # fmt: skip


@router.put("/late/uploads/{key}")
async def upload(key: str, request: Request) -> Response:
    late(request).uploads[key] = (await request.body(), request.headers.get("content-type", "application/octet-stream"))
    return Response(status_code=200)


@router.get("/late/media/{key}")
async def media(key: str, request: Request) -> Response:
    stored = late(request).uploads.get(key)
    if stored is None:
        return Response("Not Found", status_code=404)
    return Response(stored[0], media_type=stored[1])


def _content_hash(body: dict[str, Any]) -> str:
    platforms = sorted(str(p.get("accountId")) for p in body.get("platforms") or [])
    media_urls = [str(m.get("url")) for m in body.get("mediaItems") or []]
    blob = json.dumps([body.get("content") or "", media_urls, platforms])
    return hashlib.sha256(blob.encode()).hexdigest()


def _live(index: dict[str, tuple[str, float]], key: str | None, ttl: float) -> str | None:
    if not key or key not in index:
        return None
    post_id, at = index[key]
    return post_id if time.time() - at < ttl else None


@router.post(f"{PREFIX}/posts")
async def create_post(request: Request) -> Response:
    state = late(request)
    if not _authorized(request):
        return _error(401, "Invalid API key", code="UNAUTHORIZED")
    body = await request.json()
    request_id = request.headers.get("x-request-id")
    markers = Markers.parse(str(body.get("content") or ""))
    state.creates += 1
    if request_id:
        state.creates_by_request_id[request_id] = state.creates_by_request_id.get(request_id, 0) + 1
    existing = _live(state.by_request_id, request_id, IDEMPOTENCY_SECONDS)
    if existing:
        return JSONResponse({"existingPost": state.posts[existing].view(), "message": "Duplicate request"})
    fault = state.fault(markers, request_id or "-")
    if fault == "429":
        return JSONResponse(
            {"error": "Rate limit exceeded"},
            status_code=429,
            headers={"Retry-After": "1", "X-RateLimit-Remaining": "0"},
        )
    duplicate = _live(state.by_content, _content_hash(body), DEDUP_SECONDS)
    if duplicate:
        return _error(409, "This content was already posted to these accounts", details={"existingPostId": duplicate})
    targets = body.get("platforms") or []
    known = {a["_id"]: a for a in state.accounts}
    for target in targets:
        account = known.get(str(target.get("accountId")))
        if account is None:
            return _error(400, f"Unknown account {target.get('accountId')}", code="VALIDATION_ERROR")
        if account.get("isActive") is False:
            return _error(403, "The account is disconnected", code="ACCOUNT_DISCONNECTED")
    post = SimPost(
        id=secrets.token_hex(12),
        body=body,
        markers=markers,
        status="draft",
        scheduled_for=None,
        platforms=[
            {"platform": t.get("platform"), "accountId": t.get("accountId"), "status": "pending"} for t in targets
        ],
        request_id=request_id,
    )
    state.posts[post.id] = post
    if request_id:
        state.by_request_id[request_id] = (post.id, time.time())
    state.by_content[_content_hash(body)] = (post.id, time.time())
    publish_seconds = markers.number("publish_seconds")
    duration = state.config.publish_seconds if publish_seconds is None else publish_seconds
    if body.get("publishNow"):
        post.status = "publishing"
        if fault in ("timeout", "500"):
            state.spawn(_publish(state, post, duration))
            if fault == "timeout":
                await asyncio.sleep(state.config.hang_seconds)
            return _error(500, "Internal server error")
        # Published inside the request, as Late does; a client that goes away does not stop it.
        publishing = asyncio.ensure_future(_publish(state, post, duration))
        state.background.add(publishing)
        publishing.add_done_callback(state.background.discard)
        await asyncio.shield(publishing)
        return JSONResponse({"post": post.view(), "message": "Post published"}, status_code=201)
    scheduled = body.get("scheduledFor")
    if scheduled:
        post.scheduled_for = datetime.fromisoformat(str(scheduled).replace("Z", "+00:00")).astimezone(UTC)
        post.status = "scheduled"
        _notify(state, post, "post.scheduled")
        post.task = asyncio.create_task(_publish_at(state, post, duration))
    if fault in ("timeout", "500"):
        if fault == "timeout":
            await asyncio.sleep(state.config.hang_seconds)
        return _error(500, "Internal server error")
    return JSONResponse({"post": post.view(), "message": "Post created"}, status_code=201)


async def _publish_at(state: LateState, post: SimPost, duration: float) -> None:
    assert post.scheduled_for is not None
    await asyncio.sleep(max((post.scheduled_for - datetime.now(UTC)).total_seconds(), 0))
    if post.status != "scheduled":
        return
    post.status = "publishing"
    await _publish(state, post, duration)


async def _publish(state: LateState, post: SimPost, duration: float) -> None:
    await asyncio.sleep(duration)
    fault = post.markers.fault("late")
    name = fault.name if fault else None
    for index, platform in enumerate(post.platforms):
        failed = name in ("reject", "auth_expired") or (name == "partial" and index > 0)
        if failed:
            category = "auth_expired" if name == "auth_expired" else "platform_rejected"
            message = "The access token has expired" if name == "auth_expired" else "Media was rejected by the platform"
            platform.update(status="failed", errorMessage=message, errorCategory=category)
            _notify(state, post, "post.platform.failed")
        else:
            pid = secrets.token_hex(6)
            url = f"https://{platform.get('platform') or 'social'}.example/p/{pid}"
            platform.update(status="published", platformPostId=pid, platformPostUrl=url)
            _notify(state, post, "post.platform.published")
    published = [p for p in post.platforms if p["status"] == "published"]
    post.status = "published" if len(published) == len(post.platforms) else "partial" if published else "failed"
    _notify(state, post, f"post.{post.status}")


def _notify(state: LateState, post: SimPost, event: str) -> None:
    fault = post.markers.fault("late")
    if fault is not None and fault.name == "webhook_lost":
        return
    for hook in state.webhooks:
        if not hook.get("isActive", True) or event not in (hook.get("events") or [event]):
            continue
        webhook_id = f"wh_{secrets.token_hex(8)}"
        payload: dict[str, Any] = {
            "id": webhook_id,
            "event": event,
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "post": {
                "id": post.id,
                "status": post.status,
                "platforms": [
                    {
                        "platform": p.get("platform"),
                        "status": p.get("status"),
                        "accountId": p.get("accountId"),
                        "platformPostId": p.get("platformPostId"),
                        "publishedUrl": p.get("platformPostUrl"),
                        "error": p.get("errorMessage"),
                    }
                    for p in post.platforms
                ],
            },
        }
        body = json.dumps(payload).encode()
        state.sent[webhook_id] = body
        for _ in range(state.config.webhook_copies):
            state.spawn(_deliver(state, hook, webhook_id, body))


async def _deliver(state: LateState, hook: dict[str, Any], webhook_id: str, body: bytes) -> None:
    signature = hmac.new(str(hook.get("secret") or "").encode(), body, hashlib.sha256).hexdigest()
    headers = {"content-type": "application/json", state.config.signature_header: signature}
    async with httpx.AsyncClient(timeout=10) as http:
        for attempt in range(state.config.webhook_attempts):
            record: dict[str, Any] = {"id": webhook_id, "url": hook["url"], "attempt": attempt + 1}
            try:
                response = await http.post(str(hook["url"]), content=body, headers=headers)
                record["status"] = response.status_code
            except httpx.HTTPError as exc:
                record["status"] = None
                record["error"] = repr(exc)
            state.deliveries.append(record)
            if record["status"] is not None and record["status"] < 300:
                return
            await asyncio.sleep(state.config.webhook_retry_seconds)


@router.get(f"{PREFIX}/posts")
async def list_posts(request: Request, page: int = 1, limit: int = 20) -> Response:
    if not _authorized(request):
        return _error(401, "Invalid API key", code="UNAUTHORIZED")
    posts = sorted(late(request).posts.values(), key=lambda p: p.created_at, reverse=True)
    chunk = posts[(page - 1) * limit : page * limit]
    return JSONResponse({"posts": [p.view() for p in chunk], "pagination": {"page": page, "total": len(posts)}})


@router.get(f"{PREFIX}/posts/{{post_id}}")
async def get_post(post_id: str, request: Request) -> Response:
    if not _authorized(request):
        return _error(401, "Invalid API key", code="UNAUTHORIZED")
    post = late(request).posts.get(post_id)
    if post is None:
        return _error(404, "Post not found", code="NOT_FOUND")
    return JSONResponse({"post": post.view()})


@router.delete(f"{PREFIX}/posts/{{post_id}}")
async def delete_post(post_id: str, request: Request) -> Response:
    state = late(request)
    if not _authorized(request):
        return _error(401, "Invalid API key", code="UNAUTHORIZED")
    post = state.posts.get(post_id)
    if post is None:
        return _error(404, "Post not found", code="NOT_FOUND")
    if post.status not in ("draft", "scheduled", "cancelled"):
        return _error(400, f"A {post.status} post cannot be deleted", code="INVALID_STATE")
    if post.status != "cancelled":
        post.status = "cancelled"
        if post.task:
            post.task.cancel()
        _notify(state, post, "post.cancelled")
    return JSONResponse({"message": "Post cancelled"})


@router.post(f"{PREFIX}/posts/{{post_id}}/retry")
async def retry_post(post_id: str, request: Request) -> Response:
    state = late(request)
    post = state.posts.get(post_id)
    if post is None:
        return _error(404, "Post not found", code="NOT_FOUND")
    if post.status not in ("failed", "partial"):
        return _error(400, "Only failed posts can be retried", code="INVALID_STATE")
    post.status = "publishing"
    state.spawn(_publish(state, post, state.config.publish_seconds))
    return JSONResponse({"post": post.view()})


@router.post(f"{PREFIX}/webhooks/settings")
async def webhook_settings(request: Request) -> Response:
    state = late(request)
    if not _authorized(request):
        return _error(401, "Invalid API key", code="UNAUTHORIZED")
    body = await request.json()
    state.webhooks = [hook for hook in state.webhooks if hook.get("url") != body.get("url")]
    state.webhooks.append({**body, "_id": secrets.token_hex(6)})
    return JSONResponse({"webhook": state.webhooks[-1]})


# ----- admin -----


@router.get("/_admin/late/posts")
async def admin_posts(request: Request) -> list[dict[str, Any]]:
    state = late(request)
    return [
        {
            **post.view(),
            "requestId": post.request_id,
            "creates": state.creates_by_request_id.get(post.request_id or "", 0),
        }
        for post in state.posts.values()
    ]


@router.get("/_admin/late/webhooks")
async def admin_webhooks(request: Request) -> dict[str, Any]:
    state = late(request)
    return {"registered": state.webhooks, "deliveries": state.deliveries, "sent": list(state.sent)}


@router.post("/_admin/late/webhooks/{webhook_id}/replay")
async def admin_replay(webhook_id: str, request: Request) -> dict[str, Any]:
    state = late(request)
    body = state.sent.get(webhook_id)
    if body is None or not state.webhooks:
        return {"replayed": False}
    # In the background: the receiver may share an event loop with whoever asked for the replay.
    state.spawn(_deliver(state, state.webhooks[-1], webhook_id, body))
    return {"replayed": True}


@router.post("/_admin/late/config")
async def admin_config(request: Request) -> dict[str, Any]:
    state = late(request)
    patch = await request.json()
    state.config = state.config.model_copy(
        update=LateConfig.model_validate({**state.config.model_dump(), **patch}).model_dump()
    )
    if "accounts" in patch:
        state.accounts = list(patch["accounts"])
    return state.config.model_dump()


@router.post("/_admin/late/reset")
async def admin_reset(request: Request) -> dict[str, Any]:
    state = late(request)
    for task in list(state.background):
        task.cancel()
    for post in state.posts.values():
        if post.task:
            post.task.cancel()
    # Registrations go too: the next test's publisher registers its own gateway.
    request.app.state.late = LateState(config=state.config)
    return {"reset": True}
