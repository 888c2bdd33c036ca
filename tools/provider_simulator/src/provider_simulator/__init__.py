"""A stand-in for KIE.ai, Gemini and OpenAI: their wire protocols, real media, timing and faults."""

from .app import create_app
from .config import NextFaults, SimulatorConfig
from .markers import Markers, strip_markers

__all__ = ["Markers", "NextFaults", "SimulatorConfig", "create_app", "strip_markers"]
