from pydantic import Field

from aistudio_providers import ProviderSettings
from aistudio_runtime import ServiceSettings


class CaptionerSettings(ServiceSettings, ProviderSettings):
    # OpenAI calls per asset (each after the SDK's own quick retries) before CaptionFailed;
    # between them the event is redelivered with a growing delay (1 s, 2 s, 4 s, … up to a minute).
    caption_max_attempts: int = Field(default=5, ge=1)
    # How long a claimed caption is left to the worker that claimed it before another may retry it.
    caption_claim_seconds: float = Field(default=300.0, gt=0)
    # On-demand captions answer within this, before the gateway stops waiting (its default is 30 s).
    on_demand_timeout_seconds: float = Field(default=25.0, gt=0)
    # Media fetched by URL for an on-demand caption (when it is not in our store) is refused beyond this.
    max_media_bytes: int = Field(default=200 * 1024 * 1024, gt=0)
    # A still a second into a video: the first frame is often a fade from black.
    video_frame_at_seconds: float = Field(default=1.0, ge=0)
    # GenerationCompleted events captioned at once by one replica.
    caption_concurrency: int = Field(default=8, ge=1)
