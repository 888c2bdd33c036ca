"""When to look at a task.

Each provider's typical duration is learned from the tasks it recently completed (its own
createTime/completeTime, so what we learn does not depend on when we happened to look).

- A callback is expected: it normally arrives first, so the first check waits until most tasks
  of that provider are done (CALLBACK_GRACE x typical) and is only a safety net.
- No callback is expected (none was asked for, or callbacks stopped arriving: recent finished
  tasks clearly outnumber recent callbacks, whatever the provider, as they all come back the same way):
  the first check comes at the typical duration, the next few every half interval (the task is
  about to end), then every interval.
- Until a provider's duration is known (a fresh replica), or with `adaptive_schedule` off, the
  poller behaves as before: first check after min(documented typical, interval), then every interval.
"""

from collections import deque
from statistics import median

from aistudio_contracts import Provider
from aistudio_providers import TaskState, TaskStatus
from aistudio_providers.kie import parse_complete_time

# Typical time to a result, from KIE's documentation and traffic; used until durations are learned.
TYPICAL_SECONDS = {
    Provider.KIE_VEO3: 150.0,
    Provider.KIE_4O_IMAGE: 60.0,
    Provider.KIE_FLUX_KONTEXT: 25.0,
}
MAX_ERROR_BACKOFF_SECONDS = 300.0
# With a callback on its way, the first check waits this many typical durations.
CALLBACK_GRACE = 1.5
# After the first check, this many more come every half interval before the pace drops to the interval.
CLOSE_CHECKS = 3
# Durations kept per provider, and how many are needed before they are trusted.
DURATION_WINDOW = 50
MIN_DURATIONS = 3
# Recent finishes weighed against recent callbacks (all providers) to tell whether callbacks arrive.
CALLBACK_WINDOW = 20
MIN_FINISHES_TO_JUDGE = 5


def first_check_delay(
    provider: Provider,
    interval: float,
    *,
    typical: float | None = None,
    callback_expected: bool = False,
    adaptive: bool = True,
) -> float:
    if not adaptive:
        return float(interval)  # the original design: fixed polling
    if typical is None:
        return float(min(TYPICAL_SECONDS.get(provider, interval), interval))
    if callback_expected:
        return typical * CALLBACK_GRACE
    return typical


def pending_check_delay(interval: float, checks: int, *, typical: float | None, adaptive: bool = True) -> float:
    """After a check found the task still running (`checks` = checks so far, this one included)."""
    if adaptive and typical is not None and checks <= CLOSE_CHECKS:
        return interval / 2
    return interval


def after_error_delay(consecutive_errors: int, interval: float) -> float:
    """A failing status check is retried with backoff; it never ends a job on its own."""
    growth: float = 2.0 ** max(consecutive_errors - 1, 0)
    return min(interval * growth, max(interval, MAX_ERROR_BACKOFF_SECONDS))


def provider_seconds(status: TaskStatus) -> float | None:
    """How long the provider took, by its own clock (createTime to completeTime)."""
    created = parse_complete_time(status.raw.get("createTime"))
    completed = status.complete_time
    if created is None or completed is None:
        return None
    seconds = (completed - created).total_seconds()
    return seconds if seconds >= 0 else None


class ProviderStats:
    """What this replica saw recently: each provider's durations, and whether callbacks arrive.
    In memory: a restarted replica starts from the documented durations and trusts callbacks."""

    def __init__(self) -> None:
        self._durations: dict[Provider, deque[float]] = {}
        # True for a callback, False for a finished task: while callbacks arrive, the two pair up.
        self._signals: deque[bool] = deque(maxlen=CALLBACK_WINDOW)

    def task_finished(self, provider: Provider, status: TaskStatus) -> None:
        self._signals.append(False)
        # Only media that was made says how long making media takes (refusals come back at once).
        seconds = provider_seconds(status) if status.state is TaskState.SUCCEEDED else None
        if seconds is not None:
            self._durations.setdefault(provider, deque(maxlen=DURATION_WINDOW)).append(seconds)

    def callback_received(self) -> None:
        self._signals.append(True)

    def typical(self, provider: Provider) -> float | None:
        durations = self._durations.get(provider, ())
        return median(durations) if len(durations) >= MIN_DURATIONS else None

    def callbacks_arrive(self) -> bool:
        finishes = self._signals.count(False)
        if finishes < MIN_FINISHES_TO_JUDGE:
            return True
        return self._signals.count(True) * 2 >= finishes
