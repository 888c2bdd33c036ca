"""Each KIE fault leads to the right class: refused ones retried, ambiguous ones never, the rest raised.

The simulator's admin counters are the proof: they count what reached the "provider", so
"exactly one submission" means exactly one paid task could exist.
"""

import asyncio

import httpx
import pytest

from aistudio_contracts import FailureReason, Provider
from aistudio_providers import ErrorKind, KieClient, KieSubmit, ProviderError, RetryPolicy, TaskState

from ..support.simulator import SimulatorAdmin, kie_client, wait_for_tasks, wait_until_finished

IMAGE = Provider.KIE_4O_IMAGE


def submit(prompt: str) -> KieSubmit:
    return KieSubmit(prompt, "1:1")


@pytest.mark.parametrize("fault", ["429", "455", "550", "http429", "html"])
async def test_a_refused_submit_is_retried_three_times_then_raised(
    kie: KieClient, simulator: SimulatorAdmin, fault: str
) -> None:
    with pytest.raises(ProviderError) as raised:
        await kie.submit(IMAGE, submit(f"A busy queue [sim:submit={fault}]"))

    assert raised.value.kind is ErrorKind.REFUSED
    assert raised.value.retryable
    assert raised.value.reason is FailureReason.PROVIDER_UNAVAILABLE
    assert simulator.stats()["submissions"] == 3
    assert simulator.tasks() == []


async def test_a_refused_submit_succeeds_when_a_retry_gets_through(kie: KieClient, simulator: SimulatorAdmin) -> None:
    task_id = await kie.submit(IMAGE, submit("A revolving door [sim:submit=429:2]"))

    assert simulator.stats()["submissions"] == 3
    assert [task["taskId"] for task in simulator.tasks()] == [task_id]


async def test_a_refused_connection_is_retried_three_times() -> None:
    attempts: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise httpx.ConnectError("Connection refused", request=request)

    client = KieClient(
        "k", base_url="https://kie.test", transport=httpx.MockTransport(refuse), retry=RetryPolicy(3, 0.0, 0.0)
    )
    async with client:
        with pytest.raises(ProviderError) as raised:
            await client.submit(IMAGE, submit("A closed door"))

    assert raised.value.kind is ErrorKind.REFUSED
    assert len(attempts) == 3


@pytest.mark.parametrize("fault", ["500", "501", "http500"])
async def test_an_error_code_in_the_envelope_with_no_task_is_a_definite_failure(
    kie: KieClient, simulator: SimulatorAdmin, fault: str
) -> None:
    with pytest.raises(ProviderError) as raised:
        await kie.submit(IMAGE, submit(f"A broken kiln [sim:submit={fault}]"))

    assert (raised.value.kind, raised.value.reason) == (ErrorKind.FAILED, FailureReason.PROVIDER_ERROR)
    assert not raised.value.retryable
    assert simulator.stats()["submissions"] == 1


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("http503", FailureReason.UNKNOWN_OUTCOME),
        ("html502", FailureReason.UNKNOWN_OUTCOME),
        ("malformed", FailureReason.UNKNOWN_OUTCOME),
        ("no_task_id", FailureReason.UNKNOWN_OUTCOME),
        ("timeout", FailureReason.TIMEOUT),
    ],
)
async def test_ambiguous_submit_is_not_retried(
    kie: KieClient, simulator: SimulatorAdmin, fault: str, reason: FailureReason
) -> None:
    with pytest.raises(ProviderError) as raised:
        await kie.submit(IMAGE, submit(f"A coin toss [sim:submit={fault}]"))

    assert raised.value.kind is ErrorKind.AMBIGUOUS
    assert not raised.value.retryable
    assert raised.value.reason is reason
    assert simulator.stats()["submissions"] == 1


async def test_a_submit_that_timed_out_may_still_have_created_a_paid_task(
    kie: KieClient, simulator: SimulatorAdmin
) -> None:
    with pytest.raises(ProviderError) as raised:
        await kie.submit(IMAGE, submit("A slow handshake [sim:submit=timeout]"))
    assert raised.value.kind is ErrorKind.AMBIGUOUS

    # The simulator finishes holding the request after we gave up, then accepts it.
    tasks = await wait_for_tasks(simulator, 1)
    assert len(tasks) == 1
    assert tasks[0]["submissions"] == 1


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("400", FailureReason.CONTENT_POLICY),
        ("english", FailureReason.INVALID_INPUT),
        ("422", FailureReason.INVALID_INPUT),
        ("451", FailureReason.INVALID_INPUT),
    ],
)
async def test_a_user_error_on_submit_is_terminal(
    kie: KieClient, simulator: SimulatorAdmin, fault: str, reason: FailureReason
) -> None:
    with pytest.raises(ProviderError) as raised:
        await kie.submit(IMAGE, submit(f"Something unusable [sim:submit={fault}]"))

    assert raised.value.kind is ErrorKind.USER
    assert raised.value.reason is reason
    assert not raised.value.retryable
    assert raised.value.user_message.endswith(".")
    assert simulator.stats()["submissions"] == 1


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("401", FailureReason.PROVIDER_ERROR),
        ("402", FailureReason.INSUFFICIENT_CREDITS),
        ("505", FailureReason.PROVIDER_UNAVAILABLE),
    ],
)
async def test_an_account_problem_is_terminal(
    kie: KieClient, simulator: SimulatorAdmin, fault: str, reason: FailureReason
) -> None:
    with pytest.raises(ProviderError) as raised:
        await kie.submit(IMAGE, submit(f"A locked account [sim:submit={fault}]"))

    assert raised.value.kind is ErrorKind.ACCOUNT
    assert raised.value.reason is reason
    assert simulator.stats()["submissions"] == 1


async def test_an_empty_balance_is_an_account_problem(kie: KieClient, simulator: SimulatorAdmin) -> None:
    simulator.configure(initial_credits=1)

    with pytest.raises(ProviderError) as raised:
        await kie.submit(IMAGE, submit("An expensive painting"))

    assert (raised.value.kind, raised.value.reason) == (ErrorKind.ACCOUNT, FailureReason.INSUFFICIENT_CREDITS)


async def test_the_account_wide_rate_limit_refuses_excess_submissions_per_key(
    kie: KieClient, simulator: SimulatorAdmin
) -> None:
    simulator.configure(rate_limit_submissions=3, rate_limit_window_seconds=30)
    for number in range(3):
        await kie.submit(IMAGE, submit(f"Sheep number {number}"))

    with pytest.raises(ProviderError) as raised:
        await kie.submit(IMAGE, submit("One sheep too many"))
    async with kie_client(simulator.url, api_key="another-account") as other:
        await other.submit(IMAGE, submit("A sheep from another farm"))

    assert raised.value.kind is ErrorKind.REFUSED
    stats = simulator.stats()
    assert stats["rateLimited"] == 3
    assert stats["tasksCreated"] == 4


async def test_record_info_null_for_the_first_checks_means_pending(kie: KieClient) -> None:
    task_id = await kie.submit(IMAGE, submit("A late arrival [sim:status=null:3] [sim:duration=0]"))

    first_three = [await kie.status(IMAGE, task_id) for _ in range(3)]
    final = await wait_until_finished(kie, IMAGE, task_id)

    assert [status.state for status in first_three] == [TaskState.PENDING] * 3
    assert final.state is TaskState.SUCCEEDED


@pytest.mark.parametrize("fault", ["500", "429", "html", "malformed"])
async def test_a_failing_status_check_is_retryable_and_does_not_end_the_task(kie: KieClient, fault: str) -> None:
    task_id = await kie.submit(IMAGE, submit(f"A flaky line [sim:status={fault}:2] [sim:duration=0]"))

    errors = []
    for _ in range(2):
        with pytest.raises(ProviderError) as raised:
            await kie.status(IMAGE, task_id)
        errors.append(raised.value)
    final = await wait_until_finished(kie, IMAGE, task_id)

    assert all(error.kind is ErrorKind.REFUSED and error.retryable for error in errors)
    assert final.state is TaskState.SUCCEEDED


@pytest.mark.parametrize("failure", [httpx.ConnectError, httpx.ReadTimeout])
async def test_a_status_check_without_an_answer_is_retryable(failure: type[httpx.TransportError]) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise failure("no answer", request=request)

    async with KieClient("k", base_url="https://kie.test", transport=httpx.MockTransport(fail)) as client:
        with pytest.raises(ProviderError) as raised:
            await client.status(IMAGE, "a" * 32)

    assert raised.value.kind is ErrorKind.REFUSED
    assert raised.value.retryable


async def test_an_unknown_task_reads_as_pending_like_kie(kie: KieClient) -> None:
    status = await kie.status(IMAGE, "0" * 32)

    assert status.state is TaskState.PENDING


@pytest.mark.parametrize("provider", [Provider.KIE_VEO3, Provider.KIE_4O_IMAGE, Provider.KIE_FLUX_KONTEXT])
async def test_a_content_policy_failure_ends_the_task_with_that_reason(kie: KieClient, provider: Provider) -> None:
    aspect_ratio = "1:1" if provider is IMAGE else "16:9"
    task_id = await kie.submit(provider, KieSubmit("Something forbidden [sim:result=content_policy]", aspect_ratio))

    status = await wait_until_finished(kie, provider, task_id)

    assert status.state is TaskState.FAILED
    assert status.failure is not None
    assert status.failure.reason is FailureReason.CONTENT_POLICY
    assert "content policies" in status.failure.user_message


@pytest.mark.parametrize(
    ("fault", "provider", "reason"),
    [
        ("fail", Provider.KIE_VEO3, FailureReason.PROVIDER_ERROR),
        ("internal_error", Provider.KIE_4O_IMAGE, FailureReason.PROVIDER_ERROR),
        ("image", Provider.KIE_4O_IMAGE, FailureReason.INVALID_INPUT),
        ("timeout", Provider.KIE_FLUX_KONTEXT, FailureReason.TIMEOUT),
        ("create_failed", Provider.KIE_4O_IMAGE, FailureReason.INVALID_INPUT),
        ("no_urls", Provider.KIE_FLUX_KONTEXT, FailureReason.PROVIDER_ERROR),
    ],
)
async def test_a_failed_task_ends_with_a_classified_reason(
    kie: KieClient, fault: str, provider: Provider, reason: FailureReason
) -> None:
    aspect_ratio = "1:1" if provider is IMAGE else "16:9"
    task_id = await kie.submit(provider, KieSubmit(f"An unlucky task [sim:result={fault}]", aspect_ratio))

    status = await wait_until_finished(kie, provider, task_id)

    assert status.state is TaskState.FAILED
    assert status.failure is not None and status.failure.reason is reason
    assert status.result_urls == ()


async def test_an_unknown_task_state_stops_polling_instead_of_waiting_forever(kie: KieClient) -> None:
    task_id = await kie.submit(IMAGE, submit("A strange state [sim:result=unknown_state] [sim:duration=0]"))
    await asyncio.sleep(0.05)

    with pytest.raises(ProviderError) as raised:
        await kie.status(IMAGE, task_id)

    assert raised.value.kind is ErrorKind.AMBIGUOUS
    assert not raised.value.retryable
