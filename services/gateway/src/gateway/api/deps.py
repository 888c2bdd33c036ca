"""What routes depend on, as Annotated aliases."""

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Header, Request
from faststream.nats import NatsBroker

from aistudio_contracts import Plan
from aistudio_runtime.mediastore import MediaStore

from ..analytics import AnalyticsProjection
from ..auth import Authenticator, Principal
from ..catalog import Catalog
from ..feed import ChangeFeed
from ..links import LinkSigner
from ..settings import GatewaySettings
from ..usage_client import UsageClient
from ..userlimits import Bucket, PlanCache, UserLimits
from .errors import ApiError


@dataclass(slots=True)
class Gateway:
    """Everything the routes use, built once by the composition root."""

    settings: GatewaySettings
    catalog: Catalog
    usage: UsageClient
    authenticator: Authenticator
    links: LinkSigner
    media: MediaStore
    broker: NatsBroker
    feed: ChangeFeed
    limits: UserLimits = field(init=False)
    analytics: AnalyticsProjection = field(init=False)

    def __post_init__(self) -> None:
        self.analytics = AnalyticsProjection(self.catalog)  # the catalog only lends its pool

        async def plan_of(user_id: str) -> Plan:
            return (await self.usage.summary(user_id)).plan

        self.limits = UserLimits(lambda: self.catalog.pool, self.settings, PlanCache(plan_of))

    def nats_connected(self) -> bool:
        try:
            return bool(self.broker.connection.is_connected)
        except Exception:
            return False


async def get_gateway(request: Request) -> Gateway:
    # async on purpose: FastAPI runs a plain `def` dependency in a worker thread, a thread hand-off
    # (and GIL contention) on every request for what is an attribute read.
    return request.app.state.gateway  # type: ignore[no-any-return]


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


def bucket_of(path: str) -> Bucket:
    if path.endswith(("/generate-media", "/edit")):  # an edit is a generation
        return Bucket.GENERATE
    if path.startswith("/api/caption/"):
        return Bucket.CAPTION
    return Bucket.DEFAULT


async def current_user(
    request: Request,
    gateway: GatewayDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    """The signed-in user, counted against their request rate for this kind of route."""
    user = await gateway.authenticator.authenticate(authorization)
    await gateway.limits.hit(user.user_id, bucket_of(request.url.path))
    return user


CurrentUser = Annotated[Principal, Depends(current_user)]


async def generating_user(user: CurrentUser) -> Principal:
    """A user who may generate: not a guest. `CurrentUser` is solved once per request (FastAPI caches a
    dependency within a request), so the token is decoded and verified once and read from its claims here."""
    if user.is_anonymous:
        raise ApiError(
            403,
            {
                "error": "Sign-in required",
                "message": "Guest accounts cannot generate media. Sign in with an email or a social account first.",
            },
        )
    return user


GeneratingUser = Annotated[Principal, Depends(generating_user)]
