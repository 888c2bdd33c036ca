"""Late (zernio.com), the social posting API the publisher posts through."""

from .client import (
    WEBHOOK_EVENTS,
    Created,
    LateAccount,
    LateClient,
    LateError,
    LatePlatform,
    LatePost,
    Presigned,
    utc_z,
)
from .settings import DEFAULT_LATE_BASE_URL, LateSettings
from .signature import SIGNATURE_HEADERS, late_signature, verify_late_signature

__all__ = [
    "DEFAULT_LATE_BASE_URL",
    "SIGNATURE_HEADERS",
    "WEBHOOK_EVENTS",
    "Created",
    "LateAccount",
    "LateClient",
    "LateError",
    "LatePlatform",
    "LatePost",
    "LateSettings",
    "Presigned",
    "late_signature",
    "utc_z",
    "verify_late_signature",
]
