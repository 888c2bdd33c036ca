"""The admin API tests and benchmarks use to look inside and to steer the simulator."""

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import ValidationError

from .config import SimulatorConfig
from .openai_api import read_messages
from .recorder import shorten
from .state import RequestRecord, SimulatorState, Task

router = APIRouter(prefix="/_admin")


def _state(request: Request) -> SimulatorState:
    state: SimulatorState = request.app.state.sim
    return state


def _iso(epoch_seconds: float | None) -> str | None:
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat() if epoch_seconds is not None else None


def task_view(state: SimulatorState, task: Task) -> dict[str, Any]:
    return {
        "taskId": task.task_id,
        "model": task.model.value,
        # The model named in the submit's body (Veo3's veo3 / veo3_fast, Flux's pro / max), if any.
        "requestedModel": task.params.get("model"),
        "nVariants": task.params.get("nVariants"),
        "prompt": task.prompt,
        "aspectRatio": task.aspect_ratio,
        "callbackUrl": task.callback_url,
        # Submits with this model and prompt: more than one means the same job was paid twice.
        "submissions": state.submissions_by_prompt[(task.model.value, task.prompt)],
        "statusChecks": task.status_checks,
        "maxConcurrentChecks": task.max_concurrent_checks,
        "state": task.outcome.value if task.outcome else "generating",
        "errorCode": task.error_code,
        "resultUrls": task.result_urls,
        "callbacksSent": task.callbacks_sent,
        # The input images KIE fetched (Flux inputImage, 4o filesUrl): url, ok, status, contentType, bytes, sha256.
        "inputs": task.inputs,
        "createdAt": _iso(task.created_at),
        "finishedAt": _iso(task.finished_at),
    }


@router.get("/tasks")
async def tasks(request: Request) -> list[dict[str, Any]]:
    state = _state(request)
    return [task_view(state, task) for task in state.tasks.values()]


@router.get("/tasks/{task_id}")
async def task(task_id: str, request: Request) -> dict[str, Any]:
    state = _state(request)
    found = state.tasks.get(task_id)
    if found is None:
        raise HTTPException(404, "no such task")
    return task_view(state, found)


@router.get("/gemini/calls")
async def gemini_calls(request: Request) -> list[dict[str, Any]]:
    """Recent Gemini calls, newest last: prompt, aspectRatio and inlineImages (mimeType, bytes, sha256)."""
    return list(_state(request).gemini_calls)


@router.get("/stats")
async def stats(request: Request) -> dict[str, Any]:
    state = _state(request)
    counters = state.stats
    return {
        "submissions": counters.submissions,
        "tasksCreated": counters.tasks_created,
        "tasks": len(state.tasks),
        "rateLimited": counters.rate_limited,
        "statusChecks": counters.status_checks,
        "callbacksSent": counters.callbacks_sent,
        "callbacksDelivered": counters.callbacks_delivered,
        "callbacksFailed": counters.callbacks_failed,
        "geminiRequests": counters.gemini_requests,
        "openaiRequests": counters.openai_requests,
        "openaiInFlight": counters.openai_in_flight,
        "openaiMaxInFlight": counters.openai_max_in_flight,
        "filesServed": counters.files_served,
        "files": len(state.files),
        "credits": round(state.credits, 2),
        # The provider's side of the cost ledger, to reconcile ours with.
        "billed": {
            "kieCreditsByModel": dict(counters.kie_credits_by_model),
            "kieOtherCredits": counters.kie_other_credits,
            "geminiInputTokens": counters.gemini_input_tokens,
            "geminiOutputTokens": counters.gemini_output_tokens,
            "openaiInputTokens": counters.openai_input_tokens,
            "openaiOutputTokens": counters.openai_output_tokens,
        },
        "submitOutcomes": dict(counters.submit_outcomes),
        "duplicateSubmissions": sum(count - 1 for count in state.submissions_by_prompt.values() if count > 1),
    }


@router.get("/submissions")
async def submissions(request: Request) -> list[dict[str, Any]]:
    """KIE submits per (model, prompt), refused ones included: with one prompt per job, a job's submits."""
    counts = _state(request).submissions_by_prompt
    return [{"model": model, "prompt": prompt, "count": count} for (model, prompt), count in counts.items()]


def request_view(record: RequestRecord) -> dict[str, Any]:
    try:
        body: Any = json.loads(record.body) if record.body else None
    except (ValueError, UnicodeDecodeError):
        body = record.body[:300].decode("utf-8", errors="replace")
    view: dict[str, Any] = {
        "api": record.api,
        "method": record.method,
        "path": record.path,
        "query": record.query,
        "status": record.status,
        "at": _iso(record.at),
        "body": shorten(body),
    }
    if record.api == "openai" and isinstance(body, dict) and isinstance(body.get("messages"), list):
        view["systemPrompt"], view["userText"], view["images"] = read_messages(body["messages"])
    return view


@router.get("/requests")
async def requests(request: Request, api: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The most recent calls, newest last; `api` is kie, gemini, openai or files."""
    records = [record for record in _state(request).requests if api is None or record.api == api]
    return [request_view(record) for record in records[-limit:]]


@router.get("/config")
async def get_config(request: Request) -> dict[str, Any]:
    return _state(request).config.model_dump(mode="json")


@router.post("/config")
async def set_config(request: Request) -> Response:
    """A partial update, e.g. {"time_scale": 0.01, "fail_next": {"openai": {"fault": "500", "count": 2}}}."""
    state = _state(request)
    try:
        patch = await request.json()
        if not isinstance(patch, dict):
            raise ValueError("expected a JSON object")
        updated = SimulatorConfig.model_validate({**state.config.model_dump(), **patch})
    except (ValueError, ValidationError) as exc:
        raise HTTPException(422, str(exc)) from exc
    if "initial_credits" in patch:
        state.credits = updated.initial_credits
    state.config = updated
    return Response(json.dumps(updated.model_dump(mode="json")), media_type="application/json")


@router.post("/kie/charge")
async def kie_charge(request: Request) -> dict[str, Any]:
    """Take credits from the KIE balance with no task to show for them, e.g. {"credits": 25}: the
    account charged for something our ledger cannot know (another client of the key, a price change)."""
    state = _state(request)
    try:
        body = await request.json()
        credits = float(body["credits"])
        if credits <= 0:
            raise ValueError("credits must be positive")
    except (ValueError, KeyError, TypeError) as exc:
        raise HTTPException(422, f"expected {{'credits': <positive number>}}: {exc}") from exc
    state.credits -= credits
    state.stats.kie_other_credits += credits
    return {"credits": round(state.credits, 2), "charged": credits}


@router.post("/reset")
async def reset(request: Request) -> dict[str, str]:
    """Back to the state at start: no tasks, files, counters, requests, and the start-up config."""
    _state(request).reset()
    return {"status": "reset"}


@router.post("/forget")
async def forget(request: Request) -> dict[str, str]:
    """Drop tasks and files, so every result URL handed out so far answers 404."""
    _state(request).forget()
    return {"status": "forgotten"}
