from pydantic import Field, SecretStr

from aistudio_providers import ProviderSettings
from aistudio_runtime import ServiceSettings


class GeneratorSettings(ServiceSettings, ProviderSettings):
    public_base_url: str = "http://127.0.0.1:8000"
    # Derives the per-asset token in KIE's callback URL; the gateway checks it with the same key.
    callback_signing_key: SecretStr = SecretStr("change-me-callback-signing-key")
    # Callbacks cannot reach a laptop; polling works either way.
    kie_callbacks_enabled: bool = True
    kie_submit_limit: int = Field(default=20, ge=1)
    kie_submit_window_seconds: float = Field(default=10.0, gt=0)
    media_dir: str = ".run/media"
    reference_image_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    # A claim younger than this may still be in another replica's hands: wait rather than act.
    in_flight_grace_seconds: float = Field(default=120.0, gt=0)
    # After this many deliveries of one request, the job is failed instead of retried again.
    submit_max_attempts: int = Field(default=12, ge=1)
    submit_concurrency: int = Field(default=32, ge=1)
