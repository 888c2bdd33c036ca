"""Composition root of the gateway: the FastAPI app, its broker, pool, outbox relay and sweeper."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from aistudio_runtime import ServiceRuntime, configure_logging, create_broker
from aistudio_runtime.mediastore import create_media_store

from . import accesslog, handlers, post_handlers
from .api import errors
from .api.deps import Gateway
from .api.limits import BodySizeLimit
from .api.observability import RequestObservability
from .api.observability import router as metrics_router
from .api.routes import admin, callbacks, captions, creative, dev, edits, events, files, health, media, pages, usage
from .api.routes import analytics as analytics_routes
from .api.routes import posts as post_routes
from .auth import Authenticator
from .catalog import Catalog
from .feed import ChangeFeed
from .links import LinkSigner
from .posts import PostsCatalog
from .publisher_client import PublisherClient
from .settings import GatewaySettings
from .sweeper import StuckAssetSweeper
from .usage_client import UsageClient


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    configure_logging("gateway", settings.log_level, settings.log_format)
    accesslog.install()  # before uvicorn logs its first request: no token or signature in any line
    broker = create_broker(settings, name="gateway")
    # Every acquire, the catalog's and the feed's included, waits at most this: a 503, never a hung request.
    runtime = ServiceRuntime(settings, "gateway", broker, acquire_timeout=settings.db_acquire_timeout_seconds)
    runtime.prune("asset_changes", by="changed_at")
    catalog = Catalog(runtime, generation_timeout_seconds=settings.generation_timeout_seconds)
    handlers.register(broker, catalog)
    posting = post_routes.Posting(
        PostsCatalog(runtime, catalog),
        PublisherClient(broker, settings.publisher_rpc_timeout_seconds),
        settings.late_webhook_secret,
    )
    post_handlers.register(broker, posting.posts)
    sweeper = StuckAssetSweeper(catalog, grace=timedelta(seconds=settings.stuck_asset_grace_seconds))
    gateway = Gateway(
        settings=settings,
        catalog=catalog,
        usage=UsageClient(broker, settings.rpc_timeout_seconds),
        authenticator=Authenticator(settings),
        links=LinkSigner(
            settings.media_signing_key.get_secret_value(),
            settings.public_base_url,
            settings.media_link_ttl_seconds,
            settings.provider_base_url,
        ),
        media=create_media_store(settings, settings.media_dir),
        broker=broker,
        feed=ChangeFeed(runtime),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.on_startup()
        await broker.start()
        await runtime.after_startup()
        await sweeper.start()
        await gateway.feed.start()
        try:
            yield
        finally:
            await gateway.feed.stop()
            await sweeper.stop()
            await runtime.on_shutdown()
            await broker.stop()
            await runtime.after_shutdown()

    app = FastAPI(
        title="AI Studio API",
        version="1.0.0",
        description="Generate AI images and 8-second videos with captions, ready to post.",
        lifespan=lifespan,
        # The documentation pages load scripts from a CDN on our origin: only where DOCS_ENABLED says so
        # (development by default). The OpenAPI document itself is plain JSON, runs nothing, and is what
        # clients, the contract fuzzing and other teams read: it is always served.
        docs_url="/docs" if settings.docs_served else None,
        redoc_url="/redoc" if settings.docs_served else None,
    )
    app.state.gateway = gateway
    app.state.posting = posting
    app.include_router(post_routes.router)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    errors.install(app)
    # Outermost: the request id and the metric cover every answer, a body-size 413 included.
    app.add_middleware(RequestObservability)
    # events before media: "/api/ai/media/events" must not be taken for an asset id
    for module in (events, media, creative, edits, captions, usage, admin, callbacks, files, health, dev, pages):
        app.include_router(module.router)
    app.include_router(metrics_router)
    app.include_router(analytics_routes.router)
    return app
