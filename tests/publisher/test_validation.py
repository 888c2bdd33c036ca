"""The gateway's answers before anything reaches the publisher: Instagram's rules, the schedule's
bounds, ownership and readiness. The publisher runs, to answer the accounts request."""

from datetime import UTC, datetime, timedelta

import pytest

from aistudio_contracts import MediaType

from .conftest import System

pytestmark = pytest.mark.integration


def _in(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def test_instagram_rules_answer_400_with_details_per_field(system: System) -> None:
    asset_id = await system.ready_asset("alice")
    async with system.start_publisher():
        long_caption = await system.post("alice", asset_id, expect=400, caption="x" * 2201)
        hashtags = await system.post("alice", asset_id, expect=400, caption=" ".join(f"#t{i}" for i in range(31)))
        webp = await system.ready_asset("alice", content_type="image/webp")
        wrong_type = await system.post("alice", webp, expect=400)
        wide = await system.ready_asset("alice", aspect_ratio="21:9")
        too_wide = await system.post("alice", wide, expect=400)
        expired = await system.post("alice", asset_id, expect=400, accountIds=["acc_instagram_expired"])
        unknown = await system.post("alice", asset_id, expect=400, accountIds=["acc_nobody"])
        # The same caption is fine where Instagram is not a target.
        await system.post("alice", asset_id, caption="x" * 2201, accountIds=["acc_facebook"])
    assert long_caption["details"][0]["path"] == ["caption"] and "2200" in long_caption["details"][0]["message"]
    assert "30 hashtags" in hashtags["details"][0]["message"]
    assert wrong_type["details"][0]["path"] == ["media"] and "JPEG or PNG" in wrong_type["details"][0]["message"]
    assert "4:5 to 1.91:1" in too_wide["details"][0]["message"]
    assert "reconnected" in expired["details"][0]["message"]
    assert unknown["details"][0]["path"] == ["accountIds", 0]


async def test_a_nine_by_sixteen_image_goes_to_instagram_as_a_story_with_the_ai_label(system: System) -> None:
    asset_id = await system.ready_asset("alice", aspect_ratio="9:16")
    async with system.start_publisher():
        created = (await system.post("alice", asset_id, caption="A story"))["post"]
        await system.wait_post("alice", created["id"], "published")
    [at_late] = system.late.posts_for(created["id"])
    assert at_late["content"] == ""  # stories carry no caption


async def test_the_schedule_must_be_in_the_future_and_at_most_ninety_days_ahead(system: System) -> None:
    asset_id = await system.ready_asset("alice")
    async with system.start_publisher():
        past = await system.post("alice", asset_id, expect=400, scheduledFor=_in(minutes=-1))
        far = await system.post("alice", asset_id, expect=400, scheduledFor=_in(days=91))
        nonsense = await system.post("alice", asset_id, expect=400, scheduledFor="next tuesday")
        ok = await system.post("alice", asset_id, scheduledFor=_in(days=89))
    assert "future" in past["details"][0]["message"]
    assert "90 days" in far["details"][0]["message"]
    assert nonsense["details"][0]["path"] == ["scheduledFor"]
    assert ok["post"]["status"] == "scheduled"


async def test_another_users_or_a_missing_asset_is_not_found_and_an_unready_one_is_a_conflict(system: System) -> None:
    asset_id = await system.ready_asset("alice")
    async with system.start_publisher():
        theirs = await system.post("mallory", asset_id, expect=404)
        missing = await system.post("alice", "5b0f6f3c-0000-4000-8000-000000000000", expect=404)
        garbage = await system.post("alice", "not-a-uuid", expect=404)
        pending = await system.api.post(
            "/api/ai/generate-media",
            json={"prompt": "Still processing here", "provider": "kie-4o-image", "type": "image"},
            headers=system.auth("alice"),
        )
        not_ready = await system.post("alice", pending.json()["id"], expect=409)
        post = (await system.post("alice", asset_id))["post"]
        other_get = await system.api.get(f"/api/posts/{post['id']}", headers=system.auth("mallory"))
        other_delete = await system.api.delete(f"/api/posts/{post['id']}", headers=system.auth("mallory"))
        other_list = await system.api.get("/api/posts", headers=system.auth("mallory"))
    assert theirs == missing == garbage == {"error": "Media asset not found"}
    assert not_ready["error"] == "Media not ready"
    assert other_get.status_code == 404 and other_delete.status_code == 404
    assert other_list.json()["posts"] == []


async def test_the_accounts_are_listed_for_the_modal(system: System) -> None:
    async with system.start_publisher():
        response = await system.api.get("/api/social/accounts", headers=system.auth("alice"))
    assert response.status_code == 200
    accounts = {a["id"]: a for a in response.json()["accounts"]}
    assert accounts["acc_instagram"]["platform"] == "instagram"
    assert accounts["acc_instagram_expired"]["needsReconnection"] is True


async def test_a_video_goes_to_instagram_as_mp4(system: System) -> None:
    asset_id = await system.ready_asset(
        "alice", aspect_ratio="9:16", content_type="video/mp4", media_type=MediaType.VIDEO
    )
    async with system.start_publisher():
        created = (await system.post("alice", asset_id, caption="A reel"))["post"]
        await system.wait_post("alice", created["id"], "published")
    [at_late] = system.late.posts_for(created["id"])
    assert at_late["mediaItems"][0]["type"] == "video"
