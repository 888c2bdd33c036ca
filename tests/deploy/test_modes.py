"""The mode each way of deploying starts in, checked with the settings classes themselves: compose with
no .env is the zero-config development system of `make run`; compose with ENVIRONMENT=production, and
the Kubernetes manifests until their placeholders are replaced, refuse to start on weak secrets."""

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from .settings_names import SERVICE_SETTINGS

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("gateway", "generator", "poller", "usage", "captioner", "publisher")
# Services holding a signing key of ours (Late's webhook secret included): the ones a weak default
# would make unsafe.
WITH_SECRETS = ("gateway", "generator", "publisher")
_DEFAULTED = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?::-(?P<default>[^}]*))?\}")


def compose_environment(service: str, shell: dict[str, str]) -> dict[str, str]:
    """What compose hands the container, `${NAME:-default}` resolved against `shell` (the shell and the
    project's .env), as compose interpolates it."""
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"][service]

    def resolve(value: object) -> str:
        def one(match: re.Match[str]) -> str:
            given = shell.get(match["name"], "")
            return given if given else (match["default"] or "")

        return _DEFAULTED.sub(one, str(value))

    return {name: resolve(value) for name, value in spec["environment"].items()}


def start(service: str, environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The service's settings as the process would load them from exactly this environment."""
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return SERVICE_SETTINGS[service](_env_file=None)


@pytest.mark.parametrize("service", SERVICES)
def test_compose_with_no_env_file_starts_every_service_in_development(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = start(service, compose_environment(service, {}), monkeypatch)
    assert settings.environment == "development"


@pytest.mark.parametrize("service", WITH_SECRETS)
def test_compose_in_production_refuses_its_own_development_secrets(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = compose_environment(service, {"ENVIRONMENT": "production"})
    with pytest.raises(ValidationError, match="change-me default"):
        start(service, environment, monkeypatch)


@pytest.mark.parametrize("service", WITH_SECRETS)
def test_compose_in_production_starts_once_the_secrets_are_strong(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    strong = "s" * 48
    shell = {
        "ENVIRONMENT": "production",
        **{
            key: strong
            for key in ("AUTH_JWT_SECRET", "MEDIA_SIGNING_KEY", "CALLBACK_SIGNING_KEY", "LATE_WEBHOOK_SECRET")
        },
    }
    if service == "gateway":
        # Compose turns the page's dev sign-in on; production refuses it until it is turned off.
        with pytest.raises(ValidationError, match="set DEV_AUTH_ENABLED=false"):
            start(service, compose_environment(service, shell), monkeypatch)
        shell["DEV_AUTH_ENABLED"] = "false"
    assert start(service, compose_environment(service, shell), monkeypatch).environment == "production"


def test_the_kubernetes_manifests_run_in_production_and_refuse_their_placeholders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    documents = list(yaml.safe_load_all((ROOT / "deploy" / "k8s" / "base" / "config.yaml").read_text()))
    config = next(d for d in documents if d["kind"] == "ConfigMap")["data"]
    secrets = next(d for d in documents if d["kind"] == "Secret")["stringData"]
    assert config["ENVIRONMENT"] == "production"
    with pytest.raises(ValidationError, match="is a placeholder"):
        start("gateway", {**config, **secrets}, monkeypatch)
