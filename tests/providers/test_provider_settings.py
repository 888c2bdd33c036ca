"""Settings and the error type every service relies on."""

import pytest

from aistudio_contracts import FailureReason
from aistudio_providers import ErrorKind, KieClient, ProviderError, ProviderSettings
from aistudio_runtime import ServiceSettings


class _ServiceWithProviders(ServiceSettings, ProviderSettings):
    pass


def test_settings_read_keys_as_secrets_and_keep_documented_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIE_API_KEY", "kie-secret")
    monkeypatch.setenv("GEMINI_API_KEY", "")

    # Provider settings are always read as part of a service's settings, whose base says blank means unset.
    settings = _ServiceWithProviders(_env_file=None, environment="development")

    assert settings.kie_api_key is not None and settings.kie_api_key.get_secret_value() == "kie-secret"
    assert "kie-secret" not in repr(settings)
    assert settings.gemini_api_key is None  # `KEY=` in a .env file means "not configured"
    assert settings.kie_base_url == "https://api.kie.ai"
    assert settings.gemini_model == "gemini-2.5-flash-image"
    assert settings.openai_base_url == "https://api.openai.com/v1"


def test_a_client_cannot_be_built_without_its_key() -> None:
    with pytest.raises(ValueError, match="KIE_API_KEY"):
        KieClient.from_settings(ProviderSettings(_env_file=None, kie_api_key=None))


def test_only_refused_errors_are_retryable_unless_a_provider_says_otherwise() -> None:
    refused = ProviderError(ErrorKind.REFUSED, FailureReason.PROVIDER_UNAVAILABLE)
    ambiguous = ProviderError(ErrorKind.AMBIGUOUS, FailureReason.UNKNOWN_OUTCOME)
    synchronous = ProviderError(ErrorKind.AMBIGUOUS, FailureReason.PROVIDER_ERROR, retryable=True)

    assert (refused.retryable, ambiguous.retryable, synchronous.retryable) == (True, False, True)


def test_an_error_reads_as_a_sentence_with_its_provider_details() -> None:
    error = ProviderError(
        ErrorKind.USER, FailureReason.CONTENT_POLICY, provider_code=400, http_status=200, provider_message="flagged"
    )

    assert error.user_message.endswith(".")
    assert "provider code 400" in str(error)
    assert "HTTP 200" in str(error)
