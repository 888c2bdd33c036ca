"""deploy/Dockerfile's install steps, without Docker: the same requirement file resolved by pip in a
throw-away virtualenv (`pip install --dry-run`: resolution only, fast, pip's cache reused), and every
service's and library's declared dependencies pinned in it, so that the image's `--no-deps`
install of our own packages leaves no import unsatisfied."""

import re
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements" / "services.txt"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
IMAGE_MEMBERS = ["libs/contracts", "libs/runtime", "libs/providers"]
SOURCES = [f"services/{s}" for s in ("gateway", "generator", "poller", "usage", "captioner", "publisher")]
SOURCES.append("tools/provider_simulator")


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pinned() -> set[str]:
    return {_name(line) for line in REQUIREMENTS.read_text().splitlines() if re.match(r"^[A-Za-z0-9]", line)}


def test_the_dockerfile_installs_the_pinned_file_then_our_packages_without_deps() -> None:
    text = DOCKERFILE.read_text()
    assert "pip install --no-cache-dir -r requirements/services.txt" in text
    assert re.search(
        r"pip install --no-cache-dir --no-deps libs/contracts libs/runtime libs/providers \$\{SOURCE\}", text
    )
    for member in IMAGE_MEMBERS + SOURCES:
        assert (ROOT / member / "pyproject.toml").exists(), member


@pytest.mark.parametrize("member", IMAGE_MEMBERS + SOURCES)
def test_every_dependency_our_packages_declare_is_pinned_for_the_image(member: str) -> None:
    project = tomllib.loads((ROOT / member / "pyproject.toml").read_text())["project"]
    ours = {_name(m.split("/")[-1]) for m in IMAGE_MEMBERS + SOURCES} | {"aistudio-contracts", "aistudio-runtime"}
    declared = {_name(dep) for dep in project.get("dependencies", [])}
    missing = {dep for dep in declared - _pinned() if not dep.startswith("aistudio-") and dep not in ours}
    assert not missing, f"{member} needs {sorted(missing)}, which requirements/services.txt does not pin"


def test_the_pinned_requirements_resolve_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    env_dir = tmp_path / "image-venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--dry-run", "--quiet", "--no-deps", "-r", str(REQUIREMENTS)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if (
        result.returncode != 0
        and "No matching distribution" not in result.stderr
        and "Could not find" not in result.stderr
    ):
        pytest.skip(f"no package index reachable from here: {result.stderr.strip()[-300:]}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert sys.version_info[:2] == (3, 11), "the image is python:3.11-slim: resolve for the same Python"
