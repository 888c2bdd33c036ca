"""Creative controls: style presets, and control over a running generation (the user cancels
their own processing asset)."""

from uuid import UUID

from fastapi import APIRouter

from aistudio_contracts import STYLES, AssetStatus

from ..deps import CurrentUser, GatewayDep
from ..errors import ApiError, not_found
from ..presenters import present_asset
from ..schemas import MediaAssetPublic, StylePublic, StylesPublic

router = APIRouter(prefix="/api/ai", tags=["media"])


@router.post(
    "/media/{asset_id}/cancel", response_model=MediaAssetPublic, responses={401: {}, 404: {}, 409: {}, 503: {}}
)
async def cancel_media(asset_id: str, gateway: GatewayDep, user: CurrentUser) -> MediaAssetPublic:
    """Stop a processing generation: the asset ends `cancelled` and its unit goes back. A cancel
    repeated after it succeeded answers the cancelled asset again; a settled asset answers 409."""
    try:
        parsed = UUID(asset_id)
    except ValueError:
        raise not_found() from None
    cancellation = await gateway.catalog.cancel(user.user_id, parsed)
    asset = cancellation.asset
    if asset is None:
        raise not_found()
    if not cancellation.cancelled and asset["status"] != AssetStatus.CANCELLED.value:
        raise ApiError(
            409,
            {
                "error": "Generation already finished",
                "message": f"This generation is {asset['status']} and can no longer be cancelled.",
                "status": asset["status"],
            },
        )
    return present_asset(asset, gateway.links)


@router.get("/styles", response_model=StylesPublic, responses={401: {}})
async def list_styles(user: CurrentUser) -> StylesPublic:
    """The style presets `style` on generate accepts (the same list the gateway composes by)."""
    return StylesPublic(
        styles=[
            StylePublic(id=style.id, name=style.name, description=style.description, types=list(style.types))
            for style in STYLES.values()
        ]
    )
