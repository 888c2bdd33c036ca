"""Social-media captions for generated media, written by an OpenAI chat model that sees the image."""

import base64
from dataclasses import dataclass, field
from functools import partial
from types import TracebackType
from typing import Any, Self

import openai
from openai import AsyncOpenAI

from aistudio_contracts import FailureReason, MediaType

from .errors import ErrorKind, ProviderError, user_message
from .metrics import observed_call
from .settings import ProviderSettings

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o-mini"

DEFAULT_CAPTION_SYSTEM_PROMPT = (
    "You write captions for social media posts. Given an image and the prompt it was made from, "
    "write one short, engaging caption (at most two sentences) in the language of the prompt, "
    "followed by three to five relevant hashtags. Reply with the caption only."
)


@dataclass(frozen=True, slots=True)
class Caption:
    text: str
    model: str
    usage: dict[str, Any] = field(default_factory=dict)


class CaptionWriter:
    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        model: str = DEFAULT_MODEL,
        max_retries: int = 2,
        timeout_seconds: float = 60.0,
    ) -> None:
        if not api_key:
            raise ValueError("OPENAI_API_KEY is empty")
        self.model = model
        self._client = AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=max_retries, timeout=timeout_seconds)

    @classmethod
    def from_settings(cls, settings: ProviderSettings) -> Self:
        if settings.openai_api_key is None:
            raise ValueError("OPENAI_API_KEY is not set")
        return cls(
            settings.openai_api_key.get_secret_value(),
            base_url=settings.openai_base_url,
            model=settings.openai_model,
            max_retries=settings.openai_max_retries,
            timeout_seconds=settings.openai_timeout_seconds,
        )

    async def write(
        self,
        prompt: str,
        media_type: MediaType,
        image: bytes | str,
        mime_type: str | None = None,
        system_prompt: str | None = None,
    ) -> Caption:
        """Caption media made from `prompt`; for a video, `image` is one of its frames."""
        what = "a frame of a video" if media_type is MediaType.VIDEO else "an image"
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": system_prompt or DEFAULT_CAPTION_SYSTEM_PROMPT},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": f"This is {what} generated from the prompt: {prompt}"},
                    {"type": "image_url", "image_url": {"url": image_reference(image, mime_type)}},
                ],
            },
        ]
        async with observed_call("openai", "chat.completions"):
            try:
                completion = await self._client.chat.completions.create(model=self.model, messages=messages)  # type: ignore[arg-type]
            except openai.APIError as exc:
                raise classify_openai_error(exc) from exc
        choice = completion.choices[0] if completion.choices else None
        text = (choice.message.content or "").strip() if choice else ""
        usage = completion.usage.model_dump(exclude_none=True) if completion.usage else {}
        # Answered, so paid even when no caption came of it: the error carries what was billed.
        billed = (
            {
                "input_tokens": int(usage.get("prompt_tokens") or 0),
                "output_tokens": int(usage.get("completion_tokens") or 0),
            }
            if usage
            else None
        )
        if choice is not None and choice.finish_reason == "content_filter":
            raise ProviderError(
                ErrorKind.USER,
                FailureReason.CONTENT_POLICY,
                "The caption was withheld by the provider's content filter.",
                usage=billed,
            )
        if not text:
            raise ProviderError(
                ErrorKind.AMBIGUOUS,
                FailureReason.PROVIDER_ERROR,
                "The caption came back empty.",
                retryable=True,
                usage=billed,
            )
        return Caption(text=text, model=completion.model or self.model, usage=usage)

    async def aclose(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def image_reference(image: bytes | str, mime_type: str | None) -> str:
    """An https URL or data: URL as given, or raw bytes turned into a data: URL."""
    if isinstance(image, str):
        return image
    encoded = base64.b64encode(image).decode("ascii")
    return f"data:{mime_type or 'image/png'};base64,{encoded}"


def classify_openai_error(exc: openai.APIError) -> ProviderError:
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError(ErrorKind.AMBIGUOUS, FailureReason.TIMEOUT, retryable=True, provider_message=str(exc))
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(ErrorKind.REFUSED, FailureReason.PROVIDER_UNAVAILABLE, provider_message=str(exc))
    status = getattr(exc, "status_code", None)
    error = partial(ProviderError, provider_code=exc.code, http_status=status, provider_message=exc.message)
    if isinstance(exc, openai.RateLimitError):
        if exc.code == "insufficient_quota":
            # OpenAI reports an empty balance as a 429; waiting will not fix it.
            return error(ErrorKind.ACCOUNT, FailureReason.INSUFFICIENT_CREDITS)
        return error(ErrorKind.REFUSED, FailureReason.PROVIDER_UNAVAILABLE)
    if isinstance(exc, openai.InternalServerError):
        # The model may have run (and billed a few tokens); a caption is cheap to ask for again.
        return error(ErrorKind.AMBIGUOUS, FailureReason.PROVIDER_ERROR, retryable=True)
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError | openai.NotFoundError):
        return error(ErrorKind.ACCOUNT, FailureReason.PROVIDER_ERROR)
    if isinstance(exc, openai.BadRequestError | openai.UnprocessableEntityError):
        reason = FailureReason.CONTENT_POLICY if exc.code == "content_policy_violation" else FailureReason.INVALID_INPUT
        return error(ErrorKind.USER, reason, user_message(reason, exc.message))
    return error(ErrorKind.AMBIGUOUS, FailureReason.PROVIDER_ERROR, retryable=False)
