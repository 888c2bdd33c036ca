"""Posting through Late over real NATS and Postgres, with Late on the wire (the simulator)."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import nats
import pytest

from aistudio_contracts.subjects import EVENTS_STREAM

from .conftest import System

pytestmark = pytest.mark.integration


def _in(seconds: float) -> str:
    return _iso(datetime.now(UTC) + timedelta(seconds=seconds))


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def _webhooks_all_applied(system: System) -> None:
    """Until the gateway has put every webhook it took on NATS (its outbox is empty) and the publisher
    has acknowledged all of them: past this, a webhook that must change nothing has had its chance."""
    client = await nats.connect(system.nats_url)
    try:
        js = client.jetstream()

        async def quiet() -> dict[str, Any]:
            conn = await asyncpg.connect(system.database_url)
            try:
                unsent = await conn.fetchval("SELECT count(*) FROM gateway.outbox WHERE published_at IS NULL")
            finally:
                await conn.close()
            info = await js.consumer_info(EVENTS_STREAM.name, "publisher-late-webhook")
            return {"unsent": unsent, "pending": info.num_pending, "unacked": info.num_ack_pending}

        async def fetch() -> _Answer:
            return _Answer(await quiet())

        await system.wait_for(fetch, lambda state: state == {"unsent": 0, "pending": 0, "unacked": 0})
    finally:
        await client.close()


async def _publisher_state(system: System, post_id: str) -> dict[str, Any]:
    conn = await asyncpg.connect(system.database_url)
    try:
        row = await conn.fetchrow(
            "SELECT state, version, late_post_id FROM publisher.posts WHERE post_id = $1", post_id
        )
    finally:
        await conn.close()
    return dict(row) if row else {}


async def test_a_post_now_is_published_with_the_platform_url_on_the_assets_post(system: System) -> None:
    asset_id = await system.ready_asset("alice")
    async with system.start_publisher():
        created = (await system.post("alice", asset_id, caption="Dawn over the lake #calm"))["post"]
        assert created["status"] == "publishing" and created["mediaId"] == asset_id
        post = await system.wait_post("alice", created["id"], "published")
    [platform] = post["platforms"]
    assert platform["status"] == "published" and platform["url"].startswith("https://instagram.example/p/")
    listed = (await system.api.get(f"/api/posts?mediaId={asset_id}", headers=system.auth("alice"))).json()
    assert [p["id"] for p in listed["posts"]] == [created["id"]]
    [at_late] = system.late.posts_for(created["id"])
    assert at_late["creates"] == 1 and at_late["content"] == "Dawn over the lake #calm"
    assert at_late["mediaItems"][0]["url"].startswith(system.late.url)  # our bytes, uploaded to Late
    options = at_late["platforms"]
    assert options[0]["accountId"] == "acc_instagram"


async def test_a_post_scheduled_shortly_ahead_is_scheduled_then_published_by_webhook(system: System) -> None:
    asset_id = await system.ready_asset("alice")
    async with system.start_publisher(poll_max_seconds=60.0, poll_min_seconds=30.0):
        created = (await system.post("alice", asset_id, scheduledFor=_in(15)))["post"]  # time to reach Late first
        assert created["status"] == "scheduled"
        post = await system.wait_post("alice", created["id"], "published", within=90)
    assert post["platforms"][0]["url"]
    deliveries = system.late.webhooks()["deliveries"]
    assert any(d["status"] == 200 for d in deliveries), deliveries


async def test_a_post_scheduled_shortly_ahead_is_published_by_polling_when_webhooks_are_lost(
    system: System,
) -> None:
    asset_id = await system.ready_asset("alice")
    async with system.start_publisher():
        created = (await system.post("alice", asset_id, caption="Lost hooks [sim:late=webhook_lost]",
                                     scheduledFor=_in(15)))["post"]  # fmt: skip
        await system.wait_post("alice", created["id"], "scheduled")
        await system.wait_post("alice", created["id"], "published", within=90)
    assert system.late.webhooks()["deliveries"] == []


async def test_a_scheduled_post_cancelled_before_its_time_is_cancelled_and_never_published(system: System) -> None:
    asset_id = await system.ready_asset("alice")
    async with system.start_publisher():
        # Far enough ahead that the post reaches Late and is cancelled there first on a loaded machine.
        due = datetime.now(UTC) + timedelta(seconds=30)
        created = (await system.post("alice", asset_id, scheduledFor=_iso(due)))["post"]
        await system.wait_for(
            lambda: system.api.get(f"/api/posts/{created['id']}", headers=system.auth("alice")),
            lambda body: body["post"]["status"] == "scheduled",
        )
        # Late holds it (scheduled there) before the cancel, so the cancel goes through Late.
        await system.wait_for(
            lambda: _late_status(system, created["id"]), lambda found: found.get("status") == "scheduled"
        )
        response = await system.api.delete(f"/api/posts/{created['id']}", headers=system.auth("alice"))
        assert response.status_code == 200, response.text
        assert response.json()["post"]["status"] == "cancelled"
        # Past the scheduled time (with a margin for Late's own timer): a post still held would go out now.
        await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 3)
        post = (await system.api.get(f"/api/posts/{created['id']}", headers=system.auth("alice"))).json()["post"]
    assert post["status"] == "cancelled"
    [at_late] = system.late.posts_for(created["id"])
    assert at_late["status"] == "cancelled"
    assert all(p["status"] != "published" for p in at_late["platforms"])


class _Answer:
    """A value shaped like a response, for `System.wait_for` over the simulator's admin data."""

    status_code = 200

    def __init__(self, body: dict[str, Any]) -> None:
        self._body = body

    def json(self) -> dict[str, Any]:
        return self._body


async def _as_response(body: dict[str, Any]) -> _Answer:
    return _Answer(body)


async def _late_status(system: System, post_id: str) -> _Answer:
    found = system.late.posts_for(post_id)
    return _Answer(found[0] if found else {})


async def test_a_published_post_cannot_be_cancelled(system: System) -> None:
    asset_id = await system.ready_asset("alice")
    async with system.start_publisher():
        created = (await system.post("alice", asset_id))["post"]
        await system.wait_post("alice", created["id"], "published")
        response = await system.api.delete(f"/api/posts/{created['id']}", headers=system.auth("alice"))
    assert response.status_code == 409, response.text


async def test_a_create_that_times_out_after_late_made_the_post_leaves_exactly_one_post(system: System) -> None:
    asset_id = await system.ready_asset("alice")
    async with system.start_publisher():
        created = (await system.post("alice", asset_id, caption="Slow Late [sim:late=timeout]"))["post"]
        post = await system.wait_post("alice", created["id"], "published", within=90)
    at_late = system.late.posts_for(created["id"])
    assert len(at_late) == 1, at_late
    assert post["platforms"][0]["url"]


async def test_a_webhook_replay_changes_nothing(system: System) -> None:
    asset_id = await system.ready_asset("alice")
    async with system.start_publisher():
        created = (await system.post("alice", asset_id))["post"]
        before = await system.wait_post("alice", created["id"], "published")
        state = await _publisher_state(system, created["id"])
        sent = system.late.webhooks()["sent"]
        delivered = len(system.late.webhooks()["deliveries"])
        for webhook_id in sent:
            assert system.late.replay(webhook_id)
        await system.wait_for(
            lambda: _as_response(system.late.webhooks()),
            lambda hooks: sum(d["status"] == 200 for d in hooks["deliveries"]) >= delivered + len(sent),
        )
        await _webhooks_all_applied(system)  # every replay had its chance to be (wrongly) applied
        after = (await system.api.get(f"/api/posts/{created['id']}", headers=system.auth("alice"))).json()["post"]
        assert await _publisher_state(system, created["id"]) == state
    assert after == before
    assert len(system.late.posts_for(created["id"])) == 1


async def test_a_webhook_with_a_bad_or_missing_signature_is_refused(system: System) -> None:
    body = b'{"id": "wh_1", "event": "post.published", "post": {"id": "x"}}'
    missing = await system.api.post("/api/providers/late/webhook", content=body)
    bad = await system.api.post("/api/providers/late/webhook", content=body, headers={"X-Zernio-Signature": "00" * 32})
    assert missing.status_code == 401 and bad.status_code == 401


async def test_a_webhook_signed_under_the_old_header_name_is_accepted(system: System) -> None:
    from aistudio_providers.late import late_signature

    from .conftest import WEBHOOK_SECRET

    body = b'{"id": "wh_2", "event": "post.published", "post": {"id": "unknown"}}'
    response = await system.api.post(
        "/api/providers/late/webhook", content=body, headers={"X-Late-Signature": late_signature(WEBHOOK_SECRET, body)}
    )
    assert response.status_code == 200, response.text


async def test_a_platform_rejection_fails_the_post_with_the_users_message(system: System) -> None:
    asset_id = await system.ready_asset("alice")
    async with system.start_publisher():
        created = (await system.post("alice", asset_id, caption="Nope [sim:late=reject]"))["post"]
        post = await system.wait_post("alice", created["id"], "failed")
    assert post["errorCode"] == "platform_rejected"
    assert post["errorMessage"].startswith("Instagram rejected this post")
    assert post["platforms"][0]["status"] == "failed"


async def test_an_expired_account_token_tells_the_user_to_reconnect(system: System) -> None:
    asset_id = await system.ready_asset("alice")
    async with system.start_publisher():
        created = (await system.post("alice", asset_id, caption="Old token [sim:late=auth_expired]"))["post"]
        post = await system.wait_post("alice", created["id"], "failed")
    assert post["errorCode"] == "auth_expired"
    assert "reconnect your account" in post["errorMessage"]


async def test_late_rate_limiting_a_create_delays_it_and_it_is_still_posted_once(system: System) -> None:
    asset_id = await system.ready_asset("alice")
    async with system.start_publisher():
        created = (await system.post("alice", asset_id, caption="Busy [sim:late=429:2]"))["post"]
        await system.wait_post("alice", created["id"], "published", within=90)
    assert len(system.late.posts_for(created["id"])) == 1


async def test_an_idempotency_key_makes_a_repeated_request_one_post(system: System) -> None:
    asset_id = await system.ready_asset("alice")
    headers = {**system.auth("alice"), "Idempotency-Key": "post-once"}
    url = f"/api/ai/media/{asset_id}/posts"
    async with system.start_publisher():
        first = await system.api.post(url, json={"accountIds": ["acc_instagram"]}, headers=headers)
        again = await system.api.post(url, json={"accountIds": ["acc_instagram"]}, headers=headers)
        other = await system.api.post(url, json={"accountIds": ["acc_facebook"]}, headers=headers)
        await system.wait_post("alice", first.json()["post"]["id"], "published")
    assert first.status_code == 202 and again.status_code == 202, (first.text, again.text)
    assert first.json()["post"]["id"] == again.json()["post"]["id"]
    assert other.status_code == 422
    assert len(system.late.posts_for(first.json()["post"]["id"])) == 1
