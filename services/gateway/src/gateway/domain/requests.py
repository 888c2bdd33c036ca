"""Validation of a generation request, with the seed's error shape: a path and a message per issue."""

import hashlib
import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from aistudio_contracts import (
    PROMPT_MAX_LENGTH,
    PROMPT_MIN_LENGTH,
    PROVIDERS,
    STYLES,
    MediaType,
    Provider,
    compose_prompt,
)

from .urls import unsafe_url_reason


@dataclass(frozen=True, slots=True)
class Issue:
    path: tuple[str | int, ...]
    message: str


@dataclass(frozen=True, slots=True)
class GenerationSpec:
    prompt: str
    provider: Provider
    media_type: MediaType
    aspect_ratio: str
    reference_image_url: str | None
    style: str | None = None
    variants: int = 1
    # The template the prompt was written from (its variables already filled in).
    template_id: str | None = None
    # An edit: the user's ready image it starts from, and where that image is in our media store.
    parent_id: UUID | None = None
    parent_storage_key: str | None = None

    @property
    def provider_prompt(self) -> str:
        """What the provider is asked: the user's prompt with the style composed in."""
        return compose_prompt(self.prompt, STYLES.get(self.style or ""), self.provider)

    def fingerprint(self) -> str:
        """Identifies the request's content, to tell an idempotent retry from a different request."""
        parts: list[object] = [self.prompt, self.provider, self.media_type, self.aspect_ratio, self.reference_image_url]
        # Only when set, so a request without them keeps the fingerprint it always had.
        extras = {"style": self.style, "variants": self.variants if self.variants != 1 else None}
        extras["template"] = self.template_id
        extras["parent"] = str(self.parent_id) if self.parent_id else None
        parts.extend(f"{key}={value}" for key, value in extras.items() if value is not None)
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


class InvalidRequest(Exception):
    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("; ".join(issue.message for issue in issues))
        self.issues = issues


def _choice(body: dict[str, Any], key: str, enum: type[Provider] | type[MediaType], issues: list[Issue]) -> Any:
    value = body.get(key)
    if not isinstance(value, str) or value not in {member.value for member in enum}:
        allowed = ", ".join(member.value for member in enum)
        issues.append(Issue((key,), f"{key.capitalize()} must be one of: {allowed}"))
        return None
    return enum(value)


def parse_generation_request(body: Any) -> GenerationSpec:
    if not isinstance(body, dict):
        raise InvalidRequest([Issue((), "Request body must be a JSON object")])
    issues: list[Issue] = []

    prompt = body.get("prompt")
    if not isinstance(prompt, str):
        issues.append(Issue(("prompt",), "Prompt is required and must be a string"))
        prompt = ""
    else:
        prompt = prompt.strip()
        if len(prompt) < PROMPT_MIN_LENGTH:
            issues.append(Issue(("prompt",), f"Prompt must be at least {PROMPT_MIN_LENGTH} characters"))
        elif len(prompt) > PROMPT_MAX_LENGTH:
            issues.append(Issue(("prompt",), f"Prompt must be at most {PROMPT_MAX_LENGTH} characters"))
        elif "\x00" in prompt:
            issues.append(Issue(("prompt",), "Prompt must not contain NUL characters"))

    provider = _choice(body, "provider", Provider, issues)
    media_type = _choice(body, "type", MediaType, issues)
    spec = PROVIDERS.get(provider) if provider else None
    if spec and media_type and spec.media_type is not media_type:
        issues.append(Issue(("provider",), f"Provider {provider.value} does not make {media_type.value}s"))

    aspect_ratio = body.get("aspectRatio")
    if aspect_ratio in (None, ""):
        aspect_ratio = spec.default_aspect_ratio if spec else ""
    elif not isinstance(aspect_ratio, str):
        issues.append(Issue(("aspectRatio",), "Aspect ratio must be a string such as 16:9"))
    elif spec and not spec.accepts_aspect_ratio(aspect_ratio):
        allowed = ", ".join(spec.aspect_ratios)
        issues.append(Issue(("aspectRatio",), f"{provider.value} accepts these aspect ratios: {allowed}"))

    reference = body.get("referenceImageUrl")
    if reference in (None, ""):
        reference = None
    elif not isinstance(reference, str):
        issues.append(Issue(("referenceImageUrl",), "Reference image URL must be a string"))
    elif reason := unsafe_url_reason(reference.strip()):
        issues.append(Issue(("referenceImageUrl",), reason))
    else:
        reference = reference.strip()

    style = _style(body.get("style"), media_type, issues)
    variants = _variants(body.get("variants"), media_type, issues)

    if issues:
        raise InvalidRequest(issues)
    return GenerationSpec(prompt, provider, media_type, aspect_ratio, reference, style, variants)


MAX_VARIANTS = 4


def _style(value: Any, media_type: MediaType | None, issues: list[Issue]) -> str | None:
    if value in (None, ""):
        return None
    preset = STYLES.get(value) if isinstance(value, str) else None
    if preset is None:
        issues.append(Issue(("style",), f"Style must be one of: {', '.join(STYLES)}"))
        return None
    if media_type and media_type not in preset.types:
        issues.append(Issue(("style",), f"Style {preset.id} is not offered for {media_type.value}s"))
    return preset.id


def _variants(value: Any, media_type: MediaType | None, issues: list[Issue]) -> int:
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_VARIANTS:
        issues.append(Issue(("variants",), f"Variants must be a whole number from 1 to {MAX_VARIANTS}"))
        return 1
    if value > 1 and media_type is MediaType.VIDEO:
        issues.append(Issue(("variants",), "Variants are offered for images only"))
    return value
