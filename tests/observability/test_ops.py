"""aistudio-ops against a real Postgres and NATS: a command each, for people and as JSON."""

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import nats

from aistudio_contracts import FailureReason, GenerationFailed, Provider
from aistudio_contracts.subjects import DEAD_LETTER_STREAM, DLQ_PREFIX, EVENTS_STREAM
from aistudio_devstack.ops.cli import execute
from aistudio_runtime import dead_letter
from aistudio_runtime.messaging import ensure_stream

from .conftest import Services


async def ops(*argv: str, database_url: str, nats_url: str) -> tuple[int, str]:
    out = io.StringIO()
    status = await execute(["--database-url", database_url, "--nats-url", nats_url, *argv], out)
    return status, out.getvalue()


async def ops_json(*argv: str, database_url: str, nats_url: str) -> Any:
    status, text = await ops("--json", *argv, database_url=database_url, nats_url=nats_url)
    assert status == 0, text
    return json.loads(text)


def whats(timeline: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(entry["service"], entry["what"]) for entry in timeline]


async def test_the_timeline_of_a_finished_job_spans_every_service_and_its_quota(services: Services) -> None:
    urls = {"database_url": services.database_url, "nats_url": services.nats_url}
    asset_id = await services.generate("ops-finished", prompt="a red kite", provider="kie-4o-image", type="image")
    assert (await services.wait_settled("ops-finished", asset_id))["status"] == "ready"

    expected = [
        ("gateway", "requested"),
        ("usage", "unit reserved"),
        ("generator", "job claimed"),
        ("generator", "submission started"),
        ("generator", "job submitted"),
        ("poller", "task tracked"),
        ("poller", "task completed"),
        ("gateway", "settled ready"),
        ("captioner", "caption ready"),
        ("gateway", "event generation.requested"),
        ("generator", "event generation.task-started"),
        ("poller", "event generation.completed"),
        ("gateway", "event generation.settled"),
        ("usage", "unit committed"),
    ]

    # Each service writes its steps in its own time (the caption and the committed unit come after the
    # asset shows ready): the whole timeline is waited for, not its first step.
    async def complete() -> bool:
        steps = whats(await ops_json("asset", asset_id, **urls))
        return all(step in steps for step in expected)

    await services.wait_for("every service's steps in the timeline", complete)
    timeline = await ops_json("asset", asset_id, **urls)
    steps = whats(timeline)
    for step in expected:
        assert step in steps, (step, steps)
    times = [entry["at"] for entry in timeline if entry["at"]]
    assert times == sorted(times)
    assert steps.index(("gateway", "requested")) < steps.index(("gateway", "settled ready"))

    status, text = await ops("asset", asset_id, **urls)
    assert status == 0 and "settled ready" in text and "AT" in text.splitlines()[0]

    usage = await ops_json("usage", "ops-finished", **urls)
    assert usage["months"][0]["used"] == 1 and usage["recent_reservations"][0]["state"] == "committed"
    status, text = await ops("usage", "ops-finished", **urls)
    assert status == 0 and "plan free" in text

    consumers = {row["durable"]: row for row in await ops_json("consumers", **urls)}
    assert "gateway-generation-completed" in consumers and "usage-generation-settled" in consumers
    assert {"lag", "pending", "ack_pending", "redelivered"} <= consumers["gateway-generation-completed"].keys()
    status, text = await ops("consumers", **urls)
    assert status == 0 and "gateway-generation-completed" in text


async def test_the_timeline_of_a_failed_job_names_the_reason_and_the_released_unit(services: Services) -> None:
    urls = {"database_url": services.database_url, "nats_url": services.nats_url}
    prompt = "Something forbidden [sim:result=content_policy]"
    asset_id = await services.generate("ops-failed", prompt=prompt, provider="kie-4o-image", type="image")
    assert (await services.wait_settled("ops-failed", asset_id))["status"] == "error"

    async def released() -> bool:
        return ("usage", "unit released") in whats(await ops_json("asset", asset_id, **urls))

    await services.wait_for("the unit released", released)
    timeline = await ops_json("asset", asset_id, **urls)
    settled = next(entry for entry in timeline if entry["what"] == "settled error")
    assert "error=content_policy" in settled["detail"] and "charged=False" in settled["detail"]
    assert ("poller", "event generation.failed") in whats(timeline)


async def test_stuck_lists_work_past_its_deadline_and_an_outbox_that_does_not_drain(
    database_url: str, nats_url: str
) -> None:
    overdue, on_time = uuid4(), uuid4()
    conn = await asyncpg.connect(database_url)
    try:
        for asset_id, deadline in ((overdue, -60), (on_time, 600)):
            await conn.execute(
                "INSERT INTO gateway.media_assets (id, user_id, provider, requested_provider, type, prompt,"
                " aspect_ratio, deadline_at) VALUES ($1, 'u', 'kie-4o-image', 'kie-4o-image', 'image', 'p', '1:1', $2)",
                asset_id,
                datetime.now(UTC) + timedelta(seconds=deadline),
            )
        event = _failed(overdue)
        await conn.execute(
            "INSERT INTO generator.outbox (event_id, subject, payload, created_at)"
            " VALUES ($1, $2, $3, now() - interval '5 minutes')",
            event.event_id,
            event.subject,
            event.to_json(),
        )
    finally:
        await conn.close()
    found = await ops_json("stuck", database_url=database_url, nats_url=nats_url)
    assert [(row["service"], row["asset_id"]) for row in found if row["service"] == "gateway"] == [
        ("gateway", str(overdue))
    ]
    assert any(row["service"] == "generator" and row["state"] == "outbox" for row in found)
    status, text = await ops("stuck", database_url=database_url, nats_url=nats_url)
    assert status == 0 and str(overdue) in text and "relay down" in text


async def test_dlq_lists_shows_replays_and_drops_dead_letters(database_url: str, nats_url: str) -> None:
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        await ensure_stream(js, EVENTS_STREAM)
        await ensure_stream(js, DEAD_LETTER_STREAM)
        event = _failed(uuid4())
        for _ in range(2):
            await js.publish(
                f"{DLQ_PREFIX}.gateway-generation-failed",
                event.to_json(),
                stream=DEAD_LETTER_STREAM.name,
                headers={
                    dead_letter.ORIGINAL_SUBJECT: event.subject,
                    dead_letter.ORIGINAL_STREAM: EVENTS_STREAM.name,
                    dead_letter.DURABLE: "gateway-generation-failed",
                    dead_letter.ERROR: "ValueError('boom')",
                    dead_letter.ATTEMPTS: "10",
                    "Nats-Msg-Id": str(uuid4()),
                },
            )
        urls = {"database_url": database_url, "nats_url": nats_url}
        letters = await ops_json("dlq", "list", **urls)
        assert [letter["durable"] for letter in letters] == ["gateway-generation-failed"] * 2
        first, second = (letter["sequence"] for letter in letters)
        shown = await ops_json("dlq", "show", str(first), **urls)
        assert shown["payload"]["asset_id"] == str(event.asset_id) and shown["attempts"] == 10
        status, text = await ops("dlq", "replay", str(first), **urls)
        assert status == 0 and "replay" in text
        replayed = await js.get_last_msg(EVENTS_STREAM.name, event.subject)
        assert json.loads(replayed.data or b"{}")["event_id"] == str(event.event_id)
        status, _ = await ops("dlq", "drop", str(second), **urls)
        assert status == 0
        assert await ops_json("dlq", "list", **urls) == []
        status, text = await ops("dlq", "show", str(second), **urls)
        assert status == 1
    finally:
        await client.close()


async def test_replay_outbox_publishes_what_a_stopped_relay_left_and_marks_it(database_url: str, nats_url: str) -> None:
    event = _failed(uuid4())
    conn = await asyncpg.connect(database_url)
    client = await nats.connect(nats_url)
    try:
        await ensure_stream(client.jetstream(), EVENTS_STREAM)
        await conn.execute(
            "INSERT INTO poller.outbox (event_id, subject, payload) VALUES ($1, $2, $3)",
            event.event_id,
            event.subject,
            event.to_json(),
        )
        urls = {"database_url": database_url, "nats_url": nats_url}
        sent = await ops_json("replay-outbox", **urls)
        assert sent == [{"schema": "poller", "event_id": str(event.event_id), "subject": event.subject}]
        published = await client.jetstream().get_last_msg(EVENTS_STREAM.name, event.subject)
        assert published.headers and published.headers["Nats-Msg-Id"] == str(event.event_id)
        assert await conn.fetchval(
            "SELECT published_at IS NOT NULL FROM poller.outbox WHERE event_id = $1", event.event_id
        )
        assert await ops_json("replay-outbox", **urls) == []  # nothing left unpublished
        again = await ops_json("replay-outbox", "--asset", str(event.asset_id), "--published", **urls)
        assert len(again) == 1
        status, text = await ops("replay-outbox", **urls)
        assert status == 0 and "nothing to publish" in text
    finally:
        await conn.close()
        await client.close()


def _failed(asset_id: UUID) -> GenerationFailed:
    return GenerationFailed(
        correlation_id=asset_id,
        asset_id=asset_id,
        user_id="ops-user",
        provider=Provider.KIE_4O_IMAGE,
        reason=FailureReason.PROVIDER_ERROR,
        message="failed for the test",
    )
