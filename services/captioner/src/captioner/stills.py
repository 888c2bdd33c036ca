"""What OpenAI looks at: the image itself, or a still taken from the video."""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from aistudio_contracts import MediaType
from aistudio_providers import MediaError, MediaUnavailableError, download_media, extract_video_frame
from aistudio_providers.media import sniff_content_type
from aistudio_runtime.mediastore import MediaStore

# Image types the chat model reads; anything else is refused rather than sent.
_IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")


@dataclass(frozen=True, slots=True)
class Still:
    data: bytes
    content_type: str


class Stills:
    def __init__(
        self,
        store: MediaStore,
        http: Callable[[], httpx.AsyncClient],
        *,
        max_bytes: int,
        frame_at_seconds: float,
    ) -> None:
        self._store = store
        self._http = http
        self._max_bytes = max_bytes
        self._frame_at = frame_at_seconds

    async def from_store(self, key: str, media_type: MediaType, content_type: str | None = None) -> Still:
        try:
            data = await self._store.get(key)
        except ValueError as exc:
            raise MediaError("The media's storage key is not valid.") from exc
        if data is None:
            # Not there (yet?): a store shared late, or a replica behind. Worth another try.
            raise MediaUnavailableError("The media could not be found in our store.", retryable=True)
        return await self._still(data, media_type, content_type)

    async def from_url(self, url: str, media_type: MediaType) -> Still:
        media = await download_media(self._http(), url, max_bytes=self._max_bytes)
        return await self._still(media.data, media_type, media.content_type)

    async def _still(self, data: bytes, media_type: MediaType, content_type: str | None) -> Still:
        if media_type is MediaType.VIDEO:
            frame = await asyncio.to_thread(extract_video_frame, data, at_seconds=self._frame_at)
            return Still(frame, "image/png")
        declared = (content_type or "").split(";", 1)[0].strip().lower()
        kind = declared if declared in _IMAGE_TYPES else sniff_content_type(data[:16])
        if kind not in _IMAGE_TYPES:
            raise MediaError(f"The image has a type the caption model cannot read ({kind or declared or 'unknown'}).")
        return Still(data, kind)
