import ipaddress
import re

from pydantic import Field, SecretStr, model_validator

from aistudio_runtime import ServiceSettings
from aistudio_runtime.settings import KieCallbackSettings, signing_secret

# An origin as a browser spells it: scheme, host (a name, IPv4 or [IPv6]) and an optional port, nothing more.
_ORIGIN = re.compile(r"https?://(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class GatewaySettings(ServiceSettings, KieCallbackSettings):
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8000, ge=1, le=65535)

    # Supabase-style bearer JWTs: HS256 with this secret, and/or asymmetric keys from a JWKS URL.
    auth_jwt_secret: SecretStr | None = signing_secret()
    # A Supabase project (https://<ref>.supabase.co): the issuer and, unless set, the JWKS URL follow from it.
    supabase_url: str | None = None
    auth_jwks_url: str | None = None
    # Tokens must carry this `iss` (default: <SUPABASE_URL>/auth/v1 when SUPABASE_URL is set).
    auth_issuer: str | None = None
    auth_audience: str | None = None
    # Clock skew between the token's issuer and us that `exp`/`nbf`/`iat` may show.
    auth_leeway_seconds: float = Field(default=30.0, ge=0, le=300)
    # Keys fetched from the JWKS are trusted this long; a key removed there stops working after it.
    auth_jwks_cache_seconds: float = Field(default=600.0, gt=0)
    # Local development only: POST /api/dev/token mints tokens. Only with a loopback bind and no JWKS.
    dev_auth_enabled: bool = False
    # In a container the gateway binds every interface, and the host publishes its port on 127.0.0.1
    # only (compose does): dev sign-in is then as local as a loopback bind. Development only, and each
    # request must still come from a loopback or private address.
    dev_auth_published_on_loopback: bool = False

    # Signs result links.
    media_signing_key: SecretStr = signing_secret("change-me-media-signing-key")
    media_link_ttl_seconds: int = Field(default=3600, ge=60)
    # When set, KIE callbacks must carry a valid X-Webhook-Signature made with it (KIE issues the key).
    kie_callback_hmac_key: SecretStr | None = None

    # Beyond the deadline plus this margin, an asset still processing is failed by the gateway itself.
    stuck_asset_grace_seconds: float = Field(default=300, ge=0)
    rpc_timeout_seconds: float = Field(default=3.0, gt=0)
    # Writing a caption takes seconds; the captioner gives up before this (ON_DEMAND_TIMEOUT_SECONDS).
    caption_rpc_timeout_seconds: float = Field(default=30.0, gt=0)
    # Verifies Late's webhooks (X-Zernio-Signature / X-Late-Signature); unset: every webhook is refused.
    late_webhook_secret: SecretStr | None = None
    # The publisher answers accounts (a call to Late) and cancels (one more) within this.
    publisher_rpc_timeout_seconds: float = Field(default=15.0, gt=0)
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
    # A stream ticket (POST /api/ai/media/events/ticket) opens one event stream within this.
    stream_ticket_ttl_seconds: float = Field(default=60.0, gt=0, le=600)

    @property
    def docs_served(self) -> bool:
        """Whether /docs and /redoc exist: DOCS_ENABLED when set, otherwise only in development."""
        return self.docs_enabled if self.docs_enabled is not None else self.environment == "development"

    @property
    def embed_origins(self) -> tuple[str, ...]:
        """EMBED_HOST_ORIGINS as origins (scheme://host[:port]), in the form browsers compare them."""
        return tuple(origin.strip().rstrip("/") for origin in self.embed_host_origins.split(",") if origin.strip())

    @property
    def jwks_url(self) -> str | None:
        if self.auth_jwks_url:
            return self.auth_jwks_url
        if self.supabase_url:
            return f"{self.supabase_url.rstrip('/')}/auth/v1/.well-known/jwks.json"
        return None

    @property
    def issuer(self) -> str | None:
        if self.auth_issuer:
            return self.auth_issuer
        if self.supabase_url:
            return f"{self.supabase_url.rstrip('/')}/auth/v1"
        return None

    @model_validator(mode="after")
    def _needs_a_way_to_authenticate(self) -> "GatewaySettings":
        if self.auth_jwt_secret is None and self.jwks_url is None:
            raise ValueError(
                "set AUTH_JWT_SECRET and/or AUTH_JWKS_URL (or SUPABASE_URL): the gateway cannot authenticate anyone"
            )
        return self

    @model_validator(mode="after")
    def _embed_origins_are_origins(self) -> "GatewaySettings":
        # They go into the page's Content-Security-Policy (frame-ancestors): nothing but an origin may.
        for origin in self.embed_origins:
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"EMBED_HOST_ORIGINS: {origin!r} is not an origin like https://app.example.com (no path)"
                )
        return self

    @model_validator(mode="after")
    def _dev_sign_in_only_on_a_laptop(self) -> "GatewaySettings":
        # Anyone who reaches the gateway could sign in as anyone, admin included: only on loopback, and
        # never beside real (JWKS) sign-in, where the minted tokens would pass for a real user's.
        published_locally = self.dev_auth_published_on_loopback and self.environment == "development"
        if self.dev_auth_enabled and not (is_loopback(self.gateway_host) or published_locally):
            raise ValueError(
                f"DEV_AUTH_ENABLED needs a loopback GATEWAY_HOST, not {self.gateway_host!r} (or, in development"
                " only, DEV_AUTH_PUBLISHED_ON_LOOPBACK=true for a container whose port the host publishes on"
                " 127.0.0.1); set DEV_AUTH_ENABLED=false"
            )
        if self.dev_auth_enabled and self.jwks_url is not None:
            raise ValueError("DEV_AUTH_ENABLED cannot be on with AUTH_JWKS_URL/SUPABASE_URL (real sign-in)")
        return self
