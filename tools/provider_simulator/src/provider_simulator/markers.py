"""Fault markers carried in prompts: `[sim:submit=429]`, `[sim:status=null:3]`, `[sim:variant=snake_urls]`.

A marker travels with the request through the real clients untouched, so a test can choose a
fault for exactly one job without reconfiguring the simulator. README.md lists them all.
"""

import re
from dataclasses import dataclass

_MARKER = re.compile(r"\[sim:([a-z0-9_]+)=([^\]\s]*)\]", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault name and, for `name:N`, how many times it applies (None: every time)."""

    name: str
    times: int | None = None

    @classmethod
    def parse(cls, value: str) -> "Fault":
        name, _, count = value.partition(":")
        return cls(name.lower(), int(count) if count.isdigit() else None)


@dataclass(frozen=True, slots=True)
class Markers:
    values: dict[str, tuple[str, ...]]

    @classmethod
    def parse(cls, *texts: str | None) -> "Markers":
        found: dict[str, list[str]] = {}
        for text in texts:
            for key, value in _MARKER.findall(text or ""):
                for item in value.split(","):
                    if item:
                        found.setdefault(key.lower(), []).append(item)
        return cls({key: tuple(items) for key, items in found.items()})

    def fault(self, channel: str) -> Fault | None:
        items = self.values.get(channel)
        return Fault.parse(items[0]) if items else None

    def all(self, key: str) -> frozenset[str]:
        return frozenset(item.lower() for item in self.values.get(key, ()))

    def number(self, key: str) -> float | None:
        items = self.values.get(key)
        try:
            return float(items[0]) if items else None
        except ValueError:
            return None


def strip_markers(text: str) -> str:
    """The prompt as a person wrote it, for rendering into images and captions."""
    return " ".join(_MARKER.sub(" ", text).split())
