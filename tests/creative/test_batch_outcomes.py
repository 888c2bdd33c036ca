"""A 4o batch is one paid KIE task for every variant: its failure reaches every variant at once
(not at the deadline), a cancel of one variant ends that asset only while the others are made,
and a cancel the generator reads before the request is remembered, so the request is never sent.
Over real NATS, Postgres and the simulator."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from aistudio_contracts import GenerationCancelled, GenerationRequested, MediaType, Provider, subjects

from ..support.events import publish
from .conftest import Creative, eventually

pytestmark = pytest.mark.integration

# The sweeper would fail a stuck variant only after this; every outcome here must come long before.
TIMEOUT = {"generation_timeout_seconds": 600}
TASK_PRICE_CREDITS = Decimal("6")  # kie-4o-image in the default KIE_CREDIT_PRICES


async def _batch(system: Creative, user: str, prompt: str, variants: int) -> list[dict[str, Any]]:
    body = {"prompt": prompt, "provider": "kie-4o-image", "type": "image", "variants": variants}
    response = await system.api.post("/api/ai/generate-media", json=body, headers=system.auth(user))
    assert response.status_code == 202, response.text
    return response.json()["assets"]  # type: ignore[no-any-return]


async def _finished(system: Creative, user: str, assets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [await system.wait_finished(user, asset["id"], within=60) for asset in assets]


async def _released(system: Creative, user: str, used: int) -> None:
    async def settled() -> bool:
        usage = await system.usage(user)
        return (usage["used"], usage["reserved"]) == (used, 0)

    await eventually(settled, f"{user}'s units settled with {used} used")


async def _shares(system: Creative, task_id: str) -> list[Any]:
    assert system.db is not None
    return list(
        await system.db.fetch(
            "SELECT asset_id, call_ref, units, wasted, why FROM generator.provider_costs"
            " WHERE call_ref = $1 OR call_ref LIKE $1 || '/%' ORDER BY call_ref",
            task_id,
        )
    )


@pytest.mark.parametrize("creative_options", [TIMEOUT])
async def test_a_batch_kie_refuses_at_submit_fails_every_variant_at_once_with_its_reason(system: Creative) -> None:
    assets = await _batch(system, "rita", "A lighthouse in a storm, refused [sim:submit=400]", 3)
    finished = await _finished(system, "rita", assets)
    assert [asset["status"] for asset in finished] == ["error"] * 3
    assert {asset["errorCode"] for asset in finished} == {"content_policy"}
    await _released(system, "rita", used=0)
    assert not [
        call for call in await asyncio.to_thread(system.simulator.requests, "gemini") if "lighthouse" in str(call)
    ]


@pytest.mark.parametrize("creative_options", [TIMEOUT])
async def test_a_batch_task_that_fails_fails_every_variant_with_the_same_reason(system: Creative) -> None:
    assets = await _batch(system, "rita", "A lighthouse at dusk, flagged [sim:result=content_policy]", 2)
    finished = await _finished(system, "rita", assets)
    assert [asset["status"] for asset in finished] == ["error"] * 2
    assert len({(asset["errorCode"], asset["errorMessage"]) for asset in finished}) == 1
    assert finished[0]["errorCode"] == "content_policy"
    await _released(system, "rita", used=0)


@pytest.mark.parametrize("creative_options", [TIMEOUT])
async def test_cancelling_one_variant_ends_it_alone_and_its_share_of_the_task_is_waste(system: Creative) -> None:
    assets = await _batch(system, "sven", "Three paper cranes on a desk [sim:duration=4]", 3)
    task_id = await eventually(
        lambda: system.row(
            "SELECT task_id FROM generator.jobs WHERE asset_id = $1 AND task_id IS NOT NULL", UUID(assets[0]["id"])
        ),
        "the batch's task to be accepted",
    )
    task_id = task_id["task_id"]
    # The lead asset (the one whose job holds the task) and a variant: the third is still made.
    for cancelled in (assets[0], assets[1]):
        response = await system.cancel("sven", cancelled["id"])
        assert response.status_code == 200 and response.json()["status"] == "cancelled", response.text
    finished = await _finished(system, "sven", assets)
    assert [asset["status"] for asset in finished] == ["cancelled", "cancelled", "ready"]
    assert finished[0]["resultUrl"] is None and finished[1]["resultUrl"] is None
    await _released(system, "sven", used=1)

    task = await system.row("SELECT state, outcome, cancelled_asset_ids FROM poller.tasks WHERE task_id = $1", task_id)
    assert task is not None and (task["state"], task["outcome"]) == ("done", "completed")
    assert set(task["cancelled_asset_ids"]) == {UUID(assets[0]["id"]), UUID(assets[1]["id"])}
    delivered = await system.row(
        "SELECT count(*) AS n FROM poller.outbox WHERE subject = $1"
        " AND convert_from(payload, 'UTF8')::jsonb->>'task_id' = $2",
        subjects.GENERATION_COMPLETED,
        task_id,
    )
    assert delivered is not None and delivered["n"] == 1  # only the wanted variant's result

    async def wasted_marked() -> list[Any] | None:
        shares = await _shares(system, task_id)
        return shares if [share["wasted"] for share in shares] == [True, True, False] else None

    shares = await eventually(wasted_marked, "the cancelled variants' shares to be waste")
    assert [share["asset_id"] for share in shares] == [UUID(asset["id"]) for asset in assets]
    assert {share["why"] for share in shares[:2]} == {"after_cancel"}
    assert sum(share["units"] for share in shares) == TASK_PRICE_CREDITS
    assert len([task for task in await asyncio.to_thread(system.simulator.tasks) if task["taskId"] == task_id]) == 1


@pytest.mark.parametrize("creative_options", [TIMEOUT])
async def test_cancelling_every_variant_stops_following_the_task(system: Creative) -> None:
    assets = await _batch(system, "sven", "Two origami frogs [sim:duration=4]", 2)
    row = await eventually(
        lambda: system.row("SELECT task_id FROM poller.tasks WHERE asset_id = $1", UUID(assets[0]["id"])),
        "the poller to follow the batch's task",
    )
    for asset in assets:
        assert (await system.cancel("sven", asset["id"])).status_code == 200
    task = await eventually(
        lambda: system.row("SELECT outcome FROM poller.tasks WHERE task_id = $1 AND state = 'done'", row["task_id"]),
        "the poller to stop following the task",
    )
    assert task["outcome"] == "cancelled"
    await _released(system, "sven", used=0)
    shares = await eventually(lambda: _all_wasted(system, row["task_id"]), "every share of the task to be waste")
    assert len(shares) == 2


async def _all_wasted(system: Creative, task_id: str) -> list[Any] | None:
    shares = await _shares(system, task_id)
    return shares if shares and all(share["wasted"] for share in shares) else None


def _request(asset_id: UUID, prompt: str, variants: list[UUID] | None = None) -> GenerationRequested:
    return GenerationRequested(
        correlation_id=asset_id,
        asset_id=asset_id,
        user_id="tess",
        provider=Provider.KIE_4O_IMAGE,
        media_type=MediaType.IMAGE,
        prompt=prompt,
        aspect_ratio="1:1",
        deadline_at=datetime.now(UTC) + timedelta(minutes=10),
        variant_asset_ids=variants,
    )


def _cancelled(asset_id: UUID) -> GenerationCancelled:
    return GenerationCancelled(
        correlation_id=asset_id,
        asset_id=asset_id,
        user_id="tess",
        provider=Provider.KIE_4O_IMAGE,
        media_type=MediaType.IMAGE,
    )


async def _tombstone(system: Creative, asset_id: UUID) -> None:
    await eventually(
        lambda: system.row("SELECT 1 FROM generator.jobs WHERE asset_id = $1 AND request IS NULL", asset_id),
        "the generator to remember the cancel",
    )


def _taken_in(system: Creative, asset_id: UUID) -> Callable[[], Awaitable[asyncpg.Record | None]]:
    return lambda: system.row(
        "SELECT state, failure_reason FROM generator.jobs WHERE asset_id = $1 AND request IS NOT NULL", asset_id
    )


async def test_a_cancel_read_before_its_request_means_the_request_is_never_sent(
    system: Creative, nats_url: str
) -> None:
    single, lead, variant = uuid4(), uuid4(), uuid4()
    prompt = f"A kite over dunes {uuid4()}"
    # The cancels first (the generator reads them on their own consumer), then the requests.
    await publish(nats_url, _cancelled(single), _cancelled(lead), _cancelled(variant))
    for asset_id in (single, lead, variant):
        await _tombstone(system, asset_id)
    await publish(nats_url, _request(single, prompt), _request(lead, prompt, [lead, variant]))

    for asset_id in (single, lead):
        job = await eventually(_taken_in(system, asset_id), "the request to be taken in")
        assert (job["state"], job["failure_reason"]) == ("failed", "cancelled")
    # Never in the fair queue, never sent, never paid.
    joined = await system.row(
        "SELECT count(*) AS n FROM generator.outbox WHERE subject = $1"
        " AND (convert_from(payload, 'UTF8')::jsonb->>'asset_id')::uuid = ANY($2::uuid[])",
        subjects.QUEUE_JOINED,
        [single, lead],
    )
    assert joined is not None and joined["n"] == 0
    costs = await system.row(
        "SELECT count(*) AS n FROM generator.provider_costs WHERE asset_id = ANY($1::uuid[])", [single, lead, variant]
    )
    assert costs is not None and costs["n"] == 0
    await asyncio.sleep(1.0)  # a worker that wrongly claimed the job would have sent it by now
    assert not [entry for entry in system.simulator._get("/_admin/submissions") if entry["prompt"] == prompt]


async def test_a_batch_whose_lead_was_cancelled_before_its_request_is_made_for_the_other_variants(
    system: Creative, nats_url: str
) -> None:
    lead, variant = uuid4(), uuid4()
    await publish(nats_url, _cancelled(lead))
    await _tombstone(system, lead)
    await publish(nats_url, _request(lead, f"Two teacups {uuid4()}", [lead, variant]))
    job = await eventually(
        lambda: system.row(
            "SELECT task_id, cancelled_asset_ids FROM generator.jobs WHERE asset_id = $1 AND task_id IS NOT NULL",
            lead,
        ),
        "the batch to be sent for the variant still wanted",
    )
    assert job["cancelled_asset_ids"] == [lead]
    task = await eventually(
        lambda: system.row(
            "SELECT outcome, cancelled_asset_ids FROM poller.tasks WHERE task_id = $1 AND state = 'done'",
            job["task_id"],
        ),
        "the poller to finish the task",
    )
    assert (task["outcome"], task["cancelled_asset_ids"]) == ("completed", [lead])
    delivered = await system.db.fetch(  # type: ignore[union-attr]
        "SELECT convert_from(payload, 'UTF8')::jsonb->>'asset_id' AS asset_id FROM poller.outbox"
        " WHERE subject = $1 AND convert_from(payload, 'UTF8')::jsonb->>'task_id' = $2",
        subjects.GENERATION_COMPLETED,
        job["task_id"],
    )
    assert [UUID(row["asset_id"]) for row in delivered] == [variant]
    shares = await eventually(lambda: _shares_settled(system, job["task_id"]), "the lead's share to be waste")
    assert [(share["asset_id"], share["wasted"]) for share in shares] == [(lead, True), (variant, False)]


async def _shares_settled(system: Creative, task_id: str) -> list[Any] | None:
    shares = await _shares(system, task_id)
    return shares if len(shares) == 2 and shares[0]["wasted"] else None
