"""Results streamed to a temporary file: the same checks as in memory, in bounded memory."""

import hashlib
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from aistudio_contracts import Provider
from aistudio_providers import KieClient, MediaTooLargeError, MediaUnavailableError, UnsupportedMediaTypeError
from aistudio_providers.media import download_media_file

from .test_provider_media import MB, result_url, serving

CHUNK = 64 * 1024


def leftovers(directory: Path) -> list[Path]:
    return list(directory.iterdir())


async def test_a_result_is_streamed_to_a_file_with_its_type_size_and_checksum(kie: KieClient, tmp_path: Path) -> None:
    url = await result_url(kie, Provider.KIE_4O_IMAGE, "1:1")

    async with httpx.AsyncClient() as http, download_media_file(http, url, max_bytes=5 * MB, directory=tmp_path) as got:
        data = got.path.read_bytes()
        assert got.content_type == "image/png" and data.startswith(b"\x89PNG")
        assert got.size == len(data) and got.sha256 == hashlib.sha256(data).hexdigest()

    assert leftovers(tmp_path) == []  # the temporary file is gone with the block


async def _zeros(total: int, head: bytes = b"") -> AsyncIterator[bytes]:
    yield head
    for _ in range(total // CHUNK):
        yield bytes(CHUNK)


async def test_a_large_video_is_downloaded_in_bounded_memory(tmp_path: Path) -> None:
    size = 48 * MB
    # An MP4's first box names its brand: the bytes must be what the type says (ftyp), not just zeros.
    head = b"\0\0\0\x18ftypmp42"
    video = httpx.Response(200, headers={"content-type": "video/mp4"}, content=_zeros(size, head))
    size += len(head)

    tracemalloc.start()
    try:
        async with (
            serving(video) as http,
            download_media_file(http, "https://cdn.test/clip.mp4", max_bytes=64 * MB, directory=tmp_path) as got,
        ):
            _, peak = tracemalloc.get_traced_memory()
            assert got.size == size and got.path.stat().st_size == size
    finally:
        tracemalloc.stop()

    assert peak < 8 * MB, f"peak {peak} bytes for a {size}-byte download"


async def test_the_size_limit_holds_while_streaming_and_leaves_no_file(tmp_path: Path) -> None:
    video = httpx.Response(200, headers={"content-type": "video/mp4"}, content=_zeros(2 * MB))

    async with serving(video) as http:
        with pytest.raises(MediaTooLargeError):
            async with download_media_file(http, "https://cdn.test/clip.mp4", max_bytes=MB, directory=tmp_path):
                pass

    assert leftovers(tmp_path) == []


async def test_a_generically_labelled_stream_is_recognised_by_its_first_bytes(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n"
    # The first bytes arrive split over chunks: the sniffer still sees them together.
    body = httpx.Response(
        200, headers={"content-type": "application/octet-stream"}, content=_pieces([png[:3], png[3:], bytes(100)])
    )

    async with serving(body) as http, download_media_file(http, "https://cdn.test/r", max_bytes=MB) as got:
        assert got.content_type == "image/png"


async def _pieces(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_a_streamed_result_of_another_type_is_refused(tmp_path: Path) -> None:
    page = httpx.Response(200, headers={"content-type": "text/html"}, content=b"<html></html>")

    async with serving(page) as http:
        with pytest.raises(UnsupportedMediaTypeError):
            async with download_media_file(http, "https://cdn.test/r.png", max_bytes=MB, directory=tmp_path):
                pass

    assert leftovers(tmp_path) == []


async def test_a_server_error_while_streaming_may_be_retried(tmp_path: Path) -> None:
    async with serving(httpx.Response(503)) as http:
        with pytest.raises(MediaUnavailableError) as raised:
            async with download_media_file(http, "https://cdn.test/r.png", max_bytes=MB, directory=tmp_path):
                pass

    assert raised.value.retryable
