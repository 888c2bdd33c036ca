"""Making KIE's callbacks trustworthy enough to act on as a hint.

The callBackUrl carries a per-asset token derived with HMAC from our secret, so only KIE (which
we gave the URL) can hit it, and nothing needs storing to check it. When KIE is configured with
a webhook key it also signs each callback; that signature is checked here too.
"""

import base64
import hashlib
import hmac
import time
from uuid import UUID

CALLBACK_PATH = "/api/providers/kie/callback/{asset_id}/{token}"

# Domain separation: the same secret may sign other things without tokens being interchangeable.
_TOKEN_CONTEXT = b"aistudio/kie-callback/v1:"


def callback_token(secret: str, asset_id: UUID) -> str:
    """An unguessable, URL-safe token bound to one asset (43 characters, 256 bits)."""
    if not secret:
        raise ValueError("the callback secret is empty")
    digest = hmac.new(secret.encode(), _TOKEN_CONTEXT + str(asset_id).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verify_callback_token(secret: str, asset_id: UUID, token: str) -> bool:
    expected = callback_token(secret, asset_id).encode("ascii")
    # compare_digest on bytes: a str with non-ASCII characters would raise instead of failing.
    return hmac.compare_digest(expected, token.encode("utf-8", errors="replace"))


def callback_url(public_base_url: str, asset_id: UUID, token: str) -> str:
    return public_base_url.rstrip("/") + CALLBACK_PATH.format(asset_id=asset_id, token=token)


def kie_signature(key: str, task_id: str, timestamp: str | int) -> str:
    """What KIE sends as X-Webhook-Signature: base64(HMAC-SHA256(taskId + "." + timestamp))."""
    message = f"{task_id}.{timestamp}".encode()
    return base64.b64encode(hmac.new(key.encode(), message, hashlib.sha256).digest()).decode("ascii")


def verify_kie_signature(
    key: str,
    task_id: str,
    timestamp: str | int | None,
    signature: str | None,
    max_skew_seconds: int = 300,
    *,
    now: float | None = None,
) -> bool:
    """Check X-Webhook-Signature. A stale timestamp fails too, so a captured callback can't be replayed."""
    if not key or not task_id or timestamp is None or not signature:
        return False
    raw_timestamp = str(timestamp).strip()
    if not raw_timestamp.isdigit():
        return False
    current = time.time() if now is None else now
    if abs(current - int(raw_timestamp)) > max_skew_seconds:
        return False
    expected = kie_signature(key, task_id, raw_timestamp).encode("ascii")
    return hmac.compare_digest(expected, signature.strip().encode("utf-8", errors="replace"))
