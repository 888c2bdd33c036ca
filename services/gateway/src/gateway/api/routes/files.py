"""Media in our custody, served through signed, expiring links."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, Response

from ..deps import GatewayDep
from ..errors import ApiError

router = APIRouter(tags=["media files"])


@router.get("/media/{asset_id}", responses={403: {}, 404: {}})
async def media_file(
    asset_id: UUID,
    gateway: GatewayDep,
    expires: Annotated[int, Query()],
    signature: Annotated[str, Query(max_length=128)],
) -> Response:
    if not gateway.links.verify(asset_id, expires, signature):
        raise ApiError(403, {"error": "Link expired or invalid"})
    row = await gateway.catalog.pool.fetchrow(
        "SELECT result_storage_key, result_content_type FROM gateway.media_assets WHERE id = $1", asset_id
    )
    if row is None or not row["result_storage_key"]:
        raise ApiError(404, {"error": "Media not found"})
    path = gateway.media.local_path(row["result_storage_key"])
    if path is not None:
        return FileResponse(
            path, media_type=row["result_content_type"], headers={"Cache-Control": "private, max-age=3600"}
        )
    data = await gateway.media.get(row["result_storage_key"])
    if data is None:
        raise ApiError(404, {"error": "Media not found"})
    return Response(data, media_type=row["result_content_type"])
