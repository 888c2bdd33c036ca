"""A client for Late (zernio.com): accounts, media upload, posts and webhook settings.

Every failure is classified by the question that matters for a post: could this call have made
a post at Late? (`ErrorKind`, shared with the generation providers.) A create that timed out or
answered 5xx is AMBIGUOUS: the post may exist. The publisher then repeats the create with the
same `x-request-id` (Late answers 200 with the existing post within about 5 minutes) or finds it
by `metadata.postId`; a 409 from Late's 24-hour content dedup names the existing post and is an
answer, never an error. Domain-level: no FastAPI, no FastStream.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from .._transport import is_transport_error, never_sent
from ..errors import ErrorKind
from .settings import LateSettings

USER_AGENT = "aistudio-publisher/0.1 (httpx)"
WEBHOOK_EVENTS = (
    "post.scheduled",
    "post.published",
    "post.failed",
    "post.partial",
    "post.cancelled",
    "post.platform.published",
    "post.platform.failed",
)
# Pages of GET /posts read when looking for a post by its metadata; ours are recent.
_FIND_PAGES = 5
_PAGE_SIZE = 100


class LateError(Exception):
    """A classified failure of a Late call; `message` is Late's own words (for logs)."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        http_status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.kind = kind
        self.message = message
        self.http_status = http_status
        self.code = code
        self.retry_after = retry_after
        self.details = details or {}
        super().__init__(f"{kind}: {message} (HTTP {http_status}, code {code})")

    @property
    def account_disconnected(self) -> bool:
        return self.code == "ACCOUNT_DISCONNECTED"


@dataclass(frozen=True, slots=True)
class LateAccount:
    id: str
    platform: str
    username: str | None
    display_name: str | None
    is_active: bool
    needs_reconnection: bool


@dataclass(frozen=True, slots=True)
class LatePlatform:
    platform: str
    account_id: str
    status: str
    platform_post_id: str | None = None
    url: str | None = None
    error: str | None = None
    error_category: str | None = None


@dataclass(frozen=True, slots=True)
class LatePost:
    id: str
    status: str
    scheduled_for: datetime | None
    platforms: tuple[LatePlatform, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: dict[str, Any]) -> "LatePost":
        platforms = tuple(_platform(item) for item in data.get("platforms") or () if isinstance(item, dict))
        return cls(
            id=str(data.get("_id") or data.get("id") or ""),
            status=str(data.get("status") or "draft"),
            scheduled_for=_parse_time(data.get("scheduledFor")),
            platforms=platforms,
            metadata=_dict(data.get("metadata")),
        )


@dataclass(frozen=True, slots=True)
class Created:
    """The post a create led to: made now, or one that already existed (`existing`)."""

    post: LatePost | None
    post_id: str
    existing: bool


@dataclass(frozen=True, slots=True)
class Presigned:
    upload_url: str
    public_url: str
    key: str


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _platform(item: dict[str, Any]) -> LatePlatform:
    account = item.get("accountId")
    if isinstance(account, dict):
        account = account.get("_id") or account.get("id")
    error = item.get("errorMessage") or item.get("error")
    if isinstance(error, dict):
        error = error.get("message")
    return LatePlatform(
        platform=str(item.get("platform") or ""),
        account_id=str(account or ""),
        status=str(item.get("status") or "pending"),
        platform_post_id=item.get("platformPostId"),
        url=item.get("platformPostUrl") or item.get("publishedUrl"),
        error=str(error) if error else None,
        error_category=item.get("errorCategory"),
    )


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def utc_z(moment: datetime) -> str:
    """Late wants UTC with a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _retry_after(response: httpx.Response) -> float | None:
    for name in ("retry-after", "x-ratelimit-reset-after"):
        value = response.headers.get(name)
        if value:
            try:
                return max(float(value), 0.0)
            except ValueError:
                continue
    return None


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _error(response: httpx.Response, *, creates: bool) -> LateError:
    """What an HTTP error means. `creates`: the call may make a post (a 5xx may have)."""
    body = _body(response)
    message = str(body.get("error") or body.get("message") or response.reason_phrase or "error")[:300]
    code = body.get("code")
    details = body.get("details") if isinstance(body.get("details"), dict) else {}
    status = response.status_code
    kwargs: dict[str, Any] = {"http_status": status, "code": str(code) if code else None, "details": details}
    if status == 429:
        return LateError(ErrorKind.REFUSED, message, retry_after=_retry_after(response), **kwargs)
    if status == 401:
        return LateError(ErrorKind.ACCOUNT, message, **kwargs)
    if status in (400, 403, 404, 413, 422):
        return LateError(ErrorKind.USER, message, **kwargs)
    if status >= 500 and creates:
        return LateError(ErrorKind.AMBIGUOUS, message, **kwargs)
    return LateError(ErrorKind.REFUSED, message, **kwargs)


class LateClient:
    def __init__(
        self,
        api_key: str,
        *,
        base_url: str,
        timeout: float = 30.0,
        publish_timeout: float = 300.0,
        upload_timeout: float = 300.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._publish_timeout = publish_timeout
        self._upload_timeout = upload_timeout
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            transport=transport,
        )
        # Uploads go to a storage host Late names, without our key.
        self._uploads = httpx.AsyncClient(timeout=httpx.Timeout(upload_timeout, connect=10.0), transport=transport)

    @classmethod
    def from_settings(cls, settings: LateSettings, *, fallback_base_url: str | None = None) -> "LateClient":
        key = settings.late_api_key.get_secret_value() if settings.late_api_key else "sk_simulator"
        base = settings.late_base_url if settings.late_api_key or not fallback_base_url else fallback_base_url
        return cls(
            key,
            base_url=base,
            timeout=settings.late_timeout_seconds,
            publish_timeout=settings.late_publish_timeout_seconds,
            upload_timeout=settings.late_upload_timeout_seconds,
        )

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._uploads.aclose()

    async def _call(
        self, method: str, path: str, *, creates: bool = False, read_seconds: float | None = None, **kwargs: Any
    ) -> httpx.Response:
        try:
            limit = httpx.Timeout(read_seconds, connect=5.0) if read_seconds else httpx.USE_CLIENT_DEFAULT
            response = await self._http.request(method, path, timeout=limit, **kwargs)
        except Exception as exc:
            if not is_transport_error(exc):
                raise
            kind = ErrorKind.REFUSED if never_sent(exc) or not creates else ErrorKind.AMBIGUOUS
            raise LateError(kind, f"{type(exc).__name__}: {exc}") from exc
        return response

    async def accounts(self, platform: str | None = None) -> list[LateAccount]:
        params = {"status": "connected", **({"platform": platform} if platform else {})}
        response = await self._call("GET", "/accounts", params=params)
        if response.status_code != 200:
            raise _error(response, creates=False)
        accounts = []
        for item in _body(response).get("accounts") or ():
            if not isinstance(item, dict):
                continue
            accounts.append(
                LateAccount(
                    id=str(item.get("_id") or item.get("id")),
                    platform=str(item.get("platform") or ""),
                    username=item.get("username"),
                    display_name=item.get("displayName"),
                    is_active=bool(item.get("isActive", True)),
                    needs_reconnection=bool(item.get("needsReconnection", False)),
                )
            )
        return accounts

    async def presign(self, filename: str, content_type: str, size: int) -> Presigned:
        response = await self._call(
            "POST", "/media/presign", json={"filename": filename, "contentType": content_type, "size": size}
        )
        if response.status_code not in (200, 201):
            raise _error(response, creates=False)
        body = _body(response)
        if not body.get("uploadUrl") or not body.get("publicUrl"):
            raise LateError(ErrorKind.REFUSED, "presign answer without uploadUrl/publicUrl")
        return Presigned(str(body["uploadUrl"]), str(body["publicUrl"]), str(body.get("key") or ""))

    async def upload(self, data: bytes, content_type: str, filename: str) -> str:
        """Put our stored bytes at Late (presign, then PUT with the same type); the public URL."""
        presigned = await self.presign(filename, content_type, len(data))
        try:
            response = await self._uploads.put(
                presigned.upload_url, content=data, headers={"Content-Type": content_type}
            )
        except Exception as exc:
            if not is_transport_error(exc):
                raise
            raise LateError(ErrorKind.REFUSED, f"upload failed: {type(exc).__name__}") from exc
        if response.status_code >= 300:
            raise _error(response, creates=False)
        return presigned.public_url

    async def create_post(self, request_id: str, body: dict[str, Any], *, publish_now: bool) -> Created:
        """Create the post; `request_id` (our post id) makes a repeat within minutes return the
        same post. A 409 (content dedup) is the existing post, never a failure."""
        response = await self._call(
            "POST",
            "/posts",
            creates=True,
            json=body,
            headers={"x-request-id": request_id},
            read_seconds=self._publish_timeout if publish_now else None,
        )
        data = _body(response)
        if response.status_code in (200, 201):
            raw = data.get("post") or data.get("existingPost")
            if not isinstance(raw, dict):
                # Something was accepted, but we cannot tell what: the post may exist.
                raise LateError(ErrorKind.AMBIGUOUS, "create answered without a post", http_status=response.status_code)
            post = LatePost.parse(raw)
            return Created(post, post.id, existing="existingPost" in data or response.status_code == 200)
        if response.status_code == 409:
            details = data.get("details") if isinstance(data.get("details"), dict) else {}
            existing = details.get("existingPostId") if details else None
            if existing:
                return Created(None, str(existing), existing=True)
        raise _error(response, creates=True)

    async def get_post(self, post_id: str) -> LatePost:
        response = await self._call("GET", f"/posts/{post_id}")
        if response.status_code != 200:
            raise _error(response, creates=False)
        data = _body(response)
        return LatePost.parse(_dict(data.get("post")) or data)

    async def find_by_metadata(self, our_post_id: str) -> LatePost | None:
        """The post whose `metadata.postId` is ours, among the newest posts; None if none is."""
        for page in range(1, _FIND_PAGES + 1):
            response = await self._call("GET", "/posts", params={"page": page, "limit": _PAGE_SIZE})
            if response.status_code != 200:
                raise _error(response, creates=False)
            items = _body(response).get("posts") or []
            for item in items:
                if isinstance(item, dict) and (item.get("metadata") or {}).get("postId") == our_post_id:
                    return LatePost.parse(item)
            if len(items) < _PAGE_SIZE:
                return None
        return None

    async def delete_post(self, post_id: str) -> None:
        """Cancel a draft or scheduled post; Late answers 400 once it is published (USER)."""
        response = await self._call("DELETE", f"/posts/{post_id}")
        if response.status_code not in (200, 204, 404):
            raise _error(response, creates=False)

    async def retry_post(self, post_id: str) -> LatePost:
        response = await self._call("POST", f"/posts/{post_id}/retry")
        if response.status_code not in (200, 201):
            raise _error(response, creates=False)
        data = _body(response)
        return LatePost.parse(_dict(data.get("post")) or data)

    async def register_webhook(
        self, name: str, url: str, secret: str, events: tuple[str, ...] = WEBHOOK_EVENTS
    ) -> None:
        response = await self._call(
            "POST",
            "/webhooks/settings",
            json={"name": name, "url": url, "events": list(events), "secret": secret, "isActive": True},
        )
        if response.status_code not in (200, 201):
            raise _error(response, creates=False)
