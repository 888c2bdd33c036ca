"""Where the Late client finds its key, endpoint and time limits (LATE_*).

Kept apart from ProviderSettings so that only the services that post carry them. An unset key
means "not configured": the dev stack then points Late at the simulator, as for KIE.
"""

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Late moved from getlate.dev to zernio.com in 2026; the old host may still answer for a while.
DEFAULT_LATE_BASE_URL = "https://zernio.com/api/v1"


class LateSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    late_api_key: SecretStr | None = None
    # Includes /v1.
    late_base_url: str = DEFAULT_LATE_BASE_URL
    # Signs Late's webhooks (X-Zernio-Signature / X-Late-Signature); given to Late when registering.
    late_webhook_secret: SecretStr | None = None
    # Ordinary calls answer in well under a second.
    late_timeout_seconds: float = Field(default=30.0, gt=0)
    # `publishNow` publishes inside the request and can take minutes (Late's SDK allows 300 s).
    late_publish_timeout_seconds: float = Field(default=300.0, gt=0)
    late_upload_timeout_seconds: float = Field(default=300.0, gt=0)

    @field_validator("late_api_key", "late_webhook_secret", mode="before")
    @classmethod
    def _blank_late_key_means_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value
