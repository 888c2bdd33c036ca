from pydantic import Field

from aistudio_runtime import ServiceSettings


class UsageSettings(ServiceSettings):
    free_monthly_limit: int = Field(default=10, ge=0)
    # A reservation with no verdict this long after its job's deadline is given back (expired).
    # GENERATION_TIMEOUT_SECONDS only dates the deadline of reservations stored without one.
    reservation_grace_seconds: float = Field(default=600, ge=0)
    sweep_interval_seconds: float = Field(default=60, gt=0)
