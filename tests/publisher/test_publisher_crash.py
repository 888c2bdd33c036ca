"""A publisher process SIGKILLed in the middle of a create: exactly one post at Late.

The gateway, usage and the simulator run in-process as in the other posting tests; the
publisher runs as a real process (as `make run` starts it), killed while Late is publishing the
post inside the create request, then started again.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import LATE_READ_TIMEOUT_SECONDS, WEBHOOK_SECRET, System

pytestmark = pytest.mark.e2e


def _publisher_process(system: System, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "NATS_URL": system.nats_url,
        "DATABASE_URL": system.database_url,
        "ENVIRONMENT": "development",
        "LATE_API_KEY": "sk_test_publisher",
        "LATE_BASE_URL": f"{system.late.url}/late/api/v1",
        "LATE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "PUBLIC_BASE_URL": system.gateway_url,
        "MEDIA_DIR": str(system.media_dir),
        # A create held for seconds: the lease must outlast no answer, and the recovery come soon.
        "LATE_PUBLISH_TIMEOUT_SECONDS": "30",
        "LATE_TIMEOUT_SECONDS": str(LATE_READ_TIMEOUT_SECONDS * 5),
        "POST_LEASE_SECONDS": "3",
        "POLL_MIN_SECONDS": "0.5",
        "POLL_MAX_SECONDS": "2",
        "LOG_LEVEL": "INFO",
    }
    handle = log.open("ab")
    return subprocess.Popen([sys.executable, "-m", "publisher"], env=env, stdout=handle, stderr=subprocess.STDOUT)


async def test_a_publisher_sigkilled_mid_create_leaves_exactly_one_post(system: System, tmp_path: Path) -> None:
    asset_id = await system.ready_asset("alice")
    log = tmp_path / "publisher.log"
    first = _publisher_process(system, log)
    try:
        # Started once it answers for the accounts (the gateway asks it over NATS).
        await system.wait_for(
            lambda: system.api.get("/api/social/accounts", headers=system.auth("alice")),
            lambda body: bool(body.get("accounts")),
            within=60,
        )
        created = (await system.post("alice", asset_id, caption="Kill me [sim:publish_seconds=6]"))["post"]
        # Late has the post and is publishing it inside the create request when the publisher dies.
        await system.wait_for(
            lambda: _answer(system.late.posts_for(created["id"])), lambda found: bool(found["posts"]), within=60
        )
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        second = _publisher_process(system, log)
        try:
            post = await system.wait_post("alice", created["id"], "published", within=90)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(30)
    except BaseException:
        print(log.read_text()[-4000:])
        raise
    finally:
        if first.poll() is None:
            first.kill()
    at_late = system.late.posts_for(created["id"])
    assert len(at_late) == 1, at_late
    assert at_late[0]["creates"] == 1  # found by its metadata, not created again
    assert post["platforms"][0]["url"]


class _Answer:
    status_code = 200

    def __init__(self, body: dict[str, object]) -> None:
        self._body = body

    def json(self) -> dict[str, object]:
        return self._body


async def _answer(posts: list[dict[str, object]]) -> _Answer:
    return _Answer({"posts": posts})
