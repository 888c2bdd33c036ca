"""Every accepted job ends ready or failed, with one paid submission, against the provider simulator."""

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import nats
import pytest

from aistudio_contracts import GenerationRequested, SubscriptionChanged, subjects
from aistudio_contracts.subjects import EVENTS_STREAM

from .conftest import System

pytestmark = pytest.mark.integration

IMAGE = {"prompt": "A serene mountain landscape at sunset", "provider": "kie-4o-image", "type": "image"}
VIDEO = {"prompt": "A drone shot over a foggy forest at dawn", "provider": "kie-veo3", "type": "video"}


PATIENCE_SECONDS = 60.0  # for what crosses services and NATS on a loaded 2-core machine


async def _usage(system: System, user: str) -> dict[str, Any]:
    return (await system.api.get("/api/usage", headers=system.auth(user))).json()  # type: ignore[no-any-return]


async def _until(read: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], what: str) -> Any:
    """The first reading `done` accepts. The catalog shows an outcome before usage has applied the
    settlement it emits (another consumer, in its own time), so a figure is waited for, never read once."""
    deadline = time.monotonic() + PATIENCE_SECONDS
    while True:
        value = await read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {PATIENCE_SECONDS} s: {what}; last {value}")
        await asyncio.sleep(0.1)


async def _usage_settled(system: System, user: str, used: int) -> dict[str, Any]:
    """Usage once nothing is reserved and `used` units are spent."""
    return await _until(  # type: ignore[no-any-return]
        lambda: _usage(system, user),
        lambda usage: (usage["used"], usage["reserved"]) == (used, 0),
        f"{user}'s usage settled at {used} used",
    )


async def test_an_image_becomes_ready_with_media_in_our_custody(system: System) -> None:
    asset = await system.generate("alice", **IMAGE)
    done = await system.wait_finished("alice", asset["id"])
    assert done["status"] == "ready", done
    assert done["resultUrl"].startswith(system.gateway_url + "/media/")
    async with httpx.AsyncClient() as client:
        media = await client.get(done["resultUrl"])
    assert media.status_code == 200 and media.headers["content-type"] == "image/png"
    assert media.content.startswith(b"\x89PNG")
    assert [task["submissions"] for task in system.simulator.tasks()] == [1]
    await _usage_settled(system, "alice", used=1)


async def test_a_video_becomes_ready(system: System) -> None:
    asset = await system.generate("bob", **VIDEO)
    done = await system.wait_finished("bob", asset["id"])
    assert done["status"] == "ready" and done["type"] == "video"
    async with httpx.AsyncClient() as client:
        media = await client.get(done["resultUrl"])
    assert media.headers["content-type"] == "video/mp4"


async def test_gemini_makes_images_synchronously(system: System) -> None:
    asset = await system.generate(
        "carol", prompt="Stylized product photo of supplements", provider="gemini-flash", type="image"
    )
    done = await system.wait_finished("carol", asset["id"])
    assert done["status"] == "ready" and done["provider"] == "gemini-flash"
    assert system.simulator.tasks() == []


async def test_a_content_policy_refusal_fails_clearly_and_gives_the_unit_back(system: System) -> None:
    asset = await system.generate("dave", **{**IMAGE, "prompt": "Something forbidden [sim:result=content_policy]"})
    done = await system.wait_finished("dave", asset["id"])
    assert done["status"] == "error" and done["errorCode"] == "content_policy"
    assert done["errorMessage"]
    usage = await _usage_settled(system, "dave", used=0)
    assert usage["remaining"] == 10


async def test_an_image_refused_by_kie_is_made_by_the_fallback(system: System) -> None:
    asset = await system.generate("erin", **{**IMAGE, "prompt": "A lighthouse in a storm [sim:submit=455]"})
    done = await system.wait_finished("erin", asset["id"])
    assert done["status"] == "ready"
    assert (done["provider"], done["requestedProvider"]) == ("gemini-flash", "kie-4o-image")


async def test_an_ambiguous_submission_is_never_sent_twice_and_its_callback_adopts_the_task(system: System) -> None:
    asset = await system.generate("frank", **{**VIDEO, "prompt": "A slow pan across a city [sim:submit=timeout]"})
    done = await system.wait_finished("frank", asset["id"])
    assert done["status"] == "ready", done
    assert system.simulator.stats()["submissions"] == 1


@pytest.mark.parametrize("lifecycle_options", [{"callbacks": False, "in_flight_grace_seconds": 1.0}])
async def test_without_a_callback_an_ambiguous_image_goes_to_gemini_and_a_video_fails_unknown(
    system: System,
) -> None:
    image = await system.generate("fiona", **{**IMAGE, "prompt": "A quiet harbour at dawn [sim:submit=timeout]"})
    video = await system.generate("fiona", **{**VIDEO, "prompt": "A quiet harbour at dusk [sim:submit=timeout]"})
    done_image = await system.wait_finished("fiona", image["id"])
    done_video = await system.wait_finished("fiona", video["id"])
    assert (done_image["status"], done_image["provider"]) == ("ready", "gemini-flash")
    assert done_video["status"] == "error" and done_video["errorCode"] == "unknown_outcome"
    assert system.simulator.stats()["submissions"] == 2  # one KIE request each, never resent


async def test_a_definite_kie_error_on_an_image_falls_back_to_gemini(system: System) -> None:
    asset = await system.generate("gus", **{**IMAGE, "prompt": "A glass of water on a table [sim:submit=500]"})
    done = await system.wait_finished("gus", asset["id"])
    assert (done["status"], done["provider"], done["requestedProvider"]) == ("ready", "gemini-flash", "kie-4o-image")


async def test_pending_record_info_answers_do_not_end_a_job(system: System) -> None:
    asset = await system.generate("gina", **{**IMAGE, "prompt": "A bowl of ramen, studio light [sim:status=null:3]"})
    done = await system.wait_finished("gina", asset["id"])
    assert done["status"] == "ready"


async def test_status_check_errors_are_retried_not_fatal(system: System) -> None:
    asset = await system.generate("hank", **{**IMAGE, "prompt": "A red fox in the snow [sim:status=500:2]"})
    done = await system.wait_finished("hank", asset["id"])
    assert done["status"] == "ready"


async def test_results_stay_downloadable_after_the_provider_forgets_them(system: System) -> None:
    asset = await system.generate("ivan", **IMAGE)
    done = await system.wait_finished("ivan", asset["id"])
    system.simulator.forget()
    async with httpx.AsyncClient() as client:
        media = await client.get(done["resultUrl"])
    assert media.status_code == 200


async def test_a_burst_above_the_account_limit_draws_no_429(system: System) -> None:
    users = [f"burst-{n}" for n in range(10)]
    assets = await asyncio.gather(*(system.generate(user, **IMAGE) for user in users for _ in range(10)))
    done = await asyncio.gather(*(system.wait_finished(users[i // 10], a["id"], 60) for i, a in enumerate(assets)))
    assert [asset for asset in done if asset["status"] != "ready"] == []
    stats = system.simulator.stats()
    assert stats["rateLimited"] == 0
    assert stats["submissions"] == len(assets)


# The timer is an hour away, so a generous wait still proves that the callback made it ready.
@pytest.mark.parametrize("lifecycle_options", [{"poll_interval_seconds": 3600.0}])
async def test_a_callback_makes_the_asset_ready_without_waiting_for_the_timer(system: System) -> None:
    asset = await system.generate("judy", **IMAGE)
    done = await system.wait_finished("judy", asset["id"], within=PATIENCE_SECONDS)
    assert done["status"] == "ready"


@pytest.mark.parametrize("lifecycle_options", [{"generation_timeout_seconds": 1.0, "callbacks": False}])
async def test_a_task_past_its_deadline_fails_as_timed_out(system: System) -> None:
    # The render outlasts any wait here, so only the deadline can end it.
    asset = await system.generate("kate", **{**VIDEO, "prompt": "A very slow render [sim:duration=600]"})
    done = await system.wait_finished("kate", asset["id"], within=PATIENCE_SECONDS)
    assert done["status"] == "error" and done["errorCode"] == "timeout"


async def test_two_poller_replicas_never_check_one_task_at_once(system: System) -> None:
    system.simulator.configure(status_latency_seconds=0.15)
    async with system.start_poller():  # a second replica beside the fixture's
        assets = await asyncio.gather(
            *(system.generate(f"replica-{n}", **{**IMAGE, "prompt": f"A tiny red house number {n}"}) for n in range(12))
        )
        done = await asyncio.gather(*(system.wait_finished(f"replica-{n}", a["id"], 40) for n, a in enumerate(assets)))
    assert all(asset["status"] == "ready" for asset in done)
    tasks = system.simulator.tasks()
    assert len(tasks) == 12
    assert max(task["maxConcurrentChecks"] for task in tasks) == 1


async def _job_state(system: System, asset_id: str) -> str | None:
    conn = await asyncpg.connect(system.database_url)
    try:
        return await conn.fetchval("SELECT state FROM generator.jobs WHERE asset_id = $1", UUID(asset_id))  # type: ignore[no-any-return]
    finally:
        await conn.close()


async def test_a_redelivered_request_is_submitted_once(system: System, nats_url: str) -> None:
    asset = await system.generate("lena", **VIDEO)
    await system.wait_finished("lena", asset["id"])
    # The same request again, as a redelivery or a republish under a new event id would bring it.
    again = GenerationRequested(
        correlation_id=asset["id"],
        asset_id=asset["id"],
        user_id="lena",
        provider="kie-veo3",
        media_type="video",
        prompt=VIDEO["prompt"],
        aspect_ratio="16:9",
    )
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        ack = await js.publish(again.subject, again.to_json(), headers={"Nats-Msg-Id": str(again.event_id)})
        # Proof the generator got past it: its consumer acknowledged it, so the job is as it left it.
        await _until(
            lambda: js.consumer_info(EVENTS_STREAM.name, "generator-generation-requested"),
            lambda info: info.ack_floor is not None and (info.ack_floor.stream_seq or 0) >= ack.seq,
            "the generator to take the redelivered request",
        )
    finally:
        await client.close()
    # Sent once and not taken in again as a waiting job.
    assert await _job_state(system, asset["id"]) in {"submitted", "completed"}
    assert system.simulator.stats()["submissions"] == 1
    assert (await system.api.get(f"/api/ai/media/{asset['id']}", headers=system.auth("lena"))).json()[
        "status"
    ] == "ready"


async def test_a_plan_change_from_billing_lifts_the_limit(system: System, nats_url: str) -> None:
    for _ in range(10):
        await system.generate("mona", **IMAGE)
    limited = await system.api.post("/api/ai/generate-media", json=IMAGE, headers=system.auth("mona"))
    assert limited.status_code == 403
    event = SubscriptionChanged(correlation_id=uuid4(), user_id="mona", plan="pro")
    client = await nats.connect(nats_url)
    try:
        await client.jetstream().publish(event.subject, event.to_json(), headers={"Nats-Msg-Id": str(event.event_id)})
    finally:
        await client.close()
    await _until(lambda: _usage(system, "mona"), lambda usage: usage["plan"] == "pro", "mona's plan to be pro")
    accepted = await system.api.post("/api/ai/generate-media", json=IMAGE, headers=system.auth("mona"))
    assert accepted.status_code == 202


@pytest.mark.parametrize("lifecycle_options", [{"max_deliver": 2}])
async def test_a_poison_event_is_dead_lettered_and_its_job_failed_with_the_unit_released(
    system: System, nats_url: str
) -> None:
    asset = await system.generate(
        "olga", **{**VIDEO, "prompt": "A slow render that will never start [sim:duration=60]"}
    )
    assert (await _usage(system, "olga"))["reserved"] == 1
    # A TaskStarted no consumer can read (its task id is missing): every delivery fails.
    poison = {"event_id": str(uuid4()), "correlation_id": asset["id"], "asset_id": asset["id"], "user_id": "olga"}
    client = await nats.connect(nats_url)
    try:
        await client.jetstream().publish(subjects.TASK_STARTED, json.dumps(poison).encode())
        done = await system.wait_finished("olga", asset["id"], within=60)
        dead = await client.jetstream().stream_info(subjects.DEAD_LETTER_STREAM.name)
    finally:
        await client.close()
    assert done["status"] == "error" and done["errorCode"] == "internal_error"
    assert dead.state.messages >= 1
    await _usage_settled(system, "olga", used=0)
