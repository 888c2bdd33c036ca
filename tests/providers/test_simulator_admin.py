"""The simulator's admin API and command line, which tests and benchmarks rely on."""

import asyncio
import os
import subprocess
import sys
import time

import httpx
import pytest

from aistudio_contracts import Provider
from aistudio_providers import KieClient, KieSubmit, TaskState

from ..support.simulator import SimulatorAdmin, free_port, wait_until_finished


async def test_tasks_show_submissions_status_checks_and_timestamps(kie: KieClient, simulator: SimulatorAdmin) -> None:
    task_id = await kie.submit(Provider.KIE_VEO3, KieSubmit("A train crossing a bridge", "16:9"))
    await wait_until_finished(kie, Provider.KIE_VEO3, task_id)

    [task] = simulator.tasks()

    assert task["taskId"] == task_id
    assert task["model"] == "veo3"
    assert task["prompt"] == "A train crossing a bridge"
    assert task["submissions"] == 1
    assert task["statusChecks"] >= 1
    assert task["state"] == "success"
    assert task["createdAt"] <= task["finishedAt"]


async def test_the_same_job_submitted_twice_shows_as_a_duplicate(kie: KieClient, simulator: SimulatorAdmin) -> None:
    for _ in range(2):
        await kie.submit(Provider.KIE_4O_IMAGE, KieSubmit("A twin", "1:1"))

    assert simulator.stats()["duplicateSubmissions"] == 1
    assert {task["submissions"] for task in simulator.tasks()} == {2}


async def test_requests_can_be_filtered_by_api(kie: KieClient, simulator: SimulatorAdmin) -> None:
    await kie.submit(Provider.KIE_4O_IMAGE, KieSubmit("A lantern", "1:1"))
    await kie.credits()

    kie_requests = simulator.requests("kie")

    assert [request["path"] for request in kie_requests] == ["/api/v1/gpt4o-image/generate", "/api/v1/chat/credit"]
    assert kie_requests[0]["status"] == 200
    assert simulator.requests("openai") == []


async def test_timing_can_be_changed_at_run_time(kie: KieClient, simulator: SimulatorAdmin) -> None:
    simulator.configure(gpt4o_image_seconds=60)

    task_id = await kie.submit(Provider.KIE_4O_IMAGE, KieSubmit("A glacier moving", "1:1"))

    await asyncio.sleep(0.3)  # longer than the 0.15 s the folder's config gives 4o Image
    assert (await kie.status(Provider.KIE_4O_IMAGE, task_id)).state is TaskState.PENDING


async def test_default_faults_can_be_configured_for_every_call(kie: KieClient, simulator: SimulatorAdmin) -> None:
    simulator.configure(faults={"result": "fail"})

    task_id = await kie.submit(Provider.KIE_4O_IMAGE, KieSubmit("Any prompt at all", "1:1"))

    assert (await wait_until_finished(kie, Provider.KIE_4O_IMAGE, task_id)).state is TaskState.FAILED


def test_an_invalid_config_change_is_refused(simulator: SimulatorAdmin) -> None:
    response = httpx.post(f"{simulator.url}/_admin/config", json={"time_scale": "fast"})

    assert response.status_code == 422


async def test_reset_clears_tasks_files_and_counters(kie: KieClient, simulator: SimulatorAdmin) -> None:
    simulator.configure(time_scale=0.5)
    await kie.submit(Provider.KIE_4O_IMAGE, KieSubmit("A sandcastle", "1:1"))

    simulator.reset()

    stats = simulator.stats()
    assert (stats["submissions"], stats["tasks"], stats["files"]) == (0, 0, 0)
    assert simulator.configure()["time_scale"] == 1.0


def test_the_command_line_starts_a_simulator_configured_from_the_environment() -> None:
    port = free_port()
    environment = {**os.environ, "SIMULATOR_TIME_SCALE": "0.25", "SIMULATOR_PUBLIC_URL": "http://sim.test"}
    command = [sys.executable, "-m", "provider_simulator", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        config = _wait_for_config(f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(timeout=10)

    assert config["time_scale"] == 0.25
    assert config["public_url"] == "http://sim.test"
    assert config["port"] == port


def _wait_for_config(url: str) -> dict[str, object]:
    deadline = time.monotonic() + 60  # a Python process importing the simulator, on a loaded machine
    while time.monotonic() < deadline:
        try:
            return dict(httpx.get(f"{url}/_admin/config").json())
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail("the simulator did not start")
