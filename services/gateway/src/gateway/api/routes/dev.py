"""Local development sign-in: mints a token for a chosen name. Off unless DEV_AUTH_ENABLED is set."""

import ipaddress
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from ...auth import mint_token
from ..deps import GatewayDep
from ..errors import ApiError

router = APIRouter(prefix="/api/dev", tags=["development"])


class DevTokenRequest(BaseModel):
    user_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")]
    role: Literal["user", "admin"] = "user"


@router.post("/token", responses={404: {}})
async def dev_token(body: DevTokenRequest, request: Request, gateway: GatewayDep) -> dict[str, str]:
    secret = gateway.settings.auth_jwt_secret
    if not gateway.settings.dev_auth_enabled or secret is None or not _from_this_machine(request):
        raise ApiError(404, {"error": "Not found"})
    role = "admin" if body.role == "admin" else None
    # With AUTH_ISSUER set every token must carry it, ours included.
    token = mint_token(secret.get_secret_value(), body.user_id, role=role, issuer=gateway.settings.issuer)
    return {"token": token, "userId": body.user_id}


def _from_this_machine(request: Request) -> bool:
    """A loopback or private peer: the developer's own browser, directly or through a container's NAT.
    Defence in depth behind the bind rule (settings): a port published wider than meant still mints
    nothing for the internet."""
    try:
        address = ipaddress.ip_address(request.client.host if request.client else "")
    except ValueError:
        return False
    return address.is_loopback or address.is_private
