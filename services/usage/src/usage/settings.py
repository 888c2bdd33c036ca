from pydantic import Field

from aistudio_runtime import ServiceSettings


class UsageSettings(ServiceSettings):
    free_monthly_limit: int = Field(default=10, ge=0)
    generation_timeout_seconds: float = Field(default=1200, gt=0)
    # A reservation with no outcome this long after the generation deadline is given back.
    reservation_grace_seconds: float = Field(default=600, ge=0)
    sweep_interval_seconds: float = Field(default=60, gt=0)
