"""The ceilings: a bare FastAPI endpoint served exactly as the gateway is (uvicorn, one process, the
same options and the same logging), answering the same route with a body of the same shape but
doing nothing else — no authentication, no quota, no database, no events.

Given a database URL it does one thing more: one Postgres insert per request (a row like the
asset's, through an asyncpg pool, committed before the answer), the honest ceiling of any
gateway that stores what it accepts.

`python -m bench.bare PORT [DATABASE_URL]`
"""

import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI, Request

from aistudio_runtime import configure_logging

TABLE = "bench_bare.requests"
INSERT = f"INSERT INTO {TABLE} (id, user_id, provider, type, prompt) VALUES ($1, $2, $3, $4, $5)"


def create_app(database_url: str | None = None) -> FastAPI:
    pools: list[asyncpg.Pool] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if database_url:
            pool = await asyncpg.create_pool(database_url, min_size=2, max_size=10)
            await pool.execute(
                "CREATE SCHEMA IF NOT EXISTS bench_bare; CREATE TABLE IF NOT EXISTS bench_bare.requests"
                " (id uuid PRIMARY KEY, user_id text NOT NULL, provider text, type text, prompt text,"
                " created_at timestamptz NOT NULL DEFAULT now())"
            )
            pools.append(pool)
        yield
        for pool in pools:
            await pool.close()

    app = FastAPI(title="bare", lifespan=lifespan)

    @app.post("/api/ai/generate-media", status_code=202)
    async def generate_media(request: Request) -> dict[str, Any]:
        body = await request.json()
        asset_id = uuid.uuid4()
        if pools:
            user = request.headers.get("authorization", "")[-16:]
            await pools[0].execute(INSERT, asset_id, user, body.get("provider"), body.get("type"), body.get("prompt"))
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return {
            "id": str(asset_id),
            "provider": body.get("provider"),
            "requestedProvider": body.get("provider"),
            "type": body.get("type"),
            "prompt": body.get("prompt"),
            "status": "processing",
            "resultUrl": None,
            "errorCode": None,
            "errorMessage": None,
            "caption": None,
            "captionStatus": "none",
            "referenceImageUrl": None,
            "aspectRatio": "1:1",
            "createdAt": now,
            "updatedAt": now,
            "completedAt": None,
        }

    @app.get("/readyz")
    async def readyz() -> dict[str, bool]:
        return {"ready": True}

    return app


def main() -> None:
    port = int(sys.argv[1])
    database_url = sys.argv[2] if len(sys.argv) > 2 else None
    configure_logging("bare", "INFO", "json")
    # The same call as services/gateway/src/gateway/__main__.py makes.
    uvicorn.run(
        create_app(database_url),
        host="127.0.0.1",
        port=port,
        log_config=None,
        timeout_graceful_shutdown=25,
        proxy_headers=True,
    )


if __name__ == "__main__":
    main()
