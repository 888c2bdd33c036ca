"""The AI Studio web page: static HTML, CSS and JavaScript modules, with a strict Content-Security-Policy."""

from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse

from aistudio_contracts import PROMPT_MAX_LENGTH, PROMPT_MIN_LENGTH, PROVIDERS, MediaType

from ..deps import GatewayDep
from ..errors import ApiError

router = APIRouter(include_in_schema=False)

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# No hashes in the file names, so browsers revalidate (cheap: ETag) instead of running stale code.
_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}
_TYPE_LABELS = {MediaType.IMAGE: "Image", MediaType.VIDEO: "Video (8s)"}


@cache
def _assets() -> dict[str, Path]:
    """The only files /static serves: those shipped in the package, by name (no path from the request)."""
    return {path.name: path for path in STATIC_DIR.iterdir() if path.suffix in _CONTENT_TYPES}


def content_security_policy(public_base_url: str, embed_origins: tuple[str, ...] = ()) -> str:
    # Result links are signed URLs on the public base URL, which may be another origin than the page's.
    # Only the configured host apps may frame the page (and so hand it a #token=); nobody else can.
    parts = urlsplit(public_base_url)
    media = f"'self' {parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") else "'self'"
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {media} data:",
            f"media-src {media}",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            " ".join(("frame-ancestors 'self'", *embed_origins)),
        )
    )


@router.get("/")
async def index(gateway: GatewayDep) -> FileResponse:
    policy = content_security_policy(gateway.settings.public_base_url, gateway.settings.embed_origins)
    headers = {**_HEADERS, "Content-Security-Policy": policy}
    return FileResponse(_assets()["index.html"], media_type=_CONTENT_TYPES[".html"], headers=headers)


@router.get("/admin")
async def admin_page(gateway: GatewayDep) -> FileResponse:
    """The analytics page; the data behind it is for admins only (the API checks the token's role)."""
    policy = content_security_policy(gateway.settings.public_base_url)
    headers = {**_HEADERS, "Content-Security-Policy": policy}
    return FileResponse(_assets()["admin.html"], media_type=_CONTENT_TYPES[".html"], headers=headers)


@router.get("/static/catalog.json")
async def catalog() -> JSONResponse:
    """What the page offers, from the one catalog the gateway validates against."""
    return JSONResponse(
        {
            "promptMinLength": PROMPT_MIN_LENGTH,
            "promptMaxLength": PROMPT_MAX_LENGTH,
            "types": [{"value": kind.value, "label": label} for kind, label in _TYPE_LABELS.items()],
            "providers": [
                {
                    "id": spec.provider.value,
                    "label": spec.label,
                    "type": spec.media_type.value,
                    "aspectRatios": list(spec.aspect_ratios),
                    "defaultAspectRatio": spec.default_aspect_ratio,
                }
                for spec in PROVIDERS.values()
            ],
        },
        headers=_HEADERS,
    )


@router.get("/static/config.json")
async def page_config(gateway: GatewayDep) -> JSONResponse:
    """What the page must know of this deployment: which host apps may hand it a #token= sign-in."""
    return JSONResponse({"embedHostOrigins": list(gateway.settings.embed_origins)}, headers=_HEADERS)


@router.get("/static/{name}")
async def asset(name: str) -> FileResponse:
    path = _assets().get(name)
    if path is None or name in ("index.html", "admin.html"):  # pages come with their policy, at / and /admin
        raise ApiError(404, {"error": "Not found"})
    return FileResponse(path, media_type=_CONTENT_TYPES[path.suffix], headers=_HEADERS)
