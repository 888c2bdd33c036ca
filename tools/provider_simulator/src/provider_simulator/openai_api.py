"""OpenAI's chat completions: a plausible caption built from the prompt, in OpenAI's exact shapes."""

import asyncio
import re
import secrets
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from .markers import Markers, strip_markers
from .state import SimulatorState

router = APIRouter()

_ERRORS: dict[str, tuple[int, str, str, str | None]] = {
    "400": (400, "Invalid request: the image could not be read.", "invalid_request_error", "invalid_image"),
    "401": (401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    "429": (429, "Rate limit reached for requests. Please try again shortly.", "requests", "rate_limit_exceeded"),
    "quota": (
        429,
        "You exceeded your current quota, please check your plan and billing details.",
        "insufficient_quota",
        "insufficient_quota",
    ),
    "500": (500, "The server had an error while processing your request. Sorry about that!", "server_error", None),
    "503": (503, "The engine is currently overloaded, please try again later.", "server_error", None),
}

_STOPWORDS = frozenset(
    {
        *("a", "an", "the", "of", "in", "on", "at", "with", "and", "or", "for", "to", "from", "by"),
        *("this", "that", "is", "are", "be", "as", "into", "over", "under", "its", "it"),
        *("image", "video", "frame", "generated", "prompt"),
    }
)


def openai_error(state: SimulatorState, name: str) -> JSONResponse:
    status, message, kind, code = _ERRORS[name]
    headers = {}
    if status == 429 and name != "quota":
        headers["retry-after-ms"] = str(int(state.config.openai_retry_after_seconds * 1000))
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def read_messages(messages: list[Any]) -> tuple[str, str, int]:
    """The system prompt, the user's text and the number of images in the conversation."""
    system: list[str] = []
    user: list[str] = []
    images = 0
    for message in messages:
        if not isinstance(message, dict):
            continue
        target = system if message.get("role") in ("system", "developer") else user
        content = message.get("content")
        if isinstance(content, str):
            target.append(content)
            continue
        for part in content or []:
            if isinstance(part, dict) and part.get("type") == "text":
                target.append(str(part.get("text", "")))
            elif isinstance(part, dict) and part.get("type") == "image_url":
                images += 1
    return "\n".join(system), "\n".join(user), images


def write_caption(user_text: str, saw_image: bool) -> str:
    # The captioner phrases it "... generated from the prompt: <prompt>": caption the prompt part.
    subject = strip_markers(re.split(r"prompt:\s*", user_text, flags=re.IGNORECASE)[-1]).strip().rstrip(".")
    subject = subject or "something new"
    words = [word.lower() for word in re.findall(r"[A-Za-z]{4,}", subject) if word.lower() not in _STOPWORDS]
    hashtags = " ".join(f"#{word}" for word in list(dict.fromkeys(words))[:3]) or "#create"
    seen = " Every detail in this shot tells the story." if saw_image else ""
    return f"{subject[0].upper()}{subject[1:]} — made real.{seen} {hashtags} #aistudio"


@router.post("/v1/chat/completions")
async def chat_completions(request: Request) -> Response:
    state: SimulatorState = request.app.state.sim
    state.stats.openai_requests += 1
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return openai_error(state, "401")
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return openai_error(state, "400")
    _, user_text, images = read_messages(body["messages"])
    fault = state.faults.pick(state.config, "openai", Markers.parse(user_text), user_text)
    name = fault.name if fault else None
    if name in _ERRORS:
        return openai_error(state, name or "")
    counters = state.stats
    counters.openai_in_flight += 1
    counters.openai_max_in_flight = max(counters.openai_max_in_flight, counters.openai_in_flight)
    try:
        await asyncio.sleep(
            state.config.hang_seconds if name == "timeout" else state.config.scaled(state.config.openai_seconds)
        )
    finally:
        counters.openai_in_flight -= 1
    model = str(body.get("model") or "gpt-4o-mini")
    if name == "content_filter":
        completion = _completion(model, None, "content_filter", user_text)
    else:
        completion = _completion(model, write_caption(user_text, images > 0), "stop", user_text)
    counters.openai_input_tokens += completion["usage"]["prompt_tokens"]
    counters.openai_output_tokens += completion["usage"]["completion_tokens"]
    return JSONResponse(completion)


def _completion(model: str, content: str | None, finish_reason: str, user_text: str) -> dict[str, Any]:
    prompt_tokens = 85 + len(user_text.split())  # an image costs OpenAI ~85 tokens at low detail
    completion_tokens = len((content or "").split())
    return {
        "id": f"chatcmpl-{secrets.token_hex(12)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        },
        "service_tier": "default",
        "system_fingerprint": "fp_simulator",
    }
