from pydantic import Field

from aistudio_providers import ProviderSettings
from aistudio_runtime import ServiceSettings


class PollerSettings(ServiceSettings, ProviderSettings):
    poll_interval_seconds: float = Field(default=30.0, gt=0)
    # Learn each provider's duration and check near it (see schedule.py); false: the original fixed
    # polling (first check after one interval, then every interval), kept as a benchmark baseline.
    adaptive_schedule: bool = True
    # A replica that claims a task owns it this long, and renews it every third of that while the
    # check runs (a large download included); a crashed replica's tasks are free again after it.
    check_lease_seconds: float = Field(default=30.0, gt=0)
    # A result found made is still taken into custody this long after the job's deadline while our
    # store or database fails; only then is the job failed as a lost result.
    custody_grace_seconds: float = Field(default=600.0, ge=0)
    max_concurrent_checks: int = Field(default=64, ge=1)
    image_max_bytes: int = Field(default=30 * 1024 * 1024, gt=0)
    video_max_bytes: int = Field(default=300 * 1024 * 1024, gt=0)
