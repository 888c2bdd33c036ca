"""Keeping a message a consumer gave up on: a copy in the dead-letter stream, then an event.

The copy keeps the original payload and headers, so an operator can replay it unchanged (the
consumers are idempotent by event id), plus headers that say where it came from and why it
stopped. Its `Nats-Msg-Id` is `<durable>:<stream sequence>` and the MessageDeadLettered event's
id is derived from the same pair: after a crash between the publishes and the `term`, the next
delivery publishes both again and the streams store each once.
"""

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from pydantic import ValidationError

from aistudio_contracts import MessageDeadLettered
from aistudio_contracts.subjects import DEAD_LETTER_STREAM, DLQ_PREFIX, MESSAGE_DEAD_LETTERED

# Headers the dead-letter copy carries besides the original ones.
ORIGINAL_SUBJECT = "Aistudio-Original-Subject"
ORIGINAL_STREAM = "Aistudio-Original-Stream"
ORIGINAL_SEQUENCE = "Aistudio-Original-Sequence"
ORIGINAL_MSG_ID = "Aistudio-Original-Msg-Id"
DURABLE = "Aistudio-Durable"
ERROR = "Aistudio-Error"
ATTEMPTS = "Aistudio-Attempts"
DEAD_LETTER_HEADERS = (ORIGINAL_SUBJECT, ORIGINAL_STREAM, ORIGINAL_SEQUENCE, ORIGINAL_MSG_ID, DURABLE, ERROR, ATTEMPTS)

MSG_ID = "Nats-Msg-Id"
MAX_ERROR_CHARS = 300

_NAMESPACE = uuid5(NAMESPACE_URL, "aistudio:dead-letter")
_URL_QUERY = re.compile(r"(https?://[^\s?#]+)[?#]\S*")

# (subject, payload, headers, stream) → waits for the PubAck.
Publish = Callable[[str, bytes, dict[str, str], str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Undeliverable:
    """A message as the consumer received it, and why it is being given up on."""

    durable: str
    subject: str
    stream: str
    stream_sequence: int
    attempts: int
    payload: bytes
    headers: Mapping[str, str]
    error: str

    @property
    def dead_letter_subject(self) -> str:
        return f"{DLQ_PREFIX}.{self.durable}"

    @property
    def dead_letter_msg_id(self) -> str:
        return f"{self.durable}:{self.stream_sequence}"

    def dead_letter_headers(self) -> dict[str, str]:
        headers = {name: value for name, value in self.headers.items() if name != MSG_ID}
        if original_id := self.headers.get(MSG_ID):
            headers[ORIGINAL_MSG_ID] = original_id
        headers.update(
            {
                MSG_ID: self.dead_letter_msg_id,
                ORIGINAL_SUBJECT: self.subject,
                ORIGINAL_STREAM: self.stream,
                ORIGINAL_SEQUENCE: str(self.stream_sequence),
                DURABLE: self.durable,
                ERROR: self.error,
                ATTEMPTS: str(self.attempts),
            }
        )
        return headers

    def announcement(self) -> MessageDeadLettered | None:
        """The event that lets the job's owner end it; none for a dead letter of that event itself,
        which would otherwise feed its own consumer another one to fail on."""
        if self.subject == MESSAGE_DEAD_LETTERED:
            return None
        event_id = uuid5(_NAMESPACE, f"{self.stream}:{self.durable}:{self.stream_sequence}")
        asset_id, user_id = named_in(self.payload)
        return MessageDeadLettered(
            event_id=event_id,
            correlation_id=asset_id or event_id,
            durable=self.durable,
            original_subject=self.subject,
            dead_letter_subject=self.dead_letter_subject,
            attempts=self.attempts,
            error=self.error,
            asset_id=asset_id,
            user_id=user_id,
        )


async def keep(message: Undeliverable, publish: Publish, events_stream: str) -> MessageDeadLettered | None:
    """Store the copy, then announce it; raises if either is not acknowledged (nothing may be
    terminated then)."""
    await publish(message.dead_letter_subject, message.payload, message.dead_letter_headers(), DEAD_LETTER_STREAM.name)
    event = message.announcement()
    if event is not None:
        headers = {MSG_ID: str(event.event_id), "content-type": "application/json"}
        await publish(event.subject, event.to_json(), headers, events_stream)
    return event


def named_in(payload: bytes) -> tuple[UUID | None, str | None]:
    """The asset and user a payload names, when it is a JSON object that names them."""
    try:
        body = json.loads(payload)
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    asset_id = _uuid(body.get("asset_id")) or _uuid(body.get("correlation_id"))
    user_id = body.get("user_id")
    return asset_id, user_id if isinstance(user_id, str) and user_id else None


def describe(exc: BaseException) -> str:
    """A short, header-safe account of the failure: the exception's type and first line, URLs cut
    before their query (signed links carry secrets there); for a ValidationError only where and
    what, never the values."""
    if isinstance(exc, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '<root>'}: {error['type']}" for error in exc.errors()
        )
        text = f"ValidationError: {problems}"
    else:
        first_line = (str(exc).strip().splitlines() or [""])[0]
        text = f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
    text = _URL_QUERY.sub(r"\1?...", text)
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def _uuid(value: Any) -> UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return UUID(value)
    except ValueError:
        return None
