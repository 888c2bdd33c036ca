"""KieClient against the simulator: every model from submit to a downloadable result, in every shape."""

import asyncio
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from aistudio_contracts import Provider
from aistudio_providers import ErrorKind, KieClient, KieSubmit, ProviderError, TaskState

from ..support.simulator import SimulatorAdmin, wait_until_finished

MODELS = [
    (Provider.KIE_VEO3, "16:9", "video/mp4"),
    (Provider.KIE_4O_IMAGE, "3:2", "image/png"),
    (Provider.KIE_FLUX_KONTEXT, "4:3", "image/png"),
]


@pytest.mark.parametrize(("provider", "aspect_ratio", "content_type"), MODELS)
async def test_each_model_goes_from_submit_to_a_downloadable_result(
    kie: KieClient, simulator: SimulatorAdmin, provider: Provider, aspect_ratio: str, content_type: str
) -> None:
    # 5 s to render: the first status, read at once, is before the end even on a loaded machine.
    task_id = await kie.submit(provider, KieSubmit("A lighthouse on a cliff at dusk [sim:duration=5]", aspect_ratio))

    assert re.fullmatch(r"[0-9a-f]{32}", task_id)
    first = await kie.status(provider, task_id)
    assert first.state is TaskState.PENDING
    status = await wait_until_finished(kie, provider, task_id)
    assert status.state is TaskState.SUCCEEDED
    assert len(status.result_urls) == 1
    assert status.complete_time is not None
    assert abs(status.complete_time - datetime.now(UTC)) < timedelta(minutes=1)
    async with httpx.AsyncClient() as http:
        media = await http.get(status.result_urls[0])
    assert media.status_code == 200
    assert media.headers["content-type"] == content_type
    assert simulator.stats()["submissions"] == 1


async def test_submit_bodies_follow_each_models_documented_fields(kie: KieClient, simulator: SimulatorAdmin) -> None:
    reference = "https://example.com/reference.png"
    callback = "https://studio.example/api/providers/kie/callback/x/y"
    for provider, aspect_ratio, _ in MODELS:
        await kie.submit(provider, KieSubmit("A paper boat on a pond", aspect_ratio, reference, callback))

    bodies = {record["path"]: record["body"] for record in simulator.requests("kie")}
    assert bodies["/api/v1/veo/generate"] == {
        "prompt": "A paper boat on a pond",
        "model": "veo3_fast",
        "aspectRatio": "16:9",
        "imageUrls": [reference],
        "callBackUrl": callback,
    }
    assert bodies["/api/v1/gpt4o-image/generate"] == {
        "prompt": "A paper boat on a pond",
        "size": "3:2",
        "nVariants": 1,
        "filesUrl": [reference],
        "callBackUrl": callback,
    }
    flux = bodies["/api/v1/flux/kontext/generate"]
    assert flux["aspectRatio"] == "4:3"
    assert flux["inputImage"] == reference
    assert flux["outputFormat"] in ("png", "jpeg")


async def test_requests_carry_bearer_auth_and_a_real_user_agent() -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"code": 200, "msg": "success", "data": {"taskId": "a" * 32}})

    async with KieClient("secret-key", base_url="https://kie.test", transport=httpx.MockTransport(record)) as client:
        await client.submit(Provider.KIE_4O_IMAGE, KieSubmit("A quiet harbour", "1:1"))

    assert seen[0].headers["authorization"] == "Bearer secret-key"
    assert "aistudio" in seen[0].headers["user-agent"]


@pytest.mark.parametrize(
    ("variant", "provider"),
    [
        ("string_urls", Provider.KIE_VEO3),
        ("snake_urls", Provider.KIE_4O_IMAGE),
        ("epoch_ms", Provider.KIE_FLUX_KONTEXT),
        ("flag_string", Provider.KIE_VEO3),
        ("status_only", Provider.KIE_4O_IMAGE),
        ("origin_only", Provider.KIE_FLUX_KONTEXT),
        ("code_string", Provider.KIE_4O_IMAGE),
    ],
)
async def test_every_documented_record_variant_reads_as_success(
    kie: KieClient, provider: Provider, variant: str
) -> None:
    aspect_ratio = "1:1" if provider is Provider.KIE_4O_IMAGE else "16:9"
    task_id = await kie.submit(provider, KieSubmit(f"A glass of water [sim:variant={variant}]", aspect_ratio))

    status = await wait_until_finished(kie, provider, task_id)

    assert status.state is TaskState.SUCCEEDED
    assert len(status.result_urls) == 1
    assert status.result_urls[0].startswith("http://127.0.0.1")
    assert status.complete_time is not None and status.complete_time.tzinfo is not None


async def test_flux_prefers_the_long_lived_result_url_over_the_origin(kie: KieClient) -> None:
    task_id = await kie.submit(Provider.KIE_FLUX_KONTEXT, KieSubmit("A red kite", "1:1"))

    status = await wait_until_finished(kie, Provider.KIE_FLUX_KONTEXT, task_id)

    assert status.result_urls == (status.raw["response"]["resultImageUrl"],)


async def test_4o_image_reports_progress_while_generating(kie: KieClient) -> None:
    # Far longer than any pause between the submit and the status read here.
    task_id = await kie.submit(Provider.KIE_4O_IMAGE, KieSubmit("A snail race [sim:duration=60]", "1:1"))

    status = await kie.status(Provider.KIE_4O_IMAGE, task_id)

    assert status.state is TaskState.PENDING
    assert status.progress is not None and 0 <= status.progress < 1


async def test_the_simulator_accepts_the_newer_aspect_ratio_spelling(simulator: SimulatorAdmin) -> None:
    async with httpx.AsyncClient(base_url=simulator.url, headers={"Authorization": "Bearer k"}) as http:
        response = await http.post("/api/v1/veo/generate", json={"prompt": "A tall tower", "aspect_ratio": "9:16"})

    assert response.json()["code"] == 200
    assert simulator.tasks()[0]["aspectRatio"] == "9:16"


async def test_an_aspect_ratio_the_model_does_not_offer_is_refused_before_any_call(
    kie: KieClient, simulator: SimulatorAdmin
) -> None:
    with pytest.raises(ProviderError) as raised:
        await kie.submit(Provider.KIE_4O_IMAGE, KieSubmit("A wide panorama", "21:9"))

    assert raised.value.kind is ErrorKind.USER
    assert simulator.stats()["submissions"] == 0


async def test_credits_read_the_account_balance(kie: KieClient, simulator: SimulatorAdmin) -> None:
    before = await kie.credits()
    await kie.submit(Provider.KIE_4O_IMAGE, KieSubmit("A coin on a table", "1:1"))

    after = await kie.credits()

    assert after < before
    assert float(after) == simulator.stats()["credits"]


async def test_download_url_gives_a_fresh_link_to_a_4o_result(kie: KieClient) -> None:
    task_id = await kie.submit(Provider.KIE_4O_IMAGE, KieSubmit("A bowl of cherries", "1:1"))
    status = await wait_until_finished(kie, Provider.KIE_4O_IMAGE, task_id)

    link = await kie.download_url(task_id, status.result_urls[0])

    async with httpx.AsyncClient() as http:
        response = await http.get(link)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"


async def test_a_request_without_a_key_gets_kies_401_envelope(simulator: SimulatorAdmin) -> None:
    async with httpx.AsyncClient(base_url=simulator.url) as http:
        response = await http.post("/api/v1/veo/generate", json={"prompt": "A tall tower"})

    assert response.status_code == 401
    assert response.json()["code"] == 401


async def test_result_files_expire_like_kies(kie: KieClient, simulator: SimulatorAdmin) -> None:
    # Long enough to read the file once on a loaded machine; then it is gone, however long that takes.
    simulator.configure(file_ttl_seconds=5.0)
    task_id = await kie.submit(Provider.KIE_4O_IMAGE, KieSubmit("A melting ice cube [sim:duration=0]", "1:1"))
    status = await wait_until_finished(kie, Provider.KIE_4O_IMAGE, task_id)
    url = status.result_urls[0]

    async with httpx.AsyncClient() as http:
        fresh = await http.get(url)
        for _ in range(600):  # up to 60 s
            expired = await http.get(url)
            if expired.status_code != 200:
                break
            await asyncio.sleep(0.1)

    assert fresh.status_code == 200
    assert expired.status_code == 404
