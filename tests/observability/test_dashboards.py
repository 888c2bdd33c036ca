"""The dashboard and the alert rules in deploy/observability name only metrics the code exports."""

import json
import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import captioner.metrics
import gateway.api.observability
import gateway.metrics
import generator.metrics
import poller.metrics
import usage.metrics
from aistudio_providers import metrics as provider_metrics
from aistudio_runtime import metrics

ROOT = Path(__file__).resolve().parents[2] / "deploy" / "observability"
_METRIC = re.compile(r"\baistudio_[a-z0-9_]+")
_MODULES = (captioner.metrics, gateway.api.observability, gateway.metrics, generator.metrics, poller.metrics)
_MODULES_TOO = (usage.metrics, provider_metrics)


def exported() -> set[str]:
    """Every series name the process can expose, FastStream's message metrics included."""
    metrics.message_middleware("dashboards-test")
    names: set[str] = set()
    for family in REGISTRY.collect():
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names |= {f"{family.name}_bucket", f"{family.name}_sum", f"{family.name}_count"}
        else:
            names.add(family.name)
    return names


def referenced(text: str) -> set[str]:
    return set(_METRIC.findall(text))


def test_every_dashboard_query_names_an_exported_metric() -> None:
    dashboard = json.loads((ROOT / "dashboard.json").read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    names = set().union(*(referenced(expr) for expr in expressions))
    assert names, "the dashboard queries nothing"
    assert not names - exported(), f"unknown metrics: {sorted(names - exported())}"


def test_every_alert_names_an_exported_metric_and_the_issue_alerts_are_there() -> None:
    rules = yaml.safe_load((ROOT / "alerts.yml").read_text())["groups"][0]["rules"]
    names = set().union(*(referenced(rule["expr"]) for rule in rules))
    assert not names - exported(), f"unknown metrics: {sorted(names - exported())}"
    alerts = {rule["alert"] for rule in rules}
    assert alerts == {
        "AIStudioSuccessRateLow",
        "AIStudioDeadLetters",
        "AIStudioOutboxLag",
        "AIStudioKie429",
        "AIStudioConsumerLagGrowing",
        "AIStudioKieCreditDrift",
    }
    assert next(rule for rule in rules if rule["alert"] == "AIStudioSuccessRateLow")["for"] == "10m"
