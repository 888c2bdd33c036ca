"""Contract tests: events survive the wire, and their schemas change only on purpose."""

import json
from pathlib import Path
from uuid import uuid4

import pytest
from pydantic import ValidationError

from aistudio_contracts import (
    ALL_EVENTS,
    PROVIDERS,
    FailureReason,
    GenerationCompleted,
    GenerationFailed,
    GenerationRequested,
    MediaType,
    Provider,
    StoredMedia,
    TaskStarted,
    providers_for,
    subjects,
)
from aistudio_contracts.jsonschema import breaking_changes, current_schemas, render

SCHEMAS = Path(__file__).parents[2] / "libs" / "contracts" / "schemas"


def _samples() -> list[object]:
    asset = uuid4()
    common = {"correlation_id": asset, "asset_id": asset, "user_id": "user-1"}
    return [
        GenerationRequested(
            **common,
            provider=Provider.KIE_VEO3,
            media_type=MediaType.VIDEO,
            prompt="A drone shot over a foggy forest",
            aspect_ratio="16:9",
            reference_image_url="https://example.com/a.png",
        ),
        TaskStarted(**common, provider=Provider.KIE_4O_IMAGE, media_type=MediaType.IMAGE, task_id="a" * 32, prompt="p"),
        GenerationCompleted(
            **common,
            provider=Provider.GEMINI_FLASH,
            requested_provider=Provider.KIE_4O_IMAGE,
            media_type=MediaType.IMAGE,
            prompt="p",
            media=StoredMedia(storage_key="2026/11/x.png", content_type="image/png", size_bytes=10, sha256="0" * 64),
        ),
        GenerationFailed(**common, provider=Provider.KIE_VEO3, reason=FailureReason.TIMEOUT, message="Too slow"),
    ]


@pytest.mark.parametrize("event", _samples(), ids=lambda event: type(event).__name__)
def test_events_survive_a_json_round_trip(event: GenerationRequested) -> None:
    assert type(event).from_json(event.to_json()) == event


def test_events_are_immutable() -> None:
    event = _samples()[0]
    with pytest.raises(ValidationError):
        event.prompt = "changed"  # type: ignore[misc]


def test_unknown_fields_from_newer_producers_are_ignored() -> None:
    event = _samples()[0]
    data = json.loads(event.to_json()) | {"added_in_v2": "whatever"}
    assert GenerationRequested.model_validate(data) == event


def test_every_event_has_its_own_subject_under_the_events_stream() -> None:
    names = [event.subject for event in ALL_EVENTS]
    assert len(set(names)) == len(names)
    assert all(name.startswith(subjects.EVENTS_PREFIX + ".") for name in names)


@pytest.mark.parametrize("name", sorted(current_schemas()))
def test_checked_in_schema_matches_the_model(name: str) -> None:
    path = SCHEMAS / f"{name}.json"
    assert path.exists(), f"no checked-in schema for {name}: run `make schemas`"
    checked_in = json.loads(path.read_text())
    current = current_schemas()[name]
    problems = breaking_changes(checked_in, current)
    assert not problems, f"{name} changed incompatibly: {problems}; publish a new event version instead"
    assert path.read_text() == render(current), f"{name} changed: review it, then run `make schemas`"


def test_a_removed_field_is_a_breaking_change() -> None:
    old = {"properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a", "b"]}
    new = {"properties": {"a": {"type": "string"}}, "required": ["a"]}
    assert breaking_changes(old, new) == ["field 'b' was removed"]


def test_a_new_optional_field_is_not_a_breaking_change() -> None:
    old = {"properties": {"a": {"type": "string"}}, "required": ["a"]}
    new = {"properties": {"a": {"type": "string"}, "c": {"type": "string"}}, "required": ["a"]}
    assert breaking_changes(old, new) == []


def test_each_media_type_has_providers_and_each_provider_its_default_ratio() -> None:
    assert {spec.provider for spec in providers_for(MediaType.VIDEO)} == {Provider.KIE_VEO3}
    assert len(providers_for(MediaType.IMAGE)) == 3
    assert all(spec.default_aspect_ratio in spec.aspect_ratios for spec in PROVIDERS.values())
