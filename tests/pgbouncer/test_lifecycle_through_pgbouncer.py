"""A representative part of the lifecycle suite (tests/lifecycle) with every service's DATABASE_URL
pointing at pgbouncer in transaction mode and DATABASE_DIRECT_URL at Postgres (see conftest.py)."""

import pytest

from ..lifecycle.test_generation_lifecycle import (
    test_a_burst_above_the_account_limit_draws_no_429,
    test_a_callback_makes_the_asset_ready_without_waiting_for_the_timer,
    test_a_content_policy_refusal_fails_clearly_and_gives_the_unit_back,
    test_a_poison_event_is_dead_lettered_and_its_job_failed_with_the_unit_released,
    test_a_video_becomes_ready,
    test_an_ambiguous_submission_is_never_sent_twice_and_its_callback_adopts_the_task,
    test_an_image_becomes_ready_with_media_in_our_custody,
    test_gemini_makes_images_synchronously,
    test_two_poller_replicas_never_check_one_task_at_once,
)

pytestmark = pytest.mark.integration

__all__ = [
    "test_a_burst_above_the_account_limit_draws_no_429",
    "test_a_callback_makes_the_asset_ready_without_waiting_for_the_timer",
    "test_a_content_policy_refusal_fails_clearly_and_gives_the_unit_back",
    "test_a_poison_event_is_dead_lettered_and_its_job_failed_with_the_unit_released",
    "test_a_video_becomes_ready",
    "test_an_ambiguous_submission_is_never_sent_twice_and_its_callback_adopts_the_task",
    "test_an_image_becomes_ready_with_media_in_our_custody",
    "test_gemini_makes_images_synchronously",
    "test_two_poller_replicas_never_check_one_task_at_once",
]
