"""The settings every service shares; each service subclasses it into its one settings object.

A setting shared by several services is declared here once (or in a mixin below), so its default,
its bounds and its blank handling cannot drift apart between services.
"""

import re
from dataclasses import replace
from datetime import timedelta
from typing import Any, Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from aistudio_contracts.subjects import DEAD_LETTER_STREAM, EVENTS_STREAM, StreamSettings

from .delivery import DeliveryPolicy

Environment = Literal["production", "development"]

# A signing secret must be at least this long: shorter ones can be guessed or brute-forced offline.
MIN_SECRET_BYTES = 32
GENERATE_SECRET_HINT = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'
_PLACEHOLDER = re.compile(r"^\s*<.*>\s*$", re.DOTALL)


def signing_secret(default: str | None = None) -> Any:
    """A secret we generate ourselves (not a provider's key): outside development it must be strong."""
    return Field(
        default=SecretStr(default) if default is not None else None,
        json_schema_extra={"signing_secret": True},
    )


def _is_signing_secret(extra: object) -> bool:
    return isinstance(extra, dict) and bool(extra.get("signing_secret"))


def secret_problem(value: str, *, signing: bool) -> str | None:
    """Why a secret is unfit for production, or None. Providers' keys are theirs: only the form is checked."""
    if _PLACEHOLDER.match(value):
        return "is a placeholder"
    if "change-me" in value.lower():
        return "is the built-in change-me default"
    if signing and len(value.encode()) < MIN_SECRET_BYTES:
        return f"is shorter than {MIN_SECRET_BYTES} bytes"
    return None


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # `production` unless told otherwise (a service started on its own, in compose, on Kubernetes);
    # `make run` says `development`, which accepts the weak secrets a laptop needs.
    environment: Environment = "production"
    nats_url: str = "nats://127.0.0.1:4222"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/aistudio"
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    db_pool_min: int = Field(default=1, ge=0)
    db_pool_max: int = Field(default=10, ge=1)
    # A session connection to Postgres itself (not a pooler) for LISTEN and the migrations' session
    # lock; unset, DATABASE_URL serves them. Set it when DATABASE_URL is pgbouncer in transaction mode.
    database_direct_url: str | None = None
    # asyncpg's prepared statements per pooled connection; 0 through pgbouncer in transaction mode,
    # where a statement prepared on one server connection is unknown on the next.
    db_statement_cache_size: int = Field(default=100, ge=0)
    # How many replicas of this service run (manifests set it); with more than one, local media warns.
    replicas_hint: int = Field(default=1, ge=1)
    # On SIGTERM, running handlers get this long to finish before the process exits.
    shutdown_grace_seconds: float = Field(default=25.0, gt=0)
    # How long an unacknowledged message waits before JetStream redelivers it.
    ack_wait_seconds: float = Field(default=60.0, gt=0)
    # How long a JetStream API call (stream and consumer info, creating consumers) may take: a cluster
    # electing leaders, or forming while every replica starts, answers slowly, not never.
    jetstream_api_timeout_seconds: float = Field(default=30.0, gt=0)
    # How long a starting service waits, in all, for JetStream to answer while it ensures its streams and
    # binds its durable consumers (a cluster forming, electing, or without quorum) before it exits.
    jetstream_startup_wait_seconds: float = Field(default=300.0, gt=0)
    # Deliveries a failing message gets before it is kept in the dead-letter stream (AISTUDIO_DLQ).
    max_deliver: int = Field(default=10, ge=1)
    # Rows that only record the past (inbox, change feed, finished jobs and tasks) are deleted after
    # this many days; longer than the events stream keeps events, so a replayed event is still known.
    retention_days: float = Field(default=30.0)
    retention_interval_seconds: float = Field(default=3600.0, gt=0)
    # Apply this service's schema migrations at start (containers); `make run` migrates beforehand.
    migrate_on_start: bool = False

    # The streams a service creates when they are missing (an existing stream is never changed:
    # an operator's replicas or retention win). 3 on a three-node cluster survives one node's loss.
    stream_replicas: int = Field(default=1, ge=1, le=5)
    stream_storage: Literal["file", "memory"] = "file"
    # Events are kept this long for replay; RETENTION_DAYS must outlast it.
    stream_max_age_days: float = Field(default=14.0, gt=0)
    # Publishes carrying the same Nats-Msg-Id within this window are stored once.
    stream_duplicate_window_seconds: float = Field(default=600.0, gt=0)
    # Workers serve /healthz and /readyz on this port; unset, no health server (several workers on
    # one machine never collide). The gateway has its own on GATEWAY_PORT.
    health_port: int | None = Field(default=None, ge=1, le=65535)
    # Loopback by default, as the gateway; containers set 0.0.0.0 so probes can reach it.
    health_host: str = "127.0.0.1"
    # Traces go over OTLP/HTTP to this collector (e.g. http://otel-collector:4318); unset, tracing is off.
    otel_exporter_otlp_endpoint: str | None = None

    # Media in our custody: in the service's MEDIA_DIR, or in a bucket of any S3-compatible store.
    media_store: Literal["local", "s3"] = "local"
    # Unset: AWS's endpoint for S3_REGION. MinIO, Ceph, R2 and the like: their URL.
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_bucket: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    # With temporary keys (an assumed role, SSO). Without S3 keys at all, botocore's credential chain
    # applies: AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE (Kubernetes), a profile, or instance metadata.
    s3_session_token: SecretStr | None = None
    # Objects are kept as `<prefix>/<year>/<month>/<asset id>.<ext>`.
    s3_prefix: str = ""
    # `path` (endpoint/bucket/key) works everywhere; `virtual` is bucket.endpoint/key.
    s3_addressing_style: Literal["path", "virtual"] = "path"
    # Local media (MEDIA_STORE=local) lives here; every service that touches media reads the same dir.
    media_dir: str = ".run/media"
    # The job's deadline from acceptance: the gateway stamps it; the others use it only for events
    # stored before the gateway stamped one.
    generation_timeout_seconds: float = Field(default=1200.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _blank_means_unset(cls, data: Any) -> Any:
        """`KEY=` (as `.env.example` lists every setting) means "not set": the default applies.

        Without this, `AUTH_AUDIENCE=` would demand an empty audience and `KIE_CALLBACK_HMAC_KEY=`
        would be an empty key. Fields without a default keep the blank, and so still fail.
        """
        if not isinstance(data, dict):
            return data
        fields = cls.model_fields

        def blank(value: object) -> bool:
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            return isinstance(value, str) and not value.strip()

        return {
            key: value
            for key, value in data.items()
            if not (blank(value) and key in fields and not fields[key].is_required())
        }

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> Self:
        """Outside development a placeholder, a change-me default or a short signing key is refused at start."""
        if self.environment == "development":
            return self
        problems = []
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if not isinstance(value, SecretStr):
                continue
            problem = secret_problem(value.get_secret_value(), signing=_is_signing_secret(field.json_schema_extra))
            if problem:
                problems.append(f"{name.upper()} {problem}")
        if problems:
            raise ValueError(
                f"refusing to start with weak secrets (ENVIRONMENT={self.environment}): {'; '.join(problems)}."
                f" Generate each with: {GENERATE_SECRET_HINT} (or set ENVIRONMENT=development on a laptop)"
            )
        return self

    @property
    def delivery(self) -> DeliveryPolicy:
        return DeliveryPolicy(ack_wait_seconds=self.ack_wait_seconds, max_deliver=self.max_deliver)

    @property
    def nats_servers(self) -> list[str]:
        """NATS_URL as the list of servers it names: one URL, or a cluster's comma-separated seeds."""
        return [url.strip() for url in self.nats_url.split(",") if url.strip()]

    @property
    def events_stream(self) -> StreamSettings:
        return replace(
            EVENTS_STREAM,
            replicas=self.stream_replicas,
            file_storage=self.stream_storage == "file",
            max_age=timedelta(days=self.stream_max_age_days),
            duplicate_window=timedelta(seconds=self.stream_duplicate_window_seconds),
        )

    @property
    def dead_letter_stream(self) -> StreamSettings:
        # Kept longer than events (its own max age), but replicated and stored alike.
        return replace(
            DEAD_LETTER_STREAM,
            replicas=self.stream_replicas,
            file_storage=self.stream_storage == "file",
            duplicate_window=timedelta(seconds=self.stream_duplicate_window_seconds),
        )

    @model_validator(mode="after")
    def _retention_outlasts_the_stream(self) -> Self:
        stream_days = self.stream_max_age_days
        if self.retention_days <= stream_days:
            raise ValueError(
                f"RETENTION_DAYS must exceed the events stream's {stream_days:g} days: an event still"
                " in the stream could otherwise be handled again after its inbox row was deleted"
            )
        return self

    def missing_s3_settings(self) -> list[str]:
        """What MEDIA_STORE=s3 still needs: the bucket, and both keys or neither (the credential chain)."""
        secret = self.s3_secret_access_key.get_secret_value() if self.s3_secret_access_key else ""
        keys = {"S3_ACCESS_KEY_ID": self.s3_access_key_id or "", "S3_SECRET_ACCESS_KEY": secret}
        missing = [] if (self.s3_bucket or "").strip() else ["S3_BUCKET"]
        if any(value.strip() for value in keys.values()):
            missing += [name for name, value in keys.items() if not value.strip()]
        return missing

    @model_validator(mode="after")
    def _s3_store_needs_its_bucket_and_keys(self) -> Self:
        if self.media_store == "s3":
            missing = self.missing_s3_settings()
            if missing:
                raise ValueError(f"MEDIA_STORE=s3 needs {', '.join(missing)}: media could not be kept")
            if self.s3_endpoint_url and not self.s3_endpoint_url.startswith(("http://", "https://")):
                raise ValueError(f"S3_ENDPOINT_URL must be an http(s) URL, not {self.s3_endpoint_url!r}")
        return self


class KieCallbackSettings(BaseSettings):
    """What the generator (building KIE callback URLs) and the gateway (checking them) must agree on."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Where the world reaches the gateway; KIE's callback URLs and media links start with it.
    public_base_url: str = "http://127.0.0.1:8000"
    # Where the providers reach it, when not at PUBLIC_BASE_URL (compose with the simulator:
    # http://gateway:8000): KIE's callbacks and the edit input links KIE fetches. Blank: PUBLIC_BASE_URL.
    provider_base_url: str = ""

    @property
    def provider_facing_url(self) -> str:
        """The gateway's address as the providers reach it."""
        return self.provider_base_url.strip() or self.public_base_url

    # Derives the per-asset token in KIE's callback URL (generator) and checks it (gateway).
    callback_signing_key: SecretStr = signing_secret("change-me-callback-signing-key")
