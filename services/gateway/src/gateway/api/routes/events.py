"""Server-sent events of the user's asset changes, resumable with Last-Event-ID."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from ...feed import CHANGES_BATCH
from ..deps import GatewayDep
from ..presenters import present_asset

router = APIRouter(prefix="/api/ai", tags=["media"])

KEEPALIVE_SECONDS = 15.0


@router.get(
    "/media/events",
    responses={200: {"content": {"text/event-stream": {}}}, 401: {}},
    summary="Live changes of the user's assets (server-sent events)",
)
async def media_events(
    request: Request,
    gateway: GatewayDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    access_token: Annotated[str | None, Query(max_length=4096, description="for EventSource clients")] = None,
    last_event_id: Annotated[str | None, Header(max_length=32)] = None,
) -> StreamingResponse:
    user = await gateway.authenticator.authenticate(
        authorization or (f"Bearer {access_token}" if access_token else None)
    )
    feed = gateway.feed
    start = await feed.resume_point(user.user_id, last_event_id)
    slot = await gateway.limits.open_stream(user.user_id)  # 429 past MAX_STREAMS_PER_USER, on any replica

    async def stream() -> AsyncIterator[str]:
        sent = start
        yield f"retry: 3000\nid: {sent}\nevent: ready\ndata: {{}}\n\n"
        with feed.subscription(user.user_id) as wake:
            while not await request.is_disconnected():
                wake.clear()
                # Read until a batch comes back short: a backlog is sent at once, not one batch per wake-up.
                while True:
                    changes = await feed.changes_after(user.user_id, sent, CHANGES_BATCH)
                    for seq, row in changes:
                        body = present_asset(row, gateway.links).model_dump_json(by_alias=True)
                        yield f"id: {seq}\nevent: asset\ndata: {body}\n\n"
                        sent = seq
                    if len(changes) < CHANGES_BATCH:
                        break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=KEEPALIVE_SECONDS)
                    continue
                yield ": keep-alive\n\n"

    return StreamingResponse(
        slot.holding(stream()),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
