"""Generation requests and the user's gallery."""

import dataclasses
import json
from datetime import datetime, timedelta
from typing import Annotated, Literal
from uuid import UUID, uuid4, uuid5

from fastapi import APIRouter, Header, Query, Request

from aistudio_contracts import MediaType

from ... import metrics
from ...catalog import QuotaRefused, decode_cursor
from ...domain.requests import GenerationSpec, InvalidRequest, Issue, parse_generation_request
from ...templates import Templates
from ..deps import CurrentUser, Gateway, GatewayDep, GeneratingUser
from ..errors import ApiError, asset_id_of, not_found
from ..presenters import present_asset
from ..schemas import BatchPublic, GenerateMediaRequest, MediaAssetPublic, MediaAssetsPublic, inline_schema
from .batches import generate_batch, limit_reached

router = APIRouter(prefix="/api/ai", tags=["media"])

# Assets created through an Idempotency-Key get an id derived from it, so that concurrent
# retries take quota under one request id and are charged once.
_IDEMPOTENCY_NAMESPACE = UUID("6f1c1f3e-3c5e-4d0b-9a53-2f1f0e7a1c11")
MAX_IDEMPOTENCY_KEY = 255


async def read_json(request: Request) -> object:
    try:
        return json.loads(await request.body())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest([Issue((), "Request body must be valid JSON")]) from exc
    except RecursionError as exc:  # nested thousands deep: the parser ran out of stack
        raise InvalidRequest([Issue((), "Request body is nested too deeply")]) from exc


async def _spec(gateway: Gateway, user_id: str, body: object) -> GenerationSpec:
    """The request, with a template's prompt filled in when it names one (`templateId`)."""
    if not isinstance(body, dict) or "templateId" not in body:
        return parse_generation_request(body)
    filled, template_id = await Templates(gateway.catalog.pool).fill_in(user_id, body)
    return dataclasses.replace(parse_generation_request(filled), template_id=template_id)


def _replay(gateway: Gateway, existing: object, spec: GenerationSpec) -> MediaAssetPublic:
    if existing["request_hash"] != spec.fingerprint():  # type: ignore[index]
        raise ApiError(
            422,
            {
                "error": "Idempotency-Key reused",
                "message": "This Idempotency-Key was already used with a different request body.",
            },
        )
    return present_asset(existing, gateway.links)  # type: ignore[arg-type]


@router.post(
    "/generate-media",
    status_code=202,
    response_model=MediaAssetPublic | BatchPublic,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline_schema(GenerateMediaRequest)}},
        }
    },
    responses={400: {}, 401: {}, 403: {}, 413: {}, 422: {}, 503: {}},
)
async def generate_media(
    request: Request,
    gateway: GatewayDep,
    user: GeneratingUser,
    idempotency_key: Annotated[str | None, Header(max_length=MAX_IDEMPOTENCY_KEY)] = None,
) -> MediaAssetPublic | BatchPublic:
    spec = await _spec(gateway, user.user_id, await read_json(request))
    key = idempotency_key_of(idempotency_key)
    if spec.variants > 1:
        return await generate_batch(gateway, user.user_id, spec, key)
    return await generate_one(gateway, user.user_id, spec, key)


def idempotency_key_of(header: str | None) -> str | None:
    return header.strip() if header and header.strip() else None


async def generate_one(gateway: Gateway, user_id: str, spec: GenerationSpec, key: str | None) -> MediaAssetPublic:
    """One asset for one unit: generate and edit alike (an edit is a spec with a parent)."""
    if key:
        existing = await gateway.catalog.find_by_idempotency_key(user_id, key)
        if existing:
            return _replay(gateway, existing, spec)
        asset_id = uuid5(_IDEMPOTENCY_NAMESPACE, f"{user_id}\x00{key}")
    else:
        asset_id = uuid4()

    deadline_at = gateway.catalog.new_deadline()
    try:
        row = await gateway.catalog.create(
            asset_id, user_id, spec, key, deadline_at, _input_image_url(gateway, spec, deadline_at)
        )
    except QuotaRefused as refused:
        metrics.units_asked(False)
        raise limit_reached(refused.limit) from None
    if row is None:  # a concurrent request with the same key stored it first
        existing = await gateway.catalog.find_by_idempotency_key(user_id, key or "")
        if existing is None:
            raise ApiError(409, {"error": "Conflicting request, please retry"})
        return _replay(gateway, existing, spec)
    metrics.units_asked(True)
    return present_asset(row, gateway.links)


def _input_image_url(gateway: Gateway, spec: GenerationSpec, deadline_at: datetime) -> str | None:
    """An edit's parent image as a link the provider fetches (PUBLIC_BASE_URL must reach us from there).
    KIE may fetch it whenever the queued job is finally sent, up to the job's deadline, and while it
    works the task after that; past the deadline plus STUCK_ASSET_GRACE_SECONDS the gateway fails the
    asset anyway. So the link lives exactly that long: GENERATION_TIMEOUT_SECONDS + the grace from
    acceptance (1200 + 300 s by default), independent of MEDIA_LINK_TTL_SECONDS."""
    if spec.parent_id is None:
        return None
    grace = timedelta(seconds=gateway.settings.stuck_asset_grace_seconds)
    return gateway.links.media_url_until(spec.parent_id, deadline_at + grace)


@router.get("/media", response_model=MediaAssetsPublic, responses={400: {}, 401: {}, 503: {}})
async def list_media(
    gateway: GatewayDep,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    type: Annotated[MediaType | None, Query()] = None,
    status: Annotated[Literal["processing", "ready", "error", "cancelled"] | None, Query()] = None,
) -> MediaAssetsPublic:
    try:
        position = decode_cursor(cursor) if cursor else None
    except ValueError as exc:
        raise InvalidRequest([Issue(("cursor",), "Cursor is not valid; use nextCursor from a previous page")]) from exc
    page = await gateway.catalog.gallery(
        user.user_id, limit=limit, cursor=position, media_type=type.value if type else None, status=status
    )
    return MediaAssetsPublic(
        assets=[present_asset(row, gateway.links) for row in page.assets], next_cursor=page.next_cursor
    )


@router.get("/media/{asset_id}", response_model=MediaAssetPublic, responses={401: {}, 404: {}, 503: {}})
async def get_media(asset_id: str, gateway: GatewayDep, user: CurrentUser) -> MediaAssetPublic:
    row = await gateway.catalog.find(user.user_id, asset_id_of(asset_id))
    if row is None:
        raise not_found()
    return present_asset(row, gateway.links)
