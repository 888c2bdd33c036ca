"""A whole run's process logs hold no token, signature, ticket or key that the run used."""

import time
from uuid import UUID

import httpx
import pytest

from aistudio_providers import callback_token
from gateway.auth import mint_token

from ..support.services import TEST_JWT_SECRET
from .conftest import E2E_CALLBACK_SIGNING_KEY, E2E_LATE_WEBHOOK_SECRET, E2E_MEDIA_SIGNING_KEY, Processes

pytestmark = pytest.mark.e2e

TOKEN = mint_token(TEST_JWT_SECRET, "log-reader")
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _logs(processes: Processes) -> str:
    return "\n".join(path.read_text(errors="replace") for path in processes.log_dir.glob("*.log"))


def _wait_for(condition: str, check: object, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{condition} within {within} s"
        time.sleep(0.2)


def test_no_secret_used_in_a_run_appears_in_any_process_log(system_processes: tuple[Processes, str, str]) -> None:
    processes, gateway, _ = system_processes
    ticket = httpx.post(f"{gateway}/api/ai/media/events/ticket", headers=AUTH).json()["ticket"]
    with httpx.stream("GET", f"{gateway}/api/ai/media/events", params={"ticket": ticket}, timeout=30) as stream:
        assert stream.status_code == 200
        body = {"prompt": "A red kite over a green hill", "provider": "kie-4o-image", "type": "image"}
        created = httpx.post(f"{gateway}/api/ai/generate-media", json=body, headers=AUTH)
        assert created.status_code == 202, created.text
        asset_id = created.json()["id"]
        for line in stream.iter_lines():
            if line.startswith("event: asset"):
                break

    def ready() -> bool:
        status = httpx.get(f"{gateway}/api/ai/media/{asset_id}", headers=AUTH).json()["status"]
        return bool(status != "processing")

    _wait_for("the asset finished", ready)
    asset = httpx.get(f"{gateway}/api/ai/media/{asset_id}", headers=AUTH).json()
    assert asset["status"] == "ready", asset
    link = httpx.URL(asset["resultUrl"])
    assert httpx.get(link).status_code == 200
    signature = link.params["signature"]
    token = callback_token(E2E_CALLBACK_SIGNING_KEY, UUID(asset_id))
    # KIE's callback came in (its path carries the token): the access log shows it, redacted.
    _wait_for("the KIE callback was logged", lambda: f"/api/providers/kie/callback/{asset_id}/" in _logs(processes))
    # A second use of the ticket is refused, and logged like any request.
    assert httpx.get(f"{gateway}/api/ai/media/events", params={"ticket": ticket}).status_code == 401

    logs = _logs(processes)
    assert "/media/events?ticket=[redacted]" in logs  # the access log did record the stream
    for name, secret in {
        "bearer token": TOKEN,
        "stream ticket": ticket,
        "media link signature": signature,
        "callback token": token,
        "JWT secret": TEST_JWT_SECRET,
        "media signing key": E2E_MEDIA_SIGNING_KEY,
        "callback signing key": E2E_CALLBACK_SIGNING_KEY,
        "Late webhook secret": E2E_LATE_WEBHOOK_SECRET,
    }.items():
        assert secret not in logs, f"the {name} is in the logs"
