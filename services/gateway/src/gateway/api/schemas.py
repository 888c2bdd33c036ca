"""The JSON the web client sends and reads (camelCase), named by role."""

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from aistudio_contracts import PROMPT_MAX_LENGTH, PROMPT_MIN_LENGTH, MediaType, Plan, Provider


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema with its local $defs inlined, for an OpenAPI body given by hand."""
    schema = model.model_json_schema(by_alias=True)
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(definitions[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)  # type: ignore[no-any-return]


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class GenerateMediaRequest(CamelModel):
    """Documents the body of POST /api/ai/generate-media; the route validates it itself."""

    prompt: str = Field(min_length=PROMPT_MIN_LENGTH, max_length=PROMPT_MAX_LENGTH)
    provider: Provider
    type: MediaType
    reference_image_url: str | None = Field(default=None, max_length=2048)
    aspect_ratio: str | None = None
    style: str | None = Field(default=None, description="A style preset id from GET /api/ai/styles")
    variants: int = Field(default=1, ge=1, le=4, description="Images only: more than 1 answers a batch")
    template_id: str | None = Field(default=None, description="Instead of prompt: a template to fill in")
    variables: dict[str, str] | None = None


class EditMediaRequest(CamelModel):
    """Documents the body of POST /api/ai/media/{id}/edit; the route validates it itself."""

    prompt: str = Field(min_length=PROMPT_MIN_LENGTH, max_length=PROMPT_MAX_LENGTH)
    provider: Literal["kie-flux-kontext", "kie-4o-image", "gemini-flash"] = "kie-flux-kontext"
    aspect_ratio: str | None = Field(default=None, description="One the chosen provider accepts; its default if unset")


class StylePublic(CamelModel):
    id: str
    name: str
    description: str
    types: list[MediaType]


class StylesPublic(CamelModel):
    styles: list[StylePublic]


class TemplatePublic(CamelModel):
    id: str
    name: str
    type: MediaType
    prompt: str = Field(description="The prompt with {placeholders} for the variables")
    variables: list[str]
    owner: Literal["system", "me"]


class TemplatesPublic(CamelModel):
    templates: list[TemplatePublic]


class MediaAssetPublic(CamelModel):
    id: UUID
    provider: Provider
    requested_provider: Provider
    type: MediaType
    prompt: str
    status: Literal["processing", "ready", "error", "cancelled"]
    result_url: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    caption: str | None = None
    caption_status: Literal["none", "pending", "ready", "failed"] = "none"
    reference_image_url: str | None = None
    aspect_ratio: str
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None
    # The provider's model that made (or is making) it, once known.
    model: str | None = None
    # The style preset composed into the provider's prompt; `prompt` stays the user's own words.
    style: str | None = None
    template_id: str | None = None
    # Variants requested together share it (the gallery groups them); null for a single request.
    batch_id: UUID | None = None
    # The asset an edit started from.
    parent_id: UUID | None = None
    # While it waits for the provider's limit: its place among the jobs waiting for the same
    # provider (1-based) and when it should start and be ready; null once sent.
    queue_position: int | None = None
    estimated_start_at: datetime | None = None
    estimated_ready_at: datetime | None = None


class BatchPublic(CamelModel):
    """The answer to a request for several variants: one asset per variant."""

    batch_id: UUID
    assets: list[MediaAssetPublic]


class MediaAssetsPublic(CamelModel):
    assets: list[MediaAssetPublic]
    next_cursor: str | None = None


class UsagePublic(CamelModel):
    plan: Plan
    limit: int | None
    used: int
    reserved: int
    remaining: int | None
    period_start: datetime
    period_end: datetime


class PlanChange(CamelModel):
    plan: Plan


class ErrorPublic(BaseModel):
    error: str
    message: str | None = None
