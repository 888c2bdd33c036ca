"""What routes depend on, as Annotated aliases."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from faststream.nats import NatsBroker

from aistudio_runtime.mediastore import MediaStore

from ..auth import Authenticator, Principal
from ..catalog import Catalog
from ..feed import ChangeFeed
from ..links import LinkSigner
from ..settings import GatewaySettings
from ..usage_client import UsageClient


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

    def nats_connected(self) -> bool:
        try:
            return bool(self.broker.connection.is_connected)
        except Exception:
            return False


def get_gateway(request: Request) -> Gateway:
    return request.app.state.gateway  # type: ignore[no-any-return]


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


async def current_user(
    gateway: GatewayDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    return await gateway.authenticator.authenticate(authorization)


CurrentUser = Annotated[Principal, Depends(current_user)]
