"""The composition root: one FastAPI app speaking KIE, Gemini and OpenAI, plus files and admin."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from . import admin, gemini, kie, late, openai_api
from .config import SimulatorConfig
from .recorder import RequestRecorder
from .state import SimulatorState


def create_app(config: SimulatorConfig | None = None) -> FastAPI:
    state = SimulatorState(config or SimulatorConfig())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        for job in list(state.background) + list(app.state.late.background):
            job.cancel()

    app = FastAPI(
        title="Provider simulator", lifespan=lifespan, docs_url="/_admin/docs", openapi_url="/_admin/openapi.json"
    )
    app.state.sim = state
    app.state.late = late.LateState(config=late.LateConfig(hang_seconds=state.config.hang_seconds))
    app.include_router(kie.router)
    app.include_router(gemini.router)
    app.include_router(openai_api.router)
    app.include_router(late.router)
    app.include_router(admin.router)

    @app.api_route("/files/{name}", methods=["GET", "HEAD"])
    async def serve_file(name: str, request: Request) -> Response:
        stored = state.files.get(name)
        if stored is None:
            return Response("Not Found", status_code=404, media_type="text/plain")
        state.stats.files_served += 1
        return Response(stored.data, media_type=stored.content_type)

    @app.get("/_admin/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(RequestRecorder, state=state)
    return app
