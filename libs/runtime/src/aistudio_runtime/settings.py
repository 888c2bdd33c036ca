"""The settings every service shares; each service subclasses it into its one settings object."""

from dataclasses import replace
from datetime import timedelta
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from aistudio_contracts.subjects import DEAD_LETTER_STREAM, EVENTS_STREAM, StreamSettings

from .delivery import DeliveryPolicy


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    nats_url: str = "nats://127.0.0.1:4222"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/aistudio"
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    db_pool_min: int = Field(default=1, ge=0)
    db_pool_max: int = Field(default=10, ge=1)
    # On SIGTERM, running handlers get this long to finish before the process exits.
    shutdown_grace_seconds: float = Field(default=25.0, gt=0)
    # How long an unacknowledged message waits before JetStream redelivers it.
    ack_wait_seconds: float = Field(default=60.0, gt=0)
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

    # Media in our custody: in the service's MEDIA_DIR, or in a bucket of any S3-compatible store.
    media_store: Literal["local", "s3"] = "local"
    # Unset: AWS's endpoint for S3_REGION. MinIO, Ceph, R2 and the like: their URL.
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_bucket: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    # Objects are kept as `<prefix>/<year>/<month>/<asset id>.<ext>`.
    s3_prefix: str = ""
    # `path` (endpoint/bucket/key) works everywhere; `virtual` is bucket.endpoint/key.
    s3_addressing_style: Literal["path", "virtual"] = "path"

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
        secret = self.s3_secret_access_key.get_secret_value() if self.s3_secret_access_key else ""
        present = {
            "S3_BUCKET": self.s3_bucket,
            "S3_ACCESS_KEY_ID": self.s3_access_key_id,
            "S3_SECRET_ACCESS_KEY": secret,
        }
        return [name for name, value in present.items() if not (value or "").strip()]

    @model_validator(mode="after")
    def _s3_store_needs_its_bucket_and_keys(self) -> Self:
        if self.media_store == "s3":
            missing = self.missing_s3_settings()
            if missing:
                raise ValueError(f"MEDIA_STORE=s3 needs {', '.join(missing)}: media could not be kept")
            if self.s3_endpoint_url and not self.s3_endpoint_url.startswith(("http://", "https://")):
                raise ValueError(f"S3_ENDPOINT_URL must be an http(s) URL, not {self.s3_endpoint_url!r}")
        return self
