"""What a paid provider call cost us: KIE in credits from a price table, Gemini and OpenAI in
tokens from their usage fields, each turned into money by a configurable price.

Pure: the services record the result with the asset and the user; what the cost bought (delivered,
failed, wasted) is decided when the outcome is known, not here.
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from .settings import ProviderSettings

_MILLION = Decimal(1_000_000)
# What Gemini counts for one input image (its documented tokens per image up to 384 px a side, tiled beyond).
_IMAGE_INPUT_TOKENS = 258
# What OpenAI counts for one image at low detail (the base of its per-image tokens).
_OPENAI_IMAGE_INPUT_TOKENS = 85


@dataclass(frozen=True, slots=True)
class Cost:
    provider: str  # kie, gemini, openai
    model: str
    units: Decimal  # credits for KIE, tokens for the others
    unit: str  # "credits" or "tokens"
    usd: Decimal
    input_tokens: int | None = None
    output_tokens: int | None = None
    # The provider reported no units (its answer was lost): ours are estimates from the price table.
    estimated: bool = False


@dataclass(frozen=True, slots=True)
class Prices:
    kie_credits: Mapping[str, float]  # by model, or by provider (kie-veo3) as the fallback
    usd_per_kie_credit: Decimal
    gemini_usd_per_million_input: Decimal
    gemini_usd_per_million_output: Decimal
    openai_usd_per_million_input: Decimal
    openai_usd_per_million_output: Decimal
    gemini_typical_image_output_tokens: int = 1290
    # A caption's answer: one or two sentences and a few hashtags.
    openai_typical_caption_output_tokens: int = 60

    @classmethod
    def from_settings(cls, settings: ProviderSettings) -> "Prices":
        return cls(
            kie_credits=dict(settings.kie_credit_prices),
            usd_per_kie_credit=Decimal(str(settings.kie_usd_per_credit)),
            gemini_usd_per_million_input=Decimal(str(settings.gemini_usd_per_million_input_tokens)),
            gemini_usd_per_million_output=Decimal(str(settings.gemini_usd_per_million_output_tokens)),
            openai_usd_per_million_input=Decimal(str(settings.openai_usd_per_million_input_tokens)),
            openai_usd_per_million_output=Decimal(str(settings.openai_usd_per_million_output_tokens)),
            gemini_typical_image_output_tokens=settings.gemini_typical_image_output_tokens,
        )

    def kie(self, provider: str, model: str | None) -> Cost:
        credits = self.kie_credits.get(model or "", self.kie_credits.get(provider))
        if credits is None:
            raise KeyError(f"no KIE price for model {model!r} or provider {provider!r} (KIE_CREDIT_PRICES)")
        units = Decimal(str(credits))
        return Cost("kie", model or provider, units, "credits", units * self.usd_per_kie_credit)

    def gemini(self, model: str, input_tokens: int, output_tokens: int) -> Cost:
        usd = (
            Decimal(input_tokens) * self.gemini_usd_per_million_input
            + Decimal(output_tokens) * self.gemini_usd_per_million_output
        ) / _MILLION
        return Cost("gemini", model, Decimal(input_tokens + output_tokens), "tokens", usd, input_tokens, output_tokens)

    def gemini_estimate(self, model: str, prompt: str, *, with_reference: bool) -> Cost:
        """A Gemini call that was sent but whose answer never came back: Gemini bills it, we got no
        usage field. Input as Gemini counts text (about four characters a token) plus one image's
        258 tokens for a reference; output the typical image's tokens. Marked estimated."""
        input_tokens = max(1, -(-len(prompt) // 4)) + (_IMAGE_INPUT_TOKENS if with_reference else 0)
        cost = self.gemini(model, input_tokens, self.gemini_typical_image_output_tokens)
        return replace(cost, estimated=True)

    def openai(self, model: str, usage: Mapping[str, Any]) -> Cost:
        prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        usd = (
            Decimal(prompt) * self.openai_usd_per_million_input
            + Decimal(completion) * self.openai_usd_per_million_output
        ) / _MILLION
        return Cost("openai", model, Decimal(prompt + completion), "tokens", usd, prompt, completion)

    def openai_estimate(self, model: str, text: str, *, images: int = 1) -> Cost:
        """A caption call that was sent but whose answer never came back: OpenAI bills it, we got no
        usage field. Input as text (about four characters a token) plus each image at low detail,
        output a typical caption. Marked estimated."""
        prompt = max(1, -(-len(text) // 4)) + _OPENAI_IMAGE_INPUT_TOKENS * images
        cost = self.openai(
            model, {"prompt_tokens": prompt, "completion_tokens": self.openai_typical_caption_output_tokens}
        )
        return replace(cost, estimated=True)
