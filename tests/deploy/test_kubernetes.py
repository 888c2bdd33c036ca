"""deploy/k8s rendered by `kubectl kustomize` and every object checked against the Kubernetes schemas
(kubernetes-validate); the workloads' probes, security and grace; every variable is a setting."""

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .settings_names import SERVICE_SETTINGS, env_names

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ["staging", "production"]
K8S_VERSION = "1.30"
# Custom resources the Kubernetes schemas do not know: checked by hand below.
CUSTOM = {"ScaledObject"}
WORKER_CONSUMERS = {
    "generator": "generator-generation-requested",
    "poller": "poller-task-started",
    "usage": "usage-generation-settled",
    "captioner": "captioner-generation-completed",
    "publisher": "publisher-post-requested",
}


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the Kubernetes manifests are not rendered here")
    out = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "deploy" / "k8s" / "overlays" / request.param)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def _of(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def test_every_rendered_object_is_valid_against_the_kubernetes_schemas(rendered: list[dict[str, Any]]) -> None:
    import kubernetes_validate

    for obj in rendered:
        if obj["kind"] in CUSTOM:
            continue
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_every_service_is_a_deployment_with_probes_non_root_and_grace_beyond_ours(
    rendered: list[dict[str, Any]],
) -> None:
    deployments = _of(rendered, "Deployment")
    assert set(deployments) == set(SERVICE_SETTINGS) - {"simulator"}
    pdbs = _of(rendered, "PodDisruptionBudget")
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] > 25, name  # SHUTDOWN_GRACE_SECONDS
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
        (container,) = pod["containers"]
        port = {p["name"]: p["containerPort"] for p in container["ports"]}
        env = {e["name"]: e["value"] for e in container.get("env", [])}
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            assert container[probe]["httpGet"]["path"] == path, (name, probe)
        if name != "gateway":
            assert port["health"] == int(env["HEALTH_PORT"]) and env["HEALTH_HOST"] == "0.0.0.0", name
        assert container["resources"]["requests"] and container["resources"]["limits"], name
        assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
        assert name in pdbs, f"{name} has no PodDisruptionBudget"


def test_each_worker_scales_on_its_own_consumers_lag_with_the_nats_jetstream_scaler(
    rendered: list[dict[str, Any]],
) -> None:
    scaled = _of(rendered, "ScaledObject")
    assert set(scaled) == set(WORKER_CONSUMERS)
    for name, obj in scaled.items():
        assert obj["apiVersion"] == "keda.sh/v1alpha1"
        assert obj["spec"]["scaleTargetRef"]["name"] == name
        (trigger,) = obj["spec"]["triggers"]
        assert trigger["type"] == "nats-jetstream"
        metadata = trigger["metadata"]
        assert set(metadata) <= {
            "natsServerMonitoringEndpoint", "account", "stream", "consumer", "lagThreshold",
            "activationLagThreshold", "useHttps",
        }  # fmt: skip
        assert metadata["stream"] == "AISTUDIO_EVENTS" and metadata["consumer"] == WORKER_CONSUMERS[name]
        assert int(metadata["lagThreshold"]) > 0


def test_every_variable_the_manifests_set_is_a_setting_and_media_is_in_s3(rendered: list[dict[str, Any]]) -> None:
    shared = {
        **_of(rendered, "ConfigMap")["aistudio-config"]["data"],
        **_of(rendered, "Secret")["aistudio-secrets"]["stringData"],
    }
    assert shared["MEDIA_STORE"] == "s3" and shared["STREAM_REPLICAS"] == "3"
    for name, deployment in _of(rendered, "Deployment").items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        known = env_names(SERVICE_SETTINGS[name])
        own = {e["name"] for e in container.get("env", [])}
        assert not own - known, f"{name} sets {sorted(own - known)}"
    everything = set().union(*(env_names(s) for s in SERVICE_SETTINGS.values()))
    assert not set(shared) - everything, f"unknown settings: {sorted(set(shared) - everything)}"


def test_the_gateway_has_a_service_and_an_ingress(rendered: list[dict[str, Any]]) -> None:
    service = _of(rendered, "Service")["gateway"]
    ingress = _of(rendered, "Ingress")["gateway"]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "gateway" and service["spec"]["ports"][0]["targetPort"] == "http"


def test_nats_values_ask_the_official_chart_for_three_servers_with_file_storage() -> None:
    values = yaml.safe_load((ROOT / "deploy" / "k8s" / "nats" / "values.yaml").read_text())
    assert values["config"]["cluster"] == {"enabled": True, "replicas": 3}
    assert values["config"]["jetstream"]["fileStore"]["enabled"] is True
    assert values["config"]["monitor"]["enabled"] is True
