"""What an operator does with dead letters: list them, look at one, replay it, or drop it.

    python -m aistudio_runtime.deadletters list|show SEQ|replay SEQ|drop SEQ [--json]

(`make dlq ARGS="list"`). NATS_URL says where NATS is. A replay republishes the original payload
and headers to the original subject, so the event keeps its id and every consumer that already
handled it recognises it; its `Nats-Msg-Id` is `replay:<dead-letter sequence>`, so the stream
takes it although it saw the original within its duplicate window. The dead letter is deleted
only once the replay is acknowledged.
"""

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import nats
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from aistudio_contracts.subjects import DEAD_LETTER_STREAM, DLQ_PREFIX, EVENTS_STREAM

from . import dead_letter as headers_of
from .settings import ServiceSettings

PUBLISH_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class DeadLetter:
    sequence: int
    subject: str
    stored_at: datetime | None
    payload: bytes
    headers: dict[str, str]

    @property
    def durable(self) -> str:
        return self.headers.get(headers_of.DURABLE) or self.subject.removeprefix(f"{DLQ_PREFIX}.")

    @property
    def original_subject(self) -> str:
        return self.headers.get(headers_of.ORIGINAL_SUBJECT, "")

    @property
    def error(self) -> str:
        return self.headers.get(headers_of.ERROR, "")

    @property
    def attempts(self) -> int:
        return int(self.headers.get(headers_of.ATTEMPTS) or 0)

    def original_headers(self) -> dict[str, str]:
        """The headers the message had before it was dead-lettered (its msg id aside)."""
        kept = {
            name: value
            for name, value in self.headers.items()
            if name not in headers_of.DEAD_LETTER_HEADERS and name != headers_of.MSG_ID
        }
        return kept

    def summary(self) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "durable": self.durable,
            "original_subject": self.original_subject,
            "attempts": self.attempts,
            "error": self.error,
            "stored_at": self.stored_at.isoformat() if self.stored_at else None,
        }

    def details(self) -> dict[str, Any]:
        try:
            body: Any = json.loads(self.payload)
        except ValueError:
            body = self.payload.decode("utf-8", errors="replace")
        return {**self.summary(), "headers": self.headers, "payload": body}


async def list_dead_letters(js: JetStreamContext, *, limit: int = 1000) -> list[DeadLetter]:
    """The oldest `limit` dead letters, in the order they were kept."""
    found: list[DeadLetter] = []
    sequence = 1
    while len(found) < limit:
        try:
            raw = await js.get_msg(DEAD_LETTER_STREAM.name, seq=sequence, subject=f"{DLQ_PREFIX}.>", next=True)
        except NotFoundError:
            break
        letter = _letter(raw)
        found.append(letter)
        sequence = letter.sequence + 1
    return found


async def show(js: JetStreamContext, sequence: int) -> DeadLetter:
    return _letter(await js.get_msg(DEAD_LETTER_STREAM.name, seq=sequence))


async def replay(js: JetStreamContext, sequence: int) -> DeadLetter:
    """Publish the dead letter again where it came from (PubAck awaited), then delete it."""
    letter = await show(js, sequence)
    if not letter.original_subject:
        raise ValueError(f"dead letter {sequence} does not say where it came from")
    headers = {**letter.original_headers(), headers_of.MSG_ID: f"replay:{sequence}"}
    await js.publish(
        letter.original_subject,
        letter.payload,
        timeout=PUBLISH_TIMEOUT_SECONDS,
        stream=letter.headers.get(headers_of.ORIGINAL_STREAM) or EVENTS_STREAM.name,
        headers=headers,
    )
    await js.delete_msg(DEAD_LETTER_STREAM.name, sequence)
    return letter


async def drop(js: JetStreamContext, sequence: int) -> DeadLetter:
    letter = await show(js, sequence)
    await js.delete_msg(DEAD_LETTER_STREAM.name, sequence)
    return letter


def _letter(raw: Any) -> DeadLetter:
    return DeadLetter(
        sequence=int(raw.seq),
        subject=str(raw.subject),
        stored_at=raw.time,
        payload=bytes(raw.data or b""),
        headers={str(name): str(value) for name, value in (raw.headers or {}).items()},
    )


def _print_human(command: str, result: DeadLetter | list[DeadLetter]) -> None:
    if isinstance(result, list):
        if not result:
            print("no dead letters")
        for letter in result:
            print(
                f"{letter.sequence:>6}  {letter.durable:<36} {letter.original_subject:<52}"
                f" attempts={letter.attempts}  {letter.error}"
            )
        return
    if command != "show":
        print(f"{command}: dead letter {result.sequence} ({result.durable}, {result.original_subject})")
        return
    for name, value in result.details().items():
        if name == "payload":
            print(f"payload:\n{json.dumps(value, indent=2) if not isinstance(value, str) else value}")
        elif name == "headers":
            print("headers:")
            for header, text in value.items():
                print(f"  {header}: {text}")
        else:
            print(f"{name}: {value}")


async def run(nats_url: str, command: str, sequence: int | None, *, as_json: bool) -> int:
    connection = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=1)
    try:
        js = connection.jetstream()
        result: DeadLetter | list[DeadLetter]
        if command == "list":
            result = await list_dead_letters(js)
        else:
            assert sequence is not None
            action = {"show": show, "replay": replay, "drop": drop}[command]
            try:
                result = await action(js, sequence)
            except NotFoundError:
                print(f"no dead letter {sequence}", file=sys.stderr)
                return 1
    finally:
        await connection.close()
    if as_json:
        payload = [letter.summary() for letter in result] if isinstance(result, list) else result.details()
        print(json.dumps(payload, indent=2, default=str))
    else:
        _print_human(command, result)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aistudio_runtime.deadletters", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("list", "show", "replay", "drop"))
    parser.add_argument("sequence", nargs="?", type=int, help="the dead letter's sequence (see list)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    if args.command != "list" and args.sequence is None:
        parser.error(f"{args.command} needs the dead letter's sequence")
    return asyncio.run(run(ServiceSettings().nats_url, args.command, args.sequence, as_json=args.json))


if __name__ == "__main__":
    sys.exit(main())
