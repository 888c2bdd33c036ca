"""docker-compose.yml and compose.cluster.yml, checked without Docker: every service built, healthy,
stopped gracefully, given only settings that exist, and the zero-config defaults of `make run`."""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.settings import GatewaySettings

from .settings_names import SERVICE_SETTINGS, env_names

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("gateway", "generator", "poller", "usage", "captioner", "publisher")
# What the images and infrastructure read themselves, not our settings classes.
NOT_OURS = {"nats", "nats-2", "nats-3", "postgres"}


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / name).read_text())
    return data


def _merged() -> dict[str, Any]:
    """compose.cluster.yml over docker-compose.yml, as `docker compose -f a -f b` merges mappings."""
    base, overlay = _load("docker-compose.yml"), _load("compose.cluster.yml")
    services = {name: dict(spec) for name, spec in base["services"].items()}
    for name, spec in overlay["services"].items():
        merged = services.setdefault(name, {})
        for key, value in spec.items():
            if key == "environment" and isinstance(value, dict):
                merged["environment"] = {**merged.get("environment", {}), **value}
            else:
                merged[key] = value
    return {"services": services, "volumes": {**base["volumes"], **overlay.get("volumes", {})}}


@pytest.fixture(params=["docker-compose.yml", "compose.cluster.yml (merged)"])
def compose(request: pytest.FixtureRequest) -> dict[str, Any]:
    return _load("docker-compose.yml") if request.param == "docker-compose.yml" else _merged()


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match, duration
    return float(match.group(1))


def test_every_service_builds_from_the_one_dockerfile_and_is_healthchecked(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(SERVICES) | {"simulator", "nats", "postgres"} <= set(services)
    for name, spec in services.items():
        assert "healthcheck" in spec, f"{name} has no healthcheck"
        assert spec["healthcheck"]["test"][0] == "CMD", name
        # Longer than SHUTDOWN_GRACE_SECONDS: Docker's default 10 s would SIGKILL running handlers.
        assert _seconds(spec["stop_grace_period"]) > 25, name
        if name in (*SERVICES, "simulator"):
            assert spec["build"]["dockerfile"] == "deploy/Dockerfile", name


def test_nats_uses_an_image_whose_healthcheck_tool_exists(compose: dict[str, Any]) -> None:
    for name, spec in compose["services"].items():
        if spec.get("image", "").startswith("nats:"):
            # The plain nats image is scratch-based: no wget. The -alpine variant has busybox's.
            assert spec["image"].endswith("-alpine"), name
            assert spec["healthcheck"]["test"][1] == "wget", name
            assert "js-enabled-only=true" in spec["healthcheck"]["test"][-1]


def test_every_worker_has_its_own_health_port_and_its_healthcheck_asks_it(compose: dict[str, Any]) -> None:
    ports = {}
    for name in SERVICES[1:]:
        spec = compose["services"][name]
        port = spec["environment"]["HEALTH_PORT"]
        assert f"127.0.0.1:{port}/readyz" in spec["healthcheck"]["test"][-1], name
        ports[name] = port
    assert len(set(ports.values())) == len(ports)
    assert f"127.0.0.1:{compose['services']['gateway']['environment']['GATEWAY_PORT']}/readyz" in str(
        compose["services"]["gateway"]["healthcheck"]["test"]
    )


def test_every_variable_compose_sets_is_a_setting_of_that_service(compose: dict[str, Any]) -> None:
    for name, spec in compose["services"].items():
        if name in NOT_OURS:
            continue
        known = env_names(SERVICE_SETTINGS[name])
        unknown = set(spec.get("environment", {})) - known
        assert not unknown, f"{name} is given variables no settings class reads: {sorted(unknown)}"


def test_with_no_env_file_the_defaults_are_the_zero_config_system(compose: dict[str, Any]) -> None:
    for name in SERVICES:
        spec = compose["services"][name]
        assert spec["env_file"] == [{"path": ".env", "required": False}], name
        env = spec["environment"]
        assert env["ENVIRONMENT"] == "${ENVIRONMENT:-development}"
        for key in ("KIE", "GEMINI", "OPENAI", "LATE"):
            if f"{key}_BASE_URL" in env_names(SERVICE_SETTINGS[name]):
                assert env[f"{key}_BASE_URL"].startswith(f"${{{key}_BASE_URL:-http://simulator:8900"), (name, key)
        for secret in ("AUTH_JWT_SECRET", "MEDIA_SIGNING_KEY", "CALLBACK_SIGNING_KEY", "LATE_WEBHOOK_SECRET"):
            if secret in env_names(SERVICE_SETTINGS[name]):
                # A development default that production refuses (it says change-me).
                assert "change-me" in env[secret], (name, secret)
        assert spec["depends_on"]["simulator"] == {"condition": "service_healthy"}


def test_media_is_one_named_volume_the_image_prepares_for_uid_10001(compose: dict[str, Any]) -> None:
    for name in SERVICES:
        assert "media:/media" in compose["services"][name]["volumes"], name
    assert "media" in compose["volumes"]
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "chown 10001:10001 /media" in dockerfile
    assert "USER 10001" in dockerfile


def test_the_cluster_file_gives_every_service_three_nats_urls_and_r3() -> None:
    merged = _merged()
    nodes = [name for name, spec in merged["services"].items() if spec.get("image", "").startswith("nats:")]
    assert len(nodes) == 3
    for name in SERVICES:
        env = merged["services"][name]["environment"]
        assert len(env["NATS_URL"].split(",")) == 3
        assert env["STREAM_REPLICAS"] == "3"


def test_the_build_context_leaves_out_local_state_and_secrets() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", ".run", ".env", "tests"):
        assert entry in ignored, entry


def _defaults(environment: dict[str, str]) -> dict[str, str]:
    """What compose gives a variable with no .env: `${NAME:-default}` → default."""
    return {name: re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value)) for name, value in environment.items()}


def test_with_no_env_file_the_page_signs_in_as_under_make_run_on_the_hosts_loopback_only(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = compose["services"]["gateway"]
    assert all(str(port).startswith("127.0.0.1:") for port in gateway["ports"]), gateway["ports"]
    for key, value in _defaults(gateway["environment"]).items():
        monkeypatch.setenv(key, value)
    settings = GatewaySettings(_env_file=None)
    assert settings.environment == "development" and settings.dev_auth_enabled
