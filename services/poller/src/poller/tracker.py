"""Checks due tasks until each ends: ready (media in our custody), failed, or timed out."""

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
import httpx
import structlog

from aistudio_contracts import FailureReason, GenerationCompleted, GenerationFailed, MediaType, StoredMedia
from aistudio_providers import KieClient, MediaError, ProviderError, TaskState, TaskStatus, download_media
from aistudio_runtime import Database, get_logger
from aistudio_runtime.mediastore import MediaStore, media_key

from .schedule import ProviderStats, after_error_delay, pending_check_delay
from .settings import PollerSettings
from .tasks import WAKEUP_CHANNEL, Tasks, TrackedTask

log = get_logger(__name__)

TIMEOUT_MESSAGE = "The provider did not finish in time, so the generation was stopped. It was not counted."
LOST_RESULT_MESSAGE = "The provider finished but its result could not be retrieved. It was not counted."
ALLOWED = {MediaType.IMAGE: ("image/png", "image/jpeg", "image/webp"), MediaType.VIDEO: ("video/mp4", "video/webm")}


class Tracker:
    def __init__(
        self,
        settings: PollerSettings,
        db: Database,
        tasks: Tasks,
        kie: Callable[[], KieClient],
        http: Callable[[], httpx.AsyncClient],
        media: MediaStore,
        stats: ProviderStats | None = None,
    ) -> None:
        self._settings = settings
        self._stats = stats or ProviderStats()
        self._db = db
        self._tasks = tasks
        self._kie = kie
        self._http = http
        self._media = media
        self._wakeup = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.max_concurrent_checks)
        self._running: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._listener: asyncpg.Connection | None = None
        self._stopping = False

    async def start(self) -> None:
        self._listener = await self._db.pool.acquire()
        await self._listener.add_listener(WAKEUP_CHANNEL, self._on_notify)
        self._loop_task = asyncio.create_task(self._run(), name="poller-tracker")

    async def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()
        if self._loop_task:
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        if self._running:
            await asyncio.wait(self._running, timeout=self._settings.shutdown_grace_seconds)
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.remove_listener(WAKEUP_CHANNEL, self._on_notify)
                await self._db.pool.release(self._listener)

    def _on_notify(self, *_: object) -> None:
        self._wakeup.set()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                self._wakeup.clear()
                free = self._settings.max_concurrent_checks - len(self._running)
                due = await self._tasks.claim_due(free, self._settings.check_lease_seconds) if free > 0 else []
                for task in due:
                    running = asyncio.create_task(self._check_guarded(task))
                    self._running.add(running)
                    running.add_done_callback(self._running.discard)
                if due and len(due) == free:
                    await asyncio.sleep(0)  # more may be due; let checks start first
                    continue
                until_next = await self._tasks.seconds_until_next_due()
                timeout = 1.0 if until_next is None else min(max(until_next, 0.01), 1.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("tracker_loop_error", error=repr(exc))
                await asyncio.sleep(1.0)

    async def _check_guarded(self, task: TrackedTask) -> None:
        async with self._slots:
            with structlog.contextvars.bound_contextvars(asset_id=str(task.asset_id), task_id=task.task_id):
                try:
                    await self.check(task)
                except Exception as exc:
                    # The lease makes it due again later; a failing check never ends a job by itself.
                    log.warning("check_failed", error=repr(exc))

    async def check(self, task: TrackedTask) -> None:
        interval = self._settings.poll_interval_seconds
        expired = datetime.now(UTC) >= task.deadline_at
        try:
            status = await self._kie().status(task.provider, task.task_id)
        except ProviderError as error:
            if expired:
                await self._fail(task, FailureReason.TIMEOUT, TIMEOUT_MESSAGE)
                return
            delay = after_error_delay(task.consecutive_errors + 1, interval)
            log.warning("status_check_failed", error=str(error), retry_in=delay)
            await self._tasks.check_again(task.asset_id, delay, error=str(error)[:500])
            return
        if status.finished:
            self._stats.task_finished(task.provider, status)
        if status.state is TaskState.SUCCEEDED:
            await self._take_custody(task, status, expired)
        elif status.state is TaskState.FAILED:
            failure = status.failure
            reason = failure.reason if failure else FailureReason.PROVIDER_ERROR
            message = failure.user_message if failure else "The provider failed to produce a result."
            await self._fail(task, reason, message)
        elif expired:
            await self._fail(task, FailureReason.TIMEOUT, TIMEOUT_MESSAGE)
        else:
            typical = self._stats.typical(task.provider)
            delay = pending_check_delay(
                interval, task.checks, typical=typical, adaptive=self._settings.adaptive_schedule
            )
            await self._tasks.check_again(task.asset_id, delay)

    async def _take_custody(self, task: TrackedTask, status: TaskStatus, expired: bool) -> None:
        if not status.result_urls:
            await self._fail(task, FailureReason.PROVIDER_ERROR, LOST_RESULT_MESSAGE)
            return
        origin = status.result_urls[0]
        limit = self._settings.video_max_bytes if task.media_type is MediaType.VIDEO else self._settings.image_max_bytes
        try:
            downloaded = await download_media(
                self._http(), origin, max_bytes=limit, allowed_types=ALLOWED[task.media_type]
            )
        except MediaError as error:
            if error.retryable and not expired:
                delay = after_error_delay(task.consecutive_errors + 1, min(self._settings.poll_interval_seconds, 10))
                await self._tasks.check_again(task.asset_id, delay, error=str(error))
                return
            log.error("result_download_failed", error=str(error), origin=origin)
            await self._fail(task, FailureReason.PROVIDER_ERROR, LOST_RESULT_MESSAGE)
            return
        now = datetime.now(UTC)
        key = media_key(task.asset_id, downloaded.content_type, year=now.year, month=now.month)
        await self._media.put(key, downloaded.data, downloaded.content_type)
        completed = GenerationCompleted(
            correlation_id=task.asset_id,
            asset_id=task.asset_id,
            user_id=task.user_id,
            provider=task.provider,
            media_type=task.media_type,
            prompt=task.prompt,
            task_id=task.task_id,
            media=StoredMedia(
                storage_key=key,
                content_type=downloaded.content_type,
                size_bytes=downloaded.size,
                sha256=downloaded.sha256,
                origin_url=origin,
            ),
        )
        if await self._tasks.finish(task.asset_id, "completed", completed):
            log.info("generation_completed", checks=task.checks, size=downloaded.size)

    async def _fail(self, task: TrackedTask, reason: FailureReason, message: str) -> None:
        failed = GenerationFailed(
            correlation_id=task.asset_id,
            asset_id=task.asset_id,
            user_id=task.user_id,
            provider=task.provider,
            reason=reason,
            message=message,
            task_id=task.task_id,
        )
        if await self._tasks.finish(task.asset_id, "failed", failed):
            log.warning("generation_failed", reason=reason, checks=task.checks)
