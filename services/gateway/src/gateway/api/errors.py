"""Every error the API answers, in the shapes the web client knows (see the seed's build plan)."""

import asyncio
from typing import Any
from uuid import UUID

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from aistudio_runtime import get_logger

from ..auth import Unauthorized
from ..domain.requests import InvalidRequest, Issue
from ..usage_client import UsageUnavailable
from ..userlimits import CaptionAllowanceUsed, LimitExceeded

log = get_logger(__name__)

UNAVAILABLE = (
    UsageUnavailable,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.TooManyConnectionsError,
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
)


class ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(body.get("error"))
        self.status = status
        self.body = body
        self.headers = headers


def not_found() -> ApiError:
    return ApiError(404, {"error": "Media asset not found"})


def asset_id_of(text: str) -> UUID:
    """An asset id from the path or body: a malformed one names no asset of the user's, so 404 too."""
    try:
        return UUID(text)
    except ValueError:
        raise not_found() from None


def invalid_input(issues: list[Issue]) -> JSONResponse:
    return JSONResponse(
        status_code=400,
        content={
            "error": "Invalid input",
            "details": [{"path": list(issue.path), "message": issue.message} for issue in issues],
        },
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(status_code=exc.status, content=exc.body, headers=exc.headers)

    @app.exception_handler(InvalidRequest)
    async def _invalid(_: Request, exc: InvalidRequest) -> JSONResponse:
        return invalid_input(exc.issues)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        issues = [
            Issue(
                tuple(part for part in error.get("loc", ()) if part not in ("body", "query", "path", "header")),
                str(error.get("msg", "Invalid value")),
            )
            for error in exc.errors()
        ]
        return invalid_input(issues)

    @app.exception_handler(Unauthorized)
    async def _unauthorized(_: Request, exc: Unauthorized) -> JSONResponse:
        return JSONResponse(
            status_code=401,
            content={"error": "Unauthorized", "message": str(exc)},
            headers={"WWW-Authenticate": "Bearer"},
        )

    @app.exception_handler(LimitExceeded)
    async def _limited(_: Request, exc: LimitExceeded) -> JSONResponse:
        return JSONResponse(
            status_code=429,
            content={"error": "Too many requests", "message": exc.message},
            headers={"Retry-After": str(exc.retry_after)},
        )

    @app.exception_handler(CaptionAllowanceUsed)
    async def _captions_used(_: Request, exc: CaptionAllowanceUsed) -> JSONResponse:
        return JSONResponse(
            status_code=403,
            content={
                "error": "Monthly caption limit reached",
                "message": f"{exc} Upgrade to Pro for unlimited captions.",
                "limit": exc.limit,
            },
        )

    @app.exception_handler(RecursionError)
    async def _too_deep(_: Request, exc: RecursionError) -> JSONResponse:
        # JSON nested thousands deep: parsing or validating it exhausts the stack. Bad input, not our fault.
        return invalid_input([Issue((), "Request body is nested too deeply")])

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        messages = {404: "Not found", 405: "Method not allowed"}
        return JSONResponse(
            status_code=exc.status_code,
            content={"error": messages.get(exc.status_code, str(exc.detail))},
            headers=getattr(exc, "headers", None),
        )

    for error_type in UNAVAILABLE:
        app.add_exception_handler(error_type, _unavailable)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if _database_unavailable(exc):
            return await _unavailable(request, exc)
        log.exception("unhandled_error", path=request.url.path, error=repr(exc))
        return JSONResponse(status_code=500, content={"error": "Internal server error"})


# SQLSTATE classes that mean "the database is not there for us right now", not "our query is wrong":
# 08 connection exception, 53 insufficient resources, 57 operator intervention (shutdown, restart),
# 55000 "database is not accepting connections".
_UNAVAILABLE_SQLSTATES = ("08", "53", "57", "55000")


def _database_unavailable(exc: BaseException) -> bool:
    state = getattr(exc, "sqlstate", None)
    return isinstance(exc, asyncpg.PostgresError) and bool(state) and str(state).startswith(_UNAVAILABLE_SQLSTATES)


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("dependency_unavailable", path=request.url.path, error=repr(exc))
    return JSONResponse(
        status_code=503,
        content={
            "error": "Service temporarily unavailable",
            "message": "AI Studio cannot take requests right now. Nothing was charged; please try again shortly.",
        },
        headers={"Retry-After": "5"},
    )
