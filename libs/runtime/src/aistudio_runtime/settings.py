"""The settings every service shares; each service subclasses it into its one settings object."""

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    # Apply this service's schema migrations at start (containers); `make run` migrates beforehand.
    migrate_on_start: bool = False
