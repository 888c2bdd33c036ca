"""Gemini's generateContent under /v1 and /v1beta, answering with an inline PNG."""

import asyncio
import base64
import hashlib
import secrets
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from .markers import Markers, strip_markers
from .media import render_image
from .state import SimulatorState

router = APIRouter()

_ERRORS: dict[str, tuple[int, str, str]] = {
    "400": (400, "INVALID_ARGUMENT", "Request contains an invalid argument."),
    "403": (
        403,
        "PERMISSION_DENIED",
        "Method doesn't allow unregistered callers (callers without established identity).",
    ),
    "404": (404, "NOT_FOUND", "models/unknown is not found for API version v1beta."),
    "429": (429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and billing details."),
    "500": (
        500,
        "INTERNAL",
        "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    ),
    "503": (503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
}


def google_error(code: str) -> JSONResponse:
    status, name, message = _ERRORS[code]
    details: list[dict[str, Any]] = []
    if status == 429:
        details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}]
    return JSONResponse(
        {"error": {"code": status, "message": message, "status": name, "details": details}}, status_code=status
    )


def _usage(prompt: str) -> dict[str, Any]:
    prompt_tokens = max(1, len(prompt.split()))
    return {"promptTokenCount": prompt_tokens, "candidatesTokenCount": 1290, "totalTokenCount": prompt_tokens + 1290}


def _read_request(body: dict[str, Any]) -> tuple[str, int, str]:
    """The prompt text, how many inline images came with it, and the aspect ratio asked for."""
    texts: list[str] = []
    images = 0
    for content in body.get("contents") or []:
        for part in (content or {}).get("parts") or []:
            if isinstance(part.get("text"), str):
                texts.append(part["text"])
            if part.get("inlineData") or part.get("inline_data"):
                images += 1
    config = body.get("generationConfig") or body.get("generation_config") or {}
    image_config = config.get("imageConfig") or config.get("image_config") or {}
    aspect_ratio = image_config.get("aspectRatio") or image_config.get("aspect_ratio") or "1:1"
    return " ".join(texts), images, str(aspect_ratio)


def inline_images(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Each inline image part that arrived (an edit's input), by type, size and digest."""
    found: list[dict[str, Any]] = []
    for content in body.get("contents") or []:
        for part in (content or {}).get("parts") or []:
            inline = part.get("inlineData") or part.get("inline_data")
            if not isinstance(inline, dict):
                continue
            # The SDK sends URL-safe base64, the REST docs show the standard alphabet: read either.
            encoded = str(inline.get("data") or "").replace("+", "-").replace("/", "_")
            try:
                data = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            except ValueError:
                data = b""
            found.append(
                {
                    "mimeType": inline.get("mimeType") or inline.get("mime_type"),
                    "bytes": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
            )
    return found


@router.post("/{version}/models/{model}:generateContent")
async def generate_content(version: str, model: str, request: Request) -> Response:
    state: SimulatorState = request.app.state.sim
    state.stats.gemini_requests += 1
    if version not in ("v1", "v1beta"):
        return google_error("404")
    if not (request.headers.get("x-goog-api-key") or request.query_params.get("key")):
        return google_error("403")
    try:
        body = await request.json()
    except ValueError:
        return google_error("400")
    if not isinstance(body, dict):
        return google_error("400")
    prompt, images, aspect_ratio = _read_request(body)
    state.gemini_calls.append({"prompt": prompt, "aspectRatio": aspect_ratio, "inlineImages": inline_images(body)})
    fault = state.faults.pick(state.config, "gemini", Markers.parse(prompt), prompt)
    name = fault.name if fault else None
    if name in _ERRORS:
        return google_error(name or "")
    await asyncio.sleep(
        state.config.hang_seconds if name == "timeout" else state.config.scaled(state.config.gemini_seconds)
    )
    usage = _usage(prompt)
    state.stats.gemini_input_tokens += int(usage["promptTokenCount"])
    state.stats.gemini_output_tokens += int(usage["candidatesTokenCount"])
    common = {"usageMetadata": usage, "modelVersion": model, "responseId": secrets.token_urlsafe(16)}
    if name == "blocked_prompt":
        return JSONResponse({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, **common})
    if name == "blocked_output":
        return JSONResponse({"candidates": [{"finishReason": "IMAGE_SAFETY", "index": 0}], **common})
    if name == "text_only":
        parts: list[dict[str, Any]] = [{"text": "I can't create that image, but I can describe it instead."}]
        return JSONResponse({"candidates": [_candidate(parts)], **common})
    label = f"Gemini{' edit' if images else ''}"
    png = await asyncio.to_thread(render_image, strip_markers(prompt), aspect_ratio, "png", label)
    parts = [
        {"text": "Here is the image you asked for."},
        {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(png).decode("ascii")}},
    ]
    return JSONResponse({"candidates": [_candidate(parts)], **common})


def _candidate(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
