"""Liveness and readiness for orchestrators."""

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..deps import GatewayDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {}})
async def readyz(gateway: GatewayDep) -> JSONResponse:
    checks = {"postgres": False, "nats": False}
    try:
        await asyncio.wait_for(gateway.catalog.pool.fetchval("SELECT 1"), timeout=2)
        checks["postgres"] = True
    except Exception:
        pass
    checks["nats"] = gateway.nats_connected()
    ready = all(checks.values())
    return JSONResponse(status_code=200 if ready else 503, content={"ready": ready, "checks": checks})
