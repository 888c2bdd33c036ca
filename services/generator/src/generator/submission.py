"""The work on one claimed job: one paid submission, its answer recorded durably — or a clear end.

The rules (what comes next after a claim or an error) live in domain/job.py; this module does
the I/O they ask for. A KIE task id is logged the moment it returns and then written through a
database outage, so a task the provider accepted is never lost; a request whose answer was lost
leaves the job in doubt for the provider's callback to settle, never resent blindly.
"""

import dataclasses
import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from uuid import UUID

import httpx
from tenacity import AsyncRetrying, retry_if_not_exception_type, stop_after_delay, wait_exponential

from aistudio_contracts import (
    IMAGE_FALLBACK_PROVIDER,
    PROVIDERS,
    FailureReason,
    GenerationCompleted,
    GenerationFailed,
    GenerationRequested,
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
    verified_media_type,
)
from aistudio_providers.errors import answer_lost
from aistudio_runtime import get_logger
from aistudio_runtime.mediastore import MediaStore, media_key
from aistudio_runtime.messaging import redelivery_delay

from .costs import CostLedger
from .domain.job import (
    Doubt,
    Fail,
    JobState,
    Policy,
    Retry,
    Step,
    Submit,
    WaitUntil,
    after_error,
    is_cancelled,
    is_kie,
    next_step,
)
from .domain.models import ModelsByPlan, variants_task_size
from .domain.variants import VariantCancelled, Variants, cost_shares, wasted_shares
from .jobs import Job, Jobs
from .ratelimit import SubmitRateLimiter
from .settings import GeneratorSettings

log = get_logger(__name__)

REFERENCE_MESSAGE = "The reference image could not be downloaded; check that the URL points to a public image."
EDIT_INPUT_GONE = "The image to edit is no longer in our storage."
_GEMINI_TYPES = ("image/png", "image/jpeg", "image/webp")
# Writes that carry a provider's answer are retried this long past the job's deadline (a database outage).
DURABLE_WRITE_GRACE = timedelta(minutes=10)

T = TypeVar("T")
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


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
        clock: Clock = utc_now,
        costs: CostLedger | None = None,
    ) -> None:
        self._settings = settings
        self._costs = costs
        self._jobs = jobs
        self._limiter = limiter
        self._kie = kie
        self._gemini = gemini
        self._media = media
        self._http = http
        self._clock = clock
        self.models = ModelsByPlan(
            veo_free=settings.kie_veo_model_free,
            veo_pro=settings.kie_veo_model_pro,
            flux_free=settings.kie_flux_model_free,
            flux_pro=settings.kie_flux_model_pro,
        )
        self.policy = Policy(
            in_doubt_grace=timedelta(seconds=settings.in_flight_grace_seconds),
            callbacks_enabled=settings.kie_callbacks_enabled,
            max_attempts=settings.submit_max_attempts,
        )

    async def work(self, job: Job) -> None:
        """A worker claimed `job`: take the next step the rules give."""
        await self._apply(job, next_step(job.view, self._clock(), self.policy))

    async def adopt(self, asset_id: UUID, task_id: str) -> TaskStarted | None:
        """A KIE callback named `task_id` for the asset: adopt it if the job is in doubt; if the job
        went to the fallback meanwhile, that task is paid for and delivers nothing: record the waste."""
        adopted = await self._jobs.adopt(asset_id, task_id, lambda job, task: self._task_started(job, task, True))
        if adopted is not None:
            log.warning("kie_task_adopted_from_callback", task_id=task_id)
            variants = Variants.of(adopted.asset_id, adopted.variant_asset_ids)
            await self._paid_kie_task(variants, adopted.user_id, adopted.provider, adopted.model, task_id)
            await self._waste_cancelled_shares(adopted.asset_id, task_id)
            return adopted
        job = await self._jobs.find(asset_id)
        if job and is_cancelled(job.state, job.failure_reason) and job.task_id != task_id:
            await self._waste_if_cancelled(asset_id, {"provider": job.provider.value, "task_id": task_id})
            return None
        if job and is_kie(job.requested_provider) and not is_kie(job.provider) and job.task_id != task_id:
            waste = {"provider": job.requested_provider.value, "task_id": task_id, "why": "task_after_fallback"}
            if await self._jobs.record_waste(asset_id, waste):
                log.warning("kie_task_wasted", task_id=task_id, provider=job.requested_provider)
                model = self.models.model_for(job.requested_provider, job.request.plan)
                await self._paid_kie_task(
                    job.variants,
                    job.request.user_id,
                    job.requested_provider,
                    model,
                    task_id,
                    wasted="task_after_fallback",
                )
        return None

    async def _apply(self, job: Job, step: Step) -> None:
        match step:
            case Fail(reason, message):
                await self._fail(job, reason, message)
            case WaitUntil(at):
                await self._jobs.wait_in_doubt(job, at)
            case Retry(at):
                log.info("submission_refused_retry_later", at=at.isoformat(), provider=job.provider)
                await self._jobs.retry_at(job, at, unbilled_gemini_call=not is_kie(job.provider))
            case Doubt():
                log.error("submission_outcome_unknown_waiting_for_callback", provider=job.provider)
                await self._jobs.doubt(job)
            case Submit(provider) if is_kie(provider):
                await self._submit_to_kie(job)
            case Submit(_, repeats_lost_call):
                await self._generate_with_gemini(job, repeats_lost_call=repeats_lost_call)

    async def _submit_to_kie(self, job: Job) -> None:
        booking = await self._limiter.book()
        if not booking.granted:
            await self._jobs.postpone(job, self._clock() + timedelta(seconds=booking.wait_seconds))
            return
        assert booking.slot_id is not None
        request = job.request
        callback = self._callback_url(job.asset_id) if self._settings.kie_callbacks_enabled else None
        try:
            if not await self._jobs.start(job, job.provider):
                log.info("job_moved_on_before_submission")
                return
            submitting = dataclasses.replace(job, state=JobState.SUBMITTING)
            try:
                task_id = await self._kie().submit(
                    job.provider,
                    KieSubmit(
                        request.prompt,
                        request.aspect_ratio,
                        request.reference_image_url,
                        callback,
                        model=self.models.model_for(job.provider, request.plan),
                        n_variants=variants_task_size(len(request.variant_asset_ids or ())),
                    ),
                )
            except ProviderError as error:
                if 429 in (error.http_status, error.provider_code):
                    # Our own limiter should make this impossible: each one is a finding.
                    log.error("kie_rate_limited", provider=job.provider)
                log.warning("kie_submit_failed", kind=error.kind, reason=error.reason, error=str(error))
                await self._after_error(submitting, error)
                return
            except Exception:
                log.exception("kie_submit_failed_unexpectedly")
                await self._jobs.doubt(submitting)
                return
        finally:
            await self._limiter.settle(booking.slot_id)
        # Logged before anything else can fail: with this line an operator can always find the task.
        log.info("kie_task_accepted", task_id=task_id, provider=job.provider)
        model = self.models.model_for(job.provider, request.plan)
        await self._paid_kie_task(job.variants, request.user_id, job.provider, model, task_id)
        started = self._task_started(submitting, task_id, adopted=False)
        if await self._durably(submitting, lambda: self._jobs.record_task(submitting, started)):
            log.info("task_started", provider=job.provider, task_id=task_id)
            await self._waste_cancelled_shares(job.asset_id, task_id)
        else:
            await self._waste_if_cancelled(job.asset_id, {"provider": job.provider.value, "task_id": task_id})

    async def _generate_with_gemini(self, job: Job, *, repeats_lost_call: bool) -> None:
        if job.state is JobState.SUBMITTING and not await self._jobs.hold(job):
            return
        request = job.request
        try:
            reference = await self._input_image(request)
        except MediaError as error:
            if error.retryable:
                at = self._clock() + timedelta(seconds=redelivery_delay(job.attempts + 1))
                await self._apply(job, Retry(at) if at < job.deadline_at else Fail(FailureReason.TIMEOUT, str(error)))
                return
            message = error.user_message if request.input_image_key else REFERENCE_MESSAGE
            await self._fail(job, FailureReason.INVALID_INPUT, message)
            return
        provider = IMAGE_FALLBACK_PROVIDER
        waste = {"provider": provider.value, "why": "answer_lost"} if repeats_lost_call else None
        if not await self._jobs.start(dataclasses.replace(job, state=JobState.CLAIMED), provider, waste):
            log.info("job_moved_on_before_generation")
            return
        if repeats_lost_call:
            log.warning("gemini_called_again_after_lost_answer")
        calling = dataclasses.replace(
            job, state=JobState.SUBMITTING, provider=provider, gemini_calls=job.gemini_calls + 1
        )
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
            if self._costs is not None and error.usage:
                # Answered but refused (blocked output, words only): paid by its usage field; the
                # asset's failure settles it as a failed cost.
                cost = self._costs.prices.gemini(
                    self._settings.gemini_model, error.usage["input_tokens"], error.usage["output_tokens"]
                )
                ref = f"gemini:{job.asset_id}:{calling.gemini_calls}"
                await self._costs.record(job.asset_id, request.user_id, cost, call_ref=ref)
            elif self._costs is not None and answer_lost(error):
                # Sent, so Gemini bills it, but no usage field came back: our estimate, and never delivered.
                cost = self._costs.prices.gemini_estimate(
                    self._settings.gemini_model, request.prompt, with_reference=reference is not None
                )
                ref = f"gemini:{job.asset_id}:{calling.gemini_calls}"
                await self._costs.record(job.asset_id, request.user_id, cost, call_ref=ref, wasted="answer_lost")
            await self._after_error(calling, error)
            return
        gemini_call = f"gemini:{job.asset_id}:{calling.gemini_calls}"
        if self._costs is not None:
            cost = self._costs.prices.gemini(self._settings.gemini_model, image.input_tokens, image.output_tokens)
            await self._costs.record(job.asset_id, request.user_id, cost, call_ref=gemini_call)
        try:  # stored and served as what its bytes are, never as the type Gemini named
            mime_type = verified_media_type(image.data[:64], image.mime_type, allowed=_GEMINI_TYPES)
        except MediaError as unusable:
            refused = ProviderError(ErrorKind.FAILED, FailureReason.PROVIDER_ERROR, provider_message=str(unusable))
            await self._after_error(calling, refused)
            return
        now = self._clock()
        key = media_key(job.asset_id, mime_type, year=now.year, month=now.month)
        completed = GenerationCompleted(
            correlation_id=job.asset_id,
            asset_id=job.asset_id,
            user_id=request.user_id,
            provider=provider,
            media_type=request.media_type,
            prompt=request.prompt,
            media=StoredMedia(
                storage_key=key,
                content_type=mime_type,
                size_bytes=len(image.data),
                sha256=hashlib.sha256(image.data).hexdigest(),
            ),
            requested_provider=job.requested_provider if job.requested_provider is not provider else None,
            model=self._settings.gemini_model,
        )

        async def keep() -> bool:
            await self._media.put(key, image.data, mime_type)
            return await self._jobs.complete(calling, completed)

        if await self._durably(calling, keep):
            log.info("generated_synchronously", provider=provider, fallback_from=completed.requested_provider)
        else:
            entry = {"provider": provider.value, "storage_key": key, "call_ref": gemini_call}
            await self._waste_if_cancelled(job.asset_id, entry)

    async def _waste_if_cancelled(self, asset_id: UUID, entry: dict[str, str]) -> None:
        """Paid work that came back after the user cancelled: never delivered, recorded as waste."""
        job = await self._jobs.find(asset_id)
        if job is None or not is_cancelled(job.state, job.failure_reason):
            return
        if await self._jobs.record_waste(asset_id, {**entry, "why": "after_cancel"}):
            log.warning("paid_work_wasted_after_cancel", **entry)
            task_id, call_ref = entry.get("task_id"), entry.get("call_ref")
            # Every share of a batch's task (all its assets are cancelled, or the job would go on).
            refs = (wasted_shares(job.variants, task_id) or [task_id]) if task_id else [call_ref] if call_ref else []
            for ref in refs:
                if self._costs is not None:
                    await self._costs.mark_wasted(ref, "after_cancel")

    async def cancelled(self, move: VariantCancelled) -> None:
        """A user's cancel reached the job: an asset whose share of the task is paid for already
        delivers nothing, so that share is waste in the ledger."""
        if move.wasted_share is not None and self._costs is not None:
            await self._costs.mark_wasted(move.wasted_share, "after_cancel")

    async def _waste_cancelled_shares(self, asset_id: UUID, task_id: str) -> None:
        """The task is recorded: the shares of the assets cancelled before it was (a cancel that
        found no task id yet could not name its share) are waste."""
        job = await self._jobs.find(asset_id)
        if job is None or self._costs is None:
            return
        for ref in wasted_shares(job.variants, task_id):
            await self._costs.mark_wasted(ref, "after_cancel")

    async def _paid_kie_task(
        self,
        variants: Variants,
        user_id: str,
        provider: Provider,
        model: str | None,
        task_id: str,
        wasted: str | None = None,
    ) -> None:
        """A KIE task exists, so its credits are spent: into the ledger (once per task id), as one
        share per asset the task makes, so each share goes the way its own asset does."""
        if self._costs is None:
            return
        try:
            cost = self._costs.prices.kie(provider.value, model)
        except KeyError as unpriced:
            log.error("kie_task_unpriced", error=str(unpriced), task_id=task_id)
            return
        for asset_id, call_ref, share in cost_shares(cost, variants, task_id):
            await self._costs.record(asset_id, user_id, share, call_ref=call_ref, wasted=wasted)

    async def _after_error(self, job: Job, error: ProviderError) -> None:
        backoff = redelivery_delay(job.attempts + 1) * 5
        step = after_error(job.view, error.kind, error.reason, error.user_message, self._clock(), self.policy, backoff)
        await self._apply(job, step)

    async def _durably(self, job: Job, write: Callable[[], Awaitable[T]]) -> T:
        """Write a provider's answer, retrying through a database (or store) outage: the answer is paid
        for and exists nowhere else. Gives up only well past the job's deadline."""
        give_up_in = (job.deadline_at + DURABLE_WRITE_GRACE - self._clock()).total_seconds()
        retrying = AsyncRetrying(
            stop=stop_after_delay(max(give_up_in, 1.0)),
            wait=wait_exponential(multiplier=0.25, max=5.0),
            retry=retry_if_not_exception_type(ProviderError),
            before_sleep=lambda state: log.warning(
                "durable_write_retry",
                attempt=state.attempt_number,
                error=repr(state.outcome.exception()) if state.outcome else None,
            ),
            reraise=True,
        )

        async def attempt() -> T:
            return await write()

        result: T = await retrying(attempt)
        return result

    async def _input_image(self, request: GenerationRequested) -> tuple[bytes, str] | None:
        """The image Gemini gets inline. An edit's parent is read from our own media store: its signed
        link (what KIE fetches) is a round trip out through PUBLIC_BASE_URL, which this service need not
        reach, and which the SSRF guard on reference downloads rightly refuses for a private address."""
        if not request.input_image_key:
            return await self._reference_image(request.reference_image_url)
        try:
            data = await self._media.get(request.input_image_key)
        except Exception as outage:  # whatever the store's client raises: the same read may work later
            raise MediaError("Our media storage is unavailable.", retryable=True) from outage
        if data is None:
            raise MediaError(EDIT_INPUT_GONE)
        return data, verified_media_type(data[:64], None, allowed=_GEMINI_TYPES)

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

    async def _fail(self, job: Job, reason: FailureReason, message: str) -> None:
        """The job ends without media: every asset it makes fails with the one reason (a batch's
        variants each settled on their own, each unit released)."""
        failed = [
            GenerationFailed(
                correlation_id=asset_id,
                asset_id=asset_id,
                user_id=job.request.user_id,
                provider=job.provider,
                reason=reason,
                message=message,
            )
            for asset_id in job.variants.asset_ids
        ]
        if await self._jobs.fail(job, reason.value, *failed):
            log.warning("generation_failed", reason=reason, provider=job.provider, assets=len(failed))

    def _task_started(self, job: Job, task_id: str, adopted: bool) -> TaskStarted:
        request = job.request
        return TaskStarted(
            correlation_id=job.asset_id,
            asset_id=job.asset_id,
            user_id=request.user_id,
            provider=job.provider,
            media_type=request.media_type,
            task_id=task_id,
            prompt=request.prompt,
            callback_url=self._callback_url(job.asset_id) if self._settings.kie_callbacks_enabled else None,
            deadline_at=job.deadline_at,
            adopted=adopted,
            model=self.models.model_for(job.provider, request.plan),
            variant_asset_ids=request.variant_asset_ids,
        )

    def _callback_url(self, asset_id: UUID) -> str:
        token = callback_token(self._settings.callback_signing_key.get_secret_value(), asset_id)
        return callback_url(self._settings.provider_facing_url, asset_id, token)
