"""A caption for every finished image and video, written by OpenAI (the simulator) from the media itself."""

import json
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import pytest

from aistudio_contracts import CaptionSettingsChanged, MediaType, subjects
from captioner.app import create_app as create_captioner
from captioner.settings import CaptionerSettings

from ..support.services import running
from ..support.simulator import SimulatorAdmin
from .harness import (
    caption_events,
    completed,
    consumer_info,
    eventually,
    fetch,
    openai_calls,
    publish,
    settled_caption,
    wait_until_acknowledged,
)

pytestmark = pytest.mark.integration

DURABLE = "captioner-generation-completed"


async def test_a_finished_image_is_captioned_from_the_image_and_its_prompt(
    captioner: CaptionerSettings, simulator: SimulatorAdmin, media_dir: Path, database_url: str
) -> None:
    event = completed(media_dir, prompt="A serene mountain landscape at sunset")
    await publish(captioner.nats_url, event)

    row = await settled_caption(database_url, event.asset_id)
    assert row["status"] == "ready" and row["attempts"] == 1
    assert row["caption"].startswith("A serene mountain landscape at sunset")
    [call] = openai_calls(simulator.requests("openai"), event.prompt)
    assert call["images"] == 1 and "This is an image" in call["userText"]
    assert call["body"]["messages"][1]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert call["systemPrompt"].startswith("You write captions for social media posts")
    [(subject, payload)] = await caption_events(database_url, event.asset_id)
    generated = json.loads(payload)
    assert subject == subjects.CAPTION_GENERATED
    assert (generated["caption"], generated["user_id"], generated["model"]) == (row["caption"], "alice", "gpt-4o-mini")


async def test_a_finished_video_is_captioned_from_a_still_taken_from_it(
    captioner: CaptionerSettings, simulator: SimulatorAdmin, media_dir: Path, database_url: str
) -> None:
    event = completed(media_dir, prompt="A drone shot over a foggy forest at dawn", media_type=MediaType.VIDEO)
    await publish(captioner.nats_url, event)

    row = await settled_caption(database_url, event.asset_id)
    assert row["status"] == "ready" and row["media_type"] == "video"
    [call] = openai_calls(simulator.requests("openai"), event.prompt)
    assert "This is a frame of a video" in call["userText"]
    assert call["body"]["messages"][1]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")


async def test_the_users_caption_system_prompt_reaches_the_model(
    captioner: CaptionerSettings, simulator: SimulatorAdmin, media_dir: Path, database_url: str
) -> None:
    house_style = "Write like a pirate. Always end with #arr."
    settings = CaptionSettingsChanged(
        correlation_id=uuid4(), user_id="bob", caption_system_prompt=house_style, version=1
    )
    others = completed(media_dir, prompt="A lighthouse in a winter storm", user_id="carol")
    bobs = completed(media_dir, prompt="A pirate ship at golden hour", user_id="bob")
    await publish(captioner.nats_url, settings)
    await wait_until_acknowledged(captioner.nats_url, "captioner-caption-settings-changed", 1)
    await publish(captioner.nats_url, others, bobs)

    await settled_caption(database_url, bobs.asset_id)
    await settled_caption(database_url, others.asset_id)
    requests = simulator.requests("openai")
    assert openai_calls(requests, bobs.prompt)[0]["systemPrompt"] == house_style
    assert openai_calls(requests, others.prompt)[0]["systemPrompt"] != house_style


async def test_a_reset_prompt_and_an_older_settings_event_leave_the_newest_in_place(
    captioner: CaptionerSettings, database_url: str
) -> None:
    def change(prompt: str | None, version: int) -> CaptionSettingsChanged:
        return CaptionSettingsChanged(
            correlation_id=uuid4(), user_id="dana", caption_system_prompt=prompt, version=version
        )

    last = await publish(captioner.nats_url, change("v1", 1), change(None, 3), change("v2", 2))
    await wait_until_acknowledged(captioner.nats_url, "captioner-caption-settings-changed", last)

    [row] = await fetch(database_url, "SELECT * FROM captioner.user_settings WHERE user_id = 'dana'")
    assert (row["caption_system_prompt"], row["version"]) == (None, 3)


async def test_a_redelivered_completion_does_not_ask_openai_again(
    captioner: CaptionerSettings, simulator: SimulatorAdmin, media_dir: Path, database_url: str
) -> None:
    event = completed(media_dir, prompt="A bowl of ramen on a rainy night")
    await publish(captioner.nats_url, event)
    first = await settled_caption(database_url, event.asset_id)

    # The same completion again (as after a lost ack, or reported twice by callback and poller).
    again = event.model_copy(update={"event_id": uuid4()})
    last = await publish(captioner.nats_url, again)
    await wait_until_acknowledged(captioner.nats_url, DURABLE, last)

    assert len(openai_calls(simulator.requests("openai"), event.prompt)) == 1
    assert [subject for subject, _ in await caption_events(database_url, event.asset_id)] == [
        subjects.CAPTION_GENERATED
    ]
    [row] = await fetch(database_url, "SELECT * FROM captioner.captions WHERE asset_id = $1", event.asset_id)
    assert (row["caption"], row["attempts"]) == (first["caption"], 1)


async def test_a_caption_slower_than_the_ack_wait_asks_openai_once_with_two_replicas(
    make_captioner_settings: Callable[..., CaptionerSettings],
    simulator: SimulatorAdmin,
    media_dir: Path,
    database_url: str,
) -> None:
    # JetStream hands the message to the other replica after the ack wait, while the first is still at it.
    settings = make_captioner_settings(ack_wait_seconds=1.0, openai_timeout_seconds=20.0)  # only the ack wait is short
    simulator.configure(openai_seconds=2.5, time_scale=1.0)
    event = completed(media_dir, prompt="A slow caption for a patient audience")
    async with running(create_captioner(settings)), running(create_captioner(settings)):
        last = await publish(settings.nats_url, event)
        row = await settled_caption(database_url, event.asset_id)
        await wait_until_acknowledged(settings.nats_url, DURABLE, last)
        info = await consumer_info(settings.nats_url, DURABLE)

    assert info.delivered.consumer_seq > info.delivered.stream_seq == last  # it was delivered again meanwhile
    assert row["status"] == "ready"
    assert len(openai_calls(simulator.requests("openai"), event.prompt)) == 1
    assert len(await caption_events(database_url, event.asset_id)) == 1


@pytest.mark.parametrize("fault", ["429", "500", "timeout"])
async def test_an_openai_failure_is_retried_until_the_caption_is_written(
    fault: str, captioner: CaptionerSettings, simulator: SimulatorAdmin, media_dir: Path, database_url: str
) -> None:
    event = completed(media_dir, prompt=f"A cat astronaut floating in space [sim:openai={fault}:1]")
    await publish(captioner.nats_url, event)

    row = await settled_caption(database_url, event.asset_id)
    assert (row["status"], row["attempts"]) == ("ready", 2)
    assert len(openai_calls(simulator.requests("openai"), "A cat astronaut")) == 2
    assert [subject for subject, _ in await caption_events(database_url, event.asset_id)] == [
        subjects.CAPTION_GENERATED
    ]


@pytest.mark.parametrize("captioner_options", [{"caption_max_attempts": 2}])
@pytest.mark.parametrize("fault", ["429", "500", "timeout"])
async def test_an_openai_failure_that_persists_ends_in_caption_failed_after_the_last_attempt(
    fault: str, captioner: CaptionerSettings, simulator: SimulatorAdmin, media_dir: Path, database_url: str
) -> None:
    event = completed(media_dir, prompt=f"A neon city skyline at midnight [sim:openai={fault}]")
    last = await publish(captioner.nats_url, event)

    row = await settled_caption(database_url, event.asset_id)
    await wait_until_acknowledged(captioner.nats_url, DURABLE, last)
    assert (row["status"], row["attempts"], row["caption"]) == ("failed", 2, None)
    assert len(openai_calls(simulator.requests("openai"), "A neon city skyline")) == 2
    [(subject, payload)] = await caption_events(database_url, event.asset_id)
    assert subject == subjects.CAPTION_FAILED and json.loads(payload)["message"]


async def test_a_content_filter_refusal_is_not_retried(
    captioner: CaptionerSettings, simulator: SimulatorAdmin, media_dir: Path, database_url: str
) -> None:
    event = completed(media_dir, prompt="Something the filter dislikes [sim:openai=content_filter]")
    await publish(captioner.nats_url, event)

    row = await settled_caption(database_url, event.asset_id)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "content filter" in row["last_error"]
    assert len(openai_calls(simulator.requests("openai"), "Something the filter dislikes")) == 1


async def test_media_missing_from_our_store_is_retried_then_given_up(
    captioner: CaptionerSettings, simulator: SimulatorAdmin, media_dir: Path, database_url: str
) -> None:
    event = completed(media_dir, prompt="A picture that went missing")
    (media_dir / event.media.storage_key).unlink()
    await publish(captioner.nats_url, event)

    row = await settled_caption(database_url, event.asset_id)
    assert (row["status"], row["attempts"]) == ("failed", 3)
    assert simulator.requests("openai") == []


async def test_several_finished_assets_are_captioned_together_and_their_captions_published(
    captioner: CaptionerSettings, media_dir: Path, database_url: str
) -> None:
    events = [completed(media_dir, prompt=f"Postcard number {n} from the seaside") for n in range(6)]
    await publish(captioner.nats_url, *events)
    rows = [await settled_caption(database_url, event.asset_id) for event in events]
    assert {row["status"] for row in rows} == {"ready"}
    await eventually(lambda: _all_published(database_url, 6))


async def _all_published(database_url: str, count: int) -> bool:
    rows = await fetch(
        database_url,
        "SELECT count(*) AS n FROM captioner.outbox WHERE published_at IS NOT NULL AND subject = $1",
        subjects.CAPTION_GENERATED,
    )
    return int(rows[0]["n"]) == count
