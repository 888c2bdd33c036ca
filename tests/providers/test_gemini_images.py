"""GeminiImageClient, through the real google-genai SDK, against the simulator."""

import io

import pytest
from PIL import Image

from aistudio_contracts import FailureReason
from aistudio_providers import ErrorKind, GeminiImageClient, ProviderError

from ..support.simulator import SimulatorAdmin, free_port


@pytest.mark.parametrize(("aspect_ratio", "size"), [("16:9", (512, 288)), ("9:16", (288, 512)), ("1:1", (512, 512))])
async def test_an_image_comes_back_in_the_requested_aspect_ratio(
    gemini: GeminiImageClient, aspect_ratio: str, size: tuple[int, int]
) -> None:
    image = await gemini.generate("A teapot in a snowstorm", aspect_ratio)

    assert image.mime_type == "image/png"
    assert Image.open(io.BytesIO(image.data)).size == size


async def test_a_reference_image_is_sent_inline_with_the_prompt(
    gemini: GeminiImageClient, simulator: SimulatorAdmin
) -> None:
    reference = (await gemini.generate("A plain sketch", "1:1")).data

    await gemini.generate("Make it a watercolour", "1:1", reference_image=reference, reference_mime="image/png")

    request = simulator.requests("gemini")[-1]
    assert request["path"] == "/v1beta/models/gemini-2.5-flash-image:generateContent"
    parts = request["body"]["contents"][0]["parts"]
    assert parts[0] == {"text": "Make it a watercolour"}
    assert "inlineData" in parts[1] or "inline_data" in parts[1]
    assert request["body"]["generationConfig"]["imageConfig"] == {"aspectRatio": "1:1"}


async def test_the_simulator_also_serves_the_v1_api(simulator: SimulatorAdmin) -> None:
    async with GeminiImageClient("key", base_url=simulator.url, api_version="v1") as client:
        image = await client.generate("A violin", "4:3")

    assert image.data.startswith(b"\x89PNG")
    assert simulator.requests("gemini")[-1]["path"].startswith("/v1/models/")


@pytest.mark.parametrize(("fault", "what"), [("blocked_prompt", "prompt"), ("blocked_output", "image")])
async def test_a_blocked_prompt_or_output_is_a_content_policy_error_with_the_reason(
    gemini: GeminiImageClient, fault: str, what: str
) -> None:
    with pytest.raises(ProviderError) as raised:
        await gemini.generate(f"Something forbidden [sim:gemini={fault}]", "1:1")

    assert (raised.value.kind, raised.value.reason) == (ErrorKind.USER, FailureReason.CONTENT_POLICY)
    assert what in raised.value.user_message
    assert raised.value.provider_code in ("PROHIBITED_CONTENT", "IMAGE_SAFETY")


@pytest.mark.parametrize("fault", ["429", "503"])
async def test_quota_and_overload_are_refused_and_safe_to_retry(gemini: GeminiImageClient, fault: str) -> None:
    with pytest.raises(ProviderError) as raised:
        await gemini.generate(f"A crowded room [sim:gemini={fault}]", "1:1")

    assert raised.value.kind is ErrorKind.REFUSED
    assert raised.value.retryable
    assert raised.value.http_status == int(fault)


async def test_a_server_error_is_ambiguous_but_may_be_retried(gemini: GeminiImageClient) -> None:
    with pytest.raises(ProviderError) as raised:
        await gemini.generate("A broken machine [sim:gemini=500]", "1:1")

    assert raised.value.kind is ErrorKind.AMBIGUOUS
    assert raised.value.retryable


@pytest.mark.parametrize(("fault", "kind"), [("400", ErrorKind.USER), ("403", ErrorKind.ACCOUNT)])
async def test_client_errors_are_terminal(gemini: GeminiImageClient, fault: str, kind: ErrorKind) -> None:
    with pytest.raises(ProviderError) as raised:
        await gemini.generate(f"A bad request [sim:gemini={fault}]", "1:1")

    assert raised.value.kind is kind
    assert not raised.value.retryable


async def test_an_answer_in_words_without_an_image_is_a_provider_error(gemini: GeminiImageClient) -> None:
    with pytest.raises(ProviderError) as raised:
        await gemini.generate("A shy painter [sim:gemini=text_only]", "1:1")

    assert raised.value.reason is FailureReason.PROVIDER_ERROR
    assert "describe" in (raised.value.provider_message or "")


async def test_a_refused_connection_is_refused(simulator: SimulatorAdmin) -> None:
    async with GeminiImageClient("key", base_url=f"http://127.0.0.1:{free_port()}") as client:
        with pytest.raises(ProviderError) as raised:
            await client.generate("Anyone home?", "1:1")

    assert raised.value.kind is ErrorKind.REFUSED


async def test_a_timeout_is_ambiguous_with_the_timeout_reason(simulator: SimulatorAdmin) -> None:
    async with GeminiImageClient("key", base_url=simulator.url, timeout_seconds=0.3) as client:
        with pytest.raises(ProviderError) as raised:
            await client.generate("A very slow painter [sim:gemini=timeout]", "1:1")

    assert (raised.value.kind, raised.value.reason) == (ErrorKind.AMBIGUOUS, FailureReason.TIMEOUT)
