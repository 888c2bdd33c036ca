"""`.env.example` lists every setting, and a copy of it as `.env` gives a working `make run`."""

from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from aistudio_devstack.__main__ import local_environment, merged_environment
from aistudio_devstack.settings import DevstackSettings
from captioner.settings import CaptionerSettings
from gateway.settings import GatewaySettings
from generator.settings import GeneratorSettings
from poller.settings import PollerSettings
from publisher.settings import PublisherSettings
from usage.settings import UsageSettings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / ".env.example"
SETTINGS: tuple[type[BaseSettings], ...] = (
    GatewaySettings,
    GeneratorSettings,
    PollerSettings,
    UsageSettings,
    CaptionerSettings,
    PublisherSettings,
    DevstackSettings,
)


def _example_keys() -> list[str]:
    lines = [line.strip() for line in EXAMPLE.read_text().splitlines()]
    return [line.split("=", 1)[0] for line in lines if line and not line.startswith("#")]


def _field_names() -> set[str]:
    return {name.upper() for cls in SETTINGS for name in cls.model_fields}


def test_every_setting_of_every_service_has_a_line_in_the_example() -> None:
    missing = sorted(_field_names() - set(_example_keys()))
    assert not missing, f".env.example lacks {', '.join(missing)}"


def test_every_line_of_the_example_is_a_setting_of_some_service() -> None:
    unknown = sorted(set(_example_keys()) - _field_names())
    assert not unknown, f".env.example lists {', '.join(unknown)}, which no settings class reads"


def test_the_example_lists_each_setting_once() -> None:
    keys = _example_keys()
    assert sorted(k for k in set(keys) if keys.count(k) > 1) == []


@pytest.fixture
def copied_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """What `make run` hands every service when `.env` is a copy of `.env.example` and the shell sets nothing."""
    for key in _field_names():
        monkeypatch.delenv(key, raising=False)
    env = local_environment(tmp_path / "run", environ={"PATH": "/usr/bin"}, dotenv=EXAMPLE)
    for key, value in env.items():
        if key in _field_names():
            monkeypatch.setenv(key, value)
    return env


def test_a_copy_of_the_example_starts_the_gateway_with_the_development_sign_in(copied_example: dict[str, str]) -> None:
    settings = GatewaySettings(_env_file=None)  # type: ignore[call-arg]
    assert settings.environment == "development"
    assert settings.dev_auth_enabled
    assert settings.auth_jwt_secret is not None and len(settings.auth_jwt_secret.get_secret_value()) >= 32
    assert settings.auth_audience is None
    assert settings.kie_callback_hmac_key is None


def test_a_copy_of_the_example_gives_the_gateway_and_the_generator_one_callback_key(
    copied_example: dict[str, str],
) -> None:
    gateway = GatewaySettings(_env_file=None)  # type: ignore[call-arg]
    generator = GeneratorSettings(_env_file=None)  # type: ignore[call-arg]
    assert gateway.callback_signing_key.get_secret_value() == generator.callback_signing_key.get_secret_value()
    assert "change-me" not in gateway.callback_signing_key.get_secret_value()
    assert "change-me" not in gateway.media_signing_key.get_secret_value()


@pytest.mark.parametrize("cls", [PollerSettings, UsageSettings, CaptionerSettings])
def test_a_copy_of_the_example_loads_in_every_worker(cls: type[BaseSettings], copied_example: dict[str, str]) -> None:
    cls(_env_file=None)  # type: ignore[call-arg]


def test_the_generated_secrets_are_kept_across_restarts(tmp_path: Path) -> None:
    first = local_environment(tmp_path, environ={}, dotenv=EXAMPLE)
    second = local_environment(tmp_path, environ={}, dotenv=EXAMPLE)
    for key in ("AUTH_JWT_SECRET", "MEDIA_SIGNING_KEY", "CALLBACK_SIGNING_KEY"):
        assert first[key] == second[key]
    assert len({first["AUTH_JWT_SECRET"], first["MEDIA_SIGNING_KEY"], first["CALLBACK_SIGNING_KEY"]}) == 3


def test_the_environment_wins_over_the_dotenv_file(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("GATEWAY_PORT=8000\nLOG_LEVEL=INFO\n")
    env = merged_environment(dotenv, {"GATEWAY_PORT": "8123"})
    assert env["GATEWAY_PORT"] == "8123"
    assert env["LOG_LEVEL"] == "INFO"
    assert local_environment(tmp_path, environ={"GATEWAY_PORT": "8123"}, dotenv=dotenv)["PUBLIC_BASE_URL"].endswith(
        ":8123"
    )


def test_a_choice_made_in_the_dotenv_file_is_kept_by_make_run(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("DEV_AUTH_ENABLED=false\nENVIRONMENT=production\n")
    env = local_environment(tmp_path, environ={}, dotenv=dotenv)
    assert env["DEV_AUTH_ENABLED"] == "false"
    assert env["ENVIRONMENT"] == "production"


def test_a_placeholder_left_in_the_dotenv_file_is_replaced_by_a_generated_secret(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("AUTH_JWT_SECRET=<supabase-jwt-secret>\nMEDIA_SIGNING_KEY=<random-long-secret>\n")
    env = local_environment(tmp_path, environ={}, dotenv=dotenv)
    assert not env["AUTH_JWT_SECRET"].startswith("<")
    assert not env["MEDIA_SIGNING_KEY"].startswith("<")
    assert env["DEV_AUTH_ENABLED"] == "true"
