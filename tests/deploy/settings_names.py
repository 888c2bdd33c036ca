"""Every environment variable a deployment may set: the fields of every settings class we ship."""

from pydantic_settings import BaseSettings

from aistudio_devstack.settings import DevstackSettings
from aistudio_providers.settings import ProviderSettings
from captioner.settings import CaptionerSettings
from gateway.settings import GatewaySettings
from generator.settings import GeneratorSettings
from poller.settings import PollerSettings
from provider_simulator.config import SimulatorConfig
from publisher.settings import PublisherSettings
from usage.settings import UsageSettings

SERVICE_SETTINGS: dict[str, type[BaseSettings]] = {
    "gateway": GatewaySettings,
    "generator": GeneratorSettings,
    "poller": PollerSettings,
    "usage": UsageSettings,
    "captioner": CaptionerSettings,
    "publisher": PublisherSettings,
    "simulator": SimulatorConfig,
}


def env_names(settings: type[BaseSettings]) -> set[str]:
    """The variables a settings class reads: its prefix and each field's name or alias, upper-cased."""
    prefix = str(settings.model_config.get("env_prefix") or "")
    names = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias if isinstance(field.validation_alias, str) else None
        names.add((alias or f"{prefix}{name}").upper())
    return names


def known_everywhere() -> set[str]:
    names: set[str] = set()
    classes: list[type[BaseSettings]] = [*SERVICE_SETTINGS.values(), DevstackSettings, ProviderSettings]
    for settings in classes:
        names |= env_names(settings)
    return names
