"""The ceiling: a bare FastAPI endpoint served exactly as the gateway is (uvicorn, one process, the
same options and the same logging), answering the same route with a body of the same shape but
doing nothing else — no authentication, no quota, no database, no events.

`python -m bench.bare PORT`
"""

import sys
import time
import uuid
from typing import Any

import uvicorn
from fastapi import FastAPI, Request

from aistudio_runtime import configure_logging


def create_app() -> FastAPI:
    app = FastAPI(title="bare")

    @app.post("/api/ai/generate-media", status_code=202)
    async def generate_media(request: Request) -> dict[str, Any]:
        body = await request.json()
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return {
            "id": str(uuid.uuid4()),
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
    configure_logging("bare", "INFO", "json")
    # The same call as services/gateway/src/gateway/__main__.py makes.
    uvicorn.run(
        create_app(), host="127.0.0.1", port=port, log_config=None, timeout_graceful_shutdown=25, proxy_headers=True
    )


if __name__ == "__main__":
    main()
