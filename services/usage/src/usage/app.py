"""Composition root of the usage service."""

import asyncio
import contextlib
from datetime import timedelta

from faststream import FastStream

from aistudio_runtime import ServiceRuntime, configure_logging, create_broker, get_logger

from . import handlers
from .ledger import Clock, Ledger, utc_now
from .settings import UsageSettings

log = get_logger(__name__)


def create_app(settings: UsageSettings | None = None, *, clock: Clock = utc_now) -> FastStream:
    settings = settings or UsageSettings()
    configure_logging("usage", settings.log_level, settings.log_format)
    broker = create_broker(settings, name="usage")
    runtime = ServiceRuntime(settings, "usage", broker)
    ledger = Ledger(
        runtime,
        free_monthly_limit=settings.free_monthly_limit,
        generation_timeout=timedelta(seconds=settings.generation_timeout_seconds),
        clock=clock,
    )
    handlers.register(broker, ledger)
    sweeper = _Sweeper(ledger, settings)
    return runtime.application(start=[ledger.publish_rules, sweeper.start], stop=[sweeper.stop])


class _Sweeper:
    def __init__(self, ledger: Ledger, settings: UsageSettings) -> None:
        self._ledger = ledger
        self._interval = settings.sweep_interval_seconds
        # Measured from each reservation's own deadline (the job's, stamped by the gateway).
        self._grace = timedelta(seconds=settings.reservation_grace_seconds)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                expired = await self._ledger.expire_overdue(self._grace)
                if expired:
                    log.warning("overdue_reservations_expired", count=expired)
            except Exception as exc:
                log.warning("sweep_failed", error=repr(exc))
            await asyncio.sleep(self._interval)
