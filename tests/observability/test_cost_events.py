"""Costs as events: the ledger tells each paid call through the generator's outbox, the analytics
count it once however often it is told, a lost Gemini answer is an estimated cost, and KIE's
balance is cross-checked against the ledger."""

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import cast
from uuid import uuid4

import asyncpg
import httpx
import pytest

from aistudio_providers.costs import Prices
from aistudio_providers.settings import ProviderSettings
from aistudio_runtime import Database
from generator.costs import CostLedger

from .conftest import Services
from .test_analytics import report
from .test_metrics import scrape, value
from .test_ops import ops_json


class _Pool:
    """What the ledger needs of a Database: its pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool


@pytest.fixture
async def ledger(services: Services) -> AsyncIterator[CostLedger]:
    """The generator's own ledger class on the test's database: what it writes, the running
    generator's outbox relay publishes."""
    pool = await asyncpg.create_pool(services.database_url, min_size=1, max_size=2)
    try:
        yield CostLedger(cast(Database, _Pool(pool)), Prices.from_settings(ProviderSettings()))
    finally:
        await pool.close()


async def test_a_call_told_again_with_its_final_outcome_is_counted_once(services: Services, ledger: CostLedger) -> None:
    asset_id = uuid4()
    cost = ledger.prices.kie("kie-veo3", "veo3_fast")
    await ledger.record(asset_id, "late-user", cost, call_ref="task-told-twice")
    await ledger.record(asset_id, "late-user", cost, call_ref="task-told-twice")  # adopted: not news

    async def told(calls: int, wasted: int) -> bool:
        figures = await report(services)
        return (figures["costs"]["totals"]["calls"], figures["waste"]["count"]) == (calls, wasted)

    await services.wait_for("the paid call in the analytics", lambda: told(1, 0))
    await ledger.mark_wasted("task-told-twice", "after_cancel")  # its result came back after a cancel
    await services.wait_for("the call told again as wasted", lambda: told(1, 1))

    figures = await report(services)
    assert figures["costs"]["totals"]["usd"] == float(cost.usd) == figures["waste"]["usd"]
    assert figures["waste"]["byReason"] == [{"reason": "after_cancel", "count": 1, "usd": float(cost.usd)}]
    assert figures["costPerDeliveredAsset"] is None  # nothing was delivered
    conn = await asyncpg.connect(services.database_url)
    try:
        told_events = await conn.fetchval(
            "SELECT count(*) FROM generator.outbox WHERE subject = 'aistudio.events.cost.recorded'"
        )
    finally:
        await conn.close()
    assert told_events == 2  # recorded, then wasted; the repeated task id told nothing


@pytest.mark.parametrize("generator_overrides", [{"gemini_timeout_seconds": 1.0}])  # the simulator hangs 4 s
async def test_a_gemini_answer_lost_in_transit_is_an_estimated_cost_and_waste(services: Services) -> None:
    asset_id = await services.generate(
        "lost-user", prompt="A very slow painter [sim:gemini=timeout]", provider="gemini-flash", type="image"
    )
    asset = await services.wait_settled("lost-user", asset_id)
    assert asset["status"] == "error"

    conn = await asyncpg.connect(services.database_url)
    try:
        rows = await conn.fetch(
            "SELECT call_ref, output_tokens, estimated, wasted, why FROM generator.provider_costs"
            " WHERE asset_id = $1 ORDER BY call_ref",
            asset_id,
        )
    finally:
        await conn.close()
    # Each call the rules allowed (the first and its one repeat) was sent, so Gemini bills each.
    assert [row["call_ref"] for row in rows] == [f"gemini:{asset_id}:1", f"gemini:{asset_id}:2"]
    typical = ProviderSettings().gemini_typical_image_output_tokens
    assert {(r["output_tokens"], r["estimated"], r["wasted"], r["why"]) for r in rows} == {
        (typical, True, True, "answer_lost")
    }

    async def billed_both() -> bool:  # the simulator bills once its hang is over
        stats = await asyncio.to_thread(services.simulator.stats)
        return bool(stats["billed"]["geminiOutputTokens"] == 2 * typical)

    await services.wait_for("Gemini's bill for both lost answers", billed_both)
    ledger = await ops_json(
        "costs", "--asset", asset_id, database_url=services.database_url, nats_url=services.nats_url
    )
    assert {(call["outcome"], call["why"], call["estimated"]) for call in ledger["calls"]} == {
        ("wasted", "answer_lost", True)
    }

    async def projected() -> bool:
        return bool((await report(services))["waste"]["count"] == 2)

    await services.wait_for("the lost answers in the analytics", projected)
    waste = (await report(services))["waste"]
    assert [(r["reason"], r["count"]) for r in waste["byReason"]] == [("answer_lost", 2)]


CHECKED = {"kie_credit_check": True, "kie_credit_check_seconds": 0.3, "kie_credit_drift_tolerance": 1.0}


@pytest.mark.parametrize("generator_overrides", [CHECKED])
async def test_kie_credits_spent_match_the_ledger_until_kie_charges_what_we_did_not_record(
    services: Services,
) -> None:
    for prompt, provider, kind in [("a red kite", "kie-4o-image", "image"), ("a quiet lake", "kie-veo3", "video")]:
        await services.wait_settled(
            "credit-user", await services.generate("credit-user", prompt=prompt, provider=provider, type=kind)
        )
    balance = (await asyncio.to_thread(services.simulator.stats))["credits"]
    assert balance == 10_000 - 66

    async def reading(balance: float, drift: float) -> bool:
        metrics = await scrape(services.scrape_urls["generator"])
        found = (value(metrics, "aistudio_kie_credit_balance"), value(metrics, "aistudio_kie_credit_drift"))
        return found == (balance, drift)

    await services.wait_for("a reading after the run with no drift", lambda: reading(balance, 0))

    # KIE takes 25 credits the ledger knows nothing about (another client of the key, a price change).
    async with httpx.AsyncClient(base_url=services.simulator.url, timeout=30) as client:
        response = await client.post("/_admin/kie/charge", json={"credits": 25})
        assert response.status_code == 200, response.text
    await services.wait_for("the unrecorded charge as drift", lambda: reading(balance - 25, 25))

    # A top-up is no spending: the check starts over from the new balance.
    await asyncio.to_thread(services.simulator.configure, initial_credits=20_000)
    await services.wait_for("the check started over after the top-up", lambda: reading(20_000, 0))


def test_the_estimate_for_a_lost_gemini_answer_prices_the_typical_image() -> None:
    prices = Prices.from_settings(ProviderSettings())
    cost = prices.gemini_estimate("gemini-2.5-flash-image", "x" * 40, with_reference=True)
    assert (cost.input_tokens, cost.output_tokens, cost.estimated) == (10 + 258, 1290, True)
    expected = (
        Decimal(268) * prices.gemini_usd_per_million_input + 1290 * prices.gemini_usd_per_million_output
    ) / 10**6
    assert cost.usd == expected


@pytest.mark.parametrize("marker", ["blocked_output", "text_only"])
async def test_a_gemini_answer_refused_is_paid_by_its_usage_as_a_failed_cost(services: Services, marker: str) -> None:
    user = f"refused-{marker}"
    asset_id = await services.generate(
        user, prompt=f"A harbour at dusk [sim:gemini={marker}]", provider="gemini-flash", type="image"
    )
    assert (await services.wait_settled(user, asset_id))["status"] == "error"

    conn = await asyncpg.connect(services.database_url)
    try:
        rows = await conn.fetch(
            "SELECT call_ref, input_tokens, output_tokens, usd, estimated, wasted FROM generator.provider_costs"
            " WHERE asset_id = $1 ORDER BY call_ref",
            asset_id,
        )
    finally:
        await conn.close()
    # Gemini answered (no image) and billed each call the rules made (words only may be asked once
    # more): their own usage figures, not estimates, and nothing else paid.
    billed = (await asyncio.to_thread(services.simulator.stats))["billed"]
    assert [row["call_ref"] for row in rows] == [f"gemini:{asset_id}:{n}" for n in range(1, len(rows) + 1)]
    assert 0 < len(rows) == billed["geminiOutputTokens"] // ProviderSettings().gemini_typical_image_output_tokens
    assert (sum(r["input_tokens"] for r in rows), sum(r["output_tokens"] for r in rows)) == (
        billed["geminiInputTokens"],
        billed["geminiOutputTokens"],
    )
    assert {(r["estimated"], r["wasted"]) for r in rows} == {(False, False)}
    ledger = await ops_json(
        "costs", "--asset", asset_id, database_url=services.database_url, nats_url=services.nats_url
    )
    assert {(call["provider"], call["outcome"]) for call in ledger["calls"]} == {("gemini", "failed")}
    paid = float(sum(r["usd"] for r in rows))

    async def projected() -> bool:
        costs = (await report(services))["costs"]["totals"]
        return bool(abs(costs["failedUsd"] - paid) < 1e-9 and costs["calls"] == len(rows))

    await services.wait_for("the refused calls as failed costs in the analytics", projected)
