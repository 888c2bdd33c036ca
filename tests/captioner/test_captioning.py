"""The captioner's decisions with a hand-written writer, on the real schema: bounded, once per asset."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest

from aistudio_contracts import MediaType, subjects
from aistudio_providers import Caption
from aistudio_runtime import create_pool
from aistudio_runtime.mediastore import LocalMediaStore
from captioner.captioning import Captioner, Outcome, RetryLater
from captioner.records import CaptionRecords, Claim, SystemPrompts
from captioner.stills import Stills

from .harness import caption_events, completed, fetch

pytestmark = pytest.mark.integration


@dataclass
class Pool:
    pool: asyncpg.Pool


@dataclass
class BrokenWriter:
    """Fails the way a bug would: not a provider error, an exception nobody classified."""

    calls: list[str] = field(default_factory=list)

    async def write(
        self,
        prompt: str,
        media_type: MediaType,
        image: bytes | str,
        mime_type: str | None = None,
        system_prompt: str | None = None,
    ) -> Caption:
        self.calls.append(prompt)
        raise RuntimeError("unexpected")


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Pool]:
    pool = await create_pool(database_url)
    try:
        yield Pool(pool)
    finally:
        await pool.close()


async def test_an_unexpected_failure_is_retried_and_bounded_like_any_other(
    db: Pool, media_dir: Path, database_url: str
) -> None:
    writer = BrokenWriter()
    async with httpx.AsyncClient() as http:
        captioner = Captioner(
            CaptionRecords(db),
            SystemPrompts(db),
            Stills(LocalMediaStore(media_dir), lambda: http, max_bytes=1_000_000, frame_at_seconds=1.0),
            lambda: writer,
            max_attempts=2,
            claim_seconds=60,
            on_demand_timeout_seconds=5,
        )
        event = completed(media_dir, prompt="A robot watering a garden")
        for _ in range(2):
            with pytest.raises(RuntimeError):
                await captioner.caption_completed(event)
        assert await captioner.caption_completed(event) is Outcome.GAVE_UP
        assert await captioner.caption_completed(event) is Outcome.ALREADY_SETTLED

    assert len(writer.calls) == 2
    [row] = await fetch(database_url, "SELECT status, attempts FROM captioner.captions")
    assert (row["status"], row["attempts"]) == ("failed", 3)
    assert [subject for subject, _ in await caption_events(database_url, event.asset_id)] == [subjects.CAPTION_FAILED]


async def test_a_claimed_caption_is_not_written_twice_at_once(db: Pool, media_dir: Path) -> None:
    records = CaptionRecords(db)
    event = completed(media_dir, prompt="A fox in the snow")
    first = await records.claim(event.asset_id, event.user_id, event.media_type, lease_seconds=60)
    captioner = Captioner(
        records,
        SystemPrompts(db),
        Stills(LocalMediaStore(media_dir), httpx.AsyncClient, max_bytes=1, frame_at_seconds=1.0),
        BrokenWriter,
        max_attempts=3,
        claim_seconds=60,
        on_demand_timeout_seconds=5,
    )
    with pytest.raises(RetryLater):
        await captioner.caption_completed(event)
    assert isinstance(first, Claim) and first.attempt == 1
