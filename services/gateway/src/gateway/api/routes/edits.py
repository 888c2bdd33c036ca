"""Editing: a new asset made from one of the user's ready images and a prompt, by the generate path."""

from typing import Annotated

from fastapi import APIRouter, Header, Request

from ...domain.edits import NotEditable, editable_parent, parse_edit_request
from ..deps import GatewayDep, GeneratingUser
from ..errors import ApiError, asset_id_of, not_found
from ..schemas import EditMediaRequest, MediaAssetPublic, inline_schema
from .media import MAX_IDEMPOTENCY_KEY, generate_one, idempotency_key_of, read_json

router = APIRouter(prefix="/api/ai", tags=["media"])


@router.post(
    "/media/{asset_id}/edit",
    status_code=202,
    response_model=MediaAssetPublic,
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": inline_schema(EditMediaRequest)}}}
    },
    responses={400: {}, 401: {}, 403: {}, 404: {}, 409: {}, 413: {}, 422: {}, 503: {}},
)
async def edit_media(
    asset_id: str,
    request: Request,
    gateway: GatewayDep,
    user: GeneratingUser,
    idempotency_key: Annotated[str | None, Header(max_length=MAX_IDEMPOTENCY_KEY)] = None,
) -> MediaAssetPublic:
    """Edit the user's own ready image: answered like generate (202, one unit), the new asset's
    `parentId` naming the image it started from."""
    asset = await gateway.catalog.find(user.user_id, asset_id_of(asset_id))
    if asset is None:
        raise not_found()
    try:
        parent = editable_parent(asset)
    except NotEditable as refused:
        raise ApiError(409, {"error": refused.error, "message": refused.message, "status": asset["status"]}) from None
    spec = parse_edit_request(await read_json(request), parent)
    return await generate_one(gateway, user.user_id, spec, idempotency_key_of(idempotency_key))
