"""Analytics from the projection of the lifecycle events: the admins' figures and a user's history."""

from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.analytics import normalise_prompt
from gateway.auth import mint_token

from ..support.services import TEST_JWT_SECRET
from .conftest import Services


def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(TEST_JWT_SECRET, 'the-admin', role='admin')}"}


async def report(services: Services) -> dict[str, Any]:
    now = datetime.now(UTC)
    window = {"from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(hours=1)).isoformat()}
    response = await services.api.get("/api/admin/analytics", params=window, headers=admin())
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_the_admins_see_outcomes_fallbacks_times_users_and_top_prompts(services: Services) -> None:
    assets = [
        await services.generate("ana", prompt="A red kite.", provider="kie-4o-image", type="image"),
        await services.generate("ana", prompt="a  red KITE", provider="kie-4o-image", type="image"),
        await services.generate("ben", prompt="A lighthouse [sim:submit=455]", provider="kie-4o-image", type="image"),
        await services.generate(
            "ben", prompt="Something forbidden [sim:result=content_policy]", provider="kie-4o-image", type="image"
        ),
    ]
    for user, asset_id in zip(["ana", "ana", "ben", "ben"], assets, strict=True):
        await services.wait_settled(user, asset_id)

    async def projected() -> bool:
        totals = (await report(services))["totals"]
        return bool(totals.get("generations") == 4 and totals["ready"] + totals["failed"] == 4)

    await services.wait_for("the four generations settled in the projection", projected)
    figures = await report(services)
    totals = figures["totals"]
    assert (totals["ready"], totals["failed"], totals["fallbacks"], totals["active_users"]) == (3, 1, 1, 2)
    assert totals["success_rate"] == 0.75
    assert totals["p50_seconds"] > 0 and totals["p95_seconds"] >= totals["p50_seconds"]
    assert figures["top_prompts"][0] == {"prompt": "a red kite", "count": 2}
    # One day's bucket, or two when the run crossed midnight UTC: the four are counted once either way.
    days = [day["generations"] for day in figures["daily"] if day["generations"]]
    assert sum(days) == 4 and len(days) <= 2
    assert figures["by_provider"][0]["provider"] == "kie-4o-image"

    history = (await services.api.get("/api/usage/history", headers=services.auth("ana"))).json()
    assert history["months"][0]["requested"] == 2 and history["months"][0]["ready"] == 2


async def test_analytics_are_for_admins_only_and_ranges_are_checked(services: Services) -> None:
    response = await services.api.get("/api/admin/analytics", headers=services.auth("ana"))
    assert response.status_code == 403
    backwards = {"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
    assert (await services.api.get("/api/admin/analytics", params=backwards, headers=admin())).status_code == 400


def test_prompts_that_differ_only_in_case_spacing_or_punctuation_count_as_one() -> None:
    assert normalise_prompt("  A Red   kite!! ") == normalise_prompt("a red kite") == "a red kite"
