"""record-info and callback bodies as seen in KIE's docs and in real traffic, read without a server."""

from datetime import UTC, datetime
from typing import Any

import pytest

from aistudio_contracts import FailureReason, Provider
from aistudio_providers import ErrorKind, ProviderError, TaskState, parse_callback, parse_record_info
from aistudio_providers.kie import parse_complete_time

TASK = "3f1c0d2e4b5a69788796a5b4c3d2e1f0"
URL = "https://tempfile.aiquickdraw.com/v/result.mp4"


def ok(data: Any) -> dict[str, Any]:
    return {"code": 200, "msg": "success", "data": data}


@pytest.mark.parametrize(
    "response",
    [
        {"resultUrls": [URL]},
        {"resultUrls": f'["{URL}"]'},
        {"result_urls": [URL]},
        {"resultImageUrl": URL, "originImageUrl": "https://cdn.example/origin.png"},
        {"originImageUrl": URL},
    ],
)
def test_result_urls_are_found_in_every_documented_shape(response: dict[str, Any]) -> None:
    status = parse_record_info(Provider.KIE_VEO3, TASK, ok({"taskId": TASK, "successFlag": 1, "response": response}))

    assert status.state is TaskState.SUCCEEDED
    assert status.result_urls == (URL,)


@pytest.mark.parametrize(
    ("fields", "state"),
    [
        ({"successFlag": 0}, TaskState.PENDING),
        ({"successFlag": "0"}, TaskState.PENDING),
        ({"successFlag": 2, "errorCode": 400, "errorMessage": "flagged"}, TaskState.FAILED),
        ({"successFlag": 3, "errorCode": 501, "errorMessage": "Generation failed"}, TaskState.FAILED),
        ({"status": "GENERATING"}, TaskState.PENDING),
        ({"status": "CREATE_TASK_FAILED"}, TaskState.FAILED),
        ({"status": "GENERATE_FAILED", "successFlag": 3}, TaskState.FAILED),
        ({"status": "SUCCESS", "successFlag": 1, "response": {"resultUrls": [URL]}}, TaskState.SUCCEEDED),
    ],
)
def test_success_flags_and_status_strings_map_to_three_states(fields: dict[str, Any], state: TaskState) -> None:
    status = parse_record_info(Provider.KIE_4O_IMAGE, TASK, ok({"taskId": TASK, **fields}))

    assert status.state is state
    assert (status.failure is not None) == (state is TaskState.FAILED)


@pytest.mark.parametrize(
    "body",
    [
        ok(None),
        {"code": 422, "msg": "recordInfo is null", "data": None},
        {"code": "422", "msg": "recordInfo is null"},
    ],
)
def test_a_missing_record_means_pending(body: dict[str, Any]) -> None:
    assert parse_record_info(Provider.KIE_VEO3, TASK, body).state is TaskState.PENDING


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1767225600000, datetime(2026, 1, 1, tzinfo=UTC)),
        ("1767225600000", datetime(2026, 1, 1, tzinfo=UTC)),
        (1767225600, datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01 00:00:00", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01T00:00:00Z", datetime(2026, 1, 1, tzinfo=UTC)),
        (None, None),
        ("", None),
        ("not a time", None),
    ],
)
def test_complete_time_reads_epoch_milliseconds_and_text_as_aware_datetimes(
    value: object, expected: datetime | None
) -> None:
    assert parse_complete_time(value) == expected


def test_progress_is_read_as_a_fraction() -> None:
    status = parse_record_info(Provider.KIE_4O_IMAGE, TASK, ok({"status": "GENERATING", "progress": "0.45"}))

    assert status.progress == pytest.approx(0.45)


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("<html>502 Bad Gateway</html>", ErrorKind.REFUSED),
        ([1, 2, 3], ErrorKind.REFUSED),
        ({"unexpected": True}, ErrorKind.REFUSED),
        (ok([URL]), ErrorKind.REFUSED),
        ({"code": 500, "msg": "Server exception"}, ErrorKind.REFUSED),
        ({"code": 401, "msg": "bad key"}, ErrorKind.ACCOUNT),
        ({"code": 422, "msg": "record is older than 14 days"}, ErrorKind.AMBIGUOUS),
        (ok({"successFlag": 9}), ErrorKind.AMBIGUOUS),
    ],
)
def test_unreadable_or_failing_record_info_raises_a_classified_error(body: object, kind: ErrorKind) -> None:
    with pytest.raises(ProviderError) as raised:
        parse_record_info(Provider.KIE_VEO3, TASK, body)

    assert raised.value.kind is kind


def test_a_4o_moderation_refusal_worded_internal_error_is_a_provider_error() -> None:
    body = ok({"status": "GENERATE_FAILED", "successFlag": 3, "errorCode": None, "errorMessage": "Internal Error"})

    status = parse_record_info(Provider.KIE_4O_IMAGE, TASK, body)

    assert status.failure is not None and status.failure.reason is FailureReason.PROVIDER_ERROR


def test_a_success_callback_is_a_hint_with_the_task_and_its_urls() -> None:
    body = ok({"taskId": TASK, "info": {"resultUrls": f'["{URL}"]', "originUrls": []}, "fallbackFlag": False})

    info = parse_callback(Provider.KIE_VEO3, body)

    assert (info.task_id, info.state, info.result_urls) == (TASK, TaskState.SUCCEEDED, (URL,))


def test_a_failure_callback_without_info_reads_as_failed() -> None:
    info = parse_callback(Provider.KIE_4O_IMAGE, b'{"code": 451, "msg": "Failed to fetch", "data": {"taskId": "t1"}}')

    assert (info.task_id, info.state, info.provider_code) == ("t1", TaskState.FAILED, 451)


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"code": 200}', "{}"])
def test_a_callback_body_that_says_nothing_useful_never_raises(body: bytes | str) -> None:
    info = parse_callback(Provider.KIE_FLUX_KONTEXT, body)

    assert info.task_id is None
