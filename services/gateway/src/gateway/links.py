"""Signed, expiring links to media in our custody, and unguessable provider-callback tokens."""

import hashlib
import hmac
import math
import time
from datetime import datetime
from uuid import UUID


class LinkSigner:
    def __init__(self, key: str, public_base_url: str, ttl_seconds: int, provider_base_url: str = "") -> None:
        self._key = key.encode()
        self._base = public_base_url.rstrip("/")
        self._provider_base = (provider_base_url or public_base_url).rstrip("/")
        self._ttl = ttl_seconds

    def _signature(self, asset_id: UUID, expires: int) -> str:
        return hmac.new(self._key, f"media:{asset_id}:{expires}".encode(), hashlib.sha256).hexdigest()

    def media_url(self, asset_id: UUID, now: float | None = None) -> str:
        # Expiry is rounded up to the TTL grid so that a link stays the same for a while (cacheable).
        now = time.time() if now is None else now
        expires = (int(now) // self._ttl + 2) * self._ttl
        return f"{self._base}/media/{asset_id}?expires={expires}&signature={self._signature(asset_id, expires)}"

    def media_url_until(self, asset_id: UUID, expires_at: datetime) -> str:
        """A link for the provider (at PROVIDER_BASE_URL) that lives until `expires_at`, whatever the
        TTL: an edit's input image, fetched whenever the queued job is sent (see api/routes/media.py)."""
        expires = math.ceil(expires_at.timestamp())
        signature = self._signature(asset_id, expires)
        return f"{self._provider_base}/media/{asset_id}?expires={expires}&signature={signature}"

    def verify(self, asset_id: UUID, expires: int, signature: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        if expires < now or not signature.isascii():
            return False
        return hmac.compare_digest(self._signature(asset_id, expires), signature)
