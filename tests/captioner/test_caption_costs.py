"""Every OpenAI call the captioner pays for is in its ledger once and told as ProviderCostRecorded
through its outbox: a caption written, a caption refused, an answer lost in transit, an on-demand
caption; a redelivered completion never adds a call."""

from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import nats
import pytest

from aistudio_contracts import CaptionReply, GenerateCaption, MediaType, subjects
from aistudio_providers.costs import Prices
from captioner.settings import CaptionerSettings

from ..support.simulator import SimulatorAdmin
from .harness import completed, cost_events, eventually, fetch, publish, put_media, settled_caption
from .harness import wait_until_acknowledged as acknowledged

pytestmark = pytest.mark.integration

DURABLE = "captioner-generation-completed"


async def ledger(database_url: str, asset_id: UUID) -> list[asyncpg.Record]:
    return await fetch(
        database_url, "SELECT * FROM captioner.provider_costs WHERE asset_id = $1 ORDER BY call_ref", asset_id
    )


def billed(simulator: SimulatorAdmin) -> tuple[int, int]:
    figures = simulator.stats()["billed"]
    return figures["openaiInputTokens"], figures["openaiOutputTokens"]


async def test_a_written_caption_is_paid_by_its_usage_and_told_once_however_often_it_is_delivered(
    captioner: CaptionerSettings, simulator: SimulatorAdmin, media_dir: Path, database_url: str
) -> None:
    event = completed(media_dir, prompt="A lighthouse in a winter storm")
    await publish(captioner.nats_url, event)
    await settled_caption(database_url, event.asset_id, within=60)
    last = await publish(captioner.nats_url, event.model_copy(update={"event_id": uuid4()}))
    await acknowledged(captioner.nats_url, DURABLE, last)

    [row] = await ledger(database_url, event.asset_id)
    assert (row["input_tokens"], row["output_tokens"]) == billed(simulator)
    assert (row["call_ref"], row["kind"], row["wasted"], row["estimated"]) == (
        f"caption:{event.asset_id}:1",
        "automatic",
        False,
        False,
    )
    prices = Prices.from_settings(captioner)
    expected = (
        row["input_tokens"] * prices.openai_usd_per_million_input
        + row["output_tokens"] * prices.openai_usd_per_million_output
    ) / Decimal(1_000_000)
    assert row["usd"] == expected
    [told] = await cost_events(database_url, event.asset_id)
    assert (told["provider"], told["call_ref"], told["unit"], told["user_id"]) == (
        "openai",
        row["call_ref"],
        "tokens",
        "alice",
    )
    # No outcome: the captioned asset was delivered, and the analytics read that from its settlement.
    assert (told["outcome"], told["estimated"], Decimal(told["usd"])) == (None, False, expected)


async def test_a_filtered_caption_is_paid_for_nothing_and_recorded_as_waste(
    captioner: CaptionerSettings, simulator: SimulatorAdmin, media_dir: Path, database_url: str
) -> None:
    event = completed(media_dir, prompt="Something the filter dislikes [sim:openai=content_filter]")
    await publish(captioner.nats_url, event)
    assert (await settled_caption(database_url, event.asset_id, within=60))["status"] == "failed"

    [row] = await ledger(database_url, event.asset_id)
    assert (row["input_tokens"], row["output_tokens"]) == billed(simulator)
    assert (row["wasted"], row["why"], row["estimated"]) == (True, "caption_refused", False)
    [told] = await cost_events(database_url, event.asset_id)
    assert (told["outcome"], told["why"]) == ("wasted", "caption_refused")


async def test_a_caption_answer_lost_in_transit_is_an_estimated_waste_and_the_retry_a_second_call(
    captioner: CaptionerSettings, simulator: SimulatorAdmin, media_dir: Path, database_url: str
) -> None:
    event = completed(media_dir, prompt="A fox in tall grass [sim:openai=timeout:1]")
    await publish(captioner.nats_url, event)
    assert (await settled_caption(database_url, event.asset_id, within=60))["status"] == "ready"

    lost, written = await ledger(database_url, event.asset_id)
    assert [lost["call_ref"], written["call_ref"]] == [f"caption:{event.asset_id}:{n}" for n in (1, 2)]
    typical = Prices.from_settings(captioner).openai_typical_caption_output_tokens
    assert (lost["wasted"], lost["why"], lost["estimated"], lost["output_tokens"]) == (
        True,
        "answer_lost",
        True,
        typical,
    )
    assert (written["wasted"], written["estimated"]) == (False, False)
    told = {call["call_ref"]: call for call in await cost_events(database_url, event.asset_id)}
    assert (told[lost["call_ref"]]["outcome"], told[lost["call_ref"]]["estimated"]) == ("wasted", True)
    assert told[written["call_ref"]]["outcome"] is None

    async def both_billed() -> bool:  # the simulator bills the lost one once its hang is over
        return bool(simulator.stats()["billed"]["openaiOutputTokens"] > written["output_tokens"])

    await eventually(both_billed, within=60)


async def test_an_openai_refusal_before_any_work_costs_nothing(
    captioner: CaptionerSettings, simulator: SimulatorAdmin, media_dir: Path, database_url: str
) -> None:
    event = completed(media_dir, prompt="A paper boat on a pond [sim:openai=429:1]")
    await publish(captioner.nats_url, event)
    assert (await settled_caption(database_url, event.asset_id, within=60))["status"] == "ready"

    [row] = await ledger(database_url, event.asset_id)  # the 429 was not billed; the retry was
    assert row["call_ref"] == f"caption:{event.asset_id}:2"
    assert (row["input_tokens"], row["output_tokens"]) == billed(simulator)


async def test_an_on_demand_caption_is_its_own_paid_call(
    captioner: CaptionerSettings, simulator: SimulatorAdmin, media_dir: Path, database_url: str
) -> None:
    asset_id = uuid4()
    media = put_media(media_dir, asset_id, MediaType.IMAGE)
    request = GenerateCaption(
        asset_id=asset_id,
        user_id="bob",
        media_type=MediaType.IMAGE,
        media_url="http://unused.invalid/media",
        prompt="A teapot shaped like a snail",
        storage_key=media.storage_key,
    )
    replies: list[dict[str, Any]] = []
    nc = await nats.connect(captioner.nats_url)
    try:
        for _ in range(2):  # asked twice by the user: two answers, two paid calls
            answer = await nc.request(subjects.CAPTION_GENERATE, request.to_json(), timeout=30)
            replies.append(CaptionReply.model_validate_json(answer.data).model_dump())
    finally:
        await nc.close()
    assert [reply["success"] for reply in replies] == [True, True]

    async def both_told() -> bool:
        return len(await cost_events(database_url, asset_id)) == 2

    await eventually(both_told)
    rows = await ledger(database_url, asset_id)
    assert {row["kind"] for row in rows} == {"on-demand"} and len({row["call_ref"] for row in rows}) == 2
    assert all(row["call_ref"].startswith(f"caption:{asset_id}:on-demand:") for row in rows)
    inputs, outputs = billed(simulator)
    assert (sum(row["input_tokens"] for row in rows), sum(row["output_tokens"] for row in rows)) == (inputs, outputs)
    assert {row["user_id"] for row in rows} == {"bob"}
