"""The JSON KIE sends back: record-info `data` and callback bodies, per model and per variant.

Variants (`[sim:variant=...]`) reproduce the shapes seen in real traffic so clients are tested
against each: string_urls, snake_urls, epoch_ms, flag_string, status_only, origin_only, code_string.
"""

import json
from datetime import UTC, datetime
from typing import Any

from .state import KieModel, Outcome, Task

# The envelope codes a submit fault answers with, and KIE's words for them.
CODE_MESSAGES: dict[int, str] = {
    400: "Your prompt was flagged by Website as violating content policies.",
    401: "You do not have access permissions.",
    402: "The current credits are insufficient. Please top up.",
    404: "Not found.",
    408: "Upstream did not return a result within 10 minutes.",
    422: "Validation error: a parameter is invalid.",
    429: "You have exceeded the rate limit. Please try again later.",
    451: "Failed to fetch the image. Kindly verify any access limits set by you or your service provider.",
    455: "Service unavailable: the system is under maintenance.",
    500: "Server exception, please try again later or contact customer service.",
    501: "Generation failed.",
    505: "The feature is disabled.",
    550: "Connection denied: the task queue is full, please try again later.",
}


def envelope(code: int, msg: str, data: Any = None, *, variants: frozenset[str] = frozenset()) -> dict[str, Any]:
    return {"code": str(code) if "code_string" in variants else code, "msg": msg, "data": data}


def _time(epoch_seconds: float | None, variants: frozenset[str]) -> int | str | None:
    if epoch_seconds is None:
        return None
    if "epoch_ms" in variants:
        return int(epoch_seconds * 1000)
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _urls(urls: list[str], variants: frozenset[str]) -> list[str] | str:
    return json.dumps(urls) if "string_urls" in variants else urls


def _url_key(variants: frozenset[str]) -> str:
    return "result_urls" if "snake_urls" in variants else "resultUrls"


def success_flag(task: Task) -> int:
    if task.raw_flag is not None:
        return task.raw_flag
    if task.outcome is Outcome.SUCCESS:
        return 1
    if task.outcome is Outcome.FAILED:
        # 2: refused (content policy, create failed) · 3: created, then generation failed upstream.
        return 2 if task.error_code in (400, 422, 451) else 3
    return 0


def _gpt4o_status(task: Task) -> str:
    if task.raw_flag is not None:
        return "WORKING_ON_IT"  # deliberately unknown
    if task.outcome is Outcome.SUCCESS:
        return "SUCCESS"
    if task.outcome is Outcome.FAILED:
        return "CREATE_TASK_FAILED" if task.error_code == 422 else "GENERATE_FAILED"
    return "GENERATING"


def record_data(task: Task, variants: frozenset[str]) -> dict[str, Any]:
    flag: int | str = success_flag(task)
    data: dict[str, Any] = {
        "taskId": task.task_id,
        "paramJson": json.dumps(task.params),
        "createTime": _time(task.created_at, variants),
        "completeTime": _time(task.finished_at, variants),
        "successFlag": str(flag) if "flag_string" in variants else flag,
        "errorCode": task.error_code,
        "errorMessage": task.error_message or "",
        "response": _record_response(task, variants),
    }
    if task.model is KieModel.VEO3:
        data["fallbackFlag"] = False
    if task.model is KieModel.GPT4O_IMAGE:
        data["status"] = _gpt4o_status(task)
        data["progress"] = f"{task.progress:.2f}"
        if "status_only" in variants:
            del data["successFlag"]
    return data


def _record_response(task: Task, variants: frozenset[str]) -> dict[str, Any] | None:
    if task.outcome is not Outcome.SUCCESS:
        return None
    if task.model is KieModel.VEO3:
        return {
            "taskId": task.task_id,
            _url_key(variants): _urls(task.result_urls, variants),
            "originUrls": task.origin_urls,
            "resolution": "720p",
        }
    if task.model is KieModel.GPT4O_IMAGE:
        return {_url_key(variants): _urls(task.result_urls, variants)}
    return _flux_urls(task, variants)


def _flux_urls(task: Task, variants: frozenset[str]) -> dict[str, Any]:
    origin = task.origin_urls[0] if task.origin_urls else ""
    result = task.result_urls[0] if task.result_urls else ""
    if "origin_only" in variants:
        return {"originImageUrl": origin}
    return {"originImageUrl": origin, "resultImageUrl": result}


def callback_body(task: Task, variants: frozenset[str]) -> dict[str, Any]:
    """What KIE POSTs to callBackUrl when the task ends (shapes from KIE's docs)."""
    if task.outcome is Outcome.SUCCESS:
        code, msg = 200, "success"
        if task.model is KieModel.VEO3:
            info: dict[str, Any] | None = {
                "resultUrls": _urls(task.result_urls, variants),
                "originUrls": task.origin_urls,
                "resolution": "720p",
            }
            return envelope(code, "Veo3 video generated successfully.", _veo_data(task, info), variants=variants)
        if task.model is KieModel.GPT4O_IMAGE:
            info = {"result_urls": task.result_urls}
        else:
            info = _flux_urls(task, frozenset())
        return envelope(code, msg, {"taskId": task.task_id, "info": info}, variants=variants)
    code, msg = task.error_code or 500, task.error_message or "Generation failed."
    if task.model is KieModel.VEO3:
        return envelope(code, msg, _veo_data(task, None), variants=variants)
    if task.model is KieModel.GPT4O_IMAGE:
        return envelope(code, msg, {"taskId": task.task_id, "info": None}, variants=variants)
    empty = {"originImageUrl": "", "resultImageUrl": ""}
    return envelope(code, msg, {"taskId": task.task_id, "info": empty}, variants=variants)


def _veo_data(task: Task, info: dict[str, Any] | None) -> dict[str, Any]:
    data: dict[str, Any] = {"taskId": task.task_id, "fallbackFlag": False}
    if info is not None:
        data["info"] = info
    return data
