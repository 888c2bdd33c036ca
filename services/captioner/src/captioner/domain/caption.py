"""One asset's automatic caption, decided without I/O.

    (none) ──claim──▶ pending (leased) ──succeed──▶ ready
                        │   ▲
                   release (a failed try: the next delivery may claim it at once)
                        │
                        └──give up (a permanent error, or attempts used up)──▶ failed
    any ──replace (the user asked for a caption)──▶ ready

A claim is taken before OpenAI is asked and only from `pending` with no live lease, so however
often GenerationCompleted is delivered, an asset gets at most one automatic caption, and no call
once it is settled.
"""

from dataclasses import dataclass
from enum import StrEnum


class CaptionState(StrEnum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


CLAIMABLE = (CaptionState.PENDING,)
SETTLEABLE = (CaptionState.PENDING,)


@dataclass(frozen=True, slots=True)
class Attempt:
    number: int
    max_attempts: int

    @property
    def over_the_limit(self) -> bool:
        """A claim past the limit: the last attempt ended without settling (a crash, a bug)."""
        return self.number > self.max_attempts

    def gives_up_after(self, permanent: bool) -> bool:
        """After a failed try: give up (CaptionFailed) rather than let another delivery retry."""
        return permanent or self.number >= self.max_attempts


def values(states: tuple[CaptionState, ...]) -> list[str]:
    return [state.value for state in states]
