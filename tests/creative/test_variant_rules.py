"""One 4o task for several variants, without servers: result i belongs to asset i, too few
results is a lost result, and a failed task fails every variant; the task size for a batch."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from aistudio_contracts import FailureReason, MediaType, Provider, StoredMedia
from aistudio_providers import TaskState, TaskStatus
from generator.domain.models import variants_task_size
from poller.domain.task import (
    LOST,
    Finish,
    Outcome,
    Policy,
    TakeCustody,
    TrackedTask,
    after_status,
    completed,
    failed_all,
)

NOW = datetime(2026, 12, 1, tzinfo=UTC)
POLICY = Policy(interval=1.0, custody_grace_seconds=60)
ASSETS = (uuid4(), uuid4(), uuid4())


def _task() -> TrackedTask:
    return TrackedTask(
        ASSETS[0],
        "u",
        Provider.KIE_4O_IMAGE,
        MediaType.IMAGE,
        "p",
        "t1",
        0,
        0,
        NOW + timedelta(minutes=5),
        variant_asset_ids=ASSETS,
    )


def test_each_asset_takes_its_own_result_and_a_spare_is_left() -> None:
    status = TaskStatus("t1", TaskState.SUCCEEDED, result_urls=("r1", "r2", "r3", "r4"))
    assert after_status(_task(), status, NOW, POLICY) == TakeCustody("r1", ("r1", "r2", "r3"))
    media = StoredMedia(storage_key="k", content_type="image/png", size_bytes=1, sha256="s")
    assert completed(_task(), media, ASSETS[2]).asset_id == ASSETS[2]


def test_fewer_results_than_variants_is_a_lost_result() -> None:
    assert after_status(_task(), TaskStatus("t1", TaskState.SUCCEEDED, result_urls=("r1",)), NOW, POLICY) == LOST


def test_a_failed_task_fails_every_variant() -> None:
    events = failed_all(_task(), Finish(Outcome.FAILED, FailureReason.CONTENT_POLICY, "no"))
    assert [event.asset_id for event in events] == list(ASSETS)


def test_a_batch_of_three_is_a_task_of_four() -> None:
    assert [variants_task_size(n) for n in (0, 1, 2, 3, 4)] == [1, 1, 2, 4, 4]
