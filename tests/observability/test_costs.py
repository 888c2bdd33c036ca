"""The cost ledger reconciles with the simulator's own bill for a mixed run, with the waste named."""

import asyncio
from typing import Any

import asyncpg

from aistudio_providers.costs import Prices
from aistudio_providers.settings import ProviderSettings

from .conftest import Services
from .test_analytics import report as cost_report
from .test_ops import ops_json

USER = "cost-user"


async def test_a_mixed_run_costs_what_the_providers_billed_delivered_failed_and_wasted(services: Services) -> None:
    urls = {"database_url": services.database_url, "nats_url": services.nats_url}
    delivered = [
        await services.generate(USER, prompt="a red kite", provider="kie-4o-image", type="image"),
        await services.generate(USER, prompt="a drone shot over hills", provider="kie-veo3", type="video"),
        await services.generate(USER, prompt="a bowl of lemons", provider="gemini-flash", type="image"),
    ]
    failed = await services.generate(
        USER, prompt="Something forbidden [sim:result=content_policy]", provider="kie-4o-image", type="image"
    )
    cancelled = await services.generate(
        USER, prompt="A slow pan across a harbour [sim:duration=60]", provider="kie-veo3", type="video"
    )

    async def submitted() -> bool:
        conn = await asyncpg.connect(services.database_url)
        try:
            return bool(await conn.fetchval("SELECT task_id FROM generator.jobs WHERE asset_id = $1", cancelled))
        finally:
            await conn.close()

    await services.wait_for("the slow video's KIE task", submitted)
    response = await services.api.post(f"/api/ai/media/{cancelled}/cancel", headers=services.auth(USER))
    assert response.status_code == 200, response.text
    for asset_id in [*delivered, failed]:
        await services.wait_settled(USER, asset_id)

    # Every call in and each outcome told: the captions are paid calls too (the three delivered assets'),
    # and the cancelled video's task is waste only once the cancel has reached the poller, in its own time.
    expected = {
        (failed, "kie"): "failed",
        (cancelled, "kie"): "wasted",
        (delivered[0], "kie"): "delivered",
        (delivered[2], "gemini"): "delivered",
        **{(asset_id, "openai"): "delivered" for asset_id in delivered},
    }

    async def every_call_in() -> bool:
        ledger = await ops_json("costs", "--user", USER, **urls)
        outcomes = {(call["asset_id"], call["provider"]): call["outcome"] for call in ledger["calls"]}
        return {key: outcomes.get(key) for key in expected} == expected

    await services.wait_for("every call's cost and outcome", every_call_in)
    ledger = await ops_json("costs", "--user", USER, **urls)
    billed = await asyncio.to_thread(lambda: services.simulator.stats()["billed"])

    ours = _by_provider(ledger["calls"])
    assert ours["kie"]["units"] == sum(billed["kieCreditsByModel"].values()) == 6 + 60 + 6 + 60
    conn = await asyncpg.connect(services.database_url)
    try:
        tokens = {
            table: await conn.fetchrow(
                f"SELECT coalesce(sum(input_tokens), 0) AS i, coalesce(sum(output_tokens), 0) AS o FROM {table}"
            )
            for table in ("generator.provider_costs", "captioner.provider_costs")
        }
    finally:
        await conn.close()
    gemini, openai = tokens["generator.provider_costs"], tokens["captioner.provider_costs"]
    assert (gemini["i"], gemini["o"]) == (billed["geminiInputTokens"], billed["geminiOutputTokens"])
    assert (openai["i"], openai["o"]) == (billed["openaiInputTokens"], billed["openaiOutputTokens"])

    outcomes = {(call["asset_id"], call["provider"]): call["outcome"] for call in ledger["calls"]}
    assert outcomes[(failed, "kie")] == "failed"
    assert outcomes[(cancelled, "kie")] == "wasted"
    assert {outcomes[(asset_id, "openai")] for asset_id in delivered} == {"delivered"}
    assert outcomes[(delivered[0], "kie")] == outcomes[(delivered[2], "gemini")] == "delivered"

    prices = Prices.from_settings(ProviderSettings())
    assert abs(ours["kie"]["usd"] - float(132 * prices.usd_per_kie_credit)) < 1e-6
    totals = {(total["provider"], total["outcome"]): total for total in ledger["totals"]}
    assert totals[("kie", "wasted")]["units"] == 60 and totals[("kie", "failed")]["units"] == 6

    # The admins' analytics, projected from ProviderCostRecorded, show the same bill: the generator's
    # calls (KIE and Gemini) and the captioner's (OpenAI), each told through its service's outbox.
    async def projected() -> bool:
        totals = (await cost_report(services))["costs"]["totals"]
        return bool((totals["deliveredAssets"], totals["wastedCalls"], totals["calls"]) == (3, 1, 8))

    await services.wait_for("the costs in the analytics", projected)
    figures = await cost_report(services)
    providers = {row["provider"]: row for row in figures["costs"]["byProvider"]}
    assert set(providers) == {"kie", "gemini", "openai"}
    assert providers["kie"]["credits"] == sum(billed["kieCreditsByModel"].values()) == 132
    assert providers["gemini"]["tokens"] == billed["geminiInputTokens"] + billed["geminiOutputTokens"]
    assert providers["openai"]["tokens"] == billed["openaiInputTokens"] + billed["openaiOutputTokens"]
    # The captions were for delivered assets: they count toward them, and add no delivered asset.
    assert (providers["openai"]["calls"], providers["openai"]["deliveredAssets"]) == (3, 3)
    assert providers["openai"]["deliveredUsd"] == providers["openai"]["usd"]
    bill = (
        132 * prices.usd_per_kie_credit
        + billed["geminiInputTokens"] * prices.gemini_usd_per_million_input / 1_000_000
        + billed["geminiOutputTokens"] * prices.gemini_usd_per_million_output / 1_000_000
        + billed["openaiInputTokens"] * prices.openai_usd_per_million_input / 1_000_000
        + billed["openaiOutputTokens"] * prices.openai_usd_per_million_output / 1_000_000
    )
    total = figures["costs"]["totals"]
    assert abs(total["usd"] - float(bill)) < 1e-6
    assert abs(total["usd"] - sum(ours[provider]["usd"] for provider in ("kie", "gemini", "openai"))) < 1e-6
    assert total["calls"] == 8 and total["failedUsd"] == float(6 * prices.usd_per_kie_credit)
    assert figures["costPerDeliveredAsset"] == round(total["usd"] / 3, 6)
    assert figures["waste"] == {
        "usd": float(60 * prices.usd_per_kie_credit),
        "count": 1,
        "byReason": [{"reason": "after_cancel", "count": 1, "usd": float(60 * prices.usd_per_kie_credit)}],
    }
    assert [day["calls"] for day in figures["costs"]["daily"]] == [8]


def _by_provider(calls: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    found: dict[str, dict[str, float]] = {}
    for call in calls:
        total = found.setdefault(call["provider"], {"units": 0.0, "usd": 0.0})
        total["units"] += call["units"]
        total["usd"] += call["usd"]
    return found
