"""Reading the body KIE POSTs to a callBackUrl, for the gateway.

The body is only a hint that it is worth checking now: anyone who learns the URL could post
anything, so the poller confirms with record-info before it believes a result. Never raises.
"""

import json
from collections.abc import Mapping
from typing import Any

from aistudio_contracts import Provider

from .classify import as_int
from .models import CallbackInfo, TaskState
from .record import collect_result_urls


def parse_callback(provider: Provider, body: bytes | str | Mapping[str, Any]) -> CallbackInfo:
    """`provider` is kept for symmetry with `status`: the three models share one envelope."""
    del provider
    payload = _decode(body)
    data = payload.get("data")
    data = data if isinstance(data, Mapping) else {}
    task_id = data.get("taskId") if isinstance(data.get("taskId"), str) else data.get("task_id")
    code = as_int(payload.get("code"))
    info = data.get("info")
    info = info if isinstance(info, Mapping) else {}
    urls = collect_result_urls(info, data) if code == 200 else ()
    if code is None:
        state = None
    elif code == 200:
        state = TaskState.SUCCEEDED
    else:
        state = TaskState.FAILED
    return CallbackInfo(
        task_id=task_id if isinstance(task_id, str) and task_id else None,
        state=state,
        provider_code=code,
        result_urls=urls,
    )


def _decode(body: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        return body
    try:
        decoded = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return decoded if isinstance(decoded, Mapping) else {}
