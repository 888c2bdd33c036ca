"""Composition root of the publisher."""

from faststream import FastStream

from aistudio_providers.late import LateClient, LateError
from aistudio_runtime import ServiceRuntime, configure_logging, create_broker, get_logger
from aistudio_runtime.mediastore import create_media_store

from . import handlers
from .posts import Posts
from .publishing import Publisher
from .ratelimit import LateLimiter
from .scheduler import post_scheduler
from .settings import PublisherSettings

log = get_logger(__name__)
WEBHOOK_PATH = "/api/providers/late/webhook"


def create_app(settings: PublisherSettings | None = None) -> FastStream:
    settings = settings or PublisherSettings()
    configure_logging("publisher", settings.log_level, settings.log_format)
    broker = create_broker(settings, name="publisher")
    runtime = ServiceRuntime(settings, "publisher", broker)
    runtime.prune("posts", by="finished_at", where="state IN ('published', 'partial', 'failed', 'cancelled')")
    posts = Posts(runtime)
    limiter = LateLimiter(
        runtime,
        limit=settings.late_rate_limit,
        window_seconds=settings.late_rate_window_seconds,
        account_hourly=settings.late_account_hourly_limit,
        instagram_daily=settings.late_instagram_daily_limit,
    )
    late = runtime.managed(lambda: LateClient.from_settings(settings))
    publisher = Publisher(settings, posts, limiter, late, create_media_store(settings, settings.media_dir))
    scheduler = post_scheduler(settings, runtime, posts, publisher)
    handlers.register(broker, posts, publisher)

    async def register_webhook() -> None:
        # Late learns where to send its webhooks and the secret to sign them with.
        if settings.late_api_key is None or settings.late_webhook_secret is None:
            log.info("late_webhook_not_registered", reason="LATE_API_KEY or LATE_WEBHOOK_SECRET unset: polling only")
            return
        url = f"{settings.public_base_url.rstrip('/')}{WEBHOOK_PATH}"
        try:
            await late().register_webhook("aistudio", url, settings.late_webhook_secret.get_secret_value())
            log.info("late_webhook_registered", url=url)
        except LateError as exc:
            log.warning("late_webhook_registration_failed", error=str(exc))

    return runtime.application(start=[register_webhook, scheduler.start], stop=[scheduler.stop])
