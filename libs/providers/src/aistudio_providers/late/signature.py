"""Late signs each webhook with a hex HMAC-SHA256 of the raw body, keyed with our secret."""

import hashlib
import hmac
from collections.abc import Mapping

# Late's current header first; the one from before the rebrand is still accepted.
SIGNATURE_HEADERS = ("x-zernio-signature", "x-late-signature")


def late_signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_late_signature(secret: str, body: bytes, headers: Mapping[str, str]) -> bool:
    """True when either header carries the body's signature (compared in constant time)."""
    expected = late_signature(secret, body)
    lowered = {key.lower(): value for key, value in headers.items()}
    for name in SIGNATURE_HEADERS:
        given = (lowered.get(name) or "").strip().lower()
        given = given.removeprefix("sha256=")
        if given and hmac.compare_digest(given, expected):
            return True
    return False
