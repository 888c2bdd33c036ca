"""Under `make run` each worker serves /metrics on a HEALTH_PORT of its own, which a second checkout
can move (the Procfile once hard-coded 8101–8105, so two runs on one machine collided)."""

import subprocess
from pathlib import Path

from aistudio_devstack.__main__ import local_environment

ROOT = Path(__file__).resolve().parents[2]


def _health_ports(env: dict[str, str]) -> dict[str, str]:
    """The HEALTH_PORT each Procfile line hands its service, read through the shell honcho uses."""
    found: dict[str, str] = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if not command.strip() or name == "gateway":  # the gateway serves /metrics on GATEWAY_PORT
            continue
        prefix, _, _ = command.partition("python -m")
        result = subprocess.run(
            ["/bin/sh", "-c", f"{prefix} printenv HEALTH_PORT"], env=env, capture_output=True, text=True, check=True
        )
        found[name.strip()] = result.stdout.strip()
    return found


def test_each_worker_gets_its_own_default_health_port_under_make_run(tmp_path: Path) -> None:
    env = local_environment(tmp_path / "run", environ={"PATH": "/usr/bin:/bin"}, dotenv=tmp_path / "none.env")
    assert _health_ports(env) == {
        "generator": "8101",
        "poller": "8102",
        "usage": "8103",
        "captioner": "8104",
        "publisher": "8105",
    }


def test_a_second_checkout_moves_each_workers_health_port_by_its_variable(tmp_path: Path) -> None:
    moved = {f"{name.upper()}_HEALTH_PORT": str(8401 + n) for n, name in enumerate(["generator", "poller"])}
    env = local_environment(tmp_path / "run", environ={"PATH": "/usr/bin:/bin", **moved}, dotenv=tmp_path / "none.env")
    ports = _health_ports(env)
    assert (ports["generator"], ports["poller"], ports["captioner"]) == ("8401", "8402", "8104")
