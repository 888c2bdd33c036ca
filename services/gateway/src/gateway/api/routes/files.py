"""Media in our custody, served through signed, expiring links.

A local file is sent as it is (byte ranges included). Media in an S3-compatible store is streamed
through the gateway rather than redirected to a presigned URL: the page's Content-Security-Policy
allows media from our own origin only, the store may not be reachable from browsers at all, and the
link's expiry stays ours. Byte ranges (video seeking) are passed on to the store.
"""

from typing import Annotated
from uuid import UUID

import httpx
from fastapi import APIRouter, Header, Query
from fastapi.responses import FileResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from aistudio_runtime import get_logger
from aistudio_runtime.mediastore import StreamingMediaStore
from aistudio_runtime.s3 import ObjectStream, S3Error

from ..deps import GatewayDep
from ..errors import ApiError

router = APIRouter(tags=["media files"])
log = get_logger(__name__)

_CACHE = {"Cache-Control": "private, max-age=3600"}
# Our origin serves files a provider (or a user) made: a browser must neither guess another type for
# them (nosniff) nor run anything in them if opened directly (sandbox), and shows them inline.
_SAFE = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "video/mp4": "mp4", "video/webm": "webm"}


def _served_headers(asset_id: UUID, content_type: str | None) -> dict[str, str]:
    extension = _EXTENSIONS.get((content_type or "").split(";", 1)[0].strip().lower(), "bin")
    return {**_CACHE, **_SAFE, "Content-Disposition": f'inline; filename="{asset_id}.{extension}"'}


@router.get("/media/{asset_id}", responses={206: {}, 403: {}, 404: {}, 416: {}, 503: {}})
async def media_file(
    asset_id: UUID,
    gateway: GatewayDep,
    expires: Annotated[int, Query()],
    signature: Annotated[str, Query(max_length=128)],
    range_: Annotated[str | None, Header(alias="range", include_in_schema=False)] = None,
) -> Response:
    if not gateway.links.verify(asset_id, expires, signature):
        raise ApiError(403, {"error": "Link expired or invalid"})
    row = await gateway.catalog.pool.fetchrow(
        "SELECT result_storage_key, result_content_type FROM gateway.media_assets WHERE id = $1", asset_id
    )
    if row is None or not row["result_storage_key"]:
        raise ApiError(404, {"error": "Media not found"})
    key, content_type = row["result_storage_key"], row["result_content_type"]
    path = gateway.media.local_path(key)
    headers = _served_headers(asset_id, content_type)
    if path is not None:
        return FileResponse(path, media_type=content_type, headers=headers)
    if isinstance(gateway.media, StreamingMediaStore):
        return await _streamed(gateway.media, key, content_type, range_, headers)
    data = await gateway.media.get(key)
    if data is None:
        raise ApiError(404, {"error": "Media not found"})
    return Response(data, media_type=content_type, headers=headers)


async def _streamed(
    store: StreamingMediaStore, key: str, content_type: str | None, byte_range: str | None, served: dict[str, str]
) -> Response:
    try:
        stream = await store.open(key, byte_range)
    except (S3Error, httpx.HTTPError) as exc:
        log.error("media_store_failed", key=key, error=str(exc))
        raise ApiError(503, {"error": "Media storage is unavailable"}) from exc
    if stream is None:
        raise ApiError(404, {"error": "Media not found"})
    headers = {"Accept-Ranges": "bytes", **stream.headers, **served}
    headers["content-type"] = content_type or stream.headers.get("content-type", "application/octet-stream")
    return _ObjectResponse(stream, headers)


class _ObjectResponse(StreamingResponse):
    """Streams an object from the store, and lets go of the store's connection however it ends."""

    def __init__(self, stream: ObjectStream, headers: dict[str, str]) -> None:
        super().__init__(stream.chunks, status_code=stream.status, headers=headers)
        self._stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._stream.aclose()
