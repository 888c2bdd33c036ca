"""Server-sent events of the user's asset changes, resumable with Last-Event-ID.

The stream authenticates with the Authorization header (the web page reads it with fetch), or with a
single-use ticket for EventSource clients: a bearer token in the URL would be written to access logs.
"""

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ...auth import Principal
from ...tickets import StreamTickets
from ..deps import CurrentUser, GatewayDep
from ..errors import ApiError
from ..presenters import present_asset

router = APIRouter(prefix="/api/ai", tags=["media"])

KEEPALIVE_SECONDS = 15.0


class StreamTicket(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    ticket: str
    expires_at: datetime = Field(alias="expiresAt")


def _tickets(gateway: GatewayDep) -> StreamTickets:
    return StreamTickets(gateway.catalog, gateway.settings.stream_ticket_ttl_seconds)


@router.post(
    "/media/events/ticket",
    responses={401: {}},
    summary="A single-use ticket that opens one event stream (?ticket=) within a minute",
)
async def media_events_ticket(user: CurrentUser, gateway: GatewayDep) -> StreamTicket:
    ticket, expires_at = await _tickets(gateway).issue(user)
    return StreamTicket(ticket=ticket, expires_at=expires_at)


async def _stream_user(gateway: GatewayDep, authorization: str | None, ticket: str | None) -> Principal:
    if authorization or not ticket:
        return await gateway.authenticator.authenticate(authorization)
    user = await _tickets(gateway).redeem(ticket)
    if user is None:
        raise ApiError(401, {"error": "Unauthorized", "message": "Stream ticket is unknown, used or expired"})
    return user


@router.get(
    "/media/events",
    responses={200: {"content": {"text/event-stream": {}}}, 401: {}},
    summary="Live changes of the user's assets (server-sent events)",
)
async def media_events(
    request: Request,
    gateway: GatewayDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    ticket: Annotated[
        str | None, Query(max_length=128, description="from POST /api/ai/media/events/ticket, for EventSource clients")
    ] = None,
    last_event_id: Annotated[str | None, Header(max_length=32)] = None,
) -> StreamingResponse:
    user = await _stream_user(gateway, authorization, ticket)
    feed = gateway.feed
    start = await feed.resume_point(user.user_id, last_event_id)
    slot = await gateway.limits.open_stream(user.user_id)  # 429 past MAX_STREAMS_PER_USER, on any replica

    async def stream() -> AsyncIterator[str]:
        sent = start
        # The user's streams in this process share one reader (feed.py): no query per stream.
        async with feed.follow(user.user_id, sent) as changes:
            # Sent once following: a change after `ready` always reaches this stream.
            yield f"retry: 3000\nid: {sent}\nevent: ready\ndata: {{}}\n\n"
            while not await request.is_disconnected():
                batch = await changes.next(KEEPALIVE_SECONDS)
                for seq, row in batch:
                    body = present_asset(row, gateway.links).model_dump_json(by_alias=True)
                    yield f"id: {seq}\nevent: asset\ndata: {body}\n\n"
                if not batch:
                    yield ": keep-alive\n\n"

    return StreamingResponse(
        slot.holding(stream()),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
