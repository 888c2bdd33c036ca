"""Where the provider clients find their keys, endpoints and time limits.

A key left unset (or blank) means "not configured": the dev stack then points that provider at the
simulator. Services embed these fields in their own settings object, whose base (ServiceSettings)
treats a blank value as unset for every field.
"""

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ProviderSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    kie_api_key: SecretStr | None = None
    kie_base_url: str = "https://api.kie.ai"

    gemini_api_key: SecretStr | None = None
    gemini_base_url: str = "https://generativelanguage.googleapis.com"
    gemini_model: str = "gemini-2.5-flash-image"

    openai_api_key: SecretStr | None = None
    # Includes /v1, as the openai SDK expects.
    openai_base_url: str = "https://api.openai.com/v1"
    openai_model: str = "gpt-4o-mini"
    # The SDK's own retries (429/5xx/network); a caption is cheap, so a couple are worth it.
    openai_max_retries: int = Field(default=2, ge=0)

    # A refused connection shows quickly; a slow one means the provider is struggling.
    http_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    # KIE answers submits and status checks in well under a second; 30 s is already a problem.
    http_read_timeout_seconds: float = Field(default=30.0, gt=0)
    # Gemini renders the image inside the request: it takes seconds, sometimes a minute.
    gemini_timeout_seconds: float = Field(default=120.0, gt=0)
    openai_timeout_seconds: float = Field(default=60.0, gt=0)
    download_timeout_seconds: float = Field(default=120.0, gt=0)

    # The cost ledger's prices. KIE: credits per task by model (or by provider, the fallback) and what a
    # credit costs; Gemini and OpenAI: dollars per million input and output tokens of their usage fields.
    kie_credit_prices: dict[str, float] = Field(
        default_factory=lambda: {"kie-veo3": 60.0, "kie-4o-image": 6.0, "kie-flux-kontext": 5.0}
    )
    kie_usd_per_credit: float = Field(default=0.005, ge=0)
    gemini_usd_per_million_input_tokens: float = Field(default=0.30, ge=0)
    gemini_usd_per_million_output_tokens: float = Field(default=30.0, ge=0)
    openai_usd_per_million_input_tokens: float = Field(default=0.15, ge=0)
    openai_usd_per_million_output_tokens: float = Field(default=0.60, ge=0)
    # A Gemini image answer lost in transit is paid but reports no usage: we record this many output tokens.
    gemini_typical_image_output_tokens: int = Field(default=1290, ge=0)

    # Backoff between attempts at a refused KIE submit (exponential with full jitter).
    kie_retry_attempts: int = Field(default=3, ge=1)
    kie_retry_initial_seconds: float = Field(default=1.0, ge=0)
    kie_retry_max_seconds: float = Field(default=10.0, ge=0)
