from pydantic import Field

from aistudio_providers.late import LateSettings
from aistudio_runtime import ServiceSettings


class PublisherSettings(ServiceSettings, LateSettings):
    # Where Late reaches the gateway's webhook (registered at start-up when LATE_API_KEY is set).
    public_base_url: str = "http://127.0.0.1:8000"
    # Posts one replica works on at once (a publishNow create holds one for up to minutes).
    publish_concurrency: int = Field(default=16, ge=1)
    # A worker holds a claimed post this long, renewed while it works.
    post_lease_seconds: float = Field(default=30.0, gt=0)
    # Late's API limit across every replica, kept below what Late allows.
    late_rate_limit: int = Field(default=100, ge=1)
    late_rate_window_seconds: float = Field(default=60.0, gt=0)
    # Late's per-account limits on new posts.
    late_account_hourly_limit: int = Field(default=25, ge=1)
    late_instagram_daily_limit: int = Field(default=100, ge=1)
    # Refused creates (429, 5xx before sending, Late away) are tried this many times.
    create_max_attempts: int = Field(default=8, ge=1)
    create_backoff_seconds: float = Field(default=2.0, ge=0)
    # Polling, the safety net behind webhooks: from this interval, doubling up to the maximum.
    poll_min_seconds: float = Field(default=1.0, gt=0)
    poll_max_seconds: float = Field(default=60.0, gt=0)
    # Images Instagram takes (bytes); videos up to 300 MB.
    instagram_image_max_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    instagram_video_max_bytes: int = Field(default=300 * 1024 * 1024, gt=0)
