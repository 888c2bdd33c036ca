"""The automatic caption's rules, without servers."""

from captioner.domain.caption import CLAIMABLE, SETTLEABLE, Attempt, CaptionState


def test_only_a_pending_caption_is_claimed_or_settled() -> None:
    assert CLAIMABLE == SETTLEABLE == (CaptionState.PENDING,)


def test_a_claim_past_the_limit_means_the_last_attempt_never_settled() -> None:
    assert Attempt(6, max_attempts=5).over_the_limit
    assert not Attempt(5, max_attempts=5).over_the_limit


def test_a_failed_try_gives_up_when_permanent_or_on_the_last_attempt() -> None:
    assert Attempt(1, max_attempts=5).gives_up_after(permanent=True)
    assert Attempt(5, max_attempts=5).gives_up_after(permanent=False)
    assert not Attempt(4, max_attempts=5).gives_up_after(permanent=False)
