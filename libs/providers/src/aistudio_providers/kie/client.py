"""KIE.ai over HTTP: submit a paid task, check on it, and the two small account calls.

Only a submit that KIE refused before any work began is retried here (tenacity); everything
else is raised classified, because a blind retry of an accepted submit is a second paid job.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any, Self

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from aistudio_contracts import PROVIDERS, FailureReason, Provider

from ..errors import ErrorKind, ProviderError, user_message
from ..metrics import KIE_RATE_LIMITED, observed_call
from ..settings import ProviderSettings
from .classify import as_int, query_error, submit_error, transport_error, unreadable_response
from .endpoints import CREDIT_PATH, DOWNLOAD_URL_PATH, endpoint_for, submit_body
from .models import KieSubmit, TaskStatus
from .record import parse_record_info

logger = logging.getLogger(__name__)

# Without a User-Agent the CDN in front of KIE may answer an HTML 403 ("error code: 1010").
USER_AGENT = "aistudio-providers/0.1 (+https://aistudio.example/bot; httpx)"
DEFAULT_BASE_URL = "https://api.kie.ai"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff for refused submits: full jitter, so replicas hitting a 429 together spread out."""

    attempts: int = 3
    initial_seconds: float = 1.0
    max_seconds: float = 10.0


def _is_refused(exc: BaseException) -> bool:
    return isinstance(exc, ProviderError) and exc.kind is ErrorKind.REFUSED


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    logger.warning("KIE refused a submit (attempt %s), retrying: %s", state.attempt_number, error)


# An idle connection older than this is not used again. A server closes idle keep-alive connections
# on its own clock (uvicorn after 5 s, proxies after a few), and a request sent on one just as it
# closes fails with a read error: for a submit that is a request in doubt (paid or not). Reusing only
# connections idle well under any server's limit keeps that race away from paid calls.
KEEPALIVE_EXPIRY_SECONDS = 2.0


class KieClient:
    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: httpx.Timeout | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("KIE_API_KEY is empty")
        self._retry = retry or RetryPolicy()
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {api_key}",
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
            },
            timeout=timeout or httpx.Timeout(30.0, connect=5.0),
            limits=httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS),
            transport=transport,
        )

    @classmethod
    def from_settings(cls, settings: ProviderSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> Self:
        if settings.kie_api_key is None:
            raise ValueError("KIE_API_KEY is not set")
        return cls(
            settings.kie_api_key.get_secret_value(),
            base_url=settings.kie_base_url,
            timeout=httpx.Timeout(settings.http_read_timeout_seconds, connect=settings.http_connect_timeout_seconds),
            retry=RetryPolicy(
                settings.kie_retry_attempts,
                settings.kie_retry_initial_seconds,
                settings.kie_retry_max_seconds,
            ),
            transport=transport,
        )

    async def submit(self, provider: Provider, request: KieSubmit) -> str:
        """Start a paid task and return its id. Raises ProviderError (REFUSED after the retries)."""
        _check_request(provider, request)
        path = endpoint_for(provider).submit_path
        body = submit_body(provider, request)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._retry.attempts),
            wait=wait_random_exponential(multiplier=self._retry.initial_seconds, max=self._retry.max_seconds),
            retry=retry_if_exception(_is_refused),
            before_sleep=_log_retry,
            reraise=True,
        )
        return await retrying(self._submit_once, path, body)

    async def _submit_once(self, path: str, body: dict[str, Any]) -> str:
        response, envelope = await self._call("POST", path, submit=True, json=body)
        code, message = as_int(envelope.get("code")), _text(envelope.get("msg"))
        if code is None:
            raise unreadable_response(response, submit=True)
        if code != 200:
            raise submit_error(code, message, response.status_code)
        if response.is_error:
            raise submit_error(response.status_code, message, response.status_code, from_envelope=False)
        data = envelope.get("data")
        task_id = data.get("taskId") if isinstance(data, Mapping) else None
        if not isinstance(task_id, str) or not task_id.strip():
            # "Accepted" without an id: a task may exist that we can never look up.
            raise ProviderError(
                ErrorKind.AMBIGUOUS,
                FailureReason.UNKNOWN_OUTCOME,
                http_status=response.status_code,
                provider_message="submit accepted without a taskId",
            )
        return task_id.strip()

    async def status(self, provider: Provider, task_id: str) -> TaskStatus:
        """Where the task stands. A failing check raises ProviderError; a REFUSED one is harmless."""
        path = endpoint_for(provider).record_info_path
        response, envelope = await self._call("GET", path, submit=False, params={"taskId": task_id})
        if response.is_error and as_int(envelope.get("code")) in (200, None):
            raise query_error(
                response.status_code, _text(envelope.get("msg")), response.status_code, from_envelope=False
            )
        return parse_record_info(provider, task_id, envelope, response.status_code)

    async def credits(self) -> Decimal:
        """The account's balance (an integer in the docs, a decimal live)."""
        response, envelope = await self._call("GET", CREDIT_PATH, submit=False)
        data = _query_data(response, envelope)
        if isinstance(data, bool) or not isinstance(data, int | float | str):
            raise _bad_shape(response)
        try:
            return Decimal(str(data))
        except InvalidOperation:
            raise _bad_shape(response) from None

    async def download_url(self, task_id: str, url: str) -> str:
        """A direct download link (valid about 20 minutes) for a result URL of a 4o Image task."""
        response, envelope = await self._call(
            "POST", DOWNLOAD_URL_PATH, submit=False, json={"taskId": task_id, "url": url}
        )
        data = _query_data(response, envelope)
        if isinstance(data, Mapping):
            data = data.get("url") or data.get("downloadUrl")
        if not isinstance(data, str) or not data.startswith(("http://", "https://")):
            raise _bad_shape(response)
        return data

    async def _call(
        self, method: str, path: str, *, submit: bool, **kwargs: Any
    ) -> tuple[httpx.Response, Mapping[str, Any]]:
        async with observed_call("kie", path) as outcome:
            try:
                response = await self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                raise transport_error(exc, submit=submit) from exc
            try:
                envelope = response.json()
            except ValueError:
                raise unreadable_response(response, submit=submit) from None
            if not isinstance(envelope, Mapping) or "code" not in envelope:
                raise unreadable_response(response, submit=submit)
            code = as_int(envelope.get("code"))
            if code != 200 or response.is_error:
                outcome.value = "rejected"
            if code == 429 or response.status_code == 429:
                KIE_RATE_LIMITED.inc()
            return response, envelope

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def _check_request(provider: Provider, request: KieSubmit) -> None:
    """Refuse locally what KIE would refuse anyway, before spending a rate-limit slot."""
    spec = PROVIDERS[provider]
    if not request.prompt.strip():
        raise ProviderError(
            ErrorKind.USER,
            FailureReason.INVALID_INPUT,
            user_message(FailureReason.INVALID_INPUT, "the prompt is empty"),
        )
    if not spec.accepts_aspect_ratio(request.aspect_ratio):
        detail = f"{spec.label} offers aspect ratios {', '.join(spec.aspect_ratios)}, not {request.aspect_ratio}"
        raise ProviderError(
            ErrorKind.USER, FailureReason.INVALID_INPUT, user_message(FailureReason.INVALID_INPUT, detail)
        )


def _query_data(response: httpx.Response, envelope: Mapping[str, Any]) -> object:
    code, message = as_int(envelope.get("code")), _text(envelope.get("msg"))
    if code is None:
        raise unreadable_response(response, submit=False)
    if code != 200:
        raise query_error(code, message, response.status_code)
    if response.is_error:
        raise query_error(response.status_code, message, response.status_code, from_envelope=False)
    return envelope.get("data")


def _bad_shape(response: httpx.Response) -> ProviderError:
    return ProviderError(
        ErrorKind.REFUSED,
        FailureReason.PROVIDER_ERROR,
        http_status=response.status_code,
        provider_message="unexpected data in the KIE envelope",
    )


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
