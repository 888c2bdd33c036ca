"""Outside development, start-up refuses weak or placeholder secrets, naming the setting and the fix."""

import pytest
from pydantic import ValidationError
from starlette.requests import Request

from gateway.api.routes.dev import _from_this_machine
from gateway.settings import GatewaySettings
from generator.settings import GeneratorSettings

STRONG = "s" * 48
GENERATE = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'


def _gateway(**values: object) -> GatewaySettings:
    strong = {"auth_jwt_secret": STRONG, "media_signing_key": STRONG, "callback_signing_key": STRONG}
    return GatewaySettings(_env_file=None, **{**strong, **values})  # type: ignore[call-arg, arg-type]


def test_production_is_the_default_mode_and_starts_with_strong_secrets() -> None:
    settings = _gateway()
    assert settings.environment == "production"


@pytest.mark.parametrize(
    ("setting", "value", "problem"),
    [
        ("auth_jwt_secret", "<supabase-jwt-secret>", "AUTH_JWT_SECRET is a placeholder"),
        ("auth_jwt_secret", "too-short", "AUTH_JWT_SECRET is shorter than 32 bytes"),
        ("media_signing_key", "change-me-media-signing-key", "MEDIA_SIGNING_KEY is the built-in change-me default"),
        ("media_signing_key", "<random-long-secret>", "MEDIA_SIGNING_KEY is a placeholder"),
        ("media_signing_key", "x" * 31, "MEDIA_SIGNING_KEY is shorter than 32 bytes"),
        ("callback_signing_key", "change-me-callback-signing-key", "CALLBACK_SIGNING_KEY is the built-in change-me"),
        ("callback_signing_key", "short", "CALLBACK_SIGNING_KEY is shorter than 32 bytes"),
        ("kie_callback_hmac_key", "<kie-webhook-key>", "KIE_CALLBACK_HMAC_KEY is a placeholder"),
        ("s3_secret_access_key", "<secret-access-key>", "S3_SECRET_ACCESS_KEY is a placeholder"),
    ],
)
def test_start_up_refuses_a_weak_secret_naming_it_and_how_to_make_one(setting: str, value: str, problem: str) -> None:
    with pytest.raises(ValidationError) as refused:
        _gateway(**{setting: value})
    message = str(refused.value)
    assert problem in message
    assert GENERATE in message


def test_the_built_in_defaults_are_refused_when_no_key_is_given() -> None:
    with pytest.raises(ValidationError) as refused:
        GatewaySettings(_env_file=None, auth_jwt_secret=STRONG)  # type: ignore[call-arg]
    assert "MEDIA_SIGNING_KEY is the built-in change-me default" in str(refused.value)
    assert "CALLBACK_SIGNING_KEY is the built-in change-me default" in str(refused.value)


def test_the_generator_refuses_the_default_callback_key_too() -> None:
    with pytest.raises(ValidationError, match="CALLBACK_SIGNING_KEY is the built-in change-me default"):
        GeneratorSettings(_env_file=None)  # type: ignore[call-arg]


def test_a_providers_own_key_is_not_held_to_our_length() -> None:
    # KIE, Gemini and OpenAI issue their keys; only a placeholder is refused.
    GeneratorSettings(_env_file=None, callback_signing_key=STRONG, kie_api_key="short-kie-key")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="KIE_API_KEY is a placeholder"):
        GeneratorSettings(_env_file=None, callback_signing_key=STRONG, kie_api_key="<kie-api-key>")  # type: ignore[call-arg]


def test_development_accepts_the_weak_keys_a_laptop_uses() -> None:
    settings = GatewaySettings(_env_file=None, environment="development", auth_jwt_secret="dev")  # type: ignore[call-arg]
    assert settings.media_signing_key.get_secret_value().startswith("change-me")


def test_a_blank_secret_counts_as_unset() -> None:
    settings = _gateway(kie_callback_hmac_key="", auth_audience="", auth_jwks_url="")
    assert settings.kie_callback_hmac_key is None
    assert settings.auth_audience is None
    assert settings.jwks_url is None


def test_the_development_sign_in_needs_a_loopback_bind() -> None:
    with pytest.raises(ValidationError, match="DEV_AUTH_ENABLED needs a loopback GATEWAY_HOST"):
        _gateway(dev_auth_enabled=True, gateway_host="0.0.0.0")
    assert _gateway(dev_auth_enabled=True, gateway_host="::1").dev_auth_enabled


def test_a_container_published_on_the_hosts_loopback_may_sign_in_in_development_only() -> None:
    container = {"dev_auth_enabled": True, "gateway_host": "0.0.0.0", "dev_auth_published_on_loopback": True}
    assert _gateway(**container, environment="development").dev_auth_enabled
    with pytest.raises(ValidationError, match="DEV_AUTH_ENABLED needs a loopback GATEWAY_HOST"):
        _gateway(**container)  # production


def test_the_development_sign_in_mints_only_for_a_loopback_or_private_peer() -> None:
    def peer(host: str) -> Request:
        return Request({"type": "http", "client": (host, 50000), "headers": []})

    assert all(_from_this_machine(peer(host)) for host in ("127.0.0.1", "::1", "172.17.0.1", "10.0.0.7"))
    assert not any(_from_this_machine(peer(host)) for host in ("8.8.8.8", "2a00:1450:4001::1", "not-an-address"))


def test_the_development_sign_in_is_refused_beside_a_jwks() -> None:
    with pytest.raises(ValidationError, match="DEV_AUTH_ENABLED cannot be on with AUTH_JWKS_URL"):
        _gateway(dev_auth_enabled=True, auth_jwks_url="https://example.test/jwks.json")
    with pytest.raises(ValidationError, match="DEV_AUTH_ENABLED cannot be on"):
        _gateway(dev_auth_enabled=True, environment="development", supabase_url="https://ref.supabase.co")


def test_a_supabase_project_gives_the_issuer_and_the_jwks() -> None:
    settings = _gateway(supabase_url="https://ref.supabase.co/")
    assert settings.issuer == "https://ref.supabase.co/auth/v1"
    assert settings.jwks_url == "https://ref.supabase.co/auth/v1/.well-known/jwks.json"
    assert _gateway(supabase_url="https://ref.supabase.co", auth_issuer="https://issuer.test").issuer == (
        "https://issuer.test"
    )
