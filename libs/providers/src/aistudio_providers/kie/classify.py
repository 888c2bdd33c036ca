"""KIE's codes and failures, mapped onto `ErrorKind` and `FailureReason`.

KIE usually answers errors with HTTP 200 and the real code in the envelope, sometimes with a
matching HTTP status, and the CDN in front of it answers with HTML. The same code means
different things on a submit (could a paid task exist?) and on a read-only call (is it worth
asking again?), so there is one mapping for each.
"""

from functools import partial

import httpx

from aistudio_contracts import FailureReason

from .._transport import never_sent
from ..errors import ErrorKind, ProviderError, user_message
from .models import TaskFailure

# Refused before any work began: the same submit may be sent again.
_REFUSED_CODES = frozenset({429, 455, 550})
_USER_CODES = frozenset({400, 413, 422, 451})
_ACCOUNT_CODES = frozenset({401, 402, 403, 404, 505})
# Answered in KIE's envelope on a submit: "server error" / "generation failed", and no task.
_FAILED_CODES = frozenset({500, 501})

_CONTENT_POLICY_WORDS = (
    "content polic",
    "violat",
    "flagged",
    "sensitive",
    "prohibited",
    "nsfw",
    "safety",
    "moderation",
    "inappropriate",
)

# The CDN answers a request it blocks (no User-Agent, bad IP reputation) with an HTML 403.
_CDN_BLOCK_MARKER = "error code: 1010"


def mentions_content_policy(message: str | None) -> bool:
    lowered = (message or "").lower()
    return any(word in lowered for word in _CONTENT_POLICY_WORDS)


def _user_reason(message: str | None) -> FailureReason:
    # 400 covers content policy, "English only" and unusable images alike: the words tell them apart.
    if mentions_content_policy(message):
        return FailureReason.CONTENT_POLICY
    return FailureReason.INVALID_INPUT


def submit_error(
    code: int, message: str | None, http_status: int | None, *, from_envelope: bool = True
) -> ProviderError:
    """A submit answered with `code` (the envelope's code, or the HTTP status when there is none)."""
    error = partial(
        ProviderError, provider_code=code if from_envelope else None, http_status=http_status, provider_message=message
    )
    if code in _REFUSED_CODES:
        return error(ErrorKind.REFUSED, FailureReason.PROVIDER_UNAVAILABLE)
    if code in _USER_CODES:
        reason = _user_reason(message)
        return error(ErrorKind.USER, reason, user_message(reason, message))
    if code in _ACCOUNT_CODES:
        return error(ErrorKind.ACCOUNT, _account_reason(code))
    if from_envelope and code in _FAILED_CODES:
        # KIE's own envelope says it failed, with no task id: a definite answer, nothing in flight.
        return error(ErrorKind.FAILED, FailureReason.PROVIDER_ERROR)
    # An HTTP 5xx without an envelope, 408 and anything unknown: KIE may have started (and billed) the task.
    return error(ErrorKind.AMBIGUOUS, FailureReason.UNKNOWN_OUTCOME)


def query_error(
    code: int, message: str | None, http_status: int | None, *, from_envelope: bool = True
) -> ProviderError:
    """A read-only call (status, credits, download link) answered with `code`."""
    error = partial(
        ProviderError, provider_code=code if from_envelope else None, http_status=http_status, provider_message=message
    )
    if code in (401, 402, 403, 505):
        return error(ErrorKind.ACCOUNT, _account_reason(code))
    if 400 <= code < 500 and code not in (408, 429):
        # The task is unknown or expired (older than 14 days): asking again will not help.
        return error(ErrorKind.AMBIGUOUS, FailureReason.UNKNOWN_OUTCOME, retryable=False)
    # 5xx, 408, 429, 455, 550 and unknown codes: a passing failure of a harmless call.
    return error(ErrorKind.REFUSED, FailureReason.PROVIDER_UNAVAILABLE)


def _account_reason(code: int) -> FailureReason:
    if code == 402:
        return FailureReason.INSUFFICIENT_CREDITS
    if code == 505:
        return FailureReason.PROVIDER_UNAVAILABLE
    return FailureReason.PROVIDER_ERROR


def transport_error(exc: httpx.TransportError, *, submit: bool) -> ProviderError:
    """A request that got no response at all."""
    detail = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    if never_sent(exc) or not submit:
        return ProviderError(ErrorKind.REFUSED, FailureReason.PROVIDER_UNAVAILABLE, provider_message=detail)
    # Sent, then no answer: KIE may have accepted the task and we will never learn its id.
    reason = FailureReason.TIMEOUT if isinstance(exc, httpx.TimeoutException) else FailureReason.UNKNOWN_OUTCOME
    return ProviderError(
        ErrorKind.AMBIGUOUS, reason, user_message(FailureReason.UNKNOWN_OUTCOME), provider_message=detail
    )


def unreadable_response(response: httpx.Response, *, submit: bool) -> ProviderError:
    """A response whose body is not a KIE envelope (HTML, truncated JSON, another shape)."""
    snippet = response.text[:200] if response.content else ""
    error = partial(ProviderError, http_status=response.status_code, provider_message=snippet or None)
    if response.status_code == 403 and _CDN_BLOCK_MARKER in response.text.lower():
        return error(ErrorKind.REFUSED, FailureReason.PROVIDER_UNAVAILABLE)
    if response.status_code >= 400 and response.status_code != 403:
        classify = submit_error if submit else query_error
        return classify(response.status_code, snippet or None, response.status_code, from_envelope=False)
    if response.status_code == 403:
        return error(ErrorKind.ACCOUNT, FailureReason.PROVIDER_ERROR)
    if submit:
        # A 2xx we cannot read may well carry the id of a task that now exists.
        return error(ErrorKind.AMBIGUOUS, FailureReason.UNKNOWN_OUTCOME)
    return error(ErrorKind.REFUSED, FailureReason.PROVIDER_ERROR)


def task_failure(code: int | str | None, message: str | None) -> TaskFailure:
    """Why a finished task failed, from its errorCode/errorMessage (either may be missing)."""
    numeric = as_int(code)
    if mentions_content_policy(message):
        reason = FailureReason.CONTENT_POLICY
    elif numeric in (400, 422, 451):
        reason = FailureReason.INVALID_INPUT
    elif numeric == 408:
        reason = FailureReason.TIMEOUT
    else:
        # 4o Image reports many moderation refusals as a vague "Internal Error": we cannot tell.
        reason = FailureReason.PROVIDER_ERROR
    return TaskFailure(reason, user_message(reason, message), code if code not in ("", None) else None, message or None)


def as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None
