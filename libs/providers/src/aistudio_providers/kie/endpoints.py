"""KIE's per-model endpoints and request bodies (see shared/reference/kie-api.md)."""

from dataclasses import dataclass
from typing import Any

from aistudio_contracts import Provider

from .models import KieSubmit

CREDIT_PATH = "/api/v1/chat/credit"
DOWNLOAD_URL_PATH = "/api/v1/gpt4o-image/download-url"

VEO3_MODEL = "veo3_fast"
FLUX_MODEL = "flux-kontext-pro"
# Lossless: what we store is exactly what Flux made, with no second JPEG generation loss.
FLUX_OUTPUT_FORMAT = "png"


@dataclass(frozen=True, slots=True)
class KieEndpoint:
    submit_path: str
    record_info_path: str


ENDPOINTS: dict[Provider, KieEndpoint] = {
    Provider.KIE_VEO3: KieEndpoint("/api/v1/veo/generate", "/api/v1/veo/record-info"),
    Provider.KIE_4O_IMAGE: KieEndpoint("/api/v1/gpt4o-image/generate", "/api/v1/gpt4o-image/record-info"),
    Provider.KIE_FLUX_KONTEXT: KieEndpoint("/api/v1/flux/kontext/generate", "/api/v1/flux/kontext/record-info"),
}


def endpoint_for(provider: Provider) -> KieEndpoint:
    try:
        return ENDPOINTS[provider]
    except KeyError:
        raise ValueError(f"{provider} is not a KIE.ai model") from None


def submit_body(provider: Provider, request: KieSubmit) -> dict[str, Any]:
    body: dict[str, Any]
    if provider is Provider.KIE_VEO3:
        # One image animates it; KIE infers the generation type from the image count.
        body = {"prompt": request.prompt, "model": request.model or VEO3_MODEL, "aspectRatio": request.aspect_ratio}
        if request.reference_image_url:
            body["imageUrls"] = [request.reference_image_url]
    elif provider is Provider.KIE_4O_IMAGE:
        body = {"prompt": request.prompt, "size": request.aspect_ratio, "nVariants": request.n_variants}
        if request.reference_image_url:
            body["filesUrl"] = [request.reference_image_url]
    elif provider is Provider.KIE_FLUX_KONTEXT:
        body = {
            "prompt": request.prompt,
            "model": request.model or FLUX_MODEL,
            "aspectRatio": request.aspect_ratio,
            "outputFormat": FLUX_OUTPUT_FORMAT,
        }
        if request.reference_image_url:
            body["inputImage"] = request.reference_image_url
    else:
        raise ValueError(f"{provider} is not a KIE.ai model")
    if request.callback_url:
        body["callBackUrl"] = request.callback_url
    return body
