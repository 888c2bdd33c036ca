"""Everything about the simulator that a test or a benchmark may want to change.

Read from SIMULATOR_* environment variables at start, and changeable at run time through
POST /_admin/config (a partial update).
"""

from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Where a fault can be injected; the same names are used by prompt markers ([sim:submit=429]).
FaultChannel = Literal["submit", "status", "result", "callback", "gemini", "openai"]


class NextFaults(BaseModel):
    """Make the next `count` calls on a channel fail with `fault` (e.g. {"fault": "500", "count": 2})."""

    fault: str
    count: int = Field(default=1, ge=0)


class SimulatorConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIMULATOR_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8900
    # The base of every URL the simulator hands out (files, download links); default http://host:port.
    public_url: str | None = None

    # Task durations before time_scale; KIE's real ones are minutes (Veo3 2-5 min).
    time_scale: float = Field(default=1.0, ge=0)
    veo3_seconds: float = Field(default=30.0, ge=0)
    gpt4o_image_seconds: float = Field(default=15.0, ge=0)
    flux_kontext_seconds: float = Field(default=10.0, ge=0)
    gemini_seconds: float = Field(default=2.0, ge=0)
    openai_seconds: float = Field(default=0.5, ge=0)
    # How long a "timeout" fault holds the request: longer than any client's read timeout.
    hang_seconds: float = Field(default=40.0, ge=0)
    # How long each record-info answer takes (not scaled), e.g. to make overlapping checks visible.
    status_latency_seconds: float = Field(default=0.0, ge=0)

    # Result files expire like KIE's (14 days there; short here so expiry can be seen).
    file_ttl_seconds: float = Field(default=3600.0, gt=0)
    # Flux's originImageUrl lives 10 minutes; download-url links 20 minutes.
    origin_file_ttl_seconds: float = Field(default=600.0, gt=0)
    download_link_ttl_seconds: float = Field(default=1200.0, gt=0)

    # KIE's account-wide limit: 20 new generation requests per 10 s per API key; 0 turns it off.
    rate_limit_submissions: int = Field(default=20, ge=0)
    rate_limit_window_seconds: float = Field(default=10.0, gt=0)

    initial_credits: float = 10_000.0

    # When set, callbacks carry X-Webhook-Timestamp and X-Webhook-Signature.
    callback_hmac_key: str | None = None
    callback_attempts: int = Field(default=3, ge=1)
    callback_retry_seconds: float = Field(default=1.0, ge=0)
    callback_timeout_seconds: float = Field(default=15.0, gt=0)

    # OpenAI's 429 carries retry-after; the SDK honours it, so tests keep it short.
    openai_retry_after_seconds: float = Field(default=1.0, ge=0)

    # Faults applied to every call on a channel unless the prompt carries its own marker,
    # e.g. {"submit": "429"} or {"status": "null:2"}.
    faults: dict[FaultChannel, str] = Field(default_factory=dict)
    # Faults for the next N calls on a channel, whatever the prompt; counted down as used.
    fail_next: dict[FaultChannel, NextFaults] = Field(default_factory=dict)

    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def scaled(self, seconds: float) -> float:
        return seconds * self.time_scale
