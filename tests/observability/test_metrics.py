"""/metrics on every service: after one generation each scrape shows the families the issue lists."""

import httpx
from prometheus_client.parser import text_string_to_metric_families

from aistudio_contracts import subjects

from .conftest import Services

# Every service: FastStream's message metrics, the outbox and its consumers, dead letters.
SHARED = {
    "aistudio_received_messages",
    "aistudio_received_processed_messages",
    "aistudio_received_processed_messages_duration_seconds",
    "aistudio_published_messages",
    "aistudio_outbox_backlog",
    "aistudio_outbox_relay_lag_seconds",
    "aistudio_consumer_pending_messages",
    "aistudio_consumer_ack_pending_messages",
    "aistudio_consumer_redelivered_messages",
    "aistudio_message_redeliveries",
    "aistudio_dead_letters",
}
OWN = {
    "gateway": {
        "aistudio_http_requests",
        "aistudio_http_request_duration_seconds",
        "aistudio_generations",
        "aistudio_generation_time_to_ready_seconds",
        "aistudio_quota_reservations",
    },
    "generator": {
        "aistudio_provider_calls",
        "aistudio_provider_call_duration_seconds",
        "aistudio_kie_rate_limited",
        "aistudio_kie_limiter_queue_depth",
        "aistudio_kie_limiter_wait_seconds",
        "aistudio_generator_jobs",
        "aistudio_kie_credit_drift",
        "aistudio_kie_credit_balance",
    },
    "poller": {
        "aistudio_poller_checks",
        "aistudio_poller_checks_per_task",
        "aistudio_poller_tasks_in_flight",
        "aistudio_poller_check_lag_seconds",
        "aistudio_poller_tasks_finished",
    },
    "usage": {"aistudio_quota_moves", "aistudio_quota_commits", "aistudio_quota_releases"},
    "captioner": {"aistudio_captions"},
}


async def scrape(url: str) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(f"{url}/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        family.name: [(sample.name, sample.labels, sample.value) for sample in family.samples]
        for family in text_string_to_metric_families(response.text)
    }


def value(families: dict[str, list[tuple[str, dict[str, str], float]]], sample: str, **labels: str) -> float:
    family = sample.removesuffix("_total").removesuffix("_count")
    return sum(v for name, found, v in families.get(family, []) if name == sample and labels.items() <= found.items())


async def test_every_service_serves_the_families_after_a_generation(services: Services) -> None:
    asset_id = await services.generate("metrics-user", prompt="a lighthouse", provider="kie-4o-image", type="image")
    asset = await services.wait_settled("metrics-user", asset_id)
    assert asset["status"] == "ready", asset

    async def scrape_all() -> dict[str, dict[str, list[tuple[str, dict[str, str], float]]]]:
        return {name: await scrape(url) for name, url in services.scrape_urls.items()}

    async def counted() -> bool:
        """Each service counts its part in its own time (usage commits the unit after the catalog shows
        ready; consumer lag is sampled periodically): every figure below is waited for, not the first."""
        try:
            _every_figure(await scrape_all())
        except AssertionError:
            return False
        return True

    await services.wait_for("every service's figures counted", counted)
    _every_figure(await scrape_all())


def _every_figure(scraped: dict[str, dict[str, list[tuple[str, dict[str, str], float]]]]) -> None:
    for name, families in scraped.items():
        missing = (SHARED | OWN[name]) - families.keys()
        assert not missing, f"{name} lacks {sorted(missing)}"
        # Its own outbox is read at scrape time, labelled by its schema.
        assert any(labels.get("schema") == name for _, labels, _ in families["aistudio_outbox_backlog"]), name

    gateway, generator, poller, usage = (scraped[n] for n in ("gateway", "generator", "poller", "usage"))
    assert value(gateway, "aistudio_http_requests_total", route="/api/ai/generate-media", status="202") >= 1
    assert value(gateway, "aistudio_generations_total", provider="kie-4o-image", outcome="ready") >= 1
    assert value(gateway, "aistudio_generation_time_to_ready_seconds_count", provider="kie-4o-image") >= 1
    assert value(gateway, "aistudio_received_processed_messages_total", handler=subjects.GENERATION_COMPLETED) >= 1
    assert any(
        labels.get("durable") == "gateway-generation-completed"
        for _, labels, _ in gateway["aistudio_consumer_pending_messages"]
    )
    assert value(generator, "aistudio_provider_calls_total", provider="kie", outcome="ok") >= 1
    assert value(poller, "aistudio_poller_tasks_finished_total", provider="kie-4o-image") >= 1
    assert value(gateway, "aistudio_quota_reservations_total", result="granted") >= 1
    assert value(usage, "aistudio_quota_commits_total") >= 1
    assert value(scraped["captioner"], "aistudio_captions_total", kind="automatic", outcome="captioned") >= 1


async def test_every_http_answer_carries_a_request_id_and_a_valid_one_is_reused(services: Services) -> None:
    fresh = await services.api.get("/healthz")
    assert len(fresh.headers["x-request-id"]) >= 8
    reused = await services.api.get("/healthz", headers={"X-Request-Id": "req-0123456789"})
    assert reused.headers["x-request-id"] == "req-0123456789"
    refused = await services.api.get("/healthz", headers={"X-Request-Id": "bad id\twith spaces"})
    assert refused.headers["x-request-id"] != "bad id\twith spaces"
