"""Input images a KIE task must fetch itself (Flux Kontext `inputImage`, 4o Image `filesUrl`).

KIE downloads them from the URLs it was given; one that does not answer 200 with an image fails
the task with code 451 ("Failed to fetch the image"), which is how a caller learns that its link
was unreachable or expired. Each fetch is kept on the task for tests to see (GET /_admin/tasks).
"""

import hashlib
from typing import Any

import httpx

from .state import KieModel, SimulatorState, Task

_FETCH_TIMEOUT_SECONDS = 15.0


def input_urls(model: KieModel, params: dict[str, Any]) -> list[str]:
    if model is KieModel.FLUX_KONTEXT:
        value = params.get("inputImage")
        return [value] if isinstance(value, str) and value else []
    if model is KieModel.GPT4O_IMAGE:
        files = params.get("filesUrl")
        return [url for url in files if isinstance(url, str) and url] if isinstance(files, list) else []
    return []


async def fetch_inputs(state: SimulatorState, task: Task) -> None:
    """Fetch every input of `task` once, recording what each answered; then let the task finish."""
    try:
        async with httpx.AsyncClient(timeout=_FETCH_TIMEOUT_SECONDS) as http:
            task.inputs = [await _fetch(http, url) for url in input_urls(task.model, task.params)]
    finally:
        task.inputs_fetched.set()


async def _fetch(http: httpx.AsyncClient, url: str) -> dict[str, Any]:
    try:
        response = await http.get(url)
    except httpx.HTTPError as exc:
        return {"url": url, "ok": False, "status": None, "error": f"{type(exc).__name__}: {exc}"}
    content_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return {
        "url": url,
        "ok": response.status_code == 200 and content_type.startswith("image/"),
        "status": response.status_code,
        "contentType": content_type or None,
        "bytes": len(response.content),
        "sha256": hashlib.sha256(response.content).hexdigest(),
    }


def inputs_unreadable(task: Task) -> bool:
    return any(not fetched["ok"] for fetched in task.inputs or [])
