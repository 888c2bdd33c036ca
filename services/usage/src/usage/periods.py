"""Quota periods are UTC calendar months."""

from datetime import UTC, date, datetime, time


def period_start(at: datetime) -> date:
    return at.astimezone(UTC).date().replace(day=1)


def period_bounds(start: date) -> tuple[datetime, datetime]:
    """[start, end) of the month beginning at `start`, as aware UTC datetimes."""
    next_month = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return datetime.combine(start, time(), UTC), datetime.combine(next_month, time(), UTC)
