"""Captions: on demand for a finished asset (the captioner answers by request/reply), and the
system prompt a user's captions follow.

The gateway owns the system prompt (gateway.user_settings). A change is published as
CaptionSettingsChanged through the outbox, in the transaction that stores it, so the captioner
keeps its own copy for the automatic captions it writes after each generation; an on-demand
request carries the stored prompt itself. An on-demand caption becomes the asset's caption: the
captioner records it and emits CaptionGenerated, which updates the asset like any other.
"""

from datetime import datetime
from typing import Annotated, Any
from uuid import uuid4

import asyncpg
from fastapi import APIRouter
from pydantic import AfterValidator, StringConstraints

from aistudio_contracts import PROMPT_MAX_LENGTH, CaptionReply, CaptionSettingsChanged, GenerateCaption, MediaType
from aistudio_runtime import enqueue, get_logger

from ...catalog import SCHEMA
from ..deps import CurrentUser, Gateway, GatewayDep
from ..errors import ApiError, asset_id_of, not_found
from ..schemas import CamelModel

log = get_logger(__name__)

router = APIRouter(prefix="/api", tags=["captions"])

CAPTION_SYSTEM_PROMPT_MAX_LENGTH = 2000


def _no_nul(text: str) -> str:
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    return text


CaptionPrompt = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=PROMPT_MAX_LENGTH), AfterValidator(_no_nul)
]
SystemPrompt = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=CAPTION_SYSTEM_PROMPT_MAX_LENGTH), AfterValidator(_no_nul)
]


class CaptionFromMediaRequest(CamelModel):
    media_id: str
    # Defaults to the prompt the asset was generated from.
    prompt: CaptionPrompt | None = None


class CaptionPublic(CamelModel):
    success: bool
    caption: str
    metadata: dict[str, Any]


class CaptionSettingsUpdate(CamelModel):
    # null or blank: back to the default system prompt.
    caption_system_prompt: SystemPrompt | None = None


class CaptionSettingsPublic(CamelModel):
    caption_system_prompt: str | None
    updated_at: datetime | None = None


@router.post(
    "/caption/generate-from-media",
    response_model=CaptionPublic,
    responses={400: {}, 401: {}, 403: {}, 404: {}, 409: {}, 413: {}, 429: {}, 502: {}, 503: {}},
)
async def generate_from_media(body: CaptionFromMediaRequest, gateway: GatewayDep, user: CurrentUser) -> CaptionPublic:
    asset_id = asset_id_of(body.media_id)
    asset = await gateway.catalog.find(user.user_id, asset_id)
    if asset is None:
        raise not_found()
    if asset["status"] != "ready" or not asset["result_storage_key"]:
        raise ApiError(
            409,
            {
                "error": "Media asset is not ready",
                "message": f"A caption can be written once the media is ready; it is {asset['status']}.",
            },
        )
    system_prompt = (await _settings(gateway.catalog.pool, user.user_id))["caption_system_prompt"]
    request = GenerateCaption(
        asset_id=asset_id,
        user_id=user.user_id,
        media_type=MediaType(asset["type"]),
        media_url=gateway.links.media_url(asset_id),
        prompt=body.prompt or asset["prompt"],
        system_prompt=system_prompt,
        storage_key=asset["result_storage_key"],
    )
    # Within the month's allowance and the cap on captions in flight; a failed caption is not counted.
    async with gateway.limits.caption(user.user_id) as ticket:
        reply = await _ask_captioner(gateway, request)
        ticket.succeeded = bool(reply.success and reply.caption)
    if not reply.success or not reply.caption:
        raise ApiError(502, {"error": "Failed to generate caption", "details": reply.error or "No caption came back"})
    return CaptionPublic(success=True, caption=reply.caption, metadata=reply.metadata)


@router.get("/me/caption-settings", response_model=CaptionSettingsPublic, responses={401: {}, 503: {}})
async def get_caption_settings(gateway: GatewayDep, user: CurrentUser) -> CaptionSettingsPublic:
    return CaptionSettingsPublic.model_validate(await _settings(gateway.catalog.pool, user.user_id))


@router.put(
    "/me/caption-settings", response_model=CaptionSettingsPublic, responses={400: {}, 401: {}, 413: {}, 503: {}}
)
async def put_caption_settings(
    update: CaptionSettingsUpdate, gateway: GatewayDep, user: CurrentUser
) -> CaptionSettingsPublic:
    prompt = update.caption_system_prompt or None
    async with gateway.catalog.pool.acquire() as conn, conn.transaction():
        changed = await conn.fetchrow(
            "INSERT INTO gateway.user_settings (user_id, caption_system_prompt) VALUES ($1, $2)"
            " ON CONFLICT (user_id) DO UPDATE SET caption_system_prompt = EXCLUDED.caption_system_prompt,"
            " version = user_settings.version + 1, updated_at = now()"
            " WHERE user_settings.caption_system_prompt IS DISTINCT FROM EXCLUDED.caption_system_prompt"
            " RETURNING caption_system_prompt, version, updated_at",
            user.user_id,
            prompt,
        )
        if changed is None:  # the same prompt again: nothing to tell anyone
            return CaptionSettingsPublic.model_validate(await _settings(conn, user.user_id))
        event = CaptionSettingsChanged(
            correlation_id=uuid4(), user_id=user.user_id, caption_system_prompt=prompt, version=changed["version"]
        )
        await enqueue(conn, SCHEMA, event)
    log.info("caption_settings_changed", user_id=user.user_id, version=changed["version"], reset=prompt is None)
    return CaptionSettingsPublic.model_validate(dict(changed))


async def _settings(db: asyncpg.Pool | asyncpg.Connection, user_id: str) -> dict[str, Any]:
    row = await db.fetchrow(
        "SELECT caption_system_prompt, updated_at FROM gateway.user_settings WHERE user_id = $1", user_id
    )
    return dict(row) if row else {"caption_system_prompt": None, "updated_at": None}


async def _ask_captioner(gateway: Gateway, request: GenerateCaption) -> CaptionReply:
    timeout = gateway.settings.caption_rpc_timeout_seconds
    try:
        response = await gateway.broker.request(request.to_json(), request.subject, timeout=timeout)
        return CaptionReply.model_validate_json(response.body)
    except Exception as exc:
        log.warning("captioner_unavailable", asset_id=str(request.asset_id), error=repr(exc))
        raise ApiError(
            503,
            {
                "error": "Service temporarily unavailable",
                "message": "Captions cannot be written right now; please try again shortly.",
            },
            headers={"Retry-After": "5"},
        ) from exc
