"""CaptionWriter, through the real openai SDK, against the simulator."""

import pytest

from aistudio_contracts import FailureReason, MediaType
from aistudio_providers import DEFAULT_CAPTION_SYSTEM_PROMPT, CaptionWriter, ErrorKind, ProviderError

from ..support.simulator import SimulatorAdmin

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


async def test_a_caption_is_written_from_the_prompt_and_the_image(
    captions: CaptionWriter, simulator: SimulatorAdmin
) -> None:
    caption = await captions.write("A hummingbird drinking from a lily", MediaType.IMAGE, PNG, "image/png")

    assert "hummingbird" in caption.text.lower()
    assert "#" in caption.text
    assert caption.model == "gpt-4o-mini"
    assert caption.usage["total_tokens"] > 0
    request = simulator.requests("openai")[-1]
    assert request["systemPrompt"] == DEFAULT_CAPTION_SYSTEM_PROMPT
    assert request["images"] == 1
    image_part = request["body"]["messages"][1]["content"][1]
    assert image_part["image_url"]["url"].startswith("data:image/png;base64,")


async def test_a_custom_system_prompt_reaches_the_model(captions: CaptionWriter, simulator: SimulatorAdmin) -> None:
    await captions.write("A fox", MediaType.IMAGE, "https://cdn.example/fox.png", system_prompt="Write in haiku.")

    request = simulator.requests("openai")[-1]
    assert request["systemPrompt"] == "Write in haiku."
    assert request["body"]["messages"][1]["content"][1]["image_url"]["url"] == "https://cdn.example/fox.png"


async def test_a_video_is_captioned_from_one_of_its_frames(captions: CaptionWriter, simulator: SimulatorAdmin) -> None:
    await captions.write("Waves at night", MediaType.VIDEO, PNG, "image/png")

    assert "a frame of a video" in simulator.requests("openai")[-1]["userText"]


@pytest.mark.parametrize(
    ("fault", "kind", "reason", "retryable"),
    [
        ("429", ErrorKind.REFUSED, FailureReason.PROVIDER_UNAVAILABLE, True),
        ("quota", ErrorKind.ACCOUNT, FailureReason.INSUFFICIENT_CREDITS, False),
        ("500", ErrorKind.AMBIGUOUS, FailureReason.PROVIDER_ERROR, True),
        ("timeout", ErrorKind.AMBIGUOUS, FailureReason.TIMEOUT, True),
        ("400", ErrorKind.USER, FailureReason.INVALID_INPUT, False),
        ("content_filter", ErrorKind.USER, FailureReason.CONTENT_POLICY, False),
    ],
)
async def test_each_openai_failure_is_classified(
    captions: CaptionWriter, fault: str, kind: ErrorKind, reason: FailureReason, retryable: bool
) -> None:
    with pytest.raises(ProviderError) as raised:
        await captions.write(f"A stormy sea [sim:openai={fault}]", MediaType.IMAGE, PNG, "image/png")

    assert (raised.value.kind, raised.value.reason, raised.value.retryable) == (kind, reason, retryable)


async def test_the_sdk_retries_a_server_error_when_retries_are_allowed(simulator: SimulatorAdmin) -> None:
    async with CaptionWriter("key", base_url=f"{simulator.url}/v1", max_retries=2) as writer:
        caption = await writer.write("A second chance [sim:openai=500:1]", MediaType.IMAGE, PNG)

    assert caption.text
    assert simulator.stats()["openaiRequests"] == 2


async def test_the_admin_api_can_make_the_next_calls_fail(captions: CaptionWriter, simulator: SimulatorAdmin) -> None:
    simulator.configure(fail_next={"openai": {"fault": "429", "count": 2}})

    outcomes = []
    for _ in range(3):
        try:
            await captions.write("A queue at the bakery", MediaType.IMAGE, PNG)
            outcomes.append("ok")
        except ProviderError as error:
            outcomes.append(error.kind.value)

    assert outcomes == ["refused", "refused", "ok"]
