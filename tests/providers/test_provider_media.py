"""Taking results into custody (size, type, checksum) and a frame of a video for captioning."""

import asyncio
import hashlib
import io
from collections.abc import AsyncIterator

import httpx
import pytest
from PIL import Image

from aistudio_contracts import Provider
from aistudio_providers import (
    KieClient,
    KieSubmit,
    MediaError,
    MediaTooLargeError,
    MediaUnavailableError,
    ProviderSettings,
    UnsupportedMediaTypeError,
    download_client,
    download_media,
    extract_video_frame,
)

from ..support.simulator import SimulatorAdmin, wait_until_finished

MB = 1024 * 1024


async def result_url(kie: KieClient, provider: Provider, aspect_ratio: str) -> str:
    task_id = await kie.submit(provider, KieSubmit("A windmill in a field of tulips", aspect_ratio))
    status = await wait_until_finished(kie, provider, task_id)
    return status.result_urls[0]


def serving(response: httpx.Response) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(lambda request: response))


async def test_a_result_is_downloaded_with_its_type_size_and_checksum(kie: KieClient) -> None:
    url = await result_url(kie, Provider.KIE_4O_IMAGE, "1:1")

    async with httpx.AsyncClient() as http:
        media = await download_media(http, url, max_bytes=5 * MB)

    assert media.content_type == "image/png"
    assert media.size == len(media.data)
    assert media.sha256 == hashlib.sha256(media.data).hexdigest()
    assert Image.open(io.BytesIO(media.data)).size == (512, 512)


async def test_the_download_client_from_settings_fetches_a_result_with_a_user_agent(
    kie: KieClient, simulator: SimulatorAdmin
) -> None:
    url = await result_url(kie, Provider.KIE_FLUX_KONTEXT, "16:9")

    settings = ProviderSettings(_env_file=None, download_timeout_seconds=5, kie_base_url=simulator.url)
    async with download_client(settings) as http:
        media = await download_media(http, url, max_bytes=5 * MB)

    assert media.content_type == "image/png"
    assert http.headers["user-agent"].startswith("aistudio")


async def test_a_result_larger_than_allowed_is_refused(kie: KieClient) -> None:
    url = await result_url(kie, Provider.KIE_4O_IMAGE, "1:1")

    async with httpx.AsyncClient() as http:
        with pytest.raises(MediaTooLargeError):
            await download_media(http, url, max_bytes=100)


async def test_the_size_limit_holds_when_no_length_is_announced() -> None:
    async def endless() -> AsyncIterator[bytes]:
        for _ in range(1000):
            yield b"\x00" * 1024

    async with serving(httpx.Response(200, headers={"content-type": "video/mp4"}, content=endless())) as http:
        with pytest.raises(MediaTooLargeError):
            await download_media(http, "https://cdn.test/clip.mp4", max_bytes=64 * 1024)


async def test_a_result_of_another_type_is_refused() -> None:
    page = httpx.Response(200, headers={"content-type": "text/html; charset=utf-8"}, content=b"<html></html>")

    async with serving(page) as http:
        with pytest.raises(UnsupportedMediaTypeError):
            await download_media(http, "https://cdn.test/result.png", max_bytes=MB)


async def test_a_generically_labelled_file_is_recognised_by_its_first_bytes() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    response = httpx.Response(200, headers={"content-type": "application/octet-stream"}, content=png)

    async with serving(response) as http:
        media = await download_media(http, "https://cdn.test/result", max_bytes=MB)

    assert media.content_type == "image/png"


async def test_a_forgotten_result_is_unavailable_for_good(kie: KieClient, simulator: SimulatorAdmin) -> None:
    url = await result_url(kie, Provider.KIE_4O_IMAGE, "1:1")
    simulator.forget()

    async with httpx.AsyncClient() as http:
        with pytest.raises(MediaUnavailableError) as raised:
            await download_media(http, url, max_bytes=MB)

    assert raised.value.http_status == 404
    assert not raised.value.retryable


async def test_a_server_error_while_downloading_may_be_retried() -> None:
    async with serving(httpx.Response(503)) as http:
        with pytest.raises(MediaUnavailableError) as raised:
            await download_media(http, "https://cdn.test/result.png", max_bytes=MB)

    assert raised.value.retryable


@pytest.mark.parametrize(("aspect_ratio", "landscape"), [("16:9", True), ("9:16", False)])
async def test_a_frame_is_extracted_from_a_generated_video(kie: KieClient, aspect_ratio: str, landscape: bool) -> None:
    url = await result_url(kie, Provider.KIE_VEO3, aspect_ratio)
    async with httpx.AsyncClient() as http:
        video = await download_media(http, url, max_bytes=20 * MB)
    assert video.content_type == "video/mp4"

    frame = await asyncio.to_thread(extract_video_frame, video.data)

    width, height = Image.open(io.BytesIO(frame)).size
    assert frame.startswith(b"\x89PNG")
    assert (width > height) is landscape


def test_bytes_that_are_not_a_video_give_a_media_error() -> None:
    with pytest.raises(MediaError):
        extract_video_frame(b"definitely not an mp4")
