from pydantic import Field, SecretStr, model_validator

from aistudio_runtime import ServiceSettings


class GatewaySettings(ServiceSettings):
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8000, ge=1, le=65535)
    public_base_url: str = "http://127.0.0.1:8000"

    # Supabase-style bearer JWTs: HS256 with this secret, and/or asymmetric keys from a JWKS URL.
    auth_jwt_secret: SecretStr | None = None
    auth_jwks_url: str | None = None
    auth_audience: str | None = None
    # Local development only: POST /api/dev/token mints tokens. Never enable in production.
    dev_auth_enabled: bool = False

    # Signs result links and provider callback tokens.
    media_signing_key: SecretStr = SecretStr("change-me-media-signing-key")
    media_link_ttl_seconds: int = Field(default=3600, ge=60)
    media_dir: str = ".run/media"

    # Checks the per-asset token in KIE callback URLs (the generator derives it with the same key),
    # and, when set, the optional X-Webhook-Signature that KIE adds.
    callback_signing_key: SecretStr = SecretStr("change-me-callback-signing-key")
    kie_callback_hmac_key: SecretStr | None = None

    generation_timeout_seconds: float = Field(default=1200, gt=0)
    # Beyond the deadline plus this margin, an asset still processing is failed by the gateway itself.
    stuck_asset_grace_seconds: float = Field(default=300, ge=0)
    rpc_timeout_seconds: float = Field(default=3.0, gt=0)
    # Writing a caption takes seconds; the captioner gives up before this (ON_DEMAND_TIMEOUT_SECONDS).
    caption_rpc_timeout_seconds: float = Field(default=30.0, gt=0)
    max_request_bytes: int = Field(default=64 * 1024, ge=1024)

    # Per-user limits, counted in Postgres so that they hold across replicas; pro users get ten times
    # the request rates. Captions are paid OpenAI calls: a monthly allowance (pro unlimited) and a cap
    # on those in flight, so one user cannot hold every captioner worker.
    rate_limit_generate_per_minute: int = Field(default=60, ge=1)
    rate_limit_caption_per_minute: int = Field(default=20, ge=1)
    rate_limit_per_minute: int = Field(default=600, ge=1)
    max_streams_per_user: int = Field(default=5, ge=1)
    caption_monthly_limit_free: int = Field(default=30, ge=0)
    max_captions_in_flight: int = Field(default=2, ge=1)
    # A request waits at most this for a database connection, then answers 503.
    db_acquire_timeout_seconds: float = Field(default=5.0, gt=0)
    # #token= sign-in is taken only from a page embedded by one of these origins (comma-separated).
    embed_host_origins: str = ""
    # /docs and /redoc (scripts from a CDN): unset means on in development only.
    docs_enabled: bool | None = None
    free_monthly_limit: int = Field(default=10, ge=0)

    @model_validator(mode="after")
    def _needs_a_way_to_authenticate(self) -> "GatewaySettings":
        if self.auth_jwt_secret is None and self.auth_jwks_url is None:
            raise ValueError("set AUTH_JWT_SECRET and/or AUTH_JWKS_URL: the gateway cannot authenticate anyone")
        return self
