"""Editing one of the user's ready images: which asset may be edited, and the edit request itself.

An edit is a generation like any other (one unit, the same Idempotency-Key rules), whose provider
gets the parent image as well as the prompt; only what differs from generate is decided here.
"""

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from aistudio_contracts import AssetStatus, MediaType, Provider

from .requests import GenerationSpec, InvalidRequest, Issue, parse_generation_request

# The image models that take an input image: Flux Kontext (`inputImage`, its edit mode), 4o Image
# (`filesUrl`) and Gemini (the image inline). Veo animates an image, which is not an edit.
EDIT_PROVIDERS = (Provider.KIE_FLUX_KONTEXT, Provider.KIE_4O_IMAGE, Provider.GEMINI_FLASH)
DEFAULT_EDIT_PROVIDER = Provider.KIE_FLUX_KONTEXT


@dataclass(frozen=True, slots=True)
class EditParent:
    asset_id: UUID
    storage_key: str


class NotEditable(Exception):
    """The asset exists and is the user's, but cannot be edited (yet, or ever): a conflict."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message


def editable_parent(asset: Mapping[str, Any]) -> EditParent:
    """The asset as the start of an edit; NotEditable for a video or an image that is not ready."""
    if asset["type"] != MediaType.IMAGE.value:
        raise NotEditable("Only images can be edited", "This asset is a video; editing works on ready images.")
    if asset["status"] != AssetStatus.READY.value or not asset["result_storage_key"]:
        raise NotEditable("Image not ready", f"This image is {asset['status']}; only a ready image can be edited.")
    return EditParent(asset["id"], asset["result_storage_key"])


def parse_edit_request(body: Any, parent: EditParent) -> GenerationSpec:
    """`{prompt, provider?, aspectRatio?}` → the generation that edits `parent`, with every problem at once."""
    if not isinstance(body, dict):
        raise InvalidRequest([Issue((), "Request body must be a JSON object")])
    issues: list[Issue] = []
    provider = body.get("provider")
    if provider in (None, ""):
        provider = DEFAULT_EDIT_PROVIDER.value
    elif provider not in {choice.value for choice in EDIT_PROVIDERS}:
        allowed = ", ".join(choice.value for choice in EDIT_PROVIDERS)
        issues.append(Issue(("provider",), f"Provider must be one of: {allowed}"))
        provider = None
    # The prompt and the aspect ratio are checked as generate checks them (the ratio against the
    # chosen provider, so only once the provider itself is valid).
    fields = {
        "prompt": body.get("prompt"),
        "provider": provider or DEFAULT_EDIT_PROVIDER.value,
        "type": MediaType.IMAGE.value,
        "aspectRatio": body.get("aspectRatio") if provider else None,
    }
    try:
        spec = parse_generation_request(fields)
    except InvalidRequest as invalid:
        issues = [*invalid.issues, *issues]
    if issues:
        raise InvalidRequest(issues)
    return dataclasses.replace(spec, parent_id=parent.asset_id, parent_storage_key=parent.storage_key)
