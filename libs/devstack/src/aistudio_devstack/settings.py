"""What `make run` itself reads: where its state lives and the ports of what it embeds."""

from collections.abc import Mapping

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class DevstackSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Embedded NATS and Postgres data, media and the generated development secrets.
    run_dir: str = ".run"
    run_nats_port: int = Field(default=4222, ge=1, le=65535)
    run_postgres_port: int = Field(default=54329, ge=1, le=65535)
    simulator_port: int = Field(default=8900, ge=1, le=65535)
    # Each worker's HEALTH_PORT (/healthz, /readyz, /metrics) under make run: the Procfile reads
    # these, so a second checkout can run beside the first on ports of its own.
    generator_health_port: int = Field(default=8101, ge=1, le=65535)
    poller_health_port: int = Field(default=8102, ge=1, le=65535)
    usage_health_port: int = Field(default=8103, ge=1, le=65535)
    captioner_health_port: int = Field(default=8104, ge=1, le=65535)
    publisher_health_port: int = Field(default=8105, ge=1, le=65535)

    @classmethod
    def of(cls, env: Mapping[str, str]) -> "DevstackSettings":
        """Read from an environment the devstack assembled (`.env` under the shell's), not os.environ."""
        values: dict[str, object] = {name: env[name.upper()] for name in cls.model_fields if name.upper() in env}
        return cls.model_validate(values)

    @model_validator(mode="before")
    @classmethod
    def _blank_means_unset(cls, data: object) -> object:
        # `.env.example` lists these as `KEY=` too; blank is the default, as for the services.
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if not (isinstance(value, str) and not value.strip())}
        return data
