"""Checks due tasks until each ends: ready (media in our custody), failed, or timed out.

What an answer means is decided by domain/task.py; this module does the I/O around it: the
status call, the download (streamed to a temporary file), the store, and the lease, which a
check renews while it runs so that no other replica claims the task mid-check.
"""

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID, uuid4

import asyncpg
import httpx
import structlog

from aistudio_contracts import MediaType, StoredMedia
from aistudio_providers import KieClient, MediaError, ProviderError
from aistudio_providers.media import download_media_file
from aistudio_runtime import Database, get_logger, tracing
from aistudio_runtime.db import Listener, listen
from aistudio_runtime.mediastore import MediaStore, media_key

from .domain import task as rules
from .domain.task import CheckAgain, Decision, Finish, Outcome, Policy, TakeCustody
from .schedule import ProviderStats
from .settings import PollerSettings
from .tasks import WAKEUP_CHANNEL, Tasks, TrackedTask

log = get_logger(__name__)

# Kept here too for callers of the old names.
TIMEOUT_MESSAGE = rules.TIMEOUT_MESSAGE
LOST_RESULT_MESSAGE = rules.LOST_RESULT_MESSAGE
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
        # This replica's name on the leases it holds.
        self.owner: UUID = uuid4()
        self._wakeup = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.max_concurrent_checks)
        self._running: dict[UUID, asyncio.Task[None]] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._listener: Listener | None = None
        self._stopping = False

    async def start(self) -> None:
        self._listener = await listen(self._db, WAKEUP_CHANNEL, self._on_notify)
        self._loop_task = asyncio.create_task(self._run(), name="poller-tracker")

    async def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()
        if self._loop_task:
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        if self._running:
            await asyncio.wait(self._running.values(), timeout=self._settings.shutdown_grace_seconds)
        if self._listener is not None:
            await self._listener.close()

    def _on_notify(self, *_: object) -> None:
        self._wakeup.set()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                self._wakeup.clear()
                free = self._settings.max_concurrent_checks - len(self._running)
                due = await self._claim(free) if free > 0 else []
                for task in due:
                    self._start_check(task)
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

    async def _claim(self, limit: int) -> list[TrackedTask]:
        # Never our own running checks, even one whose lease ran out while it was busy.
        return await self._tasks.claim_due(
            limit, self._settings.check_lease_seconds, self.owner, exclude=tuple(self._running)
        )

    def _start_check(self, task: TrackedTask) -> None:
        running = asyncio.create_task(self._check_guarded(task))
        self._running[task.asset_id] = running
        running.add_done_callback(lambda _: self._running.pop(task.asset_id, None))

    async def _check_guarded(self, task: TrackedTask) -> None:
        async with self._slots:
            with (
                tracing.span("poller.check", traceparent=task.traceparent, asset_id=task.asset_id, check=task.checks),
                structlog.contextvars.bound_contextvars(asset_id=str(task.asset_id), task_id=task.task_id),
            ):
                renewing = asyncio.create_task(self._renew_lease(task.asset_id))
                try:
                    await self.check(task)
                except Exception as exc:
                    # The lease makes it due again later; a failing check never ends a job by itself.
                    log.warning("check_failed", error=repr(exc))
                finally:
                    renewing.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await renewing

    async def _renew_lease(self, asset_id: UUID) -> None:
        """Keep the lease for as long as the check runs, renewing at a third of its length so that
        two renewals may fail (a database blip) before another replica could claim the task."""
        lease = self._settings.check_lease_seconds
        while True:
            await asyncio.sleep(lease / 3)
            try:
                if not await self._tasks.renew(asset_id, self.owner, lease):
                    log.warning("lease_lost")
                    return
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning("lease_renewal_failed", error=repr(exc))

    def _policy(self, task: TrackedTask) -> Policy:
        return Policy(
            interval=self._settings.poll_interval_seconds,
            custody_grace_seconds=self._settings.custody_grace_seconds,
            typical=self._stats.typical(task.provider),
            adaptive=self._settings.adaptive_schedule,
        )

    async def check(self, task: TrackedTask) -> None:
        policy = self._policy(task)
        try:
            status = await self._kie().status(task.provider, task.task_id)
        except ProviderError as error:
            decision = rules.after_status_error(task, str(error)[:500], datetime.now(UTC), policy)
            log.warning("status_check_failed", error=str(error))
            await self._apply(task, decision)
            return
        if status.finished:
            self._stats.task_finished(task.provider, status)
        decision = rules.after_status(task, status, datetime.now(UTC), policy)
        if isinstance(decision, TakeCustody):
            with tracing.span("poller.download", asset_id=task.asset_id):  # download and store
                after = await self._take_custody(task, decision, policy)
            if after is None:
                return
            decision = after
        await self._apply(task, decision)

    async def _take_custody(self, task: TrackedTask, custody: TakeCustody, policy: Policy) -> Decision | None:
        """Download each result and put it in our store, then complete the task (None): one
        GenerationCompleted per asset, in the same transaction. If a download or the store fails,
        what the rules say about it: retry within the custody grace (every result again), or a
        lost result. A database error while completing propagates: the lease running out retries."""
        events = []
        for asset_id, origin in rules.deliveries(task, custody):
            kept = await self._keep(task, asset_id, origin, policy)
            if not isinstance(kept, StoredMedia):
                return kept
            events.append(rules.completed(task, kept, asset_id))
        if await self._tasks.finish(task.asset_id, Outcome.COMPLETED, *events):
            late = datetime.now(UTC) >= task.deadline_at
            size = sum(event.media.size_bytes for event in events)
            log.info("generation_completed", checks=task.checks, size=size, after_deadline=late, assets=len(events))
        return None

    async def _keep(self, task: TrackedTask, asset_id: UUID, origin: str, policy: Policy) -> StoredMedia | Decision:
        limit = self._settings.video_max_bytes if task.media_type is MediaType.VIDEO else self._settings.image_max_bytes
        try:
            async with download_media_file(
                self._http(), origin, max_bytes=limit, allowed_types=ALLOWED[task.media_type]
            ) as downloaded:
                now = datetime.now(UTC)
                key = media_key(asset_id, downloaded.content_type, year=now.year, month=now.month)
                try:
                    await self._media.put_file(key, downloaded.path, downloaded.content_type, sha256=downloaded.sha256)
                except Exception as exc:  # any store: local disk, S3 over HTTP
                    log.warning("media_store_failed", error=repr(exc))
                    return rules.after_custody_error(task, f"store: {exc!r}"[:500], datetime.now(UTC), policy)
                return StoredMedia(
                    storage_key=key,
                    content_type=downloaded.content_type,
                    size_bytes=downloaded.size,
                    sha256=downloaded.sha256,
                    origin_url=origin,
                )
        except MediaError as error:
            log.warning("result_download_failed", error=str(error), origin=origin, retryable=error.retryable)
            return rules.after_download_error(task, str(error), error.retryable, datetime.now(UTC), policy)

    async def _apply(self, task: TrackedTask, decision: Decision) -> None:
        if isinstance(decision, Finish):
            if await self._tasks.finish(task.asset_id, decision.outcome, *rules.failed_all(task, decision)):
                log.warning("generation_failed", reason=decision.reason, outcome=decision.outcome, checks=task.checks)
        elif isinstance(decision, CheckAgain):
            await self._tasks.check_again(task.asset_id, self.owner, decision)
