"""A waiting asset shows its place in KIE's queue and when it should start and be ready, from the
generator's QueueJoined and QueueAdvanced events; once sent, the figures are gone."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from aistudio_contracts import MediaType, Provider, QueueAdvanced, QueueJoined, TaskStarted, queue_correlation_id

from ..support.events import publish
from .conftest import Api

pytestmark = pytest.mark.integration

IMAGE = {"prompt": "A lighthouse on a cliff", "provider": "kie-4o-image", "type": "image"}
CLOSE = timedelta(seconds=1)  # the figures pass through JSON and Postgres; the clock never enters them
AHEAD = timedelta(minutes=10)  # a next slot this far off stays later than `now` for any read in the test


async def _asset(api: Api, user: str) -> str:
    response = await api.client.post("/api/ai/generate-media", json=IMAGE, headers=api.auth(user))
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def _joined(asset_id: str, user: str, ticket: float) -> QueueJoined:
    return QueueJoined(
        correlation_id=UUID(asset_id),
        asset_id=UUID(asset_id),
        user_id=user,
        provider=Provider.KIE_4O_IMAGE,
        ticket=ticket,
        typical_seconds=40.0,
    )


def _advanced(served_through: float, next_slot_at: datetime) -> QueueAdvanced:
    return QueueAdvanced(
        correlation_id=queue_correlation_id("kie"),
        served_through=served_through,
        next_slot_at=next_slot_at,
        slots_per_cycle=2,
        cycle_seconds=10.0,
    )


async def _figures(api: Api, user: str, asset_id: str) -> dict[str, Any]:
    return (await api.client.get(f"/api/ai/media/{asset_id}", headers=api.auth(user))).json()  # type: ignore[no-any-return]


async def _until_position(
    api: Api, user: str, asset_id: str, position: int | None, start: datetime | None = None
) -> dict[str, Any]:
    """The asset once it shows `position` (and, when given, a start within CLOSE of `start`): the
    gateway applies each published event when its consumer takes it, in its own time."""
    for _ in range(300):
        asset = await _figures(api, user, asset_id)
        if asset.get("queuePosition") == position and (
            start is None or abs(_at(asset["estimatedStartAt"]) - start) < CLOSE
        ):
            return asset
        await asyncio.sleep(0.1)
    raise AssertionError(f"never at position {position} starting at {start}: {asset}")


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_a_known_backlog_shows_each_waiting_assets_place_start_and_ready_time(api: Api, nats_url: str) -> None:
    first, second, third = [await _asset(api, "heavy") for _ in range(3)]
    newcomer = await _asset(api, "light")
    now = datetime.now(UTC)
    slot = now + AHEAD
    # The newcomer's ticket equals the heavy user's first: the earlier arrival goes first.
    await publish(
        nats_url,
        _joined(first, "heavy", 1.0),
        _joined(second, "heavy", 2.0),
        _joined(third, "heavy", 3.0),
        _joined(newcomer, "light", 1.0),
        _advanced(0.0, slot),
    )
    expected = {first: (1, 0), newcomer: (2, 0), second: (3, 10), third: (4, 10)}
    for asset_id, (position, cycles_later) in expected.items():
        user = "light" if asset_id == newcomer else "heavy"
        # Waiting for the start too: a queue report left by an earlier test can show the place first.
        asset = await _until_position(api, user, asset_id, position, slot + timedelta(seconds=cycles_later))
        start = _at(asset["estimatedStartAt"])
        assert _at(asset["estimatedReadyAt"]) - start == timedelta(seconds=40)

    gallery = (await api.client.get("/api/ai/media", headers=api.auth("heavy"))).json()["assets"]
    assert sorted(asset["queuePosition"] for asset in gallery) == [1, 3, 4]

    # Two were sent: they leave the queue and the others move up.
    await publish(nats_url, _advanced(1.0, now + AHEAD))
    assert (await _until_position(api, "heavy", second, 1, now + AHEAD))["estimatedStartAt"]
    assert (await _until_position(api, "heavy", third, 2))["queuePosition"] == 2
    for user, asset_id in (("heavy", first), ("light", newcomer)):
        sent = await _figures(api, user, asset_id)
        assert (sent["queuePosition"], sent["estimatedStartAt"], sent["estimatedReadyAt"]) == (None, None, None)


async def test_an_older_queue_report_does_not_undo_a_newer_one(api: Api, nats_url: str) -> None:
    sent, waiting = await _asset(api, "carol"), await _asset(api, "carol")
    now = datetime.now(UTC)
    newer = _advanced(2.0, now)
    await publish(nats_url, _joined(sent, "carol", 1.5), _joined(waiting, "carol", 5.0), newer)
    await _until_position(api, "carol", waiting, 1)
    # A report from before (a slower replica, a redelivery), then a newest one the same consumer
    # takes after it: once the newest shows, the older one was looked at and changed nothing.
    older = _advanced(0.0, now).model_copy(update={"occurred_at": newer.occurred_at - timedelta(seconds=5)})
    newest = _advanced(2.0, now + AHEAD)
    await publish(nats_url, older, newest)
    for _ in range(200):
        shown = await _figures(api, "carol", waiting)
        if abs(_at(shown["estimatedStartAt"]) - newest.next_slot_at) < CLOSE:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"the newest report never showed: {shown}")
    assert (await _figures(api, "carol", sent))["queuePosition"] is None


async def test_the_live_stream_pushes_a_waiting_assets_place_when_it_joins_the_queue(api: Api, nats_url: str) -> None:
    asset_id = await _asset(api, "dora")
    async with api.client.stream(
        "GET", "/api/ai/media/events", headers={**api.auth("dora"), "Last-Event-ID": "0"}
    ) as stream:
        await publish(nats_url, _joined(asset_id, "dora", 7.0))
        pushed = await asyncio.wait_for(_asset_events(stream, asset_id, with_position=True), timeout=30)
    assert pushed["queuePosition"] == 1 and pushed["estimatedStartAt"] and pushed["estimatedReadyAt"]


async def _asset_events(response: Any, asset_id: str, *, with_position: bool) -> dict[str, Any]:
    """The first pushed state of the asset that carries a queue position."""
    data: str | None = None
    async for line in response.aiter_lines():
        if line.startswith("data:"):
            data = line.partition(":")[2].strip()
        elif line == "" and data:
            asset: dict[str, Any] = json.loads(data)
            if asset.get("id") == asset_id and (asset.get("queuePosition") is not None) == with_position:
                return asset
            data = None
    raise AssertionError("the stream ended")


async def test_the_live_stream_pushes_a_new_place_when_the_queue_moves(api: Api, nats_url: str) -> None:
    first, second = await _asset(api, "erin"), await _asset(api, "erin")
    await publish(nats_url, _joined(first, "erin", 1.0), _joined(second, "erin", 2.0))
    await _until_position(api, "erin", second, 2)
    async with api.client.stream("GET", "/api/ai/media/events", headers=api.auth("erin")) as stream:
        lines = stream.aiter_lines()
        async for line in lines:  # the stream is open once its `ready` event came
            if line.startswith("event: ready"):
                break
        # No change of its own: the queue moved (the first was sent), and the page hears of it.
        await publish(nats_url, _advanced(1.0, datetime.now(UTC)))
        pushed = await asyncio.wait_for(_position_pushed(lines, second, 1), timeout=30)
    assert pushed["estimatedStartAt"]


async def _position_pushed(lines: Any, asset_id: str, position: int) -> dict[str, Any]:
    async for line in lines:
        if line.startswith("data:"):
            asset: dict[str, Any] = json.loads(line.partition(":")[2].strip())
            if asset.get("id") == asset_id and asset.get("queuePosition") == position:
                return asset
    raise AssertionError("the stream ended")


async def test_once_submitted_the_ready_estimate_is_the_task_start_plus_the_typical_duration(
    api: Api, nats_url: str
) -> None:
    asset_id = await _asset(api, "fred")
    await publish(nats_url, _joined(asset_id, "fred", 4.0))
    await _until_position(api, "fred", asset_id, 1)
    started = TaskStarted(
        correlation_id=UUID(asset_id),
        asset_id=UUID(asset_id),
        user_id="fred",
        provider=Provider.KIE_4O_IMAGE,
        media_type=MediaType.IMAGE,
        task_id="task-of-fred",
        prompt=IMAGE["prompt"],
    )
    await publish(nats_url, started)
    asset = await _until_position(api, "fred", asset_id, None)
    assert asset["estimatedStartAt"] is None
    ready = _at(asset["estimatedReadyAt"])
    assert abs(ready - (started.occurred_at + timedelta(seconds=40))) < CLOSE
