"""KIE posts here when a task ends. The body is only a hint: the poller confirms with a status check."""

import json
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Request

from aistudio_contracts import Provider
from aistudio_providers import parse_callback, verify_callback_token, verify_kie_signature
from aistudio_runtime import get_logger

from ..deps import GatewayDep
from ..errors import ApiError

router = APIRouter(prefix="/api/providers", tags=["provider callbacks"])
log = get_logger(__name__)


@router.post("/kie/callback/{asset_id}/{token}", responses={401: {}, 404: {}})
async def kie_callback(
    asset_id: UUID,
    token: str,
    request: Request,
    gateway: GatewayDep,
    x_webhook_timestamp: Annotated[str | None, Header()] = None,
    x_webhook_signature: Annotated[str | None, Header()] = None,
) -> dict[str, object]:
    settings = gateway.settings
    if not verify_callback_token(settings.callback_signing_key.get_secret_value(), asset_id, token):
        raise ApiError(401, {"error": "Unauthorized", "message": "Unknown callback"})
    body = await request.body()
    info = parse_callback(Provider.KIE_4O_IMAGE, body)
    if settings.kie_callback_hmac_key is not None and not verify_kie_signature(
        settings.kie_callback_hmac_key.get_secret_value(), info.task_id or "", x_webhook_timestamp, x_webhook_signature
    ):
        raise ApiError(401, {"error": "Unauthorized", "message": "Bad callback signature"})
    try:
        payload = json.loads(body)
    except ValueError:
        payload = {"unreadable": body[:1000].decode(errors="replace")}
    recorded = await gateway.catalog.record_callback(
        asset_id, info.task_id, payload if isinstance(payload, dict) else {"body": payload}
    )
    if not recorded:
        raise ApiError(404, {"error": "Media asset not found"})
    log.info("provider_callback", asset_id=str(asset_id), task_id=info.task_id, state=info.state)
    return {"code": 200, "msg": "received"}
