"""Creative controls: style presets, and control over a running generation (the user cancels
their own processing asset)."""

import json

from fastapi import APIRouter, Request, Response

from aistudio_contracts import STYLES, AssetStatus, MediaType

from ...domain.requests import InvalidRequest, Issue
from ...domain.templates import MAX_PER_USER, Template, template_issues
from ...templates import Templates, TooManyTemplates
from ..deps import CurrentUser, GatewayDep
from ..errors import ApiError, asset_id_of, not_found
from ..presenters import present_asset
from ..schemas import MediaAssetPublic, StylePublic, StylesPublic, TemplatePublic, TemplatesPublic

router = APIRouter(prefix="/api/ai", tags=["media"])


@router.post(
    "/media/{asset_id}/cancel", response_model=MediaAssetPublic, responses={401: {}, 404: {}, 409: {}, 503: {}}
)
async def cancel_media(asset_id: str, gateway: GatewayDep, user: CurrentUser) -> MediaAssetPublic:
    """Stop a processing generation: the asset ends `cancelled` and its unit goes back. A cancel
    repeated after it succeeded answers the cancelled asset again; a settled asset answers 409."""
    cancellation = await gateway.catalog.cancel(user.user_id, asset_id_of(asset_id))
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


def _template(template: Template) -> TemplatePublic:
    return TemplatePublic(
        id=template.id,
        name=template.name,
        type=template.type,
        prompt=template.prompt,
        variables=template.variables,
        owner=template.owner,
    )


@router.get("/templates", response_model=TemplatesPublic, responses={401: {}, 503: {}})
async def list_templates(gateway: GatewayDep, user: CurrentUser) -> TemplatesPublic:
    """The built-in library, then the user's own templates."""
    templates = await Templates(gateway.catalog.pool).list(user.user_id)
    return TemplatesPublic(templates=[_template(template) for template in templates])


@router.post("/templates", status_code=201, response_model=TemplatePublic, responses={400: {}, 401: {}, 409: {}})
async def save_template(request: Request, gateway: GatewayDep, user: CurrentUser) -> TemplatePublic:
    """Save one of the user's own: name up to 80 characters, prompt 10 to 1000 with `{placeholders}`."""
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidRequest([Issue((), "Request body must be valid JSON")]) from None
    if not isinstance(body, dict):
        raise InvalidRequest([Issue((), "Request body must be a JSON object")])
    name, media_type, prompt = body.get("name"), body.get("type", "image"), body.get("prompt")
    if issues := template_issues(name, media_type, prompt):
        raise InvalidRequest(issues)
    assert isinstance(name, str) and isinstance(prompt, str)
    try:
        saved = await Templates(gateway.catalog.pool).save(
            user.user_id, name.strip(), MediaType(media_type), prompt.strip()
        )
    except TooManyTemplates:
        raise ApiError(
            409,
            {"error": "Template limit reached", "message": f"You can keep at most {MAX_PER_USER} templates."},
        ) from None
    return _template(saved)


@router.delete("/templates/{template_id}", status_code=204, responses={401: {}, 404: {}})
async def delete_template(template_id: str, gateway: GatewayDep, user: CurrentUser) -> Response:
    """Remove one of the user's own templates; a built-in or another user's one is a 404."""
    if not await Templates(gateway.catalog.pool).delete(user.user_id, template_id):
        raise ApiError(404, {"error": "Template not found"})
    return Response(status_code=204)
