"""One paid submission per job: claim, (wait for a rate-limit slot,) submit, record — or fail clearly.

After a crash or a redelivery nothing is resubmitted blindly: a job whose paid request may
have been sent (`submitting`) is left to its worker for a grace period, then failed as an
unknown outcome — never sent again. Only a definite refusal (nothing billed) is retried, or,
for images, handed to the fallback provider.
"""

import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from uuid import UUID

import httpx

from aistudio_contracts import (
    IMAGE_FALLBACK_PROVIDER,
    PROVIDERS,
    FailureReason,
    GenerationCompleted,
    GenerationFailed,
    GenerationRequested,
    MediaType,
    Provider,
    StoredMedia,
    TaskStarted,
)
from aistudio_providers import (
    ErrorKind,
    GeminiImageClient,
    KieClient,
    KieSubmit,
    MediaError,
    ProviderError,
    callback_token,
    callback_url,
    download_media,
)
from aistudio_runtime import get_logger
from aistudio_runtime.mediastore import MediaStore, media_key
from aistudio_runtime.messaging import redelivery_delay

from .jobs import Jobs
from .ratelimit import SubmitRateLimiter
from .settings import GeneratorSettings

log = get_logger(__name__)

Heartbeat = Callable[[], Awaitable[None]]

UNKNOWN_OUTCOME_MESSAGE = (
    "We could not confirm whether the provider accepted this request, so it was stopped rather than "
    "sent twice. It was not counted against your quota; please try again."
)
GAVE_UP_MESSAGE = "The provider stayed unavailable, so the generation was stopped. It was not counted."
REFERENCE_MESSAGE = "The reference image could not be downloaded; check that the URL points to a public image."
DONE = frozenset({"submitted", "completed", "failed"})


class RetryLater(Exception):
    def __init__(self, delay: float, why: str) -> None:
        super().__init__(why)
        self.delay = delay


class Submitter:
    def __init__(
        self,
        settings: GeneratorSettings,
        jobs: Jobs,
        limiter: SubmitRateLimiter,
        kie: Callable[[], KieClient],
        gemini: Callable[[], GeminiImageClient],
        media: MediaStore,
        http: Callable[[], httpx.AsyncClient],
    ) -> None:
        self._settings = settings
        self._jobs = jobs
        self._limiter = limiter
        self._kie = kie
        self._gemini = gemini
        self._media = media
        self._http = http

    async def handle(self, request: GenerationRequested, attempt: int, heartbeat: Heartbeat) -> None:
        job = await self._jobs.claim(request)
        if job.state in DONE:
            log.info("job_already_handled", state=job.state)
            return
        if not job.is_new:
            grace = self._settings.in_flight_grace_seconds
            if job.state == "submitting":
                if job.age_seconds < grace:
                    raise RetryLater(grace - job.age_seconds, "a paid request may still be in flight")
                log.error("submission_outcome_unknown", age_seconds=job.age_seconds)
                await self._fail(request, job.provider, FailureReason.UNKNOWN_OUTCOME, UNKNOWN_OUTCOME_MESSAGE)
                return
            if job.state == "claimed" and job.age_seconds < grace:
                raise RetryLater(grace - job.age_seconds, "another worker holds the job")
            if not await self._jobs.take_over(job):
                raise RetryLater(1.0, "another worker took the job")
        if attempt > self._settings.submit_max_attempts:
            await self._fail(request, request.provider, FailureReason.PROVIDER_UNAVAILABLE, GAVE_UP_MESSAGE)
            return
        if PROVIDERS[request.provider].asynchronous:
            await self._submit_to_kie(request, attempt, heartbeat)
        else:
            await self._generate_with_gemini(request, attempt, requested=None)

    async def _submit_to_kie(self, request: GenerationRequested, attempt: int, heartbeat: Heartbeat) -> None:
        async def keep_alive() -> None:
            await heartbeat()
            await self._jobs.touch(request.asset_id)

        waited = await self._limiter.acquire(keep_alive)
        if waited:
            log.info("waited_for_rate_limit", seconds=round(waited, 2))
        if not await self._jobs.start_submission(request.asset_id, request.provider):
            raise RetryLater(1.0, "the job moved on while waiting")
        callback = self._callback_url(request.asset_id) if self._settings.kie_callbacks_enabled else None
        try:
            task_id = await self._kie().submit(
                request.provider,
                KieSubmit(request.prompt, request.aspect_ratio, request.reference_image_url, callback),
            )
        except ProviderError as error:
            await self._kie_refused(request, attempt, error)
            return
        except Exception:
            log.exception("submission_failed_unexpectedly")
            await self._fail(request, request.provider, FailureReason.UNKNOWN_OUTCOME, UNKNOWN_OUTCOME_MESSAGE)
            return
        started = TaskStarted(
            correlation_id=request.asset_id,
            asset_id=request.asset_id,
            user_id=request.user_id,
            provider=request.provider,
            media_type=request.media_type,
            task_id=task_id,
            prompt=request.prompt,
            callback_url=callback,
        )
        await self._jobs.finish(
            request.asset_id, from_states=("submitting",), state="submitted", event=started, task_id=task_id
        )
        log.info("task_started", provider=request.provider, task_id=task_id)

    async def _kie_refused(self, request: GenerationRequested, attempt: int, error: ProviderError) -> None:
        log.warning("kie_submit_failed", kind=error.kind, reason=error.reason, error=str(error))
        definitely_unbilled = error.kind in (ErrorKind.REFUSED, ErrorKind.ACCOUNT)
        if definitely_unbilled and request.media_type is MediaType.IMAGE:
            if await self._jobs.hold_again(request.asset_id):
                await self._generate_with_gemini(request, attempt, requested=request.provider)
            return
        if error.kind is ErrorKind.REFUSED:
            await self._jobs.release(request.asset_id)
            raise RetryLater(redelivery_delay(attempt) * 5, "KIE refused the submission")
        if error.kind is ErrorKind.AMBIGUOUS:
            await self._fail(request, request.provider, FailureReason.UNKNOWN_OUTCOME, UNKNOWN_OUTCOME_MESSAGE)
            return
        await self._fail(request, request.provider, error.reason, error.user_message)

    async def _generate_with_gemini(
        self, request: GenerationRequested, attempt: int, *, requested: Provider | None
    ) -> None:
        provider = IMAGE_FALLBACK_PROVIDER
        if not await self._jobs.start_submission(request.asset_id, provider):
            raise RetryLater(1.0, "the job moved on")
        try:
            reference = await self._reference_image(request.reference_image_url)
        except MediaError as error:
            if error.retryable:
                await self._jobs.release(request.asset_id)
                raise RetryLater(redelivery_delay(attempt), "reference image unavailable") from error
            await self._fail(request, provider, FailureReason.INVALID_INPUT, REFERENCE_MESSAGE)
            return
        spec = PROVIDERS[provider]
        ratio = request.aspect_ratio if spec.accepts_aspect_ratio(request.aspect_ratio) else spec.default_aspect_ratio
        try:
            image = await self._gemini().generate(
                request.prompt,
                ratio,
                reference_image=reference[0] if reference else None,
                reference_mime=reference[1] if reference else None,
            )
        except ProviderError as error:
            log.warning("gemini_failed", kind=error.kind, reason=error.reason, error=str(error))
            if error.retryable:
                await self._jobs.release(request.asset_id)
                raise RetryLater(redelivery_delay(attempt) * 2, "Gemini is busy") from error
            await self._fail(request, provider, error.reason, error.user_message)
            return
        now = datetime.now(UTC)
        key = media_key(request.asset_id, image.mime_type, year=now.year, month=now.month)
        await self._media.put(key, image.data, image.mime_type)
        completed = GenerationCompleted(
            correlation_id=request.asset_id,
            asset_id=request.asset_id,
            user_id=request.user_id,
            provider=provider,
            media_type=request.media_type,
            prompt=request.prompt,
            media=StoredMedia(
                storage_key=key,
                content_type=image.mime_type,
                size_bytes=len(image.data),
                sha256=hashlib.sha256(image.data).hexdigest(),
            ),
            requested_provider=requested,
        )
        await self._jobs.finish(request.asset_id, from_states=("submitting",), state="completed", event=completed)
        log.info("generated_synchronously", provider=provider, fallback_from=requested)

    async def _reference_image(self, url: str | None) -> tuple[bytes, str] | None:
        if not url:
            return None
        downloaded = await download_media(
            self._http(),
            url,
            max_bytes=self._settings.reference_image_max_bytes,
            allowed_types=("image/png", "image/jpeg", "image/webp"),
        )
        return downloaded.data, downloaded.content_type

    async def _fail(
        self, request: GenerationRequested, provider: Provider, reason: FailureReason, message: str
    ) -> None:
        failed = GenerationFailed(
            correlation_id=request.asset_id,
            asset_id=request.asset_id,
            user_id=request.user_id,
            provider=provider,
            reason=reason,
            message=message,
        )
        moved = await self._jobs.finish(
            request.asset_id,
            from_states=("claimed", "waiting", "submitting"),
            state="failed",
            event=failed,
            failure_reason=reason.value,
        )
        if moved:
            log.warning("generation_failed", reason=reason, provider=provider)

    def _callback_url(self, asset_id: UUID) -> str:
        token = callback_token(self._settings.callback_signing_key.get_secret_value(), asset_id)
        return callback_url(self._settings.public_base_url, asset_id, token)
