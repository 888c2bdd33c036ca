"""Access log lines without secrets: query values and path tokens are redacted before uvicorn logs them.

Media links carry their signature in the query (`?expires=...&signature=...`), event streams a ticket
(`?ticket=`), and KIE callback URLs a token in the path (`/api/providers/kie/callback/{asset}/{token}`).
A log line is read by many more people than the gateway's secrets should be.
"""

import logging
import re
from urllib.parse import parse_qsl

REDACTED = "[redacted]"
_CALLBACK_TOKEN = re.compile(r"^(/api/providers/kie/callback/[^/?]+/)[^/?]+")


def redact_path(path: str) -> str:
    """The request target as it may be logged: every query value and every path token replaced."""
    target, _, query = path.partition("?")
    target = _CALLBACK_TOKEN.sub(rf"\g<1>{REDACTED}", target)
    if not query:
        return target
    names = [name for name, _ in parse_qsl(query, keep_blank_values=True)]
    return f"{target}?{'&'.join(f'{name}={REDACTED}' for name in names) or REDACTED}"


class RedactRequestTargets(logging.Filter):
    """Rewrites uvicorn's access record (client, method, target, http version, status) in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_path(args[2]), *args[3:])
        return True


def install() -> None:
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(existing, RedactRequestTargets) for existing in logger.filters):
        logger.addFilter(RedactRequestTargets())
