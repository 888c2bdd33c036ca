"""When the poller looks at a task: learned durations, callbacks expected or not, the original fixed polling."""

from datetime import UTC, datetime, timedelta

from aistudio_contracts import Provider
from aistudio_providers import TaskState, TaskStatus
from poller.schedule import (
    CALLBACK_GRACE,
    CLOSE_CHECKS,
    TYPICAL_SECONDS,
    ProviderStats,
    after_error_delay,
    first_check_delay,
    pending_check_delay,
    provider_seconds,
)

VEO = Provider.KIE_VEO3
FLUX = Provider.KIE_FLUX_KONTEXT
START = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


def finished(seconds: float, *, epoch_ms: bool = False) -> TaskStatus:
    done = START + timedelta(seconds=seconds)
    created: object = int(START.timestamp() * 1000) if epoch_ms else START.strftime("%Y-%m-%d %H:%M:%S")
    return TaskStatus("t", TaskState.SUCCEEDED, ("https://x/y.png",), complete_time=done, raw={"createTime": created})


def learned(provider: Provider, *seconds: float) -> ProviderStats:
    stats = ProviderStats()
    for each in seconds:
        stats.task_finished(provider, finished(each))
    return stats


def test_the_original_design_waits_one_interval_then_polls_every_interval() -> None:
    assert first_check_delay(VEO, 30, typical=150, callback_expected=False, adaptive=False) == 30
    assert first_check_delay(FLUX, 30, typical=20, callback_expected=True, adaptive=False) == 30
    assert pending_check_delay(30, 1, typical=150, adaptive=False) == 30


def test_until_durations_are_learned_the_first_check_comes_no_later_than_one_interval() -> None:
    assert first_check_delay(VEO, 30) == 30
    assert first_check_delay(FLUX, 30) == TYPICAL_SECONDS[FLUX] == 25
    assert first_check_delay(VEO, 30, callback_expected=True) == 30
    assert pending_check_delay(30, 1, typical=None) == 30


def test_with_a_callback_on_its_way_the_first_check_is_a_safety_net_after_most_tasks_end() -> None:
    assert first_check_delay(VEO, 30, typical=140, callback_expected=True) == 140 * CALLBACK_GRACE


def test_without_a_callback_the_first_check_comes_at_the_typical_duration() -> None:
    assert first_check_delay(VEO, 30, typical=140, callback_expected=False) == 140


def test_after_the_first_check_a_few_come_every_half_interval_then_every_interval() -> None:
    delays = [pending_check_delay(30, checks, typical=140) for checks in range(1, CLOSE_CHECKS + 3)]
    assert delays == [15] * CLOSE_CHECKS + [30, 30]


def test_the_typical_duration_is_the_median_of_the_providers_recent_tasks() -> None:
    stats = learned(VEO, 100, 180, 140, 150, 120)
    assert stats.typical(VEO) == 140
    assert stats.typical(FLUX) is None


def test_a_couple_of_tasks_are_not_enough_to_trust() -> None:
    assert learned(VEO, 100, 120).typical(VEO) is None


def test_durations_come_from_the_providers_own_clock_in_either_time_format() -> None:
    assert provider_seconds(finished(42.5)) == 42.5
    assert provider_seconds(finished(7.25, epoch_ms=True)) == 7.25


def test_refusals_do_not_teach_durations_as_they_come_back_at_once() -> None:
    stats = learned(VEO, 140, 150, 160)
    for _ in range(5):
        refused = finished(0.2)
        stats.task_finished(
            VEO, TaskStatus("t", TaskState.FAILED, complete_time=refused.complete_time, raw=refused.raw)
        )
    assert stats.typical(VEO) == 150


def test_a_status_without_times_teaches_nothing_but_still_counts_as_a_finish() -> None:
    stats = ProviderStats()
    for _ in range(6):
        stats.task_finished(VEO, TaskStatus("t", TaskState.FAILED))
    assert stats.typical(VEO) is None
    assert stats.callbacks_arrive() is False


def test_callbacks_are_trusted_while_they_keep_pace_with_finished_tasks() -> None:
    stats = ProviderStats()
    for _ in range(30):
        stats.callback_received()
        stats.task_finished(VEO, finished(140))
    assert stats.callbacks_arrive() is True


def test_callbacks_count_as_lost_once_finished_tasks_clearly_outnumber_them() -> None:
    stats = ProviderStats()
    for _ in range(10):
        stats.callback_received()
        stats.task_finished(VEO, finished(140))
    lost = 0
    while stats.callbacks_arrive():
        stats.task_finished(VEO, finished(140))
        lost += 1
    assert 5 <= lost <= 10
    # They are trusted again once they come back.
    for _ in range(10):
        stats.callback_received()
        stats.task_finished(VEO, finished(140))
    assert stats.callbacks_arrive() is True


def test_a_fresh_replica_trusts_callbacks_until_enough_tasks_finished() -> None:
    assert learned(VEO, 140, 150, 160, 170).callbacks_arrive() is True
    assert learned(VEO, 140, 150, 160, 170, 180).callbacks_arrive() is False


def test_lost_callbacks_are_noticed_across_providers_as_they_all_come_back_the_same_way() -> None:
    stats = ProviderStats()
    for _ in range(5):
        stats.callback_received()
        stats.task_finished(VEO, finished(140))
    for provider in (VEO, FLUX, Provider.KIE_4O_IMAGE, FLUX, VEO, FLUX, VEO):
        stats.task_finished(provider, finished(20))
    assert stats.callbacks_arrive() is False


def test_a_failing_status_check_backs_off_up_to_five_minutes() -> None:
    assert [after_error_delay(n, 30) for n in (1, 2, 3, 4, 5, 6)] == [30, 60, 120, 240, 300, 300]
    assert after_error_delay(3, 600) == 600
