"""What the product offers: providers, media types, aspect ratios, plans and failure reasons.

This is the one place that says which provider makes which media type and which aspect
ratios each accepts; the gateway validates against it and the generator routes by it.
"""

from dataclasses import dataclass
from enum import StrEnum


class MediaType(StrEnum):
    IMAGE = "image"
    VIDEO = "video"


class Provider(StrEnum):
    KIE_VEO3 = "kie-veo3"
    KIE_4O_IMAGE = "kie-4o-image"
    KIE_FLUX_KONTEXT = "kie-flux-kontext"
    GEMINI_FLASH = "gemini-flash"


class Plan(StrEnum):
    FREE = "free"
    PRO = "pro"


class AssetStatus(StrEnum):
    PROCESSING = "processing"
    READY = "ready"
    ERROR = "error"
    # The user stopped it while it was processing: terminal, never charged, never delivered.
    CANCELLED = "cancelled"


class CaptionStatus(StrEnum):
    NONE = "none"
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


class FailureReason(StrEnum):
    """Why a generation ended without media; machine-readable, shown to clients as `errorCode`."""

    CONTENT_POLICY = "content_policy"
    INVALID_INPUT = "invalid_input"
    PROVIDER_ERROR = "provider_error"
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    INSUFFICIENT_CREDITS = "insufficient_credits"
    TIMEOUT = "timeout"
    UNKNOWN_OUTCOME = "unknown_outcome"
    INTERNAL_ERROR = "internal_error"
    # The user cancelled the generation (a job's or task's end, never an asset's error).
    CANCELLED = "cancelled"

    @classmethod
    def _missing_(cls, value: object) -> "FailureReason":
        # A newer producer's reason, met by an older consumer during a rolling deploy: the job
        # still ended without media, so it is handled as a failure of ours rather than dropped.
        return cls.PROVIDER_ERROR


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    provider: Provider
    label: str
    media_type: MediaType
    aspect_ratios: tuple[str, ...]
    default_aspect_ratio: str
    asynchronous: bool
    # Our cap on the prompt we send, kept below what the provider accepts: a style composed into
    # the user's prompt is shortened to fit, the user's own words never.
    max_prompt_length: int = 1800

    def accepts_aspect_ratio(self, aspect_ratio: str) -> bool:
        return aspect_ratio in self.aspect_ratios


PROVIDERS: dict[Provider, ProviderSpec] = {
    spec.provider: spec
    for spec in (
        ProviderSpec(
            Provider.KIE_4O_IMAGE,
            "KIE 4O Image (Fast)",
            MediaType.IMAGE,
            ("1:1", "3:2", "2:3"),
            "1:1",
            asynchronous=True,
        ),
        ProviderSpec(
            Provider.KIE_FLUX_KONTEXT,
            "KIE Flux Kontext (HD)",
            MediaType.IMAGE,
            ("21:9", "16:9", "4:3", "1:1", "3:4", "9:16"),
            "16:9",
            asynchronous=True,
        ),
        ProviderSpec(
            Provider.GEMINI_FLASH,
            "Gemini 2.5 Flash",
            MediaType.IMAGE,
            ("1:1", "2:3", "3:2", "3:4", "4:3", "9:16", "16:9", "21:9"),
            "1:1",
            asynchronous=False,
        ),
        ProviderSpec(
            Provider.KIE_VEO3,
            "KIE Veo3 (8 seconds)",
            MediaType.VIDEO,
            ("16:9", "9:16", "Auto"),
            "16:9",
            asynchronous=True,
        ),
    )
}

# Images whose KIE submission was refused outright (nothing billed) are generated here instead.
IMAGE_FALLBACK_PROVIDER = Provider.GEMINI_FLASH

PROMPT_MIN_LENGTH = 10
PROMPT_MAX_LENGTH = 1000


def providers_for(media_type: MediaType) -> list[ProviderSpec]:
    return [spec for spec in PROVIDERS.values() if spec.media_type is media_type]


@dataclass(frozen=True, slots=True)
class StylePreset:
    """A look the user picks instead of describing it: `direction` is appended to their prompt."""

    id: str
    name: str
    description: str
    types: tuple[MediaType, ...]
    direction: str


_BOTH = (MediaType.IMAGE, MediaType.VIDEO)

# The one list of styles: the page offers it (GET /api/ai/styles) and the gateway composes by it.
STYLES: dict[str, StylePreset] = {
    style.id: style
    for style in (
        StylePreset(
            "cinematic",
            "Cinematic",
            "Film-like light, depth and colour grading.",
            _BOTH,
            "cinematic shot, dramatic lighting, shallow depth of field, anamorphic lens, film colour grading",
        ),
        StylePreset(
            "minimalist",
            "Minimalist",
            "Clean composition, few elements, lots of space.",
            _BOTH,
            "minimalist composition, clean background, negative space, simple shapes, muted palette",
        ),
        StylePreset(
            "vibrant",
            "Vibrant",
            "Bold saturated colour and energy.",
            _BOTH,
            "vibrant saturated colours, high contrast, bold and energetic, punchy lighting",
        ),
        StylePreset(
            "photorealistic",
            "Photorealistic",
            "Looks like a photograph.",
            _BOTH,
            "photorealistic, natural lighting, true-to-life detail, 50mm photograph, sharp focus",
        ),
        StylePreset(
            "illustration",
            "Illustration",
            "Hand-drawn, editorial illustration.",
            (MediaType.IMAGE,),
            "digital illustration, clean line art, flat colour shading, editorial style",
        ),
        StylePreset(
            "product",
            "Product",
            "Studio product shot for a shop or an ad.",
            (MediaType.IMAGE,),
            "studio product photography, seamless backdrop, softbox lighting, crisp reflections, centred subject",
        ),
    )
}

STYLE_SEPARATOR = ". Style: "


def compose_prompt(prompt: str, style: StylePreset | None, provider: Provider) -> str:
    """The prompt the provider gets: the user's words, then the style's direction, cut at a word so
    the whole stays within the provider's limit (the style gives way, the user's words never do)."""
    if style is None:
        return prompt
    room = PROVIDERS[provider].max_prompt_length - len(prompt) - len(STYLE_SEPARATOR)
    direction = style.direction
    if len(direction) > room:
        direction = direction[: max(room, 0)].rsplit(" ", 1)[0].rstrip(" ,")
    if not direction:
        return prompt
    return f"{prompt.rstrip().rstrip('.')}{STYLE_SEPARATOR}{direction}"
