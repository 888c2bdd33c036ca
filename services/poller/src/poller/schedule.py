"""When to look at a task: soon after it should be done, then on the polling interval."""

from aistudio_contracts import Provider

# Typical time to a result, from KIE's documentation and traffic; the first check waits for it.
TYPICAL_SECONDS = {
    Provider.KIE_VEO3: 150.0,
    Provider.KIE_4O_IMAGE: 60.0,
    Provider.KIE_FLUX_KONTEXT: 25.0,
}
MAX_ERROR_BACKOFF_SECONDS = 300.0


def first_check_delay(provider: Provider, interval: float) -> float:
    """No earlier than useful, and never later than one interval: a callback may come sooner."""
    return float(min(TYPICAL_SECONDS.get(provider, interval), interval))


def after_error_delay(consecutive_errors: int, interval: float) -> float:
    """A failing status check is retried with backoff; it never ends a job on its own."""
    growth: float = 2.0 ** max(consecutive_errors - 1, 0)
    return min(interval * growth, max(interval, MAX_ERROR_BACKOFF_SECONDS))
