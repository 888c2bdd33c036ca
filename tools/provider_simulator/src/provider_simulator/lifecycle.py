"""A KIE task from creation to its end: timing, media, failures and callbacks."""

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
import time
from typing import Any

import httpx

from .inputs import fetch_inputs, input_urls, inputs_unreadable
from .kie_payloads import CODE_MESSAGES, callback_body
from .markers import Markers, strip_markers
from .media import render_image
from .state import KieModel, Outcome, SimulatorState, Task

logger = logging.getLogger(__name__)

_MODEL_LABELS = {KieModel.VEO3: "Veo3", KieModel.GPT4O_IMAGE: "4o Image", KieModel.FLUX_KONTEXT: "Flux Kontext"}


def model_seconds(state: SimulatorState, model: KieModel) -> float:
    config = state.config
    seconds = {
        KieModel.VEO3: config.veo3_seconds,
        KieModel.GPT4O_IMAGE: config.gpt4o_image_seconds,
        KieModel.FLUX_KONTEXT: config.flux_kontext_seconds,
    }[model]
    return config.scaled(seconds)


def create_task(
    state: SimulatorState,
    model: KieModel,
    account: str,
    params: dict[str, Any],
    aspect_ratio: str,
) -> Task:
    prompt = str(params.get("prompt") or "")
    markers = Markers.parse(prompt)
    # A duration marker is absolute seconds, unscaled: the test that writes it means it.
    duration = markers.number("duration")
    callback_url = params.get("callBackUrl")
    task = Task(
        task_id=secrets.token_hex(16),
        model=model,
        account=account,
        prompt=prompt,
        params=params,
        aspect_ratio=aspect_ratio,
        callback_url=callback_url if isinstance(callback_url, str) and callback_url else None,
        markers=markers,
        duration=duration if duration is not None else model_seconds(state, model),
    )
    state.tasks[task.task_id] = task
    state.stats.tasks_created += 1
    if input_urls(model, params):
        state.spawn(fetch_inputs(state, task))
    else:
        task.inputs_fetched.set()
    state.spawn(_finish_when_due(state, task))
    return task


async def _finish_when_due(state: SimulatorState, task: Task) -> None:
    await asyncio.sleep(task.duration)
    await finish(state, task)


async def finish(state: SimulatorState, task: Task) -> None:
    """End the task once (a status check and the timer may race to do it)."""
    async with task.lock:
        if task.finished_at is not None or state.tasks.get(task.task_id) is not task:
            return
        await task.inputs_fetched.wait()  # an input image that could not be fetched fails the task
        fault = state.faults.pick(state.config, "result", task.markers, task.task_id)
        if inputs_unreadable(task):
            _fail(task, "image")
        elif fault is None or fault.name == "no_urls":
            await _succeed(state, task, with_urls=fault is None)
        elif fault.name == "unknown_state":
            task.outcome, task.raw_flag = Outcome.FAILED, 7
        else:
            _fail(task, fault.name)
        task.finished_at = time.time()
    _schedule_callbacks(state, task)


async def _succeed(state: SimulatorState, task: Task, *, with_urls: bool) -> None:
    # The outcome is set last: a status call answered while the media is still being rendered must
    # see the task generating, never a success without its results.
    config = state.config
    base = config.base_url()
    if not with_urls:
        task.outcome = Outcome.SUCCESS
        return
    if task.model is KieModel.VEO3:
        clip = await asyncio.to_thread(state.videos.clip, task.aspect_ratio)
        stored = state.files.put(clip, "video/mp4", config.file_ttl_seconds)
        task.result_urls = [f"{base}/files/{stored.name}"]
        task.outcome = Outcome.SUCCESS
        return
    output_format = str(task.params.get("outputFormat") or "jpeg") if task.model is KieModel.FLUX_KONTEXT else "png"
    content_type = "image/jpeg" if output_format in ("jpeg", "jpg") else "image/png"
    # 4o Image makes nVariants (1, 2 or 4) images in one task, each drawn apart.
    variants = task.params.get("nVariants") if task.model is KieModel.GPT4O_IMAGE else 1
    count = variants if variants in (1, 2, 4) else 1
    task.result_urls = []
    for index in range(count):
        label = _MODEL_LABELS[task.model] + (f" #{index + 1}" if count > 1 else "")
        image = await asyncio.to_thread(
            render_image, strip_markers(task.prompt), task.aspect_ratio, output_format, label
        )
        stored = state.files.put(image, content_type, config.file_ttl_seconds)
        task.result_urls.append(f"{base}/files/{stored.name}")
    if task.model is KieModel.FLUX_KONTEXT:
        origin = state.files.put(image, content_type, config.origin_file_ttl_seconds)
        task.origin_urls = [f"{base}/files/{origin.name}"]
    task.outcome = Outcome.SUCCESS


_RESULT_FAULTS: dict[str, tuple[int, str]] = {
    "content_policy": (400, CODE_MESSAGES[400]),
    "english": (400, "Only English prompts are supported."),
    "image": (451, CODE_MESSAGES[451]),
    "fail": (501, CODE_MESSAGES[501]),
    # 4o Image reports many moderation refusals with nothing but this.
    "internal_error": (500, "Internal Error"),
    "create_failed": (422, "Create task failed."),
    "timeout": (408, CODE_MESSAGES[408]),
}


def _fail(task: Task, fault: str) -> None:
    task.outcome = Outcome.FAILED
    task.error_code, task.error_message = _RESULT_FAULTS.get(fault, _RESULT_FAULTS["fail"])


def _schedule_callbacks(state: SimulatorState, task: Task) -> None:
    if task.callback_url is None:
        return
    fault = state.faults.pick(state.config, "callback", task.markers, task.task_id)
    if fault is not None and fault.name == "none":
        return
    copies = 2 if fault is not None and fault.name == "twice" else 1
    state.spawn(_deliver(state, task, copies))


async def _deliver(state: SimulatorState, task: Task, copies: int) -> None:
    assert task.callback_url is not None
    body = callback_body(task, task.markers.all("variant"))
    async with httpx.AsyncClient(timeout=state.config.callback_timeout_seconds) as http:
        for _ in range(copies):
            await _post_with_retries(state, http, task, body)


async def _post_with_retries(state: SimulatorState, http: httpx.AsyncClient, task: Task, body: Any) -> None:
    config = state.config
    for attempt in range(config.callback_attempts):
        headers = _signature_headers(config.callback_hmac_key, task.task_id)
        state.stats.callbacks_sent += 1
        task.callbacks_sent += 1
        try:
            response = await http.post(task.callback_url or "", json=body, headers=headers)
            if response.status_code == 200:
                state.stats.callbacks_delivered += 1
                return
        except httpx.HTTPError as exc:
            logger.info("callback to %s failed: %s", task.callback_url, exc)
        if attempt + 1 < config.callback_attempts:
            await asyncio.sleep(config.callback_retry_seconds)
    state.stats.callbacks_failed += 1


def _signature_headers(key: str | None, task_id: str) -> dict[str, str]:
    if not key:
        return {}
    timestamp = str(int(time.time()))
    digest = hmac.new(key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return {"X-Webhook-Timestamp": timestamp, "X-Webhook-Signature": base64.b64encode(digest).decode()}
