"""The poller's status calls over aiohttp's pool (poller/http.py): the same answers as httpx's own
stack from the simulator, and httpx's exceptions for network failures, so that KieClient classifies
a refused connection and a timeout as it always did."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from aistudio_contracts import Provider
from aistudio_providers import KieClient, ProviderError
from poller.http import AiohttpTransport

from ..support.simulator import SimulatorAdmin, free_port
from .conftest import poller_settings, submit, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
async def kie_over_aiohttp(simulator: SimulatorAdmin, database_url: str, media_dir: Path) -> AsyncIterator[KieClient]:
    settings = poller_settings(database_url, simulator.url, media_dir)
    async with KieClient.from_settings(settings, transport=AiohttpTransport(4)) as client:
        yield client


async def test_a_status_over_aiohttp_reads_as_over_httpx_own_stack(kie: KieClient, kie_over_aiohttp: KieClient) -> None:
    task_id = await submit(kie)
    pending = await kie_over_aiohttp.status(Provider.KIE_4O_IMAGE, task_id)
    assert pending.task_id == task_id

    async def finished() -> bool:
        return (await kie_over_aiohttp.status(Provider.KIE_4O_IMAGE, task_id)).finished

    await wait_for(finished, "the task to finish, read over aiohttp")
    ours = await kie_over_aiohttp.status(Provider.KIE_4O_IMAGE, task_id)
    theirs = await kie.status(Provider.KIE_4O_IMAGE, task_id)
    assert ours == theirs and ours.result_urls


async def test_concurrent_checks_share_the_pool_and_all_get_their_answer(
    kie: KieClient, kie_over_aiohttp: KieClient
) -> None:
    task_ids = [await submit(kie, f"A lighthouse, take {i}") for i in range(3)]
    statuses = await asyncio.gather(
        *[kie_over_aiohttp.status(Provider.KIE_4O_IMAGE, task_ids[i % 3]) for i in range(24)]
    )
    assert [status.task_id for status in statuses] == [task_ids[i % 3] for i in range(24)]


async def test_a_refused_connection_is_httpx_connect_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/api/v1/gpt4o-image/record-info"
    async with httpx.AsyncClient(transport=AiohttpTransport(2)) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(url, params={"taskId": "x"})


async def test_a_status_call_to_nobody_is_a_provider_error_not_a_crash() -> None:
    async with KieClient("key", base_url=f"http://127.0.0.1:{free_port()}", transport=AiohttpTransport(2)) as client:
        with pytest.raises(ProviderError):
            await client.status(Provider.KIE_4O_IMAGE, "x")


async def test_a_server_that_never_answers_is_httpx_read_timeout() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # reads nothing, answers nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        # The read timeout is what is tested, not how long the test takes: it only has to end.
        timeout = httpx.Timeout(30.0, read=1.0)
        async with httpx.AsyncClient(transport=AiohttpTransport(2), timeout=timeout) as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.get(f"http://127.0.0.1:{port}/api/v1/gpt4o-image/record-info")
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
