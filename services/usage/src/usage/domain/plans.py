"""Which of two plan changes wins: the one decided later, whatever order they arrive in."""

from datetime import datetime


def supersedes(incoming: datetime, current: datetime | None) -> bool:
    """True when a change decided at `incoming` replaces the plan stored as decided at `current`.

    A plan stored before changes carried a time (`current` None) is replaced by any change. An
    equal time applies too: it is the same change delivered again, or a tie that either order
    may win.
    """
    return current is None or incoming >= current
