"""Writing captions: automatically for each finished asset, and when a user asks for one.

Automatic captions are retried: a failed attempt gives its claim back and asks for a delayed
redelivery; after `max_attempts` OpenAI calls (or a failure that can never succeed, such as a
content-policy refusal) the asset's caption is given up with CaptionFailed. The media itself
is never touched: its status is the gateway's, and a caption has no say in it.
"""

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol
from uuid import UUID, uuid4

from aistudio_contracts import CaptionReply, GenerateCaption, GenerationCompleted, MediaType
from aistudio_providers import Caption, ErrorKind, MediaError, ProviderError
from aistudio_runtime import get_logger

from .costs import CaptionCosts, automatic_call, on_demand_call
from .domain.caption import Attempt
from .records import CaptionRecords, Claim, Settled, SystemPrompts
from .stills import Still, Stills

log = get_logger(__name__)


class WritesCaptions(Protocol):
    async def write(
        self,
        prompt: str,
        media_type: MediaType,
        image: bytes | str,
        mime_type: str | None = None,
        system_prompt: str | None = None,
    ) -> Caption: ...


class Outcome(StrEnum):
    CAPTIONED = "captioned"
    ALREADY_SETTLED = "already_settled"
    GAVE_UP = "gave_up"


class RetryLater(Exception):
    """Not now: the event should come back after a delay."""


class Captioner:
    def __init__(
        self,
        records: CaptionRecords,
        prompts: SystemPrompts,
        stills: Stills,
        writer: Callable[[], WritesCaptions],
        *,
        max_attempts: int,
        claim_seconds: float,
        on_demand_timeout_seconds: float,
        costs: CaptionCosts | None = None,
    ) -> None:
        self._costs = costs
        self._records = records
        self._prompts = prompts
        self._stills = stills
        self._writer = writer
        self._max_attempts = max_attempts
        self._claim_seconds = claim_seconds
        self._on_demand_timeout = on_demand_timeout_seconds

    async def caption_completed(self, event: GenerationCompleted) -> Outcome:
        claim = await self._records.claim(
            event.asset_id, event.user_id, event.media_type, lease_seconds=self._claim_seconds
        )
        if claim is Settled.DONE:
            return Outcome.ALREADY_SETTLED
        if claim is Settled.BUSY:
            raise RetryLater("another delivery of this asset is being captioned")
        if Attempt(claim.attempt, self._max_attempts).over_the_limit:
            log.warning("caption_given_up", attempt=claim.attempt, error=claim.last_error)
            await self._records.fail(event.asset_id, event.user_id, _GAVE_UP)
            return Outcome.GAVE_UP
        try:
            caption = await self._write_automatic(event, claim.attempt)
        except (ProviderError, MediaError) as exc:
            return await self._after_failure(event, claim, exc)
        except BaseException as exc:
            with contextlib.suppress(Exception):  # the original failure matters more than this one
                await self._records.release(claim, repr(exc))
            raise
        await self._records.succeed(claim, event.user_id, caption.text, caption.model)
        return Outcome.CAPTIONED

    async def _write_automatic(self, event: GenerationCompleted, attempt: int) -> Caption:
        still = await self._stills.from_store(event.media.storage_key, event.media_type, event.media.content_type)
        system_prompt = await self._prompts.get(event.user_id)
        call = _Call(event.asset_id, event.user_id, "automatic", automatic_call(event.asset_id, attempt))
        return await self._write(call, event.prompt, event.media_type, still, system_prompt)

    async def _after_failure(
        self, event: GenerationCompleted, claim: Claim, exc: ProviderError | MediaError
    ) -> Outcome:
        message = exc.user_message
        if Attempt(claim.attempt, self._max_attempts).gives_up_after(_permanent(exc)):
            log.warning("caption_given_up", attempt=claim.attempt, error=str(exc))
            await self._records.fail(event.asset_id, event.user_id, message)
            return Outcome.GAVE_UP
        await self._records.release(claim, message)
        raise RetryLater(f"attempt {claim.attempt} of {self._max_attempts} failed: {exc}") from exc

    async def caption_on_demand(self, request: GenerateCaption) -> CaptionReply:
        """Never raises: whatever happens, the gateway gets an answer it can turn into a response."""
        try:
            caption = await asyncio.wait_for(self._write_on_demand(request), self._on_demand_timeout)
        except (ProviderError, MediaError) as exc:
            log.warning("on_demand_caption_failed", asset_id=str(request.asset_id), error=str(exc))
            return _refusal(exc.user_message, getattr(exc, "reason", None), exc.retryable)
        except TimeoutError:
            log.warning("on_demand_caption_timed_out", asset_id=str(request.asset_id))
            return _refusal("Writing the caption took too long; please try again.", "timeout", True)
        except Exception as exc:
            log.exception("on_demand_caption_crashed", asset_id=str(request.asset_id), error=repr(exc))
            return _refusal("The caption could not be written.", "internal_error", True)
        try:
            await self._records.replace(
                request.asset_id, request.user_id, request.media_type, caption.text, caption.model
            )
        except Exception as exc:  # the user still gets the caption; only the asset misses it
            log.warning("on_demand_caption_not_recorded", asset_id=str(request.asset_id), error=repr(exc))
        metadata: dict[str, Any] = {
            "model": caption.model,
            "mediaType": request.media_type.value,
            "systemPrompt": "custom" if request.system_prompt else "default",
            "usage": caption.usage,
        }
        return CaptionReply(success=True, caption=caption.text, metadata=metadata)

    async def _write_on_demand(self, request: GenerateCaption) -> Caption:
        if request.storage_key:
            still = await self._stills.from_store(request.storage_key, request.media_type)
        else:
            still = await self._stills.from_url(request.media_url, request.media_type)
        # Core NATS hands a request to one replica once: this handling is the call.
        call = _Call(request.asset_id, request.user_id, "on-demand", on_demand_call(request.asset_id, uuid4()))
        return await self._write(call, request.prompt, request.media_type, still, request.system_prompt)

    async def _write(
        self, call: "_Call", prompt: str, media_type: MediaType, still: Still, system_prompt: str | None
    ) -> Caption:
        """Ask OpenAI, and put whatever it bills into the ledger: the caption's usage, or a failed
        call's (refused with usage, or its answer lost after sending)."""
        try:
            caption = await self._writer().write(prompt, media_type, still.data, still.content_type, system_prompt)
        except ProviderError as error:
            if self._costs is not None:
                await self._costs.not_written(
                    call.asset_id,
                    call.user_id,
                    error,
                    kind=call.kind,
                    call_ref=call.ref,
                    prompt=prompt,
                    system_prompt=system_prompt,
                )
            raise
        if self._costs is not None:
            await self._costs.written(
                call.asset_id, call.user_id, caption.model, caption.usage, kind=call.kind, call_ref=call.ref
            )
        return caption


@dataclass(frozen=True, slots=True)
class _Call:
    """One OpenAI call and whom it was for, as the ledger keys it."""

    asset_id: UUID
    user_id: str
    kind: str  # automatic, on-demand
    ref: str


_GAVE_UP = "The caption could not be written."


def _permanent(exc: ProviderError | MediaError) -> bool:
    """A failure that the same call would meet again: refused content, unreadable media."""
    if isinstance(exc, ProviderError):
        return exc.kind is ErrorKind.USER
    return not exc.retryable


def _refusal(message: str, reason: object, retryable: bool) -> CaptionReply:
    return CaptionReply(
        success=False,
        error=message,
        metadata={"reason": str(reason) if reason else "error", "retryable": retryable},
    )
