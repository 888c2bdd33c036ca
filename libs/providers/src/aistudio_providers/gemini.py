"""Gemini image generation through the google-genai SDK (async).

Synchronous from our side: the image comes back in the response, so there is no task to look up
afterwards. That changes what "ambiguous" costs: a lost answer can at worst be paid twice if
retried, never produce two results for the user.
"""

from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Self

from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from aistudio_contracts import FailureReason

from ._transport import is_timeout, is_transport_error, never_sent
from .errors import ErrorKind, ProviderError, user_message
from .metrics import observed_call
from .settings import ProviderSettings

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
DEFAULT_MODEL = "gemini-2.5-flash-image"
# 3.x of the SDK defaults to v1; image generation is served under v1beta.
API_VERSION = "v1beta"

_BLOCKED_FINISH_REASONS = frozenset(
    {
        "SAFETY",
        "IMAGE_SAFETY",
        "PROHIBITED_CONTENT",
        "IMAGE_PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "RECITATION",
        "IMAGE_RECITATION",
    }
)


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    data: bytes
    mime_type: str
    # Gemini's usageMetadata: what the call is billed by (0 when it sent none).
    input_tokens: int = 0
    output_tokens: int = 0


class GeminiImageClient:
    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        model: str = DEFAULT_MODEL,
        timeout_seconds: float = 120.0,
        api_version: str = API_VERSION,
    ) -> None:
        if not api_key:
            raise ValueError("GEMINI_API_KEY is empty")
        self.model = model
        # Held for the client's lifetime: a collected genai.Client closes its HTTP connection.
        self._client = genai.Client(
            api_key=api_key,
            http_options=types.HttpOptions(
                base_url=base_url, api_version=api_version, timeout=int(timeout_seconds * 1000)
            ),
        )

    @classmethod
    def from_settings(cls, settings: ProviderSettings) -> Self:
        if settings.gemini_api_key is None:
            raise ValueError("GEMINI_API_KEY is not set")
        return cls(
            settings.gemini_api_key.get_secret_value(),
            base_url=settings.gemini_base_url,
            model=settings.gemini_model,
            timeout_seconds=settings.gemini_timeout_seconds,
        )

    async def generate(
        self,
        prompt: str,
        aspect_ratio: str,
        reference_image: bytes | None = None,
        reference_mime: str | None = None,
    ) -> GeneratedImage:
        parts = [types.Part.from_text(text=prompt)]
        if reference_image is not None:
            parts.append(types.Part.from_bytes(data=reference_image, mime_type=reference_mime or "image/png"))
        config = types.GenerateContentConfig(
            response_modalities=["IMAGE"],
            image_config=types.ImageConfig(aspect_ratio=aspect_ratio),
        )
        async with observed_call("gemini", "generate_content"):
            try:
                response = await self._client.aio.models.generate_content(
                    model=self.model, contents=types.Content(role="user", parts=parts), config=config
                )
            except genai_errors.APIError as exc:
                raise classify_gemini_error(exc) from exc
            except Exception as exc:
                if is_transport_error(exc):
                    raise classify_gemini_transport_error(exc) from exc
                raise
            return image_from_response(response)

    async def aclose(self) -> None:
        await self._client.aio.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def image_from_response(response: types.GenerateContentResponse) -> GeneratedImage:
    metadata = response.usage_metadata
    # Billed whatever the answer holds: a refusal carries it on the error for the cost ledger.
    usage = (
        {"input_tokens": metadata.prompt_token_count or 0, "output_tokens": metadata.candidates_token_count or 0}
        if metadata and (metadata.prompt_token_count or metadata.candidates_token_count)
        else None
    )
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        raise _blocked("prompt", _enum_name(feedback.block_reason), feedback.block_reason_message, usage)
    candidate = response.candidates[0] if response.candidates else None
    parts = candidate.content.parts if candidate and candidate.content and candidate.content.parts else []
    for part in parts:
        if part.inline_data is not None and part.inline_data.data:
            return GeneratedImage(
                part.inline_data.data,
                part.inline_data.mime_type or "image/png",
                input_tokens=usage["input_tokens"] if usage else 0,
                output_tokens=usage["output_tokens"] if usage else 0,
            )
    finish = _enum_name(candidate.finish_reason) if candidate and candidate.finish_reason else None
    if finish in _BLOCKED_FINISH_REASONS:
        raise _blocked("image", finish, candidate.finish_message if candidate else None, usage)
    # No image and no block: the model answered in words (often a soft refusal). A definite
    # outcome, already paid for; asking again mostly gets the same answer.
    said = " ".join(part.text for part in parts if part.text)[:200] or None
    raise ProviderError(
        ErrorKind.AMBIGUOUS,
        FailureReason.PROVIDER_ERROR,
        "Gemini returned no image for this prompt.",
        provider_code=finish,
        provider_message=said,
        retryable=False,
        usage=usage,
    )


def _blocked(what: str, reason: str, detail: str | None, usage: dict[str, int] | None) -> ProviderError:
    readable = reason.replace("_", " ").lower()
    return ProviderError(
        ErrorKind.USER,
        FailureReason.CONTENT_POLICY,
        f"Gemini blocked the {what} under its content policy ({readable}).",
        provider_code=reason,
        provider_message=detail,
        usage=usage,
    )


def classify_gemini_error(exc: genai_errors.APIError) -> ProviderError:
    code, status, message = exc.code, exc.status, exc.message
    error = partial(ProviderError, provider_code=status, http_status=code, provider_message=message)
    if code in (429, 503):
        # Quota exhausted or model overloaded: Google bills neither, so the same call can follow.
        return error(ErrorKind.REFUSED, FailureReason.PROVIDER_UNAVAILABLE)
    if code in (401, 403, 404):
        # Bad key, API not enabled, or a model name that does not exist: an operator's job.
        return error(ErrorKind.ACCOUNT, FailureReason.PROVIDER_ERROR)
    if code is not None and 400 <= code < 500:
        lowered = (message or "").lower()
        reason = (
            FailureReason.CONTENT_POLICY if "safety" in lowered or "policy" in lowered else FailureReason.INVALID_INPUT
        )
        return error(ErrorKind.USER, reason, user_message(reason, message))
    # 500/504: it failed during generation; there is nothing to look up, a new call is the only way on.
    return error(ErrorKind.AMBIGUOUS, FailureReason.PROVIDER_ERROR, retryable=True)


def classify_gemini_transport_error(exc: BaseException) -> ProviderError:
    detail = f"{type(exc).__name__}: {exc}"
    if never_sent(exc):
        return ProviderError(ErrorKind.REFUSED, FailureReason.PROVIDER_UNAVAILABLE, provider_message=detail)
    reason = FailureReason.TIMEOUT if is_timeout(exc) else FailureReason.PROVIDER_ERROR
    return ProviderError(ErrorKind.AMBIGUOUS, reason, provider_message=detail, retryable=True)


def _enum_name(value: object) -> str:
    return str(getattr(value, "value", value))
