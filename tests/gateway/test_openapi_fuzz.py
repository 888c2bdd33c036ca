"""Schemathesis drives every operation of the OpenAPI document: no input, however odd, gets a 5xx."""

import asyncio
import sys
from pathlib import Path

import pytest

from .conftest import Api

pytestmark = pytest.mark.integration


async def test_no_generated_request_gets_a_server_error(api: Api, tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{api.base_url}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--header",
        f"Authorization: Bearer {api.token('fuzzer')}",
        "--max-examples",
        "25",
        "--seed",
        "20261122",
        "--workers",
        "2",
        "--request-timeout",
        "10",
        # The event stream never ends by design; the stream is covered by its own tests.
        "--exclude-path",
        "/api/ai/media/events",
        "--report-dir",
        str(tmp_path),
    ]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=240)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-6000:]
    print(text[-1500:])
