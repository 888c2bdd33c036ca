"""The JSON Schema of every event and message, checked in under libs/contracts/schemas.

`make schemas` rewrites them after a deliberate change; the contract tests compare the models
against them, so that an accidental change (or a breaking one) fails a test.
"""

import json
import sys
from pathlib import Path
from typing import Any

from .events import ALL_EVENTS
from .messages import ALL_MESSAGES


def current_schemas() -> dict[str, dict[str, Any]]:
    return {model.__name__: model.model_json_schema(mode="serialization") for model in (*ALL_EVENTS, *ALL_MESSAGES)}


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What a consumer written against `old` would trip over in `new`."""
    problems = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name, spec in old_props.items():
        if name not in new_props:
            problems.append(f"field {name!r} was removed")
        elif _shape(spec) != _shape(new_props[name]):
            problems.append(f"field {name!r} changed type")
    added_required = set(new.get("required", [])) - set(old.get("required", [])) - set(old_props)
    problems.extend(f"new field {name!r} is required" for name in sorted(added_required))
    return problems


def _shape(spec: dict[str, Any]) -> Any:
    keys = ("type", "$ref", "anyOf", "items", "format", "enum")
    return json.dumps({key: spec.get(key) for key in keys}, sort_keys=True)


def main(folder: str) -> None:
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    for name, schema in current_schemas().items():
        (target / f"{name}.json").write_text(render(schema))
    print(f"wrote {len(current_schemas())} schemas to {target}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "libs/contracts/schemas")
