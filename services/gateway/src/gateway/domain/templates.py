"""Prompt templates: a prompt with `{placeholders}` the user fills in at generate time.

The built-in library lives here, in code; a user's own templates are rows the gateway keeps
(see ../templates.py). Rendering is pure: the placeholders a prompt names, and the prompt with
the given values put in, or the names that were not given.
"""

import re
from dataclasses import dataclass
from typing import Literal

from aistudio_contracts import PROMPT_MAX_LENGTH, PROMPT_MIN_LENGTH, MediaType

from .requests import Issue

NAME_MAX_LENGTH = 80
MAX_PER_USER = 50
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]{0,39})\}")


@dataclass(frozen=True, slots=True)
class Template:
    id: str
    name: str
    type: MediaType
    prompt: str
    owner: Literal["system", "me"]

    @property
    def variables(self) -> list[str]:
        return variables_of(self.prompt)


class MissingVariables(Exception):
    def __init__(self, names: list[str]) -> None:
        super().__init__(", ".join(names))
        self.names = names


def variables_of(prompt: str) -> list[str]:
    """The placeholders a prompt names, each once, in the order they first appear."""
    return list(dict.fromkeys(_PLACEHOLDER.findall(prompt)))


def render(template: Template, values: dict[str, str]) -> str:
    """The prompt with every placeholder filled; a blank value counts as missing."""
    filled = {name: value.strip() for name, value in values.items() if value.strip()}
    missing = [name for name in template.variables if name not in filled]
    if missing:
        raise MissingVariables(missing)
    return _PLACEHOLDER.sub(lambda match: filled[match.group(1)], template.prompt)


def template_issues(name: object, media_type: object, prompt: object) -> list[Issue]:
    """What is wrong with a template the user wants to save, in the seed's error shape."""
    issues: list[Issue] = []
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= NAME_MAX_LENGTH:
        issues.append(Issue(("name",), f"Name is required and must be at most {NAME_MAX_LENGTH} characters"))
    if media_type not in {member.value for member in MediaType}:
        issues.append(Issue(("type",), "Type must be one of: image, video"))
    if not isinstance(prompt, str) or not PROMPT_MIN_LENGTH <= len(prompt.strip()) <= PROMPT_MAX_LENGTH:
        issues.append(Issue(("prompt",), f"Prompt must be {PROMPT_MIN_LENGTH} to {PROMPT_MAX_LENGTH} characters long"))
    elif "\x00" in prompt:
        issues.append(Issue(("prompt",), "Prompt must not contain NUL characters"))
    return issues


def _system(id: str, name: str, media_type: MediaType, prompt: str) -> Template:
    return Template(f"system-{id}", name, media_type, prompt, "system")


BUILT_IN: dict[str, Template] = {
    template.id: template
    for template in (
        _system(
            "product-hero",
            "Product hero shot",
            MediaType.IMAGE,
            "A {product} on a {surface}, soft studio light, hero shot for an online shop",
        ),
        _system(
            "quote-card",
            "Quote card background",
            MediaType.IMAGE,
            "An abstract {mood} background in {colour} tones with space for a short quote",
        ),
        _system(
            "food-flatlay",
            "Food flat lay",
            MediaType.IMAGE,
            "A top-down flat lay of {dish} on a {table} table, fresh ingredients around it",
        ),
        _system(
            "travel-postcard",
            "Travel postcard",
            MediaType.IMAGE,
            "A postcard view of {place} at {time_of_day}, inviting and bright",
        ),
        _system(
            "product-reveal",
            "Product reveal",
            MediaType.VIDEO,
            "A slow camera move revealing a {product} on a {surface}, dramatic light",
        ),
        _system(
            "city-timelapse",
            "City time-lapse",
            MediaType.VIDEO,
            "A time-lapse of {city} from {viewpoint} as day turns to night",
        ),
    )
}
