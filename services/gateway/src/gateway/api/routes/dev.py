"""Local development sign-in: mints a token for a chosen name. Off unless DEV_AUTH_ENABLED is set."""

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ...auth import mint_token
from ..deps import GatewayDep
from ..errors import ApiError

router = APIRouter(prefix="/api/dev", tags=["development"])


class DevTokenRequest(BaseModel):
    user_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")]
    role: Literal["user", "admin"] = "user"


@router.post("/token", responses={404: {}})
async def dev_token(body: DevTokenRequest, gateway: GatewayDep) -> dict[str, str]:
    secret = gateway.settings.auth_jwt_secret
    if not gateway.settings.dev_auth_enabled or secret is None:
        raise ApiError(404, {"error": "Not found"})
    role = "admin" if body.role == "admin" else None
    # With AUTH_ISSUER set every token must carry it, ours included.
    token = mint_token(secret.get_secret_value(), body.user_id, role=role, issuer=gateway.settings.issuer)
    return {"token": token, "userId": body.user_id}
