"""KIE.ai's endpoints: submit, record-info, credit and download-url, with their faults."""

import asyncio
import json
import secrets
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from .kie_payloads import CODE_MESSAGES, envelope, record_data
from .lifecycle import create_task, finish
from .markers import Fault, Markers
from .state import KieModel, SimulatorState, Task

router = APIRouter()

# What each task costs in KIE credits (roughly KIE's prices), taken at submit.
_COSTS = {KieModel.VEO3: 60.0, KieModel.GPT4O_IMAGE: 6.0, KieModel.FLUX_KONTEXT: 5.0}
_ASPECT_RATIOS = {
    KieModel.VEO3: ("16:9", "9:16", "Auto"),
    KieModel.GPT4O_IMAGE: ("1:1", "3:2", "2:3"),
    KieModel.FLUX_KONTEXT: ("21:9", "16:9", "4:3", "1:1", "3:4", "9:16"),
}
_DEFAULT_ASPECT_RATIOS = {KieModel.VEO3: "16:9", KieModel.FLUX_KONTEXT: "16:9"}

_CDN_BLOCK_PAGE = "<html><head><title>403 Forbidden</title></head><body>error code: 1010</body></html>"
_BAD_GATEWAY_PAGE = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"


def sim(request: Request) -> SimulatorState:
    state: SimulatorState = request.app.state.sim
    return state


def bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def kie_json(
    code: int, msg: str, data: Any = None, *, http_status: int = 200, variants: frozenset[str] = frozenset()
) -> JSONResponse:
    return JSONResponse(envelope(code, msg, data, variants=variants), status_code=http_status)


def unauthorized() -> JSONResponse:
    return kie_json(401, CODE_MESSAGES[401], http_status=401)


async def _json_body(request: Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _register_submit(path: str, model: KieModel) -> None:
    async def submit(request: Request) -> Response:
        return await _submit(request, model)

    router.add_api_route(path, submit, methods=["POST"], name=f"submit {model}")


def _register_record_info(path: str, model: KieModel) -> None:
    async def record_info(request: Request) -> Response:
        return await _record_info(request, model)

    router.add_api_route(path, record_info, methods=["GET"], name=f"record-info {model}")


async def _submit(request: Request, model: KieModel) -> Response:
    state = sim(request)
    state.stats.submissions += 1
    account = bearer(request)
    if account is None:
        state.stats.submit_outcomes["401"] += 1
        return unauthorized()
    body = await _json_body(request)
    if body is None:
        state.stats.submit_outcomes["422"] += 1
        return kie_json(422, "Request body must be a JSON object.")
    prompt = str(body.get("prompt") or "")
    state.submissions_by_prompt[(model.value, prompt)] += 1
    fault = state.faults.pick(state.config, "submit", Markers.parse(prompt), f"{model}:{prompt}")
    if fault is not None:
        response = await _submit_fault(state, fault, model, account, body)
        if response is not None:
            return response
    if not state.rate_limiter.admit(
        account, state.config.rate_limit_submissions, state.config.rate_limit_window_seconds
    ):
        state.stats.rate_limited += 1
        state.stats.submit_outcomes["429"] += 1
        return kie_json(429, CODE_MESSAGES[429], http_status=429)
    problem = _validate(model, body)
    if problem is not None:
        code, message = problem
        state.stats.submit_outcomes[str(code)] += 1
        return kie_json(code, message)
    if state.credits < _COSTS[model]:
        state.stats.submit_outcomes["402"] += 1
        return kie_json(402, CODE_MESSAGES[402])
    task = _accept(state, model, account, body)
    state.stats.submit_outcomes["200"] += 1
    return kie_json(200, "success", {"taskId": task.task_id})


def _aspect_ratio(model: KieModel, body: dict[str, Any]) -> str | None:
    # Older docs spell it aspectRatio, newer aspect_ratio; 4o Image calls it size.
    key_order = ("size",) if model is KieModel.GPT4O_IMAGE else ("aspectRatio", "aspect_ratio")
    for key in key_order:
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
    return _DEFAULT_ASPECT_RATIOS.get(model)


def _validate(model: KieModel, body: dict[str, Any]) -> tuple[int, str] | None:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        # Flux once answered a missing field with 500 "This field is required" (seen live).
        return (500, "This field is required") if model is KieModel.FLUX_KONTEXT else (422, "prompt is required")
    aspect_ratio = _aspect_ratio(model, body)
    if aspect_ratio is None:
        return 422, "size is required"
    if aspect_ratio not in _ASPECT_RATIOS[model]:
        return 422, f"Unsupported aspect ratio: {aspect_ratio}"
    return None


def _accept(state: SimulatorState, model: KieModel, account: str, body: dict[str, Any]) -> Task:
    state.credits -= _COSTS[model]
    spent = state.stats.kie_credits_by_model
    spent[model.value] = spent.get(model.value, 0.0) + _COSTS[model]
    return create_task(state, model, account, body, _aspect_ratio(model, body) or "16:9")


async def _submit_fault(
    state: SimulatorState, fault: Fault, model: KieModel, account: str, body: dict[str, Any]
) -> Response | None:
    """The response a submit fault calls for, or None to carry on normally."""
    outcomes = state.stats.submit_outcomes
    name = fault.name
    if name == "timeout":
        # Hold the request past the client's read timeout, then accept it anyway: the client
        # saw nothing, yet a paid task now exists. This is the ambiguous submit.
        outcomes["timeout"] += 1
        generation = state.generation
        await asyncio.sleep(state.config.hang_seconds)
        if state.generation != generation:
            return kie_json(500, "The simulator was reset meanwhile.")
        return None
    if name == "html":
        outcomes["html"] += 1
        return HTMLResponse(_CDN_BLOCK_PAGE, status_code=403)
    if name == "html502":
        outcomes["html502"] += 1
        return HTMLResponse(_BAD_GATEWAY_PAGE, status_code=502)
    if name in ("malformed", "no_task_id"):
        # The task is created; only the answer is broken.
        task = _accept(state, model, account, body)
        outcomes[name] += 1
        if name == "no_task_id":
            return kie_json(200, "success", {})
        truncated = json.dumps({"code": 200, "msg": "success", "data": {"taskId": task.task_id}})[:40]
        return Response(truncated, media_type="application/json")
    http_status = 200
    if name.startswith("http") and name[4:].isdigit():
        http_status = int(name[4:])
        name = name[4:]
    if name.isdigit():
        code = int(name)
        outcomes[str(code)] += 1
        if code == 429:
            state.stats.rate_limited += 1
        return kie_json(code, CODE_MESSAGES.get(code, "Error."), http_status=http_status)
    if name == "english":
        outcomes["400"] += 1
        return kie_json(400, "Only English prompts are supported.")
    return None


async def _record_info(request: Request, model: KieModel) -> Response:
    state = sim(request)
    state.stats.status_checks += 1
    if bearer(request) is None:
        return unauthorized()
    task_id = request.query_params.get("taskId", "")
    task = state.tasks.get(task_id)
    if task is None or task.model is not model:
        # KIE cannot tell "not yet" from "never": both read as recordInfo is null.
        return kie_json(422, "recordInfo is null")
    task.status_checks += 1
    task.checks_in_flight += 1
    task.max_concurrent_checks = max(task.max_concurrent_checks, task.checks_in_flight)
    try:
        if state.config.status_latency_seconds:
            await asyncio.sleep(state.config.status_latency_seconds)
        return await _answer_record_info(state, task)
    finally:
        task.checks_in_flight -= 1


async def _answer_record_info(state: SimulatorState, task: Task) -> Response:
    fault = state.faults.pick(state.config, "status", task.markers, task.task_id)
    if fault is not None:
        response = _status_fault(fault, task.status_checks)
        if response is not None:
            return response
    if task.due and not task.lock.locked():
        # Finish it now if nobody is; while the timer is finishing it (rendering the media: the first
        # video clip is encoded on first use, seconds on a loaded machine) the answer is "generating",
        # as a real provider answers a status call at once instead of holding it.
        await finish(state, task)
    variants = task.markers.all("variant")
    return kie_json(200, "success", record_data(task, variants), variants=variants)


def _status_fault(fault: Fault, check_number: int) -> Response | None:
    name = fault.name
    if name == "null":
        # Both ways KIE says "not there yet", alternating.
        return kie_json(200, "success", None) if check_number % 2 else kie_json(422, "recordInfo is null")
    if name == "recordnull":
        return kie_json(422, "recordInfo is null")
    if name == "datanull":
        return kie_json(200, "success", None)
    if name == "html":
        return HTMLResponse(_BAD_GATEWAY_PAGE, status_code=502)
    if name == "malformed":
        return Response('{"code": 200, "msg": "success", "data": {"taskId', media_type="application/json")
    if name.isdigit():
        code = int(name)
        # Server errors come with a matching HTTP status; the rest inside an HTTP 200.
        return kie_json(code, CODE_MESSAGES.get(code, "Error."), http_status=code if code >= 500 else 200)
    return None


@router.get("/api/v1/chat/credit")
async def credit(request: Request) -> Response:
    if bearer(request) is None:
        return unauthorized()
    return kie_json(200, "success", round(sim(request).credits, 2))


@router.post("/api/v1/gpt4o-image/download-url")
async def download_url(request: Request) -> Response:
    state = sim(request)
    if bearer(request) is None:
        return unauthorized()
    body = await _json_body(request) or {}
    task = state.tasks.get(str(body.get("taskId", "")))
    url = str(body.get("url", ""))
    if task is None or url not in task.result_urls:
        return kie_json(422, "The task or its url was not found.")
    stored = state.files.get(url.rsplit("/", 1)[-1])
    if stored is None:
        return kie_json(404, "The file has expired.")
    link = state.files.put(stored.data, stored.content_type, state.config.download_link_ttl_seconds)
    return kie_json(200, "success", f"{state.config.base_url()}/files/{link.name}?token={secrets.token_hex(8)}")


_register_submit("/api/v1/veo/generate", KieModel.VEO3)
_register_submit("/api/v1/gpt4o-image/generate", KieModel.GPT4O_IMAGE)
_register_submit("/api/v1/flux/kontext/generate", KieModel.FLUX_KONTEXT)
_register_record_info("/api/v1/veo/record-info", KieModel.VEO3)
_register_record_info("/api/v1/gpt4o-image/record-info", KieModel.GPT4O_IMAGE)
_register_record_info("/api/v1/flux/kontext/record-info", KieModel.FLUX_KONTEXT)
