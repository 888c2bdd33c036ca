"""The whole system as separate processes over real NATS JetStream and Postgres."""

import time
from typing import Any

import httpx
import pytest

from gateway.auth import mint_token

from ..support.services import TEST_JWT_SECRET
from .conftest import Processes

pytestmark = pytest.mark.e2e

AUTH = {"Authorization": f"Bearer {mint_token(TEST_JWT_SECRET, 'e2e-user')}"}


def _wait_finished(gateway: str, asset_id: str, within: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        asset = httpx.get(f"{gateway}/api/ai/media/{asset_id}", headers=AUTH).json()
        if asset["status"] != "processing":
            return asset  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError(f"still processing after {within}s")


def test_a_request_becomes_a_ready_asset_through_five_services(system_processes: tuple[Processes, str, str]) -> None:
    _, gateway, _ = system_processes
    body = {"prompt": "A serene mountain landscape at sunset", "provider": "kie-4o-image", "type": "image"}
    created = httpx.post(f"{gateway}/api/ai/generate-media", json=body, headers=AUTH)
    assert created.status_code == 202, created.text
    asset = _wait_finished(gateway, created.json()["id"])
    assert asset["status"] == "ready", asset
    assert httpx.get(asset["resultUrl"]).status_code == 200


def test_a_generator_killed_after_submitting_never_submits_twice(system_processes: tuple[Processes, str, str]) -> None:
    processes, gateway, simulator = system_processes
    body = {"prompt": "A lighthouse at night, long exposure", "provider": "kie-veo3", "type": "video"}
    created = httpx.post(f"{gateway}/api/ai/generate-media", json=body, headers=AUTH).json()
    deadline = time.monotonic() + 30
    while httpx.get(f"{simulator}/_admin/stats").json()["submissions"] < 1:
        assert time.monotonic() < deadline, "the generator never submitted"
        time.sleep(0.01)
    processes.kill("generator")
    processes.start("generator")
    asset = _wait_finished(gateway, created["id"])
    assert asset["status"] in ("ready", "error")
    assert httpx.get(f"{simulator}/_admin/stats").json()["submissions"] == 1


def test_sigterm_during_in_flight_work_loses_nothing_and_duplicates_nothing(
    system_processes: tuple[Processes, str, str],
) -> None:
    processes, gateway, simulator = system_processes
    ids = []
    for n in range(6):
        body = {"prompt": f"A paper boat on a river, take {n}", "provider": "kie-veo3", "type": "video"}
        ids.append(httpx.post(f"{gateway}/api/ai/generate-media", json=body, headers=AUTH).json()["id"])
    for name in ("generator", "poller"):
        processes.stop(name)
    for name in ("generator", "poller"):
        processes.start(name)
    assets = [_wait_finished(gateway, asset_id) for asset_id in ids]
    assert [asset["status"] for asset in assets] == ["ready"] * 6
    assert httpx.get(f"{simulator}/_admin/stats").json()["submissions"] == 6
