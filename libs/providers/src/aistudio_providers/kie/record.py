"""Reading KIE's record-info answers, in every shape they have been seen in.

Pure functions over decoded JSON, so each variant can be tested without a server.
"""

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from aistudio_contracts import FailureReason, Provider

from ..errors import ErrorKind, ProviderError
from .classify import as_int, query_error, task_failure
from .models import TaskFailure, TaskState, TaskStatus

_STATUS_STRINGS = {
    "GENERATING": TaskState.PENDING,
    "SUCCESS": TaskState.SUCCEEDED,
    "CREATE_TASK_FAILED": TaskState.FAILED,
    "GENERATE_FAILED": TaskState.FAILED,
}
# 0 generating · 1 success · 2 failed (create failed for Flux) · 3 generation failed upstream.
_SUCCESS_FLAGS = {0: TaskState.PENDING, 1: TaskState.SUCCEEDED, 2: TaskState.FAILED, 3: TaskState.FAILED}

# In order of preference. Flux's resultImageUrl lives 14 days, its originImageUrl 10 minutes.
_RESULT_URL_KEYS = ("resultUrls", "result_urls", "resultImageUrl", "resultImageUrls", "originImageUrl")

_DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d %H:%M:%S")
# Epoch values below this are seconds, above it milliseconds (1e11 s is the year 5138).
_EPOCH_MS_THRESHOLD = 100_000_000_000


def is_record_missing(code: int | None, message: str | None) -> bool:
    """KIE's "not there yet": right after a submit the record may not exist for a while."""
    lowered = (message or "").lower()
    return code == 422 and ("recordinfo is null" in lowered or "record is null" in lowered)


def parse_record_info(provider: Provider, task_id: str, body: object, http_status: int = 200) -> TaskStatus:
    """Turn a decoded record-info body into a TaskStatus, or raise a classified ProviderError."""
    if not isinstance(body, Mapping) or "code" not in body:
        raise _malformed(http_status, "record-info answered without a KIE envelope")
    code = as_int(body.get("code"))
    message = _text(body.get("msg")) or _text(body.get("message"))
    if code is None:
        raise _malformed(http_status, f"record-info answered with code {body.get('code')!r}")
    if is_record_missing(code, message):
        return TaskStatus(task_id, TaskState.PENDING)
    if code != 200:
        raise query_error(code, message, http_status)
    data = body.get("data")
    if data is None:
        return TaskStatus(task_id, TaskState.PENDING)
    if not isinstance(data, Mapping):
        raise _malformed(http_status, f"record-info data is a {type(data).__name__}")
    return _status_from_data(provider, task_id, dict(data))


def _status_from_data(provider: Provider, task_id: str, data: dict[str, Any]) -> TaskStatus:
    state = _state(data)
    response = _mapping(data.get("response"))
    result_urls = collect_result_urls(response, data)
    status = TaskStatus(
        task_id=_text(data.get("taskId")) or task_id,
        state=state,
        progress=_progress(data.get("progress")),
        complete_time=parse_complete_time(data.get("completeTime")),
        raw=data,
    )
    if state is TaskState.SUCCEEDED and not result_urls:
        # Reported done with nothing to fetch: that task will never give us media.
        failure = TaskFailure(
            FailureReason.PROVIDER_ERROR,
            "The provider reported success but returned no result.",
            provider_message="success without result URLs",
        )
        return replace(status, state=TaskState.FAILED, failure=failure)
    if state is TaskState.FAILED:
        failure = task_failure(data.get("errorCode"), _text(data.get("errorMessage")) or _text(data.get("status")))
        return replace(status, failure=failure, result_urls=result_urls)
    if state is TaskState.SUCCEEDED:
        return replace(status, result_urls=result_urls)
    return status


def _state(data: Mapping[str, Any]) -> TaskState:
    """Combine `status` (4o) and `successFlag` (all): any failure wins, then success, then pending."""
    found: set[TaskState] = set()
    status = data.get("status")
    if isinstance(status, str) and status.upper() in _STATUS_STRINGS:
        found.add(_STATUS_STRINGS[status.upper()])
    flag = as_int(data.get("successFlag"))
    if flag in _SUCCESS_FLAGS:
        found.add(_SUCCESS_FLAGS[flag])
    for state in (TaskState.FAILED, TaskState.SUCCEEDED, TaskState.PENDING):
        if state in found:
            return state
    # Polling forever on a state we do not understand is how jobs get stuck: stop here.
    raise ProviderError(
        ErrorKind.AMBIGUOUS,
        FailureReason.UNKNOWN_OUTCOME,
        provider_message=f"unknown task state: status={status!r} successFlag={data.get('successFlag')!r}",
        retryable=False,
    )


def collect_result_urls(*sources: Mapping[str, Any]) -> tuple[str, ...]:
    """The results under the first key that has any, searching `sources` in order.

    First key only: Flux's originImageUrl is the same image as resultImageUrl, not a second result.
    """
    for source in sources:
        for key in _RESULT_URL_KEYS:
            urls = tuple(dict.fromkeys(_urls(source.get(key))))
            if urls:
                return urls
    return ()


def _urls(value: object) -> Iterable[str]:
    """A list of URLs, a JSON-encoded list, or a single URL."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                return _urls(json.loads(stripped))
            except ValueError:
                return ()
        return (stripped,) if stripped.startswith(("http://", "https://")) else ()
    if isinstance(value, list):
        return [
            item.strip() for item in value if isinstance(item, str) and item.strip().startswith(("http://", "https://"))
        ]
    return ()


def parse_complete_time(value: object) -> datetime | None:
    """Epoch milliseconds (or seconds), as a number or a string, or "YYYY-MM-DD HH:mm:ss" (UTC)."""
    if value is None or isinstance(value, bool) or value == "":
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int | float):
        seconds = value / 1000 if value >= _EPOCH_MS_THRESHOLD else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        return _parse_datetime_text(value.strip())
    return None


def _parse_datetime_text(text: str) -> datetime | None:
    for fmt in _DATETIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _progress(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if not isinstance(value, int | float | str):
        return None
    try:
        progress = float(value)
    except ValueError:
        return None
    # Some answers give a percentage rather than a fraction.
    return progress / 100 if progress > 1 else progress


def _mapping(value: object) -> Mapping[str, Any]:
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _malformed(http_status: int, detail: str) -> ProviderError:
    # Harmless to ask again: a status check changes nothing.
    return ProviderError(
        ErrorKind.REFUSED, FailureReason.PROVIDER_ERROR, http_status=http_status, provider_message=detail
    )
