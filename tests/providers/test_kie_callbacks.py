"""Callback URLs carry an unguessable token; KIE's optional signature is checked; delivery is a hint."""

import json
import time
from uuid import uuid4

import pytest

from aistudio_contracts import Provider
from aistudio_providers import (
    KieClient,
    KieSubmit,
    TaskState,
    callback_token,
    callback_url,
    kie_signature,
    parse_callback,
    verify_callback_token,
    verify_kie_signature,
)
from aistudio_runtime.settings import KieCallbackSettings

from ..support.simulator import CALLBACK_HMAC_KEY, CallbackReceiver, wait_until_finished

SECRET = "callback-secret-for-tests"


def test_a_callback_token_verifies_for_its_own_asset_only() -> None:
    asset, other = uuid4(), uuid4()
    token = callback_token(SECRET, asset)

    assert verify_callback_token(SECRET, asset, token)
    assert not verify_callback_token(SECRET, other, token)
    assert not verify_callback_token("another-secret", asset, token)
    assert not verify_callback_token(SECRET, asset, token[:-1])
    assert not verify_callback_token(SECRET, asset, "ünïcode-token")


def test_a_callback_token_is_url_safe_and_long_enough_to_be_unguessable() -> None:
    token = callback_token(SECRET, uuid4())

    assert len(token) >= 43
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_the_callback_url_carries_asset_and_token_under_the_gateway_path() -> None:
    asset = uuid4()
    token = callback_token(SECRET, asset)

    url = callback_url("https://studio.example/", asset, token)

    assert url == f"https://studio.example/api/providers/kie/callback/{asset}/{token}"


def test_a_kie_signature_verifies_within_the_allowed_clock_skew() -> None:
    now = time.time()
    timestamp = str(int(now))
    signature = kie_signature("webhook-key", "task-1", timestamp)

    assert verify_kie_signature("webhook-key", "task-1", timestamp, signature, now=now)
    assert not verify_kie_signature("webhook-key", "task-2", timestamp, signature, now=now)
    assert not verify_kie_signature("other-key", "task-1", timestamp, signature, now=now)
    assert not verify_kie_signature("webhook-key", "task-1", timestamp, signature, now=now + 301)
    assert not verify_kie_signature("webhook-key", "task-1", "yesterday", signature, now=now)
    assert not verify_kie_signature("webhook-key", "task-1", None, signature, now=now)


@pytest.mark.parametrize(
    ("provider", "aspect_ratio"),
    [(Provider.KIE_VEO3, "16:9"), (Provider.KIE_4O_IMAGE, "1:1"), (Provider.KIE_FLUX_KONTEXT, "1:1")],
)
async def test_the_simulator_posts_a_signed_callback_that_reads_as_the_tasks_outcome(
    kie: KieClient, callbacks: CallbackReceiver, provider: Provider, aspect_ratio: str
) -> None:
    asset = uuid4()
    url = callback_url(callbacks.url, asset, callback_token(SECRET, asset))
    task_id = await kie.submit(provider, KieSubmit("A carrier pigeon", aspect_ratio, callback_url=url))

    received = callbacks.wait_for(1)

    path, headers, body = received[0]
    assert path.endswith(f"/{asset}/{callback_token(SECRET, asset)}")
    assert verify_kie_signature(
        CALLBACK_HMAC_KEY, task_id, headers["x-webhook-timestamp"], headers["x-webhook-signature"]
    )
    hint = parse_callback(provider, body)
    assert (hint.task_id, hint.state) == (task_id, TaskState.SUCCEEDED)
    status = await wait_until_finished(kie, provider, task_id)
    assert hint.result_urls == status.result_urls


async def test_a_failed_task_calls_back_with_its_error_code(kie: KieClient, callbacks: CallbackReceiver) -> None:
    asset = uuid4()
    url = callback_url(callbacks.url, asset, callback_token(SECRET, asset))
    await kie.submit(
        Provider.KIE_4O_IMAGE, KieSubmit("Something forbidden [sim:result=content_policy]", "1:1", callback_url=url)
    )

    _, _, body = callbacks.wait_for(1)[0]

    hint = parse_callback(Provider.KIE_4O_IMAGE, body)
    assert (hint.state, hint.provider_code) == (TaskState.FAILED, 400)
    assert json.loads(body)["data"]["info"] is None


async def test_a_callback_can_come_twice(kie: KieClient, callbacks: CallbackReceiver) -> None:
    asset = uuid4()
    url = callback_url(callbacks.url, asset, callback_token(SECRET, asset))
    await kie.submit(Provider.KIE_4O_IMAGE, KieSubmit("An echo [sim:callback=twice]", "1:1", callback_url=url))

    received = callbacks.wait_for(2)

    assert len(received) == 2
    assert received[0][2] == received[1][2]


async def test_a_callback_can_never_come_so_polling_must_work_alone(
    kie: KieClient, callbacks: CallbackReceiver
) -> None:
    asset = uuid4()
    url = callback_url(callbacks.url, asset, callback_token(SECRET, asset))
    task_id = await kie.submit(
        Provider.KIE_4O_IMAGE, KieSubmit("A lost letter [sim:callback=none]", "1:1", callback_url=url)
    )

    status = await wait_until_finished(kie, Provider.KIE_4O_IMAGE, task_id)

    assert status.state is TaskState.SUCCEEDED
    assert callbacks.wait_for(1, timeout=0.3) == []


def test_callbacks_go_to_the_providers_address_of_the_gateway_when_it_is_set() -> None:
    public = KieCallbackSettings(public_base_url="http://127.0.0.1:8000", provider_base_url="")
    assert public.provider_facing_url == "http://127.0.0.1:8000"
    inside = KieCallbackSettings(public_base_url="http://127.0.0.1:8000", provider_base_url="http://gateway:8000")
    assert inside.provider_facing_url == "http://gateway:8000"
